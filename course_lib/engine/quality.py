"""Model-quality grading: the submission's saved model, measured on hidden data by a separate process.

Spec (``assignments/grading.yaml`` or ``course grade --quality FILE``), per assignment::

    a0_warmup:
      model: [model.keras, model.tflite, saved_model]   # what the notebook saves, first found is used
      data: hidden/blobs.npz       # x, y arrays; relative to the course; never given to student code
      metric: accuracy
      margin: 0.005                # in the learner's favour: absorbs float differences between machines
      thresholds: {test_training_hidden: 0.9}   # grade id -> the value its points need

The evaluator runs after the student's kernel has exited, in its own confined process that is the only
one given the hidden data; it loads models without running the submission's Python: ``.tflite`` with
``tf.lite.Interpreter``, ``.keras`` with ``keras.models.load_model(safe_mode=True, compile=False)``
(no Lambda layers or custom classes), SavedModel folders with ``tf.saved_model.load`` (graphs only; a
serving graph with file or Python ops is refused). It runs confined like the submission (own temp dir,
limits, no network), but without a mount namespace.
The metric is deterministic (fixed data order, no sampling); the points of a grade id are all or nothing.
"""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import yaml

from ..exceptions import GradingError
from .sandbox import Limits, run_confined

__all__ = ["load_spec", "load_hidden", "grade_quality", "evaluate"]


def load_spec(assignment: str, path: Path) -> dict | None:
    if not path.is_file():
        return None
    spec = (yaml.safe_load(path.read_text()) or {}).get(assignment)
    if spec is None:
        return None
    missing = {"model", "data", "metric", "thresholds"} - set(spec)
    if missing or spec["metric"] != "accuracy":
        raise GradingError(f"{path}: the entry of {assignment} needs {sorted(missing)} and metric: accuracy.")
    spec.setdefault("margin", 0.0)
    if isinstance(spec["model"], str):
        spec["model"] = [spec["model"]]
    return spec


def data_path(spec: dict, course: Path) -> Path:
    p = Path(spec["data"])
    return p if p.is_absolute() else course / p


def load_hidden(spec: dict, course: Path) -> bytes:
    p = data_path(spec, course)
    if not p.is_file():
        raise GradingError(f"the hidden data {p} of the model-quality spec does not exist.")
    return p.read_bytes()


def grade_quality(task: dict, graded_dir: Path, work: Path, limits: Limits, row: dict) -> None:
    """Measure the model the notebook saved; set the points of the spec's grade ids (in the worker)."""
    spec = task["quality"]
    q = row["quality"] = {"metric": spec["metric"], "value": None, "thresholds": spec["thresholds"],
                          "margin": spec["margin"], "note": ""}
    found = next((graded_dir / m for m in spec["model"] if (graded_dir / m).exists()), None)
    value = None
    if found is None:
        row["issues"].append({"kind": "model-missing", "detail": f"no saved model ({', '.join(spec['model'])}) "
                              "after the notebook ran: 0 points for model quality"})
        q["note"] = "no model saved"
    else:
        work.mkdir(parents=True, exist_ok=True)
        model = work / found.name
        (shutil.copytree if found.is_dir() else shutil.copy)(found, model)
        (work / "hidden.npz").write_bytes(spec["hidden"])
        cmd = [sys.executable, "-m", "course_lib.engine.quality", str(model), str(work / "hidden.npz")]
        import os
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "HOME": str(work), "CUDA_VISIBLE_DEVICES": ""}
        rc, out = run_confined(cmd, cwd=str(work), env=env, limits=limits, timeout=limits.notebook_timeout)
        try:
            res = json.loads(out.strip().splitlines()[-1]) if rc == 0 else None
        except (IndexError, json.JSONDecodeError):
            res = None
        if res is None:
            last = (out.strip().splitlines() or ["killed"])[-1][:300]
            row["issues"].append({"kind": "model-unloadable", "detail": f"{found.name} could not be loaded safely "
                                  f"or evaluated ({last}): 0 points for model quality"})
            q["note"] = "could not be evaluated"
        else:
            value = q["value"] = round(float(res["value"]), 4)
            q["note"] = f"{res['n']} held-out examples, {res['format']}"
    for gid, need in spec["thresholds"].items():
        points = task["grade_cells"][gid]["max_score"]
        row["tests"][gid] = [points if value is not None and value + spec["margin"] >= float(need) else 0.0, points]


_FILE_OPS = {"ReadFile", "WriteFile", "MatchingFiles", "SaveV2", "Save", "SaveSlices", "RestoreV2", "Restore",
             "MergeV2Checkpoints", "PrintV2", "Print", "ImmutableConst", "PyFunc", "EagerPyFunc", "PyFuncStateless"}


def _load(model: Path):
    """A callable batch -> probabilities, without running any Python from the submission."""
    import numpy as np
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
        return run, "TFLite (tf.lite.Interpreter)"
    if model.suffix == ".keras":
        m = tf.keras.models.load_model(str(model), compile=False, safe_mode=True)
        return (lambda x: m(x, training=False).numpy()), "Keras v3 file (safe_mode=True)"
    loaded = tf.saved_model.load(str(model))
    fn = loaded.signatures["serving_default"]
    graph = fn.graph.as_graph_def()
    ops = {n.op for n in graph.node} | {n.op for f in graph.library.function for n in f.node_def}
    if ops & _FILE_OPS:                          # a graph can read or write files: not a classifier
        raise ValueError(f"the SavedModel's serving function uses file operations {sorted(ops & _FILE_OPS)}")
    key = list(fn.structured_input_signature[1])[0]
    return (lambda x: list(fn(**{key: tf.constant(x)}).values())[0].numpy()), "SavedModel (tf.saved_model.load)"


def evaluate(model: Path, data: Path) -> dict:
    """Accuracy of ``model`` on ``data`` (npz: x, y), in file order."""
    import numpy as np

    d = np.load(data)
    x, y = d["x"].astype("float32"), d["y"]
    run, fmt = _load(model)
    pred = np.concatenate([np.argmax(run(x[i:i + 256]), axis=-1) for i in range(0, len(x), 256)])
    return {"value": float(np.mean(pred == y)), "n": int(len(y)), "format": fmt}


if __name__ == "__main__":
    print(json.dumps(evaluate(Path(sys.argv[1]), Path(sys.argv[2]))))
