"""Single- vs multi-worker runs side by side: a table and the loss/accuracy curves.

    runs = {"1 worker": RunSummary.load("runs/one", result_one), "2 workers": RunSummary.load("runs/two", result_two)}
    comparison_table(runs)          # pandas DataFrame: epochs, final loss/accuracy, test accuracy, times
    comparison_plot(runs)           # loss and accuracy per epoch, one line per run

The figures come from the chief's ``history.json`` (written by :mod:`train_job`) and the launcher's
:class:`~course_lib.multiworker.launcher.LaunchResult` (wall time including process start-up).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .launcher import LaunchResult

__all__ = ["RunSummary", "comparison_table", "comparison_plot"]


@dataclass
class RunSummary:
    workers: int
    global_batch: int
    epochs: list[dict]                # per epoch: epoch, seconds, loss, accuracy
    first_epoch: int
    fit_seconds: float
    test_loss: float
    test_accuracy: float
    wall_seconds: float               # first process started to last one ended (or the call, in-process)

    @classmethod
    def load(cls, out_dir: str | Path, result: LaunchResult) -> "RunSummary":
        """A launched job: wall time from the launcher."""
        return cls.from_history(out_dir, len(result.workers), result.seconds)

    @classmethod
    def from_history(cls, out_dir: str | Path, workers: int, wall_seconds: float) -> "RunSummary":
        """Any run that wrote ``history.json`` (e.g. ``train_job.main`` called in this process)."""
        h = json.loads((Path(out_dir) / "history.json").read_text())
        return cls(workers, h["global_batch"], h["epochs"], h.get("first_epoch", 1), h["fit_seconds"],
                   h["test_loss"], h["test_accuracy"], round(wall_seconds, 1))

    def steady_epoch_seconds(self) -> float:
        """Mean epoch time without the first (which traces the graph and sets up the collectives)."""
        later = [e["seconds"] for e in self.epochs[1:]] or [e["seconds"] for e in self.epochs]
        return sum(later) / len(later)


def comparison_table(runs: dict[str, RunSummary]):
    import pandas as pd

    rows = []
    for label, r in runs.items():
        last = r.epochs[-1]
        rows.append({"run": label, "workers": r.workers, "global batch": r.global_batch,
                     "per-replica batch": r.global_batch // r.workers, "epochs": len(r.epochs),
                     "final train loss": round(last["loss"], 4), "final train accuracy": round(last["accuracy"], 4),
                     "test loss": round(r.test_loss, 4), "test accuracy": round(r.test_accuracy, 4),
                     "s / epoch (after 1st)": round(r.steady_epoch_seconds(), 2),
                     "fit s": round(r.fit_seconds, 1), "wall s (with start-up)": round(r.wall_seconds, 1)})
    return pd.DataFrame(rows).set_index("run")


def comparison_plot(runs: dict[str, RunSummary]):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.4))
    for label, r in runs.items():
        ep = [e["epoch"] for e in r.epochs]
        axes[0].plot(ep, [e["loss"] for e in r.epochs], marker="o", label=label)
        axes[1].plot(ep, [e["accuracy"] for e in r.epochs], marker="o", label=label)
    axes[2].bar(list(runs), [r.fit_seconds for r in runs.values()], color=["C0", "C1", "C2"][:len(runs)])
    for ax, title in zip(axes, ["training loss", "training accuracy", "training time (s)"]):
        ax.set_title(title)
    for ax in axes[:2]:
        ax.set_xlabel("epoch")
        ax.legend()
    fig.tight_layout()
    return fig
