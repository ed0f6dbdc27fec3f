"""JupyterLab on the course, with nbgrader's extensions configured for it (``course lab``).

A learner gets the notebooks and nbgrader's *Assignment List* (fetch, validate, submit) against the
course's exchange folder; an instructor (``instructor=True``) also gets the *Formgrader* on
``assignments/`` (``nbgrader_config.py``). Both use the same exchange, so on one machine an instructor
can release from the formgrader and a learner fetch it:

    server = start_lab(instructor=False, port=0)     # port 0: a free port
    print(server.url)                                # http://127.0.0.1:PORT/lab?token=...
    server.stop()                                    # shuts the kernels down, then the server

Everything the server is told lives in ``<build>/lab/<role>/config/`` (``JUPYTER_CONFIG_PATH``):
``nbgrader_config.py`` (course id, exchange, where fetched assignments go), ``jupyter_server_config.json``
(the formgrader server extension on or off) and ``labconfig/page_config.json`` (nbgrader's instructor
plugins hidden from learners). The kernel is this interpreter's (the course's ``.venv``).
"""
from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from ..exceptions import EnvironmentProblem
from ..grading.nbgrader_chain import COURSE_ID
from ..paths import build_dir, repo_root

__all__ = ["LabServer", "lab_config", "port_in_use", "start_lab", "INSTRUCTOR_PLUGINS"]

# nbgrader's JupyterLab plugins that only make sense for an instructor.
INSTRUCTOR_PLUGINS = ("@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment",
                      "@jupyter/nbgrader:course-list")
# JupyterLab's "get notified about Jupyter news?" pop-up: the course works offline.
OFF_PLUGINS = ("@jupyterlab/apputils-extension:announcements",)
FORMGRADER = "nbgrader.server_extensions.formgrader"


@dataclass
class LabServer:
    """A running JupyterLab: its process, address, token and the folders it was configured with."""

    process: subprocess.Popen
    ip: str
    port: int
    token: str
    root: Path
    config_dir: Path
    exchange: Path
    log: Path
    instructor: bool = False
    env: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def base(self) -> str:
        return f"http://{self.ip}:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.base}/lab?token={self.token}"

    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 20.0) -> int:
        """Clean shutdown: SIGTERM (the server shuts its kernels down), SIGKILL only if it hangs."""
        if self.running():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        return self.process.returncode


def port_in_use(ip: str, port: int) -> bool:
    """True if something listens on ``ip:port`` (or it cannot be bound)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((ip, port))
        except OSError:
            return True
    return False


def _free_port(ip: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((ip, 0))
        return s.getsockname()[1]


def lab_config(instructor: bool, exchange: Path, assignments_dir: Path, config_dir: Path) -> Path:
    """Write the server's extra Jupyter config folder (see the module docstring); returns it."""
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "nbgrader_config.py").write_text(
        "# Written by `course lab`; the course's own nbgrader_config.py (repo root) is read after it.\n"
        "c = get_config()  # noqa: F821\n"
        f"c.CourseDirectory.course_id = {COURSE_ID!r}\n"
        f"c.Exchange.root = {str(exchange)!r}\n"
        f"c.Exchange.assignment_dir = {str(assignments_dir)!r}\n")
    (config_dir / "jupyter_server_config.json").write_text(json.dumps(
        {"ServerApp": {"jpserver_extensions": {FORMGRADER: instructor}},
         # the course works offline: no news feed or update check (and no pop-up asking about them)
         "LabApp": {"news_url": None,
                    "check_for_updates_class": "jupyterlab.handlers.announcements.NeverCheckForUpdate"}},
        indent=1))
    (config_dir / "labconfig").mkdir(exist_ok=True)
    (config_dir / "labconfig" / "page_config.json").write_text(json.dumps(
        {"disabledExtensions": {p: not instructor for p in INSTRUCTOR_PLUGINS} | {p: True for p in OFF_PLUGINS}},
        indent=1))
    return config_dir


