"""Model-quality grading: the submission's saved models, measured on hidden data by a separate process.

Spec (``assignments/grading.yaml`` or ``course grade --quality FILE``): per assignment, one entry or a list
of entries, one per saved model::

    a1_transfer_learning:
      - model: [a1_model]              # what the notebook saves (file or folder), first found is used
        data: {builder: tree_patches, args: {split: test}}   # or an .npz path relative to the course
        metric: accuracy               # a metric of course_lib.grading.engine.metrics (accuracy, mae, ...)
        margin: 0.005                  # in the learner's favour: absorbs float differences between machines
        thresholds: {test_quality_065: 0.65, test_quality_072: 0.72}   # grade id -> the value its points need
        source: rerun                  # or `submitted`: the file handed in (:mod:`.submitted`)

With ``source: rerun`` the model the notebook saves when the grader runs it is measured; with ``submitted``
the file that came with the submission, taken out before the notebook runs (:func:`take_submitted`).

The hidden data is built on the instructor's side (:mod:`.hidden_data`) and given only to the evaluator,
which runs after the student's kernel has exited, in its own confined process (own temp dir, limits, no
network); it loads models without running the submission's Python (:func:`.metrics.load_classifier`).
The metric is deterministic (fixed data order, no sampling); the points of a grade id are all or nothing.
The notebook's quality cells are placeholders (:func:`course_lib.grading.model_quality`): whatever they
do in the kernel, the evaluator's result sets their points.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import yaml

from ...exceptions import GradingError
from ..result import Finding, GradedResult
from .sandbox import Limits, View, run_confined

__all__ = ["load_spec", "attach_hidden", "take_submitted", "grade_quality", "measure", "evaluate"]

_KEYS = {"model", "metric", "thresholds"}


def load_spec(assignment: str, path: Path) -> list[dict] | None:
    """The list of quality entries of ``assignment`` in the spec file, or None."""
    from .metrics import get_metric

    if not path.is_file():
        return None
    spec = (yaml.safe_load(path.read_text()) or {}).get(assignment)
    if spec is None:
        return None
    entries = spec if isinstance(spec, list) else [spec]
    for k, e in enumerate(entries):
        missing = _KEYS - set(e)
        if missing:
            raise GradingError(f"{path}: entry {k} of {assignment} needs {sorted(missing)}.")
        try:
            m = get_metric(e["metric"])
        except KeyError as err:
            raise GradingError(f"{path}: entry {k} of {assignment}: {err.args[0]}") from None
        if m.needs_data and "data" not in e:
            raise GradingError(f"{path}: entry {k} of {assignment}: metric {m.name} needs `data`.")
        e.setdefault("margin", 0.0)
        if e.setdefault("source", "rerun") not in ("rerun", "submitted"):
            raise GradingError(f"{path}: entry {k} of {assignment}: source must be `rerun` or `submitted`, "
                               f"not {e['source']!r}.")
        if isinstance(e["model"], str):
            e["model"] = [e["model"]]
    return entries


def attach_hidden(entries: list[dict], course: Path) -> tuple[list[dict], list[str], list[str]]:
    """Entries with their hidden data as bytes (built on this side); the folders to deny to submissions;
    the ``"<resource>/<folder>"`` parts of the registry the data comes from (withheld from them too)."""
    from ...paths import cache_dir
    from .hidden_data import resolve, withholds

    out, deny, withheld = [], set(), set()
    for e in entries:
        if e.get("data") is None:
            out.append({**e, "hidden": None})
            continue
        p = resolve(e["data"], course)
        deny.add(str(p.parent))
        for w in withholds(e["data"]):
            withheld.add(w)
            deny.add(str(cache_dir() / w))
        out.append({**e, "hidden": p.read_bytes()})
    return out, sorted(deny), sorted(withheld)


def take_submitted(task: dict, dest: Path, row: dict) -> None:
    """Take every ``source: submitted`` model out of the submission, checked, before the notebook runs
    (:func:`.submitted.take`); ``task["submitted_models"][k]`` is entry ``k``'s copy or its problem."""
    from .submitted import take

    task["submitted_models"], task["submitted_sha256"] = {}, {}
    for k, spec in enumerate(task["quality"]):
        if spec.get("source", "rerun") != "submitted":
            continue
        m = take(spec["model"], task["files"], task.get("special", {}), float(spec.get("max_mb", 100)))
        task["submitted_models"][k] = m if m.problem else m.write(dest / str(k))
        task["submitted_sha256"][k] = m.sha256


def grade_quality(task: dict, graded_dir: Path, work: Path, limits: Limits, row: GradedResult) -> None:
    """Measure every model the spec names; set the points of its grade ids (in the worker)."""
    row.quality = []
    for k, spec in enumerate(task["quality"]):
        _grade_entry(task, k, spec, graded_dir, work / str(k), limits, row)


def _sandboxed(task: dict) -> bool:
    return task.get("sandbox", True)


