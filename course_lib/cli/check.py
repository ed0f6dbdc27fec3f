"""``course check``: grade your working copy of an assignment on its public tests (self-study)."""
from __future__ import annotations

import sys


def add_parser(sub) -> None:
    p = sub.add_parser(
        "check", help="check your copy of an assignment on its public tests, as the grader runs them",
        description="Runs your notebook with the assignment's public tests in the grader's runner and reports each "
                    "test (hidden tests are never run). Exit 0: every public check passes; 1: some fail, or could "
                    "not run because of the environment (the report says which); 2: bad arguments.")
    p.add_argument("assignment", help="assignment id, e.g. a0_warmup")
    p.add_argument("notebook", nargs="?",
                   help="your notebook (default: the copy JupyterLab's Assignment List fetched, "
                        "build/lab/my-assignments/<id>/<id>.ipynb)")
    p.add_argument("--json", action="store_true", help="print the report as JSON instead of text")
    p.set_defaults(func=main)


def main(args) -> int:
    import json

    from ..grading.selfcheck import check

    from .terminal import quiet_terminal

    with quiet_terminal("check", stream_of_notes=sys.stderr if args.json else None) as term:
        report = check(args.assignment, args.notebook, progress=lambda m: term.say(m, err=args.json))
        term.say(json.dumps(report.to_dict(), indent=1) if args.json else "\n" + report.text())
    return 0 if report.status == "passing" else 1
