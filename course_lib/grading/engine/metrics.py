"""Model-quality metrics of the grading engine's evaluator: a saved model measured on hidden data.

A metric is ``f(model: Path, data: dict[str, np.ndarray] | None) -> {"value", "n", "format"}``, registered
with :func:`metric` and named by the quality spec (``assignments/grading.yaml``). It runs in the evaluator's
confined process, which is the only one given the hidden data; models are loaded without running Python
from the submission (see :func:`load_classifier`). More metrics register from the modules in ``PLUGINS``.

Data conventions (the ``.npz`` a hidden-data builder writes, :mod:`.hidden_data`):
``x`` is fed to the model as it is (cast to float32 when numeric); ``images`` (uint8, NHWC) are resized
to the model's input size with ``tf.image.resize`` (bilinear) and scaled to [0, 1], as the kit's image
pipelines do; ``y`` holds the labels or targets.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["Metric", "METRICS", "metric", "get_metric", "load_classifier", "model_inputs"]


@dataclass(frozen=True)
class Metric:
    name: str
    fn: Callable[[Path, dict | None], dict]
    higher_is_better: bool = True
    needs_data: bool = True

    def passes(self, value: float, need: float, margin: float) -> bool:
        """Does ``value`` earn a threshold ``need``? The margin is in the learner's favour."""
        return value + margin >= need if self.higher_is_better else value - margin <= need


METRICS: dict[str, Metric] = {}
PLUGINS: list[str] = ["course_lib.exam.quality", "course_lib.grading.plugins.detection"]   # modules that register more metrics, imported on first lookup


def metric(name: str, higher_is_better: bool = True, needs_data: bool = True):
    """Register ``f(model, data) -> {"value", "n", "format"}`` as the metric ``name``."""
    def deco(fn):
        METRICS[name] = Metric(name, fn, higher_is_better, needs_data)
        return fn
    return deco


def get_metric(name: str) -> Metric:
    for mod in PLUGINS:
        importlib.import_module(mod)
    if name not in METRICS:
        raise KeyError(f"unknown model-quality metric {name!r}; known: {sorted(METRICS)}")
    return METRICS[name]


_FILE_OPS = {"ReadFile", "WriteFile", "MatchingFiles", "SaveV2", "Save", "SaveSlices", "RestoreV2", "Restore",
             "MergeV2Checkpoints", "PrintV2", "Print", "ImmutableConst", "PyFunc", "EagerPyFunc", "PyFuncStateless"}


def load_classifier(model: Path) -> tuple[Callable[[np.ndarray], np.ndarray], str, tuple | None]:
    """``(batch -> outputs, format, input shape)`` of a saved model, without running Python from the submission.

    ``.tflite``: ``tf.lite.Interpreter``; ``.keras``: ``load_model(safe_mode=True, compile=False)`` (no Lambda
    layers or custom classes); a SavedModel folder: ``tf.saved_model.load`` (graphs only; a serving graph with
    file or Python ops is refused).
    """
    import tensorflow as tf

    if model.suffix == ".tflite":
        interp = tf.lite.Interpreter(model_path=str(model))
        inp, out = interp.get_input_details()[0], interp.get_output_details()[0]

        def run(x):
            rows = []
            for xi in x:
                interp.resize_tensor_input(inp["index"], (1, *xi.shape))
                interp.allocate_tensors()
                interp.set_tensor(inp["index"], xi[None].astype(inp["dtype"]))
                interp.invoke()
                rows.append(interp.get_tensor(out["index"])[0])
            return np.stack(rows)
        return run, "TFLite (tf.lite.Interpreter)", tuple(int(d) for d in inp["shape"][1:])
    if model.suffix == ".keras":
        m = tf.keras.models.load_model(str(model), compile=False, safe_mode=True)
        shape = tuple(m.inputs[0].shape[1:]) if getattr(m, "inputs", None) else None
        return (lambda x: m(x, training=False).numpy()), "Keras v3 file (safe_mode=True)", shape
    loaded = tf.saved_model.load(str(model))
    fn = loaded.signatures["serving_default"]
    graph = fn.graph.as_graph_def()
    ops = {n.op for n in graph.node} | {n.op for f in graph.library.function for n in f.node_def}
    if ops & _FILE_OPS:                          # a graph can read or write files: not a classifier
        raise ValueError(f"the SavedModel's serving function uses file operations {sorted(ops & _FILE_OPS)}")
    key, spec = list(fn.structured_input_signature[1].items())[0]
    return ((lambda x: list(fn(**{key: tf.constant(x)}).values())[0].numpy()), "SavedModel (tf.saved_model.load)",
            tuple(spec.shape[1:]))


def model_inputs(data: dict, shape: tuple | None) -> np.ndarray:
    """The model's input batch from hidden data (see the module's data conventions)."""
    if "images" in data:
        import tensorflow as tf

        imgs = data["images"]
        if shape and len(shape) == 3 and shape[0] and shape[1] and tuple(shape[:2]) != imgs.shape[1:3]:
            return tf.image.resize(tf.cast(imgs, tf.float32), shape[:2]).numpy() / 255.0
        return imgs.astype("float32") / 255.0
    x = data["x"]
    return x.astype("float32") if x.dtype.kind in "biuf" else x


def _predict(model: Path, data: dict) -> tuple[np.ndarray, str]:
    run, fmt, shape = load_classifier(model)
    x = model_inputs(data, shape)
    return np.concatenate([np.asarray(run(x[i:i + 64])) for i in range(0, len(x), 64)]), fmt


@metric("accuracy")
def accuracy(model: Path, data: dict) -> dict:
    """Top-1 accuracy (argmax over the last axis, or a threshold at 0.5 for one sigmoid output)."""
    out, fmt = _predict(model, data)
    out = out.reshape(len(out), -1)
    pred = (out[:, 0] > 0.5).astype(int) if out.shape[1] == 1 else np.argmax(out, axis=-1)
    return {"value": float(np.mean(pred == data["y"].reshape(-1))), "n": int(len(pred)), "format": fmt}


@metric("mae", higher_is_better=False)
def mae(model: Path, data: dict) -> dict:
    """Mean absolute error between the model's outputs and ``y`` (same number of values per example)."""
    out, fmt = _predict(model, data)
    y = data["y"].astype("float64").reshape(len(out), -1)
    out = out.astype("float64").reshape(len(out), -1)
    if out.shape != y.shape:
        raise ValueError(f"the model gives {out.shape[1]} values per example; the task needs {y.shape[1]}")
    return {"value": float(np.mean(np.abs(out - y))), "n": int(len(out)), "format": fmt}
