"""Runs one nbgrader command and records, as fields, why a notebook did not run to its end.

usage: python -m course_lib.grading.nbgrader_run FAILURES_JSON NBGRADER_ARGS...
       python -m course_lib.grading.nbgrader_run --serve

nbgrader catches a notebook's exception, logs its traceback and exits 1. This runner keeps the exception's
facts instead: it wraps nbgrader's ``convert_single_notebook`` (the one call that executes a notebook) in this
process, and writes a list of :meth:`NotebookExecutionError.to_dict` entries to ``FAILURES_JSON`` (an empty
list when every notebook ran). The exit code is nbgrader's.

It also writes, to ``FAILURES_JSON`` + ``.phases``, the seconds spent starting kernels, running cells and shutting
kernels down, and when nbgrader returned (:func:`read_phases`): where a submission's grading time goes.

``--serve`` runs one command after another in this process (:func:`serve`), so a grading worker pays for the
interpreter's start and nbgrader's imports once, not once per submission.
"""
from __future__ import annotations

import json
import os
import sys
import time

from ..exceptions import NotebookExecutionError

__all__ = ["describe", "main", "read_failures", "read_phases", "serve"]

# nbgrader's Execute preprocessor method -> the phase its wall time counts to
_PHASES = {"start_new_kernel": "kernel_start", "start_new_kernel_client": "kernel_start", "execute_cell": "cells",
           "_cleanup_kernel": "kernel_shutdown"}


def describe(notebook: str, e: BaseException) -> NotebookExecutionError:
    """The structured error of ``e``, raised while nbgrader executed ``notebook``; the kind from its class."""
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from nbgrader.preprocessors.execute import UnresponsiveKernelError

    kind = ("kernel-died" if isinstance(e, DeadKernelError) else
            "timeout" if isinstance(e, (CellTimeoutError, UnresponsiveKernelError, TimeoutError)) else
            "runner-error")
    return NotebookExecutionError(notebook, getattr(e, "cell_index", None), type(e).__name__, str(e)[:2000],
                                  kind=kind)


def read_failures(path, returncode: int | None) -> list[NotebookExecutionError]:
    """The failures a run recorded in ``path`` (none if it wrote nothing), with its return code."""
    try:
        with open(path) as f:
            return [NotebookExecutionError.from_dict(d, returncode) for d in json.load(f)]
    except (OSError, ValueError):
        return []


def read_phases(failures_json) -> dict[str, float]:
    """The phases a run recorded beside ``failures_json``: seconds per phase, ``done_at`` (epoch s); {} if none."""
    try:
        with open(f"{failures_json}.phases") as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def _time_phases(phases: dict[str, float]) -> None:
    """Add the wall time of each :data:`_PHASES` method of nbgrader's ``Execute`` to ``phases``."""
    from nbgrader.preprocessors.execute import Execute

    def timed(method, phase: str):
        def run(self, *args, **kwargs):
            t0 = time.monotonic()
            try:
                return method(self, *args, **kwargs)
            finally:
                phases[phase] = phases.get(phase, 0.0) + time.monotonic() - t0
        return run

    for name, phase in _PHASES.items():
        setattr(Execute, name, timed(getattr(Execute, name), phase))


_failures: list[dict] = []          # the current run's, filled by the wrappers installed by :func:`_instrument`
_phases: dict[str, float] = {}


def _instrument() -> None:
    """Wrap nbgrader's notebook execution (once per process) to record its failures and phases."""
    from nbgrader.converters.base import BaseConverter

    execute = BaseConverter.convert_single_notebook

    def recorded(self, notebook_filename: str) -> None:
        try:
            execute(self, notebook_filename)
        except Exception as e:
            _failures.append(describe(notebook_filename, e).to_dict())
            raise

    BaseConverter.convert_single_notebook = recorded
    _time_phases(_phases)


def _forget_apps() -> None:
    """Drop traitlets' application singletons, so the next command starts from fresh instances and config."""
    from traitlets.config import SingletonConfigurable

    stack = [SingletonConfigurable]
    while stack:
        cls = stack.pop()
        cls._instance = None
        stack += cls.__subclasses__()


def _run(out: str, args: list[str]) -> int:
    """One nbgrader command (``args``); its failures and phases go to ``out``; returns its exit code."""
    from nbgrader.apps.nbgraderapp import NbGraderApp

    _failures.clear()
    _phases.clear()
    code = 0
    try:
        NbGraderApp.launch_instance(argv=args)
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    finally:
        with open(out, "w") as f:
            json.dump(_failures, f)
        with open(f"{out}.phases", "w") as f:
            json.dump({**{k: round(v, 2) for k, v in _phases.items()}, "done_at": time.time()}, f)
        _forget_apps()
    return code


def serve() -> int:
    """Run commands read from stdin, one JSON line each: ``{"env": {...}, "cwd": DIR, "failures": FAILURES_JSON,
    "args": NBGRADER_ARGS}``; answer each with ``{"rc": exit code}`` on a line of stdout. nbgrader's (and its
    kernels') output goes to stderr. Ends at the end of stdin."""
    reply = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)                                  # prints, logs and kernels inherit stderr
    sys.stdout = sys.stderr
    _instrument()
    for line in sys.stdin:
        req = json.loads(line)
        os.environ.clear()
        os.environ.update(req["env"])
        os.chdir(req["cwd"])
        code = _run(req["failures"], req["args"])
        reply.write(json.dumps({"rc": code}) + "\n")
        reply.flush()
    return 0


def main(argv: list[str]) -> int:
    if argv == ["--serve"]:
        return serve()
    _instrument()
    return _run(argv[0], argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
