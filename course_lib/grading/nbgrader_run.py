"""Runs one nbgrader command and records, as fields, why a notebook did not run to its end.

usage: python -m course_lib.grading.nbgrader_run FAILURES_JSON NBGRADER_ARGS...

nbgrader catches a notebook's exception, logs its traceback and exits 1. This runner keeps the exception's
facts instead: it wraps nbgrader's ``convert_single_notebook`` (the one call that executes a notebook) in this
process, and writes a list of :meth:`NotebookExecutionError.to_dict` entries to ``FAILURES_JSON`` (an empty
list when every notebook ran). The exit code is nbgrader's.

It also writes, to ``FAILURES_JSON`` + ``.phases``, the seconds spent starting kernels, running cells and shutting
kernels down, and when nbgrader returned (:func:`read_phases`): where a submission's grading time goes.
"""
from __future__ import annotations

import json
import sys
import time

from ..exceptions import NotebookExecutionError

__all__ = ["describe", "main", "read_failures", "read_phases"]

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


def main(argv: list[str]) -> int:
    out, args = argv[0], argv[1:]
    from nbgrader.apps.nbgraderapp import NbGraderApp
    from nbgrader.converters.base import BaseConverter

    failures: list[dict] = []
    execute = BaseConverter.convert_single_notebook

    def recorded(self, notebook_filename: str) -> None:
        try:
            execute(self, notebook_filename)
        except Exception as e:
            failures.append(describe(notebook_filename, e).to_dict())
            raise

    BaseConverter.convert_single_notebook = recorded
    phases: dict[str, float] = {}
    _time_phases(phases)
    code = 0
    try:
        NbGraderApp.launch_instance(argv=args)
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    finally:
        with open(out, "w") as f:
            json.dump(failures, f)
        with open(f"{out}.phases", "w") as f:
            json.dump({**{k: round(v, 2) for k, v in phases.items()}, "done_at": time.time()}, f)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
