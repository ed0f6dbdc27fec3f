"""A grading worker's long-lived, confined nbgrader: one submission after another in the same process.

Starting a Python interpreter and importing nbgrader costs about 2 s, more than a small submission's cells:
each worker keeps one ``nbgrader_run --serve`` process (:func:`course_lib.grading.nbgrader_run.serve`) in its
sandbox and sends it one ``nbgrader autograde`` at a time. The process sees only the worker's fixed folder
(:func:`worker_root`: ``course``, ``home``, the guard's log), which the worker empties before and after every
submission, so nothing one learner's kernel leaves there reaches the next; every kernel still starts in its
own nested sandbox and PID namespace and ends with its notebook. The process is replaced when what it sees or
its limits change, after :data:`MAX_RUNS` submissions (its own CPU time counts against ``Limits.cpu_seconds``),
after a run that did not exit 0, and when it dies.
"""
from __future__ import annotations

import atexit
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from .sandbox import Limits, View, end_confined, start_confined

__all__ = ["GraderProcess", "MAX_RUNS", "clear", "run_in_grader", "worker_root"]

MAX_RUNS = 20

_mine = threading.local()          # each thread grades in its own folder with its own process
_all: list = []                    # (folder, thread state) of every thread, closed at exit


def worker_root() -> Path:
    """This thread's fixed grading folder (made once, removed at exit)."""
    root = getattr(_mine, "root", None)
    if root is None or not root.is_dir():
        for stale in Path(tempfile.gettempdir()).glob("course-grade-w*-*"):   # a killed worker's (no atexit)
            pid = stale.name[len("course-grade-w"):].split("-")[0]
            if pid.isdigit() and not Path(f"/proc/{pid}").exists():
                shutil.rmtree(stale, ignore_errors=True)
        root = _mine.root = Path(tempfile.mkdtemp(prefix=f"course-grade-w{os.getpid()}-"))
        for d in ("course", "home"):
            (root / d).mkdir()
        (root / "guard.log").touch()
        if not _all:
            atexit.register(_close_all)
        _all.append(_mine.__dict__)
    return root


def clear(root: Path) -> None:
    """Empty ``root``'s ``course`` and ``home`` (the folders stay: the sandbox has them mounted) and its log."""
    for d in (root / "course", root / "home"):
        for p in d.iterdir():
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
                if p.exists():                      # a read-only folder the kernel made
                    subprocess.run(["chmod", "-R", "u+rwx", str(p)], capture_output=True)
                    shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)
    (root / "guard.log").write_bytes(b"")


class GraderProcess:
    """One confined ``nbgrader_run --serve`` process; :meth:`run` grades with it, one command at a time."""

    def __init__(self, key: str, root: Path, limits: Limits, view: View | None, env: dict):
        self.key, self.root, self.runs = key, root, 0
        self.log = root / "server.log"                      # outside the view: nbgrader's and the kernels' output
        with open(self.log, "ab") as log:
            self.proc, self.cgroup = start_confined(
                [sys.executable, "-m", "course_lib.grading.nbgrader_run", "--serve"], cwd=str(root / "course"),
                env=env, limits=limits, view=view, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                text=True)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def run(self, request: dict, timeout: float) -> tuple[int | None, str]:
        """Send one command; returns (its exit code, or the process's own if it died, or None at ``timeout``;
        the output it printed meanwhile)."""
        with open(self.log, "wb"):                          # O_APPEND writers: truncating is safe
            pass
        self.runs += 1
        try:
            self.proc.stdin.write(json.dumps(request) + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            return self._ended()
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self.close()
                return None, self._output()
            ready, _, _ = select.select([self.proc.stdout], [], [], min(left, 5.0))
            if ready:
                line = self.proc.stdout.readline()
                if not line:
                    return self._ended()
                try:
                    return int(json.loads(line)["rc"]), self._output()
                except (ValueError, KeyError, TypeError):
                    self.close()
                    return 1, self._output() + f"\nunreadable answer from the grader: {line[:200]!r}"

    def _ended(self) -> tuple[int | None, str]:
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass
        code = self.proc.returncode
        self.close()
        return code, self._output()

    def _output(self) -> str:
        try:
            return self.log.read_bytes()[-6000:].decode(errors="replace")
        except OSError:
            return ""

    def close(self) -> None:
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        end_confined(self.proc, self.cgroup)


def _close_all() -> None:
    for state in _all:
        if state.get("current") is not None:
            state["current"].close()
        shutil.rmtree(state["root"], ignore_errors=True)


def run_in_grader(args: list[str], *, root: Path, env: dict, limits: Limits, view: View | None,
                 failures: Path, timeout: float, generation: str = "") -> tuple[int | None, str]:
    """Run ``nbgrader ARGS`` in this thread's grader process with ``env``, in ``root/course`` (the
    :func:`worker_root`); its failures and phases go to ``failures``. Returns (exit code or None, output).

    The process is started or replaced as needed; ``generation`` (e.g. the course configuration's hash):
    a new value replaces it too (a module the old configuration imported stays imported)."""
    key = json.dumps([limits.to_dict(), view.__dict__ if view else None, env.get("PATH"), generation],
                     sort_keys=True)
    current = getattr(_mine, "current", None)
    if current is not None and (current.key != key or not current.alive() or current.runs >= MAX_RUNS):
        current.close()
        current = None
    if current is None:
        current = _mine.current = GraderProcess(key, root, limits, view, env)
    rc, out = current.run({"env": env, "cwd": str(root / "course"), "failures": str(failures), "args": args},
                          timeout)
    if rc != 0:                                     # a failed or killed run: start the next one afresh
        current.close()
        _mine.current = None
    return rc, out
