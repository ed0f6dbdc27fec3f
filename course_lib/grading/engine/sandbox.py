"""How learner code is confined: an OS sandbox (bubblewrap) plus resource limits (Linux).

Every run of learner code (the ``nbgrader autograde`` process of a submission and the kernel it starts, the
model-quality evaluator, ``course check``) goes through :func:`run_confined` with a :class:`View`:

* **files** (``bwrap``, mount namespace): the system (``/usr`` and the ``/bin``, ``/lib*`` links, a few files
  of ``/etc``), the Python installation, the venv, the kit's ``course_lib`` source and its data (``KIT_DATA``: the
  registry's manifest, the run profiles) are mounted read-only;
  the view's ``writable`` folders (the submission's working course copy, its HOME) read-write; its
  ``readable`` folders (the resource cache) read-only with its ``hidden`` folders (withheld resources) covered
  by an empty tmpfs; a private tmpfs ``/tmp``. Nothing else exists inside: not the instructor's course, the
  gradebook, the worker's other temporary folders, other learners' work or hidden data;
* **privileges**: no capabilities (``--cap-drop ALL``: bwrap run as root would otherwise keep them all, and
  learner code could unmount what hides withheld data); the nested kernel sandbox drops them itself;
* **processes**: a new PID namespace (when the command ends, everything it started is killed),
  ``--die-with-parent``, ``--new-session`` (no terminal injection), and a process cap: a ``pids`` cgroup
  (as root) or ``RLIMIT_NPROC`` (an unprivileged user), so a fork bomb stops at ``Limits.max_processes``;
* **network**: a new network namespace with only its own loopback (up: servers on 127.0.0.1 work inside;
  the host's loopback and every other address are unreachable);
* **memory / CPU**: ``RLIMIT_AS`` (TensorFlow reserves about 2.5 GB: keep it above 3 GB; an allocation past it
  raises ``MemoryError``), ``RLIMIT_CPU`` (SIGXCPU then SIGKILL);
* **wall clock**: nbgrader's per-cell timeout and a per-run limit here (the whole tree is killed).

Needs ``bwrap`` (Debian package ``bubblewrap``) and either root or unprivileged user namespaces
(``sysctl kernel.unprivileged_userns_clone=1`` / ``user.max_user_namespaces > 0``). :func:`sandbox_status`
tells whether it works here; without it, runs are confined by the limits only (``course grade --no-sandbox``).
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

from ...exceptions import SandboxUnavailable
from ...paths import repo_root

__all__ = ["Limits", "View", "end_confined", "kill_tree", "network_isolation", "require_sandbox", "run_confined",
           "sandbox_status", "start_confined", "NO_ISOLATION"]

NO_ISOLATION = "graded without isolation"
FIX = ("install bubblewrap (`sudo apt-get install bubblewrap`; `bash ci/setup.sh` does it as root) and allow user "
       "namespaces (`sudo sysctl -w kernel.unprivileged_userns_clone=1`, or run the grader as root); or grade with "
       "`--no-sandbox` (every row is then marked \"graded without isolation\")")


@dataclass
class Limits:
    cell_timeout: int = 300          # s per cell (nbgrader's Execute.timeout)
    notebook_timeout: int = 1800     # s per submission (all its notebooks)
    memory_mb: int = 8192            # RLIMIT_AS of the autograde process and its kernel
    cpu_seconds: int = 3600          # RLIMIT_CPU
    max_processes: int = 512         # processes and threads of one run (TensorFlow alone starts ~100 threads)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class View:
    """What one sandboxed run sees besides the system, Python, the venv and the kit (all read-only)."""
    writable: list[str] = field(default_factory=list)    # bound read-write at the same path
    readable: list[str] = field(default_factory=list)    # bound read-only at the same path
    hidden: list[str] = field(default_factory=list)      # inside a readable folder: covered by an empty tmpfs
    # the run starts a nested sandbox (:func:`kernel_argv`) for its learner code: as root, keep the capabilities
    # that nested bwrap needs (it drops them all for the kernel); otherwise every capability is dropped
    nests: bool = False


_ETC = ["ld.so.cache", "ld.so.conf", "ld.so.conf.d", "passwd", "group", "nsswitch.conf", "hosts", "localtime",
        "ssl", "ca-certificates", "alternatives", "mime.types", "fonts", "os-release", "host.conf", "gai.conf"]
KIT_DATA = ["datasets", "ci/params", "requirements"]   # read-only beside course_lib/ (never assignments/)
# A new network namespace starts with its loopback interface DOWN: bring it up (SIOCGIFFLAGS/SIOCSIFFLAGS
# ioctls, so no `ip` binary is needed), then exec the command. Submissions may talk to themselves over
# 127.0.0.1 (assignment a6 starts two TensorFlow workers there), never to another machine.
_LO_UP_EXEC = (
    "import fcntl, os, socket, struct, sys\n"
    "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
    "flags = struct.unpack('16sH', fcntl.ioctl(s, 0x8913, struct.pack('16sH', b'lo', 0))[:18])[1]\n"
    "fcntl.ioctl(s, 0x8914, struct.pack('16sH', b'lo', flags | 0x1))\n"
    "s.close()\n"
    "os.execvp(sys.argv[1], sys.argv[1:])\n")
_NETNS = ["unshare", "-rn", sys.executable, "-c", _LO_UP_EXEC]


def _kit_dir() -> Path:
    return Path(__file__).resolve().parents[2]          # course_lib/


def _base_args() -> list[str]:
    """bwrap arguments for the read-only system, Python, venv and kit."""
    args = ["--unshare-all", "--die-with-parent", "--new-session", "--proc", "/proc", "--dev", "/dev",
            "--tmpfs", "/tmp", "--tmpfs", "/dev/shm"]
    for name in ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        p = Path("/") / name
        if p.is_symlink():
            args += ["--symlink", os.readlink(p), str(p)]
        elif p.is_dir():
            args += ["--ro-bind", str(p), str(p)]
    for name in _ETC:
        if (Path("/etc") / name).exists():
            args += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
    cpu = Path("/sys/devices/system/cpu")                # TensorFlow and BLAS read the core count here
    if cpu.is_dir():
        args += ["--ro-bind", str(cpu), str(cpu)]
    prefixes = {Path(sys.base_prefix).resolve(), Path(sys.prefix), Path(sys.prefix).resolve(), _kit_dir()}
    for p in sorted(prefixes, key=lambda q: len(q.parts)):
        if not any(p != q and q in p.parents for q in prefixes) and not str(p).startswith("/usr/"):
            args += ["--ro-bind", str(p), str(p)]
    for rel in KIT_DATA:                                 # the kit's own data (the registry's manifest), no secrets
        p = repo_root() / rel
        if p.exists():
            args += ["--ro-bind", str(p), str(p)]
    return args


def _bwrap_args(view: View, cwd: str) -> list[str]:
    # bwrap run as root keeps every capability by default: learner code could unmount the tmpfs over withheld
    # data or remount the kit writable. Drop them all (a no-op for an unprivileged user)
    args = ["bwrap", *_base_args(), *([] if view.nests else ["--cap-drop", "ALL"])]
    for p in view.readable:
        if Path(p).exists():
            args += ["--ro-bind", p, p]
    for p in view.hidden:
        if Path(p).is_dir():
            args += ["--tmpfs", p]
        elif Path(p).exists():
            args += ["--ro-bind", "/dev/null", p]
    for p in view.writable:
        args += ["--bind", p, p]
    return args + ["--chdir", cwd, "--"]


@lru_cache(maxsize=1)
def sandbox_status() -> str:
    """``"bubblewrap ..."`` if the sandbox starts here (tried once per process), else ``"none: <why>"``."""
    if not sys.platform.startswith("linux"):
        return f"none: the sandbox needs Linux (this is {sys.platform})"
    if shutil.which("bwrap") is None:
        return "none: bubblewrap (`bwrap`) is not installed"
    probe = ("import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(1); "
             "c = socket.create_connection(s.getsockname(), 5); print('loopback-ok')")
    try:
        out = subprocess.run(_bwrap_args(View(), "/") + [sys.executable, "-c", probe],
                             capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"none: bwrap failed to start ({e})"
    if "loopback-ok" not in out.stdout:
        why = out.stderr.strip().splitlines()[-1:] or [f"exit {out.returncode}"]
        return f"none: bwrap cannot create its namespaces here ({why[0][:200]}; user namespaces disabled?)"
    who = "root" if os.geteuid() == 0 else "an unprivileged user (user namespaces)"
    return (f"bubblewrap sandbox as {who}: read-only system/venv/kit, private /tmp, new PID and network namespaces "
            f"(loopback only), process cap by {'pids cgroup' if _cgroup_root() else 'RLIMIT_NPROC'}")


def require_sandbox() -> str:
    """The sandbox's description; raises :class:`SandboxUnavailable` (with the fix) when it cannot start."""
    status = sandbox_status()
    if status.startswith("none"):
        raise SandboxUnavailable(status[len("none: "):], FIX)
    return status


