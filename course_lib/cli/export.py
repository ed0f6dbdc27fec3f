"""``course export --lms canvas|moodle|csv``: grades from the gradebook into a file an LMS imports."""
from __future__ import annotations

from pathlib import Path


def add_parser(sub) -> None:
    from ..classroom.lms_export import FORMATS

    p = sub.add_parser("export", help="grades for an LMS: Canvas or Moodle grade import CSV, or a plain CSV",
                       description="Reads the scores of ASSIGNMENT... from the course's nbgrader gradebook (late "
                                   "penalties included) and writes one row per learner of the roster, in the "
                                   "columns the LMS's grade import documents. Learners without a submission get a "
                                   "blank cell, not a zero.")
    p.add_argument("assignments", nargs="+", metavar="ASSIGNMENT")
    p.add_argument("--lms", choices=FORMATS, required=True, help="the file format")
    p.add_argument("--roster", type=Path, required=True,
                   help="the course roster CSV (username,role,name,email,lms_id,sis_id,section)")
    p.add_argument("--course", type=Path, help="the nbgrader course folder (default: assignments/)")
    p.add_argument("-o", "--output", type=Path, help="the file to write (default: COURSE/exports/grades-LMS.csv)")
    p.set_defaults(func=main)


def main(args) -> int:
    from ..classroom.lms_export import export
    from ..classroom.roster import Roster
    from ..paths import repo_root

    roster = Roster.load(args.roster)
    course = (args.course or repo_root() / "assignments").resolve()
    out = args.output or course / "exports" / f"grades-{args.lms}.csv"
    r = export(args.lms, roster, course / "gradebook.db", args.assignments, out)
    print(f"export: {r.learners} learners, {r.graded} scores of {len(args.assignments)} assignment(s) -> {r.path}")
    if r.missing:
        print(f"  {len(r.missing)} blank (no submission): "
              + ", ".join(f"{u}/{a}" for u, a in r.missing[:10]) + (" ..." if len(r.missing) > 10 else ""))
    if r.pending_manual:
        print(f"  {len(r.pending_manual)} score(s) still await manual grading in the formgrader (partial now): "
              + ", ".join(f"{u}/{a}" for u, a in r.pending_manual[:10]))
    if r.not_on_roster:
        print(f"  left out, not on the roster: {', '.join(r.not_on_roster)} (add them to {args.roster} to export)")
    return 0
