"""The certificate exam's hidden data and metrics, run on the grader's side (never by candidate code).

Registered with the grading engine (``course_lib.grading.engine.hidden_data`` / ``.metrics`` import this module as a
plugin) and named by ``assignments/grading.yaml`` (``cert_exam``). Hidden data builders, each the complement of
a training split of :mod:`course_lib.exam.data`:

=============  =====================================================================  =====
builder        arrays                                                                 tasks
=============  =====================================================================  =====
cert_tabular   x float32 (171, 30) raw features, y 0 malignant / 1 benign              1
cert_fashion   images uint8 (n, 28, 28, 1), y: the first ``n`` of the 10,000 test images  2, 7
tree_patches   (the engine's) images uint8 (558, 96, 96, 3) of the held-out aerial image   3, 6
cert_text      x str (911,), y 0 rotten / 1 fresh: the snippets of the held-out movies  4
cert_sunspots  x float32 (50, window) past years, y the next year (1959-2008)         5
=============  =====================================================================  =====

Metrics added here (tasks 1, 2, 3 use the engine's ``accuracy``, task 5 its ``mae``):

* ``text_accuracy``: accuracy of a Keras model fed the raw strings (its TextVectorization inside);
* ``tflite_metadata_checks``: how many of the 5 :data:`METADATA_CHECKS` a ``.tflite`` classifier passes;
* ``edgetpu_checks``: how many of the 5 :data:`EDGETPU_CHECKS` a full-int8 ``.tflite`` passes.

The two ``*_checks`` metrics return 0-5, so a threshold k means "at least k checks pass"; each run prints
every check with its result to the evaluator's log.

Only ``tree-patches/test`` (and its byte copy ``tree-patches-clean-train/test``) can be withheld from the
candidate's kernel: the tabular, text and sunspots rows and Fashion-MNIST's test files sit in files the
kernel reads to verify ``cert-exam-train``'s inputs
(the data are public, as in the original TensorFlow certificate: the exam grades the saved model).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from . import data as E
from ..grading.engine.hidden_data import hidden_data
from ..grading.engine.metrics import metric

__all__ = ["cert_tabular", "cert_fashion", "cert_text", "cert_sunspots", "text_accuracy", "tflite_metadata_checks",
           "edgetpu_checks", "METADATA_CHECKS", "EDGETPU_CHECKS", "TASK6_MIN_ACCURACY", "TASK7_MIN_ACCURACY"]

TASK6_MIN_ACCURACY = 0.55      # check 5 of task 6: Task Library top-1 accuracy on the held-out tile (chance 0.50)
TASK7_MIN_ACCURACY = 0.70      # check 5 of task 7: int8 accuracy on hidden Fashion-MNIST
METADATA_CHECKS = ["has metadata with an input normalisation", "normalisation maps 0..255 to [0, 1] (mean 0, std 255)",
                   "labels packed: background, tree", "the Task Library's ImageClassifier loads and runs it",
                   f"Task Library top-1 accuracy on hidden images >= {TASK6_MIN_ACCURACY}"]
EDGETPU_CHECKS = ["every tensor of every op is int8/uint8 (full-integer quantization)", "uint8 or int8 input and output",
                  "static batch-1 input shape", "pre-flight: every op maps to the Edge TPU",
                  f"int8 accuracy on hidden Fashion-MNIST >= {TASK7_MIN_ACCURACY}"]


# ----------------------------------------------------------------------------------------------- hidden data
def _path(name: str) -> Path:
    from ..resources import registry

    return registry.fetch(name)


@hidden_data("cert_tabular")
def cert_tabular(seed: int = 0) -> dict[str, np.ndarray]:
    x, y = E.read_tabular(_path("breast-cancer-wisconsin"))
    _, hidden = E.tabular_split(len(y), seed)
    return {"x": x[hidden], "y": y[hidden]}


@hidden_data("cert_fashion")
def cert_fashion(n: int = 2000) -> dict[str, np.ndarray]:
    folder = _path("fashion-mnist")
    x = E.read_idx(folder / "t10k-images-idx3-ubyte")[:n, :, :, None]
    return {"images": np.ascontiguousarray(x), "y": E.read_idx(folder / "t10k-labels-idx1-ubyte")[:n].astype(np.int64)}


@hidden_data("cert_text")
def cert_text() -> dict[str, np.ndarray]:
    rows = [r for r in E.read_text(_path("rotten-tomatoes-snippets")) if E.text_is_hidden(r[2])]
    return {"x": np.array([r[0] for r in rows]), "y": np.array([r[1] for r in rows], dtype=np.int64)}


@hidden_data("cert_sunspots")
def cert_sunspots(window: int = 30) -> dict[str, np.ndarray]:
    years, values = E.read_sunspots(_path("sunspots-yearly"))
    x, y = E.windows(values, window)
    hidden = years[window:] > E.SUNSPOTS_LAST_TRAIN_YEAR
    return {"x": x[hidden], "y": y[hidden]}


# ----------------------------------------------------------------------------------------------- metrics
def _labels_of(pred: np.ndarray) -> np.ndarray:
    pred = pred.reshape(len(pred), -1)
    return (pred[:, 0] > 0.5).astype(np.int64) if pred.shape[1] == 1 else pred.argmax(-1)


@metric("text_accuracy")
def text_accuracy(model: Path, data: dict[str, np.ndarray]) -> dict:
    """Accuracy of a Keras v3 model (safe_mode) that takes the raw strings, shape (n,) or (n, 1)."""
    import tensorflow as tf

    if model.suffix != ".keras":
        raise ValueError(f"{model.name}: the text task is graded from a .keras file (save with model.save('…keras'))")
    m = tf.keras.models.load_model(str(model), compile=False, safe_mode=True)
    x = data["x"].astype(object)
    if len(m.inputs[0].shape) == 2:
        x = x[:, None]
    pred = np.concatenate([m(tf.constant(x[i:i + 256]), training=False).numpy() for i in range(0, len(x), 256)])
    return {"value": float(np.mean(_labels_of(pred) == data["y"])), "n": int(len(x)),
            "format": "Keras v3 file (safe_mode=True), string input"}


def _report(name: str, results: list[tuple[str, bool, str]]) -> int:
    for check, ok, why in results:
        print(f"[{name}] {'PASS' if ok else 'FAIL'} {check}" + (f" ({why})" if why else ""), file=sys.stderr)
    return sum(ok for _, ok, _ in results)


@metric("tflite_metadata_checks")
def tflite_metadata_checks(model: Path, data: dict[str, np.ndarray]) -> dict:
    """Task 6: the 5 checks of :data:`METADATA_CHECKS`, counted (a failed check fails those after it that need it)."""
    from .. import metadata as md

    if model.suffix != ".tflite":
        raise ValueError(f"{model.name} is not a .tflite file")
    s = md.summarize(model)
    norm = s.inputs[0].norm if s.has_metadata and s.inputs else None
    res = [(METADATA_CHECKS[0], norm is not None,
            "no metadata" if not s.has_metadata else "no normalisation" if norm is None else ""),
           (METADATA_CHECKS[1], norm is not None and norm.close_to(md.Normalization.for_value_range(0.0, 1.0)),
            f"it normalises with {norm}" if norm else ""),
           (METADATA_CHECKS[2], s.has_metadata and s.labels() == E.TREE_LABELS,
            f"labels {s.labels() if s.has_metadata else None}")]
    try:
        top = md.classify_task(model, list(data["images"]), k=1)
        names = [r[0][0] if r else "" for r in top]
        acc = float(np.mean([n == E.TREE_LABELS[y] for n, y in zip(names, data["y"])]))
        res += [(METADATA_CHECKS[3], True, ""), (METADATA_CHECKS[4], acc >= TASK6_MIN_ACCURACY, f"accuracy {acc:.3f}")]
    except Exception as e:                            # the Task Library refuses it: checks 4 and 5 fail
        res += [(METADATA_CHECKS[3], False, str(e)[:200]), (METADATA_CHECKS[4], False, "the Task Library cannot run it")]
    return {"value": float(_report("task6", res)), "n": int(len(data["y"])), "format": "TFLite + Task Library"}


@metric("edgetpu_checks")
def edgetpu_checks(model: Path, data: dict[str, np.ndarray]) -> dict:
    """Task 7: the 5 checks of :data:`EDGETPU_CHECKS`, counted."""
    import tensorflow as tf

    from .. import edgetpu
    from ..interpreter import TFLiteModel

    if model.suffix != ".tflite":
        raise ValueError(f"{model.name} is not a .tflite file")
    interp = tf.lite.Interpreter(model_path=str(model))
    tensors = {d["index"]: d for d in interp.get_tensor_details()}
    float_ops = sorted({op["op_name"] for op in interp._get_ops_details()
                        if any(tensors[i]["dtype"] == np.float32 for i in list(op["inputs"]) + list(op["outputs"])
                               if i >= 0)})
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    io_ok = inp["dtype"] in (np.uint8, np.int8) and out["dtype"] in (np.uint8, np.int8)
    sig = list(inp.get("shape_signature", inp["shape"]))
    report = edgetpu.analyze(model)
    acc = 0.0
    try:
        run = TFLiteModel(model)
        x = data["images"].astype(np.float32)                     # pixels 0..255, as the task's model takes them
        pred = np.concatenate([run.predict(x[i:i + 1]) for i in range(len(x))])
        acc = float(np.mean(_labels_of(pred) == data["y"]))
    except Exception as e:
        print(f"[task7] the model does not run on a 28x28x1 image: {e}", file=sys.stderr)
    res = [(EDGETPU_CHECKS[0], not float_ops, f"ops in float: {float_ops}" if float_ops else ""),
           (EDGETPU_CHECKS[1], io_ok, f"input {np.dtype(inp['dtype']).name}, output {np.dtype(out['dtype']).name}"),
           (EDGETPU_CHECKS[2], sig[:1] == [1] and all(int(d) > 0 for d in sig), f"input signature {sig}"),
           (EDGETPU_CHECKS[3], report.fully_mapped, report.summary()),
           (EDGETPU_CHECKS[4], acc >= TASK7_MIN_ACCURACY, f"int8 accuracy {acc:.3f}")]
    return {"value": float(_report("task7", res)), "n": int(len(data["y"])), "format": "TFLite int8 + pre-flight"}