@lru_cache(maxsize=1)
def network_isolation() -> str:
    """Without the sandbox: ``"network namespace (unshare -rn)"`` if that works here, else why none is applied."""
    if shutil.which("unshare") is None:
        return "none: `unshare` is not installed"
    try:
        out = subprocess.run(_NETNS + ["true"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"none: unshare failed ({e})"
    if out.returncode != 0:
        return "none: user namespaces are not allowed here (unshare -rn failed)"
    return "network namespace (unshare -rn: loopback only)"


@lru_cache(maxsize=1)
def _cgroup_root() -> Path | None:
    """A writable ``pids`` cgroup hierarchy (v1 ``/sys/fs/cgroup/pids`` or v2 with pids delegated), or None."""
    for root in (Path("/sys/fs/cgroup/pids"), Path("/sys/fs/cgroup")):
        if (root / "cgroup.procs").is_file() and os.access(root, os.W_OK):
            if root.name == "pids" or "pids" in (root / "cgroup.subtree_control").read_text(errors="ignore"):
                return root
    return None


def _new_cgroup(max_processes: int) -> Path | None:
    root = _cgroup_root()
    if root is None:
        return None
    for stale in root.glob("course-grade-*-*"):          # left by a grading worker that was killed
        try:
            if not Path(f"/proc/{int(stale.name.split('-')[2])}").exists():
                stale.rmdir()                            # refused while a process is still in it
        except (OSError, ValueError):
            pass
    cg = root / f"course-grade-{os.getpid()}-{os.urandom(4).hex()}"
    try:
        cg.mkdir()
        (cg / "pids.max").write_text(str(max_processes))
        return cg
    except OSError:
        return None


def _drop_cgroup(cg: Path | None) -> None:
    if cg is None:
        return
    try:
        for pid in (cg / "cgroup.procs").read_text().split():
            os.kill(int(pid), signal.SIGKILL)
        cg.rmdir()
    except OSError:
        pass


def _preexec(limits: Limits, cg: Path | None):
    def apply() -> None:
        import resource

        os.setsid()
        if cg is not None:
            (cg / "cgroup.procs").write_text(str(os.getpid()))
        mem = limits.memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 5))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if os.geteuid() != 0:                            # root ignores RLIMIT_NPROC: the cgroup does it
            resource.setrlimit(resource.RLIMIT_NPROC, (limits.max_processes, limits.max_processes))
    return apply


