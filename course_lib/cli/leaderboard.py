"""``course leaderboard``: rank learners by their best graded model quality on the hidden data."""
from __future__ import annotations

from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser("leaderboard", help="rank learners by their best graded model quality (HTML + CSV)",
                       description="Ranks every learner graded by `course grade` by the best value of a model-"
                                   "quality entry on the hidden data; writes grading/<assignment>/leaderboard.html "
                                   "and .csv in the course. Pseudonyms by default.")
    p.add_argument("assignment")
    p.add_argument("--course", type=Path, help="the nbgrader course folder (default: assignments/)")
    p.add_argument("--names", action="store_true", help="show student ids instead of pseudonyms")
    p.add_argument("--entry", type=int, default=0, help="which quality entry of grading.yaml (default 0)")
    p.set_defaults(func=main)


def main(args) -> int:
    from ..grading.engine.leaderboard import leaderboard
    from ..paths import repo_root

    course = (args.course or repo_root() / "assignments").resolve()
    entries, page = leaderboard(course, args.assignment, names=args.names, entry=args.entry)
    for e in entries:
        print(f"{e.rank:>3}  {e.learner:28} {e.metric} {e.value:g}  ({e.submissions} graded)")
    print(f"leaderboard: {page}")
    return 0