def measure(metric: str, data: bytes | None, found: Path, work: Path, limits: Limits,
            sandbox: bool = True) -> tuple[dict | None, str]:
    """Run the evaluator on a copy of ``found`` with ``data`` (an ``.npz``'s bytes): (its result, or None;
    the last line it printed). The one way a learner's model is measured, by the grader and by ``course check``.

    In the sandbox it sees the model copy and its work folder (writable) and the data (read-only) only."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    model = work / found.name
    (shutil.copytree if found.is_dir() else shutil.copy)(found, model, **({"symlinks": True} if found.is_dir() else
                                                                          {"follow_symlinks": False}))
    cmd = [sys.executable, "-m", "course_lib.grading.engine.quality", metric, str(model)]
    npz = work.with_name(work.name + "-data.npz")
    if data is not None:
        npz.write_bytes(data)
        cmd.append(str(npz))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "HOME": str(work), "TMPDIR": str(work),
           "CUDA_VISIBLE_DEVICES": ""}
    view = View(writable=[str(work)], readable=[str(npz)] if data is not None else []) if sandbox else None
    try:
        rc, out = run_confined(cmd, cwd=str(work), env=env, limits=limits, timeout=limits.notebook_timeout,
                               view=view)
    finally:
        npz.unlink(missing_ok=True)
    try:
        res = json.loads(out.strip().splitlines()[-1]) if rc == 0 else None
    except (IndexError, json.JSONDecodeError):
        res = None
    return res, (out.strip().splitlines() or ["killed"])[-1][:300]


def _grade_entry(task: dict, k: int, spec: dict, graded_dir: Path, work: Path, limits: Limits,
                 row: GradedResult) -> None:
    from .metrics import get_metric
    from .submitted import SubmittedModel

    m = get_metric(spec["metric"])
    source = spec.get("source", "rerun")
    q = {"model": spec["model"][0], "metric": spec["metric"], "value": None, "thresholds": spec["thresholds"],
         "margin": spec["margin"], "higher_is_better": m.higher_is_better, "note": "", "source": source}
    row.quality.append(q)
    rerun = next((graded_dir / name for name in spec["model"] if (graded_dir / name).exists()), None)
    value = None
    if source == "submitted":
        got = task.get("submitted_models", {}).get(k)
        found = got if isinstance(got, Path) else None
        if isinstance(got, SubmittedModel):
            kind = "model-missing" if got.problem.startswith("no ") else "model-invalid"
            row.issues.append(Finding(kind, f"{got.problem}: 0 points for its quality"))
            q["note"] = got.problem
        if found is not None:
            q["model"], q["sha256"] = found.name, task["submitted_sha256"][k]
    else:
        found = rerun
        if found is None:
            row.issues.append(Finding("model-missing", f"no saved model ({', '.join(spec['model'])}) after the "
                                                       "notebook ran: 0 points for its quality"))
            q["note"] = "no model saved"
    if found is not None:
        res, last = measure(spec["metric"], spec.get("hidden"), found, work, limits, _sandboxed(task))
        if res is None:
            row.issues.append(Finding("model-unloadable", f"{found.name} could not be loaded safely or evaluated "
                                                          f"({last}): 0 points for its quality"))
            q["note"] = "could not be evaluated"
        else:
            value = q["value"] = round(float(res["value"]), 4)
            q["note"] = f"{res['n']} held-out examples, {res['format']}" + (" (submitted file)" if source == "submitted" else "")
    if source == "submitted" and task.get("audit"):
        _audit(spec, q, rerun, work.with_name(work.name + "-audit"), limits, _sandboxed(task))
    for gid, need in spec["thresholds"].items():
        points = task["grade_cells"][gid]["max_score"]
        ok = value is not None and m.passes(value, float(need), float(spec["margin"]))
        row.set_score(gid, points if ok else 0.0, points,
                      f"{spec['metric']} of {q['model']} = {value} "
                      f"({'≥' if m.higher_is_better else '≤'} {need} needed, margin {spec['margin']})"
                      if value is not None else q["note"])


def _audit(spec: dict, q: dict, retrained: Path | None, work: Path, limits: Limits, sandbox: bool = True) -> None:
    """Measure the model the audit re-run trained at the learner's own parameters; never changes points."""
    tol = float(spec.get("audit_tolerance", 0.0))
    res = (measure(spec["metric"], spec.get("hidden"), retrained, work, limits, sandbox)[0]
           if retrained is not None else None)
    q["retrained_value"] = None if res is None else round(float(res["value"]), 4)
    if q["retrained_value"] is None or q["value"] is None:
        q["audit"] = "no re-trained model" if q["retrained_value"] is None else "no submitted model"
    else:
        gap = q["retrained_value"] - q["value"]
        q["audit"] = (f"agrees (re-trained {q['retrained_value']} vs submitted {q['value']}, tolerance {tol:g})"
                      if abs(gap) <= tol else
                      f"MISMATCH: re-trained {q['retrained_value']} vs submitted {q['value']} (tolerance {tol:g})")


def evaluate(metric_name: str, model: Path, data: Path | None) -> dict:
    """``metric_name`` of ``model`` on ``data`` (an ``.npz``), in file order; run by the evaluator process."""
    import numpy as np

    from .metrics import get_metric

    arrays = dict(np.load(data, allow_pickle=False)) if data is not None else None
    return get_metric(metric_name).fn(model, arrays)


if __name__ == "__main__":
    print(json.dumps(evaluate(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]) if len(sys.argv) > 3 else None)))