def _wait_ready(server: LabServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not server.running():
            raise EnvironmentProblem(
                f"JupyterLab exited (code {server.process.returncode}) before it was ready; its log: "
                f"{server.log}\n{server.log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{server.base}/api/status?token={server.token}", timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    server.stop()
    raise EnvironmentProblem(f"JupyterLab did not answer on {server.base} within {timeout:.0f} s; "
                             f"see its log {server.log}")


def start_lab(instructor: bool = False, *, ip: str = "127.0.0.1", port: int = 8888, token: str | None = None,
              root: Path | None = None, exchange: Path | None = None, assignments_dir: Path | None = None,
              open_path: str | None = None, state_dir: Path | None = None, extra_env: dict[str, str] | None = None,
              ready_timeout: float = 90.0) -> LabServer:
    """Start JupyterLab on ``root`` (default: the course checkout) and wait until it answers.

    ``port=0`` picks a free port. A port in use raises :class:`EnvironmentProblem` naming it.
    ``exchange`` defaults to ``<build>/lab/exchange``, ``assignments_dir`` (where a learner's fetched
    assignments go, inside ``root``) to ``<build>/lab/my-assignments``; the generated config and the
    server log go to ``state_dir`` (default ``<build>/lab/<role>/``).
    """
    root = Path(root or repo_root()).resolve()
    if port == 0:
        port = _free_port(ip)
    elif port_in_use(ip, port):
        raise EnvironmentProblem(
            f"Port {port} on {ip} is already in use (another JupyterLab? `jupyter server list` shows yours). "
            f"Stop it, or pick another port: `course lab --port {port + 1}` (or `--port 0` for any free one).")
    role = "instructor" if instructor else "learner"
    lab_dir = build_dir() / "lab"
    exchange = Path(exchange or lab_dir / "exchange").resolve()
    assignments_dir = Path(assignments_dir or lab_dir / "my-assignments").resolve()
    if instructor and not (root / "nbgrader_config.py").is_file():
        raise EnvironmentProblem(f"No nbgrader_config.py in {root}: the formgrader needs the course's config "
                                 "(run `course lab --instructor` from the course checkout).")
    if not assignments_dir.is_relative_to(root):
        raise EnvironmentProblem(f"Fetched assignments would go to {assignments_dir}, outside the folder "
                                 f"JupyterLab serves ({root}); pick a folder inside it.")
    exchange.mkdir(parents=True, exist_ok=True)
    exchange.chmod(0o777)                      # nbgrader's exchange is shared by every user on the machine
    assignments_dir.mkdir(parents=True, exist_ok=True)
    state_dir = Path(state_dir or lab_dir / role)
    config_dir = lab_config(instructor, exchange, assignments_dir, state_dir / "config")

    token = token or secrets.token_hex(24)

    env = dict(os.environ)
    env.update(extra_env or {})
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")   # nbgrader -> alembic
    env["JUPYTER_CONFIG_PATH"] = os.pathsep.join(
        [str(config_dir)] + [p for p in env.get("JUPYTER_CONFIG_PATH", "").split(os.pathsep) if p])
    env["COURSE_ROOT"] = str(root)             # the kernels' course_lib reads this course's files
    env["MPLBACKEND"] = (extra_env or {}).get("MPLBACKEND", "module://matplotlib_inline.backend_inline")  # not CI's Agg
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    default_url = "/lab" + (f"/tree/{open_path}" if open_path else "")
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser",
           f"--ServerApp.ip={ip}", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
           f"--ServerApp.root_dir={root}", f"--IdentityProvider.token={token}",
           f"--LabApp.default_url={default_url}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")         # containers and CI run as root
    log = state_dir / "server.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)     # Ctrl-C reaches `course lab`, which stops it
    server = LabServer(proc, ip, port, token, root, config_dir, exchange, log, instructor, env)
    _wait_ready(server, ready_timeout)
    return server
