"""``course run``: doctor -> every notebook (smoke) -> release + autograde samples -> HTML report."""
from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser("run", help="the kit's main job on its bundled default, offline, with an HTML report")
    p.add_argument("--profile", default="smoke", help="notebook profile (default: smoke)")
    p.add_argument("--jobs", "-j", type=int, default=2, help="notebooks run in parallel (default 2)")
    p.set_defaults(func=main)


def main(args) -> int:
    from ..course.run import run

    from .terminal import quiet_terminal

    with quiet_terminal("run") as term:
        state = run(profile=args.profile, jobs=args.jobs, say=term.say)
    return 1 if state.failures else 0
