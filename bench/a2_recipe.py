"""A2's released recipe, measured: the instructor's solution notebook trained on several seeds.

    .venv/bin/python bench/a2_recipe.py [--seeds 0 1 2] [-p epochs=60 -p n_train=0 ...] [--keep DIR]

Runs ``assignments/source/a2_object_detection`` with papermill (its ``parameters`` cell, overridden by
``-p``), once per seed, then measures on the 16 held-out tiles (the grader's hidden data): AP50 of the
Keras model (Model Maker's ``evaluate``, a cell appended to the run) and of both exported TFLite files with
the grading engine's own metric (``ap50``). Prints one row per seed and the training time. The thresholds
in ``assignments/grading.yaml`` come from these runs (with ``-p epochs=1`` for the one-epoch flaw).
``--keep DIR`` copies each run's ``a2_model*.tflite`` there (``seed<k>/``): how the samples' models are made.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("COURSE_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "assignments" / "source" / "a2_object_detection" / "a2_object_detection.ipynb"

# Appended to the run: the Keras model's AP50 on the held-out tiles (the bench is the instructor's side).
KERAS_CELL = """
from course_lib import registry as _r
_t = _r.fetch("neon-treecrown-tiles")
_held = object_detector.DataLoader.from_pascal_voc(str(_t / "test" / "images"), str(_t / "test" / "annotations"),
                                                   label_map, cache_dir=str(WORK / "held"))
import json as _json
print("KERAS_AP50", _json.dumps({k: float(v) for k, v in model.evaluate(_held).items() if k in ("AP", "AP50")}))
"""


def _value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def run(seed: int, params: dict, keep: Path | None) -> dict:
    import nbformat
    import papermill as pm

    from course_lib.detection_metrics import heldout_tiles
    from course_lib.grading.engine.metrics import get_metric

    nb = nbformat.read(SOURCE, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(KERAS_CELL))
    work = Path(tempfile.mkdtemp(prefix=f"a2-recipe-{seed}-"))
    nbformat.write(nb, work / "in.ipynb")
    env_before = os.environ.get("COURSE_PROFILE")
    os.environ["COURSE_PROFILE"] = "bench"           # grading.model_quality: report, do not grade
    t0 = time.monotonic()
    try:
        pm.execute_notebook(str(work / "in.ipynb"), str(work / "out.ipynb"), parameters={**params, "seed": seed},
                            cwd=str(work), progress_bar=False, log_output=False, kernel_name="python3")
    finally:
        if env_before is None:
            os.environ.pop("COURSE_PROFILE", None)
    seconds = time.monotonic() - t0
    out = nbformat.read(work / "out.ipynb", as_version=4)
    keras = None
    for o in out.cells[-1].get("outputs", []):
        for line in o.get("text", "").splitlines():
            if line.startswith("KERAS_AP50"):
                keras = json.loads(line.split(" ", 1)[1])
    hidden = heldout_tiles()
    ap50 = get_metric("ap50").fn
    row = {"seed": seed, "seconds": round(seconds), "keras_ap50": keras and round(keras["AP50"], 4)}
    for name in ("a2_model.tflite", "a2_model_int8.tflite"):
        row[name] = round(float(ap50(work / name, hidden)["value"]), 4)
    if keep is not None:
        dest = keep / f"seed{seed}"
        dest.mkdir(parents=True, exist_ok=True)
        for name in ("a2_model.tflite", "a2_model_int8.tflite"):
            shutil.copy(work / name, dest / name)
    shutil.rmtree(work, ignore_errors=True)
    return row


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("-p", action="append", default=[], metavar="NAME=VALUE", help="a parameter of the notebook")
    ap.add_argument("--keep", type=Path, default=None)
    args = ap.parse_args()
    params = {k: _value(v) for k, v in (p.split("=", 1) for p in args.p)}
    print(f"a2 recipe {params or '(released parameters)'}")
    print(f"{'seed':>4} {'seconds':>8} {'Keras AP50':>11} {'float16 AP50':>13} {'int8 AP50':>10}")
    for seed in args.seeds:
        r = run(seed, params, args.keep)
        print(f"{r['seed']:>4} {r['seconds']:>8} {r['keras_ap50']!s:>11} {r['a2_model.tflite']:>13} "
              f"{r['a2_model_int8.tflite']:>10}", flush=True)


if __name__ == "__main__":
    main()
