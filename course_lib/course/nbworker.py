"""Executes one notebook with papermill in its own process (see :mod:`course_lib.course.notebooks`).

usage: python -m course_lib.course.nbworker INPUT OUTPUT CWD PARAMS_JSON CELL_TIMEOUT RESULT_JSON
Writes {"status", "failing_cell", "error"} to RESULT_JSON; the parent enforces the notebook timeout.
"""
from __future__ import annotations

import json
import sys


def main(argv: list[str]) -> int:
    inp, out, cwd, params, cell_timeout, result = argv
    import papermill
    from papermill.exceptions import PapermillExecutionError

    outcome = {"status": "ok", "failing_cell": None, "error": None}
    try:
        papermill.execute_notebook(inp, out, parameters=json.loads(params), cwd=cwd, kernel_name="python3",
                                   progress_bar=False, execution_timeout=int(cell_timeout), start_timeout=120)
    except PapermillExecutionError as e:
        outcome = {"status": "failed", "failing_cell": e.exec_count, "cell_index": e.cell_index,
                   "error": f"{e.ename}: {e.evalue}"}
    except Exception as e:  # kernel death, cell timeout, unreadable notebook: report, don't hide
        outcome = {"status": "failed", "failing_cell": None, "error": f"{type(e).__name__}: {e}"}
    with open(result, "w") as f:
        json.dump(outcome, f)
    return 0 if outcome["status"] == "ok" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
