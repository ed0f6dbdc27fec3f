"""``course samples``: grade the bundled sample submissions through real nbgrader and check their scores."""
from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser("samples", help="autograde assignments/samples/<id>/* and compare with expected.yaml")
    p.add_argument("assignments", nargs="*", help="assignment ids (default: all)")
    p.set_defaults(func=main)


def main(args) -> int:
    from ..grading.nbgrader_chain import assignments
    from ..grading.samples import check_samples

    from .terminal import quiet_terminal

    bad = 0
    with quiet_terminal("samples") as term:
        for a in args.assignments or assignments():
            bad += sum(not g.ok for g in check_samples(a, progress=term.say))
        term.say("all samples graded as expected" if not bad else f"{bad} sample(s) graded unexpectedly")
    return 1 if bad else 0
