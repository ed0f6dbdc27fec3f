"""Start N worker processes on this machine, each with its ``TF_CONFIG``, and see them through.

    workers = local_cluster(2, [sys.executable, "-m", "course_lib.multiworker.train_job", "--epochs", "3"])
    result = launch(workers, time_limit=300)          # logs stream as "[worker-0] ..."
    result.table()                                    # exit status of every worker

Each worker is its own process group (``start_new_session``) on loopback ports picked free, with one CPU
thread for TensorFlow. Before anything starts the configs are checked (:func:`tfconfig.check_cluster`)
and every port is tried. Whatever ends the job early (a worker's error, the time limit, Ctrl-C, an
exception in the caller) stops every worker's whole process group: SIGTERM, then SIGKILL after ``grace``
seconds. Errors name the worker: :class:`PortInUse`, :class:`WorkerCrashed`, :class:`WorkerTimeout`,
:class:`TFConfigError`. ``kill_at`` kills one worker on purpose when a line of its log appears (the
fault-tolerance demo); the job then returns with status ``interrupted`` instead of raising.
"""
from __future__ import annotations

import errno
import os
import queue
import signal
import socket
import subprocess
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

from ..exceptions import PortInUse, WorkerCrashed, WorkerTimeout
from .tfconfig import check_cluster, free_ports, tf_config

__all__ = ["Worker", "KillAt", "WorkerExit", "LaunchResult", "local_cluster", "worker_env", "launch",
           "check_ports"]

THREAD_ENV = {"OMP_NUM_THREADS": "1", "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"}
PORT_IN_USE_MARKERS = ("Address already in use", "Failed to add port", "Could not start gRPC server")


@dataclass
class Worker:
    name: str
    tf_config: dict | str
    argv: list[str]                   # the worker's command line


@dataclass
class KillAt:
    """Kill ``worker`` (SIGKILL, its whole group) when a line of its log contains ``text``."""
    worker: str
    text: str


@dataclass
class WorkerExit:
    name: str
    pid: int
    returncode: int | None            # None: still running when the launcher stopped it
    status: str                       # ok | failed | killed (on purpose) | stopped (by the launcher)
    seconds: float
    log: list[str] = field(default_factory=list)


@dataclass
class LaunchResult:
    status: str                       # ok | interrupted
    seconds: float
    workers: list[WorkerExit]

    def table(self) -> str:
        rows = ["| worker | pid | exit code | status | seconds | last line |", "|---|---:|---:|---|---:|---|"]
        for w in self.workers:
            last = (w.log[-1] if w.log else "").replace("|", "\\|")[:70]
            rows.append(f"| {w.name} | {w.pid} | {w.returncode} | {w.status} | {w.seconds:.1f} | {last} |")
        return "\n".join(rows)

    def pids(self) -> list[int]:
        return [w.pid for w in self.workers]


def local_cluster(n: int, argv: list[str], host: str = "127.0.0.1", ports: list[int] | None = None,
                  prefix: str = "worker") -> list[Worker]:
    """``n`` workers on ``host`` (free ports unless given), all running ``argv``; worker 0 is the chief."""
    ports = ports or free_ports(n, host)
    addresses = [f"{host}:{p}" for p in ports]
    return [Worker(f"{prefix}-{i}", tf_config(addresses, i), list(argv)) for i in range(n)]


