"""Executes one notebook with papermill in its own process (see :mod:`course_lib.course.notebooks`).

usage: python -m course_lib.course.nbworker INPUT OUTPUT CWD PARAMS_JSON CELL_TIMEOUT RESULT_JSON
Writes {"status", "failing_cell", "cell_index", "error", "failure"} to RESULT_JSON, ``failure`` being the
fields of a :class:`course_lib.exceptions.NotebookExecutionError`; the parent enforces the notebook timeout.
"""
from __future__ import annotations

import json
import sys


def main(argv: list[str]) -> int:
    inp, out, cwd, params, cell_timeout, result = argv
    import papermill
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    from ..exceptions import NotebookExecutionError

    outcome = {"status": "ok", "failing_cell": None, "error": None, "failure": None}
    failure = None
    try:
        papermill.execute_notebook(inp, out, parameters=json.loads(params), cwd=cwd, kernel_name="python3",
                                   progress_bar=False, execution_timeout=int(cell_timeout), start_timeout=120)
    except PapermillExecutionError as e:
        failure = NotebookExecutionError(inp, e.cell_index, e.ename, e.evalue, exec_count=e.exec_count)
    except Exception as e:  # kernel death, cell timeout, unreadable notebook: report, don't hide
        kind = ("kernel-died" if isinstance(e, DeadKernelError) else
                "timeout" if isinstance(e, CellTimeoutError) else "runner-error")
        failure = NotebookExecutionError(inp, None, type(e).__name__, str(e), kind=kind)
    if failure is not None:
        outcome = {"status": "failed", "failing_cell": failure.exec_count, "cell_index": failure.cell_index,
                   "error": f"{failure.ename}: {failure.evalue}", "failure": failure.to_dict()}
    with open(result, "w") as f:
        json.dump(outcome, f)
    return 0 if outcome["status"] == "ok" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
