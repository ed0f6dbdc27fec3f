"""The certificate exam's models, trained and measured: how its thresholds are set and its samples' models made.

    .venv/bin/python bench/exam_models.py [--from FOLDER] [--profile full|smoke|own] [--tasks 3 4]
                                          [-p task3_transfer:epochs=8 ...] [--keep DIR]

Runs each task notebook of ``FOLDER`` (default: ``assignments/source/cert_exam``, the instructor's
solution; a sample folder such as ``assignments/samples/cert_exam/weak`` runs that candidate's answers)
with papermill, at the parameters of ``ci/params/<profile>.yaml`` (``own``: the notebook's own parameters
cell; the source's are the exam's defaults, i.e. the full profile) overridden by ``-p``. Then measures
every saved model with the grading engine's evaluator on the hidden data of ``assignments/grading.yaml``
and prints one row per task: seconds, metric value, the points its thresholds give (margin included).
``--keep DIR`` copies each saved model to ``DIR`` (what the samples ship: ``assignments/samples/cert_exam``).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import yaml

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("COURSE_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
A = "cert_exam"


def _value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _points(spec: dict, value: float) -> int:
    from course_lib.grading.engine.metrics import get_metric

    m = get_metric(spec["metric"])
    return sum(m.passes(value, float(need), float(spec.get("margin", 0))) for need in spec["thresholds"].values())


def run_task(nb: Path, params: dict, spec: dict, keep: Path | None) -> dict:
    import papermill as pm

    from course_lib.grading.engine.hidden_data import resolve
    from course_lib.grading.engine.quality import evaluate

    work = Path(tempfile.mkdtemp(prefix=f"exam-{nb.stem}-"))
    shutil.copy(nb, work / nb.name)
    shutil.copy(ROOT / "assignments" / "source" / A / "exam_rules.yaml", work / "exam_rules.yaml")
    os.environ["COURSE_PROFILE"] = "bench"        # grading.model_quality: report, do not grade
    t0 = time.monotonic()
    pm.execute_notebook(str(work / nb.name), str(work / "out.ipynb"), parameters=params, cwd=str(work),
                        progress_bar=False, log_output=False, kernel_name="python3")
    seconds = time.monotonic() - t0
    model = next((work / m for m in spec["model"] if (work / m).exists()), None)
    row = {"task": nb.stem, "seconds": round(seconds), "model": spec["model"][0], "value": None, "points": 0}
    if model is not None:
        value = evaluate(spec["metric"], model, resolve(spec["data"], ROOT / "assignments"))["value"]
        row.update(value=round(float(value), 4), points=_points(spec, float(value)),
                   KB=round(sum(f.stat().st_size for f in ([model] if model.is_file() else model.rglob("*"))
                                if f.is_file()) / 1024))
        if keep is not None:
            keep.mkdir(parents=True, exist_ok=True)
            dest = keep / model.name
            shutil.rmtree(dest, ignore_errors=True) if dest.is_dir() else dest.unlink(missing_ok=True)
            (shutil.copytree if model.is_dir() else shutil.copy)(model, dest)
    shutil.rmtree(work, ignore_errors=True)
    return row


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--from", dest="folder", type=Path, default=ROOT / "assignments" / "source" / A)
    ap.add_argument("--profile", choices=["full", "smoke", "own"], default="full")
    ap.add_argument("--tasks", type=int, nargs="*", default=None, help="task numbers (default: all 7)")
    ap.add_argument("-p", action="append", default=[], metavar="TASK:NAME=VALUE")
    ap.add_argument("--keep", type=Path, default=None)
    args = ap.parse_args()
    specs = {s["model"][0].split("_model")[0]: s for s in yaml.safe_load(
        (ROOT / "assignments" / "grading.yaml").read_text())[A]}
    profile = {} if args.profile == "own" else yaml.safe_load(
        (ROOT / "ci" / "params" / f"{args.profile}.yaml").read_text())["notebooks"]
    extra: dict[str, dict] = {}
    for p in args.p:
        task, kv = p.split(":", 1)
        k, v = kv.split("=", 1)
        extra.setdefault(task, {})[k] = _value(v)
    print(f"cert_exam models from {args.folder.relative_to(ROOT) if args.folder.is_relative_to(ROOT) else args.folder}"
          f", profile {args.profile}")
    print(f"{'task':<22} {'seconds':>8} {'value':>8} {'points':>6} {'KB':>7}")
    total = 0
    for nb in sorted(args.folder.glob("task*.ipynb")):
        n = int(nb.stem[4])
        if args.tasks and n not in args.tasks:
            continue
        params = {**(profile.get(nb.stem) or {}), **extra.get(nb.stem, {})}
        r = run_task(nb, params, specs[f"task{n}"], args.keep)
        total += r["points"]
        print(f"{r['task']:<22} {r['seconds']:>8} {r['value']!s:>8} {r['points']:>6} {r.get('KB', '-')!s:>7}  "
              f"{json.dumps(params)}", flush=True)
    print(f"total {total} points")


if __name__ == "__main__":
    main()