def worker_env(worker: Worker, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of one worker: its TF_CONFIG, one CPU thread, unbuffered output."""
    import json

    env = dict(os.environ if base is None else base)
    env.pop("MPLBACKEND", None)                    # a notebook's inline backend means nothing in a worker
    env.update(THREAD_ENV)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["PYTHONUNBUFFERED"] = "1"
    env["COURSE_WORKER_NAME"] = worker.name
    env["TF_CONFIG"] = worker.tf_config if isinstance(worker.tf_config, str) else json.dumps(worker.tf_config)
    return env


def check_ports(workers: list[Worker]) -> None:
    """Raise :class:`PortInUse` for the first worker whose port is taken on this machine."""
    configs = check_cluster({w.name: w.tf_config for w in workers})
    for w in workers:
        c = configs[w.name]
        host = c.address.rsplit(":", 1)[0]
        if host not in ("127.0.0.1", "localhost", "0.0.0.0", "::1"):
            continue                               # not this machine's port to check
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("", c.port))               # TensorFlow's gRPC server listens on every address
            except OSError as e:
                if e.errno == errno.EADDRINUSE:
                    raise PortInUse(w.name, c.address, c.port) from None
                raise


def _reader(name: str, stream, out: queue.Queue) -> None:
    for raw in iter(stream.readline, b""):
        out.put((name, raw.decode(errors="replace").rstrip("\n")))
    out.put((name, None))


def _stop(procs: dict[str, subprocess.Popen], grace: float) -> None:
    """SIGTERM every running worker's process group, then SIGKILL what is left after ``grace`` s."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        alive = [p for p in procs.values() if p.poll() is None]
        for p in alive:
            try:
                os.killpg(p.pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace
        while alive and time.monotonic() < deadline:
            alive = [p for p in alive if p.poll() is None]
            time.sleep(0.05)
    for p in procs.values():
        try:                                       # a grandchild left in the group: gone too
            os.killpg(p.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        p.wait()


def launch(workers: list[Worker], time_limit: float = 600, *, cwd: str | None = None,
           env: dict[str, str] | None = None, echo: Callable[[str], None] | None = print,
           kill_at: KillAt | None = None, grace: float = 3.0, keep_lines: int = 200) -> LaunchResult:
    """Run ``workers`` to completion; raise (after stopping all of them) if any fails or time runs out."""
    check_ports(workers)
    if kill_at and kill_at.worker not in {w.name for w in workers}:
        raise ValueError(f"kill_at names {kill_at.worker!r}, not one of {[w.name for w in workers]}")
    lines: queue.Queue = queue.Queue()
    procs: dict[str, subprocess.Popen] = {}
    logs = {w.name: deque(maxlen=keep_lines) for w in workers}
    started, ended = {}, {}
    killed: set[str] = set()
    readers: dict[str, threading.Thread] = {}
    t0 = time.monotonic()
    try:
        for w in workers:
            procs[w.name] = subprocess.Popen(w.argv, cwd=cwd, env=worker_env(w, env), stdout=subprocess.PIPE,
                                             stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                             start_new_session=True)
            started[w.name] = time.monotonic()
            readers[w.name] = threading.Thread(target=_reader, args=(w.name, procs[w.name].stdout, lines), daemon=True)
            readers[w.name].start()
        open_streams = len(workers)
        while not ended.keys() & killed and (open_streams or any(p.poll() is None for p in procs.values())):
            if time.monotonic() - t0 > time_limit:
                running = [n for n, p in procs.items() if p.poll() is None]
                _stop(procs, grace)
                raise WorkerTimeout(time_limit, running, {n: (logs[n][-1] if logs[n] else "") for n in running})
            try:
                name, line = lines.get(timeout=0.2)
            except queue.Empty:
                name, line = None, None
            if name is not None and line is None:
                open_streams -= 1
            elif name is not None:
                logs[name].append(line)
                if echo:
                    echo(f"[{name}] {line}")
                if kill_at and name == kill_at.worker and kill_at.text in line and name not in killed:
                    os.killpg(procs[name].pid, signal.SIGKILL)
                    killed.add(name)
                    if echo:
                        echo(f"[launcher] killed {name} (SIGKILL) after {line!r}")
            for n, p in procs.items():
                if p.poll() is not None and n not in ended:
                    ended[n] = time.monotonic()
                    if n in killed:
                        _stop(procs, grace)            # the others would wait for it at the next all-reduce
                        break
                    if p.returncode != 0:
                        readers[n].join(timeout=2)     # its last lines, usually the error
                        _drain(lines, logs)
                        _stop(procs, grace)
                        tail = list(logs[n])
                        exits = {m: q.returncode for m, q in procs.items()}
                        if any(marker in line for line in tail for marker in PORT_IN_USE_MARKERS):
                            c = check_cluster({w.name: w.tf_config for w in workers})[n]
                            raise PortInUse(n, c.address, c.port)
                        raise WorkerCrashed(n, p.returncode, tail, exits)
    finally:
        _stop(procs, grace)                            # Ctrl-C, an error above, or the caller's exception
    _drain(lines, logs)
    now = time.monotonic()
    exits = []
    for w in workers:
        p = procs[w.name]
        status = ("killed" if w.name in killed else "ok" if p.returncode == 0 else
                  "stopped" if p.returncode < 0 else "failed")
        exits.append(WorkerExit(w.name, p.pid, p.returncode, status,
                                round(ended.get(w.name, now) - started[w.name], 1), list(logs[w.name])))
    return LaunchResult("interrupted" if killed else "ok", round(now - t0, 1), exits)


def _drain(lines: queue.Queue, logs: dict[str, deque]) -> None:
    while True:
        try:
            name, line = lines.get_nowait()
        except queue.Empty:
            return
        if line is not None:
            logs[name].append(line)
