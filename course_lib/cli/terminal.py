"""A quiet terminal for the long commands (``course run``, ``grade``, ``samples``, ``check``): the terminal shows
their progress and results; everything libraries write to stderr (TensorFlow's C++ log lines, Keras and Python
warnings, Dask's ``INFO`` lines, nbformat's validation warnings) goes to a log file under ``build/logs/`` that
the command names at its start and end.

    with quiet_terminal("samples") as term:
        term.say("a0_warmup: 3 samples graded")         # the terminal (stdout)
        term.say("progress", err=True)                  # the terminal's stderr

Child processes inherit the redirected stderr, so their log lines land in the same file.
"""
from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Iterator

from ..paths import build_dir

__all__ = ["Terminal", "quiet_terminal"]


@dataclass
class Terminal:
    log: Path                       # where stderr and library logging go
    out: IO[str]                    # the terminal's stdout
    err: IO[str]                    # the terminal's stderr (saved before redirecting)

    def say(self, message: str, err: bool = False) -> None:
        print(message, file=self.err if err else self.out, flush=True)


@contextlib.contextmanager
def quiet_terminal(command: str, stream_of_notes: IO[str] | None = None) -> Iterator[Terminal]:
    """Redirect this process's stderr (file descriptor 2, inherited by child processes) and Python logging and
    warnings to ``build/logs/<command>-<time>.log`` for the duration; restored on exit, even on an error.
    ``COURSE_VERBOSE=1`` leaves the terminal as it is."""
    log_dir = build_dir() / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"{command}-{time.strftime('%Y%m%d-%H%M%S')}.log"
    notes = stream_of_notes or sys.stdout
    if os.environ.get("COURSE_VERBOSE") == "1":
        yield Terminal(log, sys.stdout, sys.stderr)
        return
    sys.stderr.flush()
    saved = os.dup(2)
    terminal_err = os.fdopen(os.dup(saved), "w", buffering=1)
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 2)
    os.close(fd)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s: %(message)s"))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    logging.captureWarnings(True)
    print(f"(library log lines and warnings: {log})", file=notes, flush=True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            yield Terminal(log, sys.stdout, terminal_err)
    finally:
        sys.stderr.flush()
        logging.captureWarnings(False)
        root.removeHandler(handler)
        root.setLevel(old_level)
        os.dup2(saved, 2)
        os.close(saved)
        terminal_err.close()
        print(f"(log: {log})", file=notes, flush=True)