def kill_tree(pid: int) -> None:
    """SIGKILL ``pid``, its process group and every descendant (kernels start their own session)."""
    import psutil

    try:
        procs = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        procs = []
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    for p in procs:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass


def start_confined(cmd: list[str], *, cwd: str, env: dict, limits: Limits, view: View | None = None,
                   stdin=None, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                   text: bool = False) -> tuple[subprocess.Popen, Path | None]:
    """Start ``cmd`` confined as above (see :func:`run_confined`); returns the process and its ``pids`` cgroup
    (None without one), which the caller removes with :func:`end_confined` once the process has ended."""
    cg = None
    if view is not None:
        require_sandbox()
        cmd = _bwrap_args(view, cwd) + cmd
        cg = _new_cgroup(limits.max_processes)
    elif network_isolation().startswith("network namespace"):
        cmd = _NETNS + cmd
    try:
        return subprocess.Popen(cmd, cwd=cwd, env=env, stdin=stdin, stdout=stdout, stderr=stderr, text=text,
                                preexec_fn=_preexec(limits, cg) if os.name == "posix" else None), cg
    except BaseException:
        _drop_cgroup(cg)
        raise


def end_confined(proc: subprocess.Popen, cg: Path | None) -> None:
    """Kill what is left of a confined run (its whole tree) and remove its cgroup."""
    if proc.poll() is None:
        kill_tree(proc.pid)
        proc.wait()
    _drop_cgroup(cg)


def run_confined(cmd: list[str], *, cwd: str, env: dict, limits: Limits, timeout: float,
                 view: View | None = None) -> tuple[int | None, str]:
    """Run ``cmd`` confined as above; returns (exit code or None if killed at ``timeout``, output tail).

    ``view``: run it in the bubblewrap sandbox seeing that (:func:`require_sandbox` must have succeeded);
    ``None``: without the sandbox (limits, and a network namespace when ``unshare`` works).
    """
    proc, cg = start_confined(cmd, cwd=cwd, env=env, limits=limits, view=view)
    try:
        try:
            out, _ = proc.communicate(timeout=timeout)
            return proc.returncode, out.decode(errors="replace")[-6000:]
        except subprocess.TimeoutExpired:
            kill_tree(proc.pid)
            out, _ = proc.communicate()
            return None, out.decode(errors="replace")[-6000:]
    finally:
        _drop_cgroup(cg)


def kernel_argv(course: str, keep: list[str], read_only: list[str] = ()) -> list[str]:
    """A kernel spec's ``argv`` that starts the IPython kernel in a nested sandbox inside the run's one.

    The kernel (learner code) then no longer sees the working ``course`` copy (its gradebook holds the hidden
    tests' source; nbgrader, outside this inner sandbox, needs it) except the ``keep`` folders, nor nbgrader's
    processes (its own PID namespace); it shares nbgrader's network namespace (its loopback) to talk to it.
    ``read_only``: folders of the run it may read but not change (the kernel specs nbgrader starts the next
    notebook's kernel from). It has no capabilities (as root, the outer run keeps them only to start this one:
    ``View.nests``).
    """
    args = ["bwrap", "--dev-bind", "/", "/", "--tmpfs", course]
    for p in keep:
        args += ["--bind", p, p]
    for p in read_only:
        args += ["--ro-bind", p, p]
    # JPY_PARENT_PID would make ipykernel quit: its parent is now the namespace's init (pid 1); bwrap's
    # --die-with-parent ends it with nbgrader instead
    return args + ["--unshare-pid", "--die-with-parent", "--cap-drop", "ALL", "--unsetenv", "JPY_PARENT_PID", "--",
                   sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
