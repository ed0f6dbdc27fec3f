"""``course grade``: grade every submission of an assignment, isolated and in parallel (Dask)."""
from __future__ import annotations

from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser(
        "grade", help="autograde every submission of an assignment: isolated, parallel (Dask), resumable",
        description="Grades submitted/<student>/<assignment>/ of the nbgrader course with nbgrader autograde, "
                    "each submission in its own confined process tree, on a Dask cluster; one writer merges the "
                    "results into the course's gradebook, writes feedback/<student>/<assignment>/ and "
                    "grading/<assignment>/grades.csv. Re-running skips submissions already graded. "
                    "Exit 0: all graded; 1: some rows have a fault status; 2: bad arguments or setup.")
    p.add_argument("assignment", help="assignment id, e.g. a0_warmup")
    p.add_argument("--jobs", type=int, default=2, help="local Dask worker processes (default 2)")
    p.add_argument("--scheduler", help="address of a running Dask scheduler (e.g. tcp://host:8786) instead of a "
                                       "local cluster; its workers need this kit installed")
    p.add_argument("--course", type=Path, help="the nbgrader course folder (default: assignments/)")
    p.add_argument("--regrade", action="store_true", help="grade again submissions already graded")
    p.add_argument("--student", action="append", help="grade only this student (repeatable)")
    p.add_argument("--quality", type=Path, help="model-quality spec (default: assignments/grading.yaml)")
    p.add_argument("--cell-timeout", type=int, default=300, help="seconds per cell (default 300)")
    p.add_argument("--notebook-timeout", type=int, default=1800, help="seconds per submission (default 1800)")
    p.add_argument("--memory-mb", type=int, default=8192, help="address-space limit (default 8192)")
    p.add_argument("--cpu-seconds", type=int, default=3600, help="CPU-time limit (default 3600)")
    p.add_argument("--audit", type=int, default=0, metavar="K",
                   help="re-train K randomly chosen submissions at their own parameters and compare with the model "
                        "they submitted (assignments whose grading.yaml entries say `source: submitted`); a "
                        "mismatch is reported, never turned into points")
    p.add_argument("--no-sandbox", action="store_true",
                   help="grade even where the OS sandbox (bubblewrap) cannot start: learner code then runs with "
                        "the resource limits only and every row and the CSV say \"graded without isolation\"")
    p.add_argument("--audit-seed", type=int, default=0, help="which submissions --audit picks (default 0)")
    p.set_defaults(func=main)


def main(args) -> int:
    from ..grading.engine import Limits, grade_assignment
    from ..grading.engine.quality import load_spec
    from ..paths import repo_root

    course = (args.course or repo_root() / "assignments").resolve()
    spec = load_spec(args.assignment, args.quality or repo_root() / "assignments" / "grading.yaml")
    limits = Limits(args.cell_timeout, args.notebook_timeout, args.memory_mb, args.cpu_seconds)
    from .terminal import quiet_terminal

    with quiet_terminal("grade") as term:
        report = grade_assignment(args.assignment, course, jobs=args.jobs, scheduler=args.scheduler, limits=limits,
                                  regrade=args.regrade, quality=spec, students=args.student,
                                  audit=args.audit, audit_seed=args.audit_seed, sandbox=not args.no_sandbox,
                                  progress=term.say)
        faults = [r for r in report.rows if r.status != "ok"]
        for r in faults:
            term.say(f"  {r.student}: {r.status}")
    return 1 if faults else 0
