"""A short real two-worker run of a learner's functions (assignment a6's hidden test).

    history = two_worker_run(make_tf_config, build_and_compile, global_batch=32, epochs=2, out_dir="a6_run")

Two worker processes on loopback ports picked free, each given ``make_tf_config(hosts, i)`` and training
``build_and_compile(strategy)`` (its source is written beside the run) on a small synthetic data set. Bad
configs fail before anything starts (:class:`TFConfigError` names the worker and the field); a crash or a
hang stops both workers and names the one at fault.
"""
from __future__ import annotations

import inspect
import json
import sys
from pathlib import Path
from typing import Callable

from .launcher import Worker, launch
from .tfconfig import free_ports

__all__ = ["two_worker_run"]


def two_worker_run(make_tf_config: Callable[[list[str], int], str], build_and_compile: Callable,
                   global_batch: int, epochs: int = 2, out_dir: str | Path = "a6_run",
                   time_limit: float = 150, n_train: int = 512, echo=None) -> dict:
    """Run the job; return the chief's ``history.json`` (replicas, epochs, test_accuracy...)."""
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    source = out / "model_source.py"
    source.write_text(inspect.getsource(build_and_compile))
    hosts = [f"127.0.0.1:{p}" for p in free_ports(2)]
    argv = [sys.executable, "-m", "course_lib.multiworker.train_job", "--out", str(out), "--data", "blobs",
            "--n-train", str(n_train), "--n-test", "256", "--epochs", str(epochs),
            "--global-batch", str(global_batch), "--model-source", str(source)]
    workers = [Worker(f"worker-{i}", make_tf_config(hosts, i), argv) for i in range(2)]
    launch(workers, time_limit=time_limit, echo=echo)
    return json.loads((out / "history.json").read_text())
