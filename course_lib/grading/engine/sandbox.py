"""How one submission's process tree is confined (Linux; other systems get the parts they support).

Applied to the ``nbgrader autograde`` process of each submission and so to the kernel it starts:

* **memory**: ``RLIMIT_AS`` (address space; TensorFlow alone reserves about 2.5 GB, so keep it above 3 GB):
  an allocation past it raises ``MemoryError`` in the cell instead of taking the machine down;
* **CPU time**: ``RLIMIT_CPU`` (the kernel gets SIGXCPU, then SIGKILL: the notebook stops);
* **wall clock**: nbgrader's per-cell timeout (the cell fails with ``CellTimeoutError``, the next cells
  still run) and a per-notebook limit enforced here (the whole process group is killed);
* **network**: a new, empty network namespace with only loopback up (``unshare -rn``, i.e. a user
  namespace, or ``unshare -n`` as root) when ``unshare`` works on this machine; otherwise none (reported);
* **files**: its own temporary HOME and working course (a copy: the instructor's course and gradebook are
  never given to it), and the guard in :mod:`course_lib.grading.engine.guard_startup` (a Python audit hook) refusing
  access to the worker's course outside the submission, the instructor's course and hidden data.

Not applied: a separate user id, a mount namespace or seccomp filter; so native code that makes its
own system calls (``ctypes``, a compiled extension) is not stopped by the file guard, only by the OS's
permissions. Run workers as an unprivileged user for that (e.g. ``dask worker`` under a grading account).
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
from dataclasses import asdict, dataclass
from functools import lru_cache

__all__ = ["Limits", "network_isolation", "run_confined"]


@dataclass
class Limits:
    cell_timeout: int = 300          # s per cell (nbgrader's Execute.timeout)
    notebook_timeout: int = 1800     # s per submission (all its notebooks)
    memory_mb: int = 8192            # RLIMIT_AS of the autograde process and its kernel
    cpu_seconds: int = 3600          # RLIMIT_CPU

    def to_dict(self) -> dict:
        return asdict(self)


_NETNS = ["unshare", "-rn", "sh", "-c", 'ip link set lo up 2>/dev/null || true; exec "$@"', "sh"]


@lru_cache(maxsize=1)
def network_isolation() -> str:
    """``"network namespace (unshare -rn)"`` if that works here, else a sentence saying none is applied."""
    if shutil.which("unshare") is None:
        return "none: `unshare` is not installed"
    try:
        out = subprocess.run(_NETNS + ["python3", "-c", "import socket; socket.create_connection(('127.0.0.1', 9), 1)"],
                             capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"none: unshare failed ({e})"
    if "Operation not permitted" in out.stderr or "unshare failed" in out.stderr:
        return "none: user namespaces are not allowed here (unshare -rn failed)"
    return "network namespace (unshare -rn: loopback only)"


def _preexec(limits: Limits):
    def apply() -> None:
        import resource

        os.setsid()
        mem = limits.memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 5))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
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


def run_confined(cmd: list[str], *, cwd: str, env: dict, limits: Limits, timeout: float) -> tuple[int | None, str]:
    """Run ``cmd`` confined as above; returns (exit code or None if killed at ``timeout``, output tail)."""
    if network_isolation().startswith("network namespace"):
        cmd = _NETNS + cmd
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            preexec_fn=_preexec(limits) if os.name == "posix" else None)
    try:
        out, _ = proc.communicate(timeout=timeout)
        return proc.returncode, out.decode(errors="replace")[-6000:]
    except subprocess.TimeoutExpired:
        kill_tree(proc.pid)
        out, _ = proc.communicate()
        return None, out.decode(errors="replace")[-6000:]
