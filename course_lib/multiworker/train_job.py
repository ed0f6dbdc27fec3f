"""The worker program: train a small Keras classifier with or without MultiWorkerMirroredStrategy.

    python -m course_lib.multiworker.train_job --out run/ --epochs 3 --global-batch 64 [--backup run/backup]

Run by :func:`launcher.launch` (TF_CONFIG in the environment, one per worker) or in a Kubernetes pod.
``--strategy multi`` trains with ``MultiWorkerMirroredStrategy`` (every worker gets ``global_batch /
workers`` examples per step; gradients are all-reduced); ``--strategy single`` is the one-process
baseline. The chief (worker 0) writes ``history.json`` and the final weights under ``--out``; the other
workers write theirs to a scratch folder they delete (every worker must save: saving is collective).
``--backup`` adds ``BackupAndRestore``: a job restarted after a worker died resumes at the last epoch.
``--model-source FILE`` takes the model from ``build_and_compile(strategy)`` defined in FILE.
``main([...])`` also runs in a notebook's own process (``--strategy single``: the lesson's baseline).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from ..exceptions import TFConfigError
from .tfconfig import parse

__all__ = ["load_data", "fashion_cnn", "main"]


def load_data(name: str, n_train: int, n_test: int, seed: int = 0) -> tuple[tuple, tuple]:
    """``fashion-mnist`` (registry; test = the last ``n_test`` of its 60,000 training images) or ``blobs``."""
    if name == "fashion-mnist":
        from ..resources import registry
        from ..exam.data import read_idx

        if n_train + n_test > 60000:
            raise ValueError(f"n_train {n_train} + n_test {n_test} > 60,000: the test images would be trained on")
        folder = registry.fetch("fashion-mnist")
        x = read_idx(folder / "train-images-idx3-ubyte")
        y = read_idx(folder / "train-labels-idx1-ubyte").astype(np.int64)
        scale = lambda a: (a[..., None] / 255.0).astype(np.float32)  # noqa: E731
        return (scale(x[:n_train]), y[:n_train]), (scale(x[-n_test:]), y[-n_test:])
    if name == "blobs":                        # three Gaussian blobs in 8 dimensions: seconds to learn
        rng = np.random.default_rng(seed)
        centers = rng.normal(0, 3, (3, 8))
        y = rng.integers(0, 3, n_train + n_test)
        x = (centers[y] + rng.normal(0, 1, (len(y), 8))).astype(np.float32)
        return (x[:n_train], y[:n_train]), (x[n_train:], y[n_train:])
    raise ValueError(f"unknown data {name!r}: use 'fashion-mnist' or 'blobs'")


def fashion_cnn(input_shape: tuple, n_classes: int = 10, lr: float = 1e-3):
    """The small CNN of the Fashion-MNIST lessons (2 conv blocks + dense), compiled."""
    import tensorflow as tf

    if len(input_shape) == 1:                  # vectors (blobs): a small MLP
        layers = [tf.keras.layers.Dense(32, activation="relu")]
    else:
        layers = [tf.keras.layers.Conv2D(16, 3, activation="relu"), tf.keras.layers.MaxPooling2D(),
                  tf.keras.layers.Conv2D(32, 3, activation="relu"), tf.keras.layers.MaxPooling2D(),
                  tf.keras.layers.Flatten(), tf.keras.layers.Dense(64, activation="relu")]
    model = tf.keras.Sequential([tf.keras.Input(shape=input_shape), *layers,
                                 tf.keras.layers.Dense(n_classes, activation="softmax")])
    model.compile(optimizer=tf.keras.optimizers.Adam(lr), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def _model_from_source(path: str, strategy):
    """``build_and_compile(strategy)`` from ``path`` (``tf`` and ``np`` given); it must use the scope itself."""
    import tensorflow as tf

    namespace: dict = {"tf": tf, "np": np}
    exec(compile(Path(path).read_text(), path, "exec"), namespace)
    if "build_and_compile" not in namespace:
        raise SystemExit(f"{path} defines no build_and_compile(strategy)")
    model = namespace["build_and_compile"](strategy)
    if getattr(model, "distribute_strategy", None) is not strategy:
        raise SystemExit(f"build_and_compile(strategy) in {path} built the model outside `with strategy.scope():` "
                         "(its variables are not mirrored: each worker would train alone). Create and compile "
                         "the model inside the scope.")
    return model


def _dataset(x, y, batch: int, shuffle: bool, seed: int):
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((x, y))
    if shuffle:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch)
    options = tf.data.Options()                # in-memory data: shard by element, not by file
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options)


def _epoch_logger(epochs: int, record: dict):
    import tensorflow as tf

    class EpochLog(tf.keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            record.setdefault("first_epoch", epoch + 1)
            self.t0 = time.monotonic()
            print(f"epoch {epoch + 1}/{epochs} start", flush=True)

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            secs = time.monotonic() - self.t0
            record["epochs"].append({"epoch": epoch + 1, "seconds": round(secs, 2),
                                     **{k: round(float(v), 5) for k, v in logs.items()}})
            print(f"epoch {epoch + 1}/{epochs} done: loss {logs.get('loss', float('nan')):.4f} "
                  f"accuracy {logs.get('accuracy', float('nan')):.4f} ({secs:.1f} s)", flush=True)

    return EpochLog()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    p.add_argument("--strategy", choices=["multi", "single"], default="multi")
    p.add_argument("--data", default="fashion-mnist")
    p.add_argument("--n-train", type=int, default=12000)
    p.add_argument("--n-test", type=int, default=2000)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--global-batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--backup", default=None, help="BackupAndRestore folder (fault tolerance)")
    p.add_argument("--epoch-delay", type=float, default=0.0, help="seconds to sleep after each epoch (demos)")
    p.add_argument("--model-source", default=None)
    a = p.parse_args(argv)
    name = os.environ.get("COURSE_WORKER_NAME", "worker")
    if a.strategy == "multi":
        try:                                   # fail here, by name, rather than deep inside TensorFlow
            config = parse(os.environ.get("TF_CONFIG", ""), name)
        except TFConfigError as e:
            print(f"error: {e}", file=sys.stderr, flush=True)
            return 2
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(int(os.environ.get("TF_NUM_INTRAOP_THREADS", "1")))
        tf.config.threading.set_inter_op_parallelism_threads(int(os.environ.get("TF_NUM_INTEROP_THREADS", "1")))
    except RuntimeError:                       # called in a process whose TensorFlow already runs: keep its threads
        pass
    tf.keras.utils.set_random_seed(a.seed)
    t_start = time.monotonic()
    if a.strategy == "multi":
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        chief = config.is_chief
    else:
        strategy, chief = tf.distribute.get_strategy(), True
    replicas = strategy.num_replicas_in_sync
    print(f"{name}: {replicas} replica(s) in sync, global batch {a.global_batch} "
          f"= {a.global_batch // replicas} per replica; chief: {chief}", flush=True)
    (x, y), (xt, yt) = load_data(a.data, a.n_train, a.n_test, a.seed)
    if a.model_source:
        model = _model_from_source(a.model_source, strategy)
    else:
        with strategy.scope():
            model = fashion_cnn(x.shape[1:], int(y.max()) + 1, a.lr)
    record: dict = {"worker": name, "replicas": replicas, "global_batch": a.global_batch, "epochs": []}
    callbacks = [_epoch_logger(a.epochs, record)]
    if a.backup:
        callbacks.insert(0, tf.keras.callbacks.BackupAndRestore(backup_dir=a.backup))
    if a.epoch_delay:
        callbacks.append(tf.keras.callbacks.LambdaCallback(on_epoch_end=lambda *_: time.sleep(a.epoch_delay)))
    t_fit = time.monotonic()
    model.fit(_dataset(x, y, a.global_batch, True, a.seed), epochs=a.epochs, verbose=0, callbacks=callbacks)
    record["fit_seconds"] = round(time.monotonic() - t_fit, 2)
    loss, acc = model.evaluate(_dataset(xt, yt, a.global_batch, False, a.seed), verbose=0)
    record.update(test_loss=round(float(loss), 5), test_accuracy=round(float(acc), 5),
                  job_seconds=round(time.monotonic() - t_start, 2))
    out = Path(a.out)
    target = out if chief else out / f"scratch-{name}"   # only the chief's copy is kept
    target.mkdir(parents=True, exist_ok=True)
    model.save_weights(str(target / "weights"))
    if chief:
        (out / "history.json").write_text(json.dumps(record, indent=1))
        if a.strategy == "multi":             # task 0 hosts the coordination service: leave last
            time.sleep(2.0)
    else:
        shutil.rmtree(target, ignore_errors=True)
    print(f"{name}: test accuracy {acc:.4f}; {'wrote' if chief else 'chief writes'} {out / 'history.json'}",
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
