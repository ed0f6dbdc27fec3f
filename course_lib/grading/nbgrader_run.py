"""Runs one nbgrader command and records, as fields, why a notebook did not run to its end.

usage: python -m course_lib.grading.nbgrader_run FAILURES_JSON NBGRADER_ARGS...

nbgrader catches a notebook's exception, logs its traceback and exits 1. This runner keeps the exception's
facts instead: it wraps nbgrader's ``convert_single_notebook`` (the one call that executes a notebook) in this
process, and writes a list of :meth:`NotebookExecutionError.to_dict` entries to ``FAILURES_JSON`` (an empty
list when every notebook ran). The exit code is nbgrader's.
"""
from __future__ import annotations

import json
import sys

from ..exceptions import NotebookExecutionError

__all__ = ["describe", "main", "read_failures"]


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
    code = 0
    try:
        NbGraderApp.launch_instance(argv=args)
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    finally:
        with open(out, "w") as f:
            json.dump(failures, f)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
