"""``course progress``: every lesson and assignment, not started / in progress / done, with scores."""
from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser("progress", help="your progress: lessons run, assignments checked, with scores (and a plot)")
    p.add_argument("--plot", help="where to write the plot (default: build/progress.png)")
    p.set_defaults(func=main)


def main(args) -> int:
    import matplotlib

    matplotlib.use("Agg")
    from ..paths import build_dir
    from ..grading.progress import collect, plot

    board = collect()
    print(board.text())
    path = args.plot or build_dir() / "progress.png"
    plot(board, path)
    print(f"Plot: {path}")
    return 0
