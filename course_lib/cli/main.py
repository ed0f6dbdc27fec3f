"""``course`` entry point. Exit codes: 0 success, 1 a check/notebook/grade failed, 2 a usage or input error."""
from __future__ import annotations

import argparse
import sys

from ..exceptions import CourseError
from . import (certify, check, data, doctor, edgetpu, export, grade, hub, lab, leaderboard, notebooks, progress, run,
               samples)

SUBCOMMANDS = [doctor, notebooks, run, samples, data, lab, hub, check, progress, grade, leaderboard, export, certify,
               edgetpu]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="course", description="The on-device TensorFlow course kit.")
    sub = parser.add_subparsers(dest="command", required=True)
    for mod in SUBCOMMANDS:
        mod.add_parser(sub)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CourseError as e:
        print(f"course {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
