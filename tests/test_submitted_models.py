"""Grading submitted models (`source: submitted`): the file handed in is graded, not the re-run's; bad files get
a status and 0 quality points; the re-run takes the grading parameters; the audit re-trains at the learner's
own; the leaderboard ranks the best graded value. Real nbgrader, real Dask workers, real Keras files, a0."""
from __future__ import annotations

import csv
import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest

from course_lib import grading
from course_lib.grading.engine import Limits, grade_assignment
from course_lib.grading.engine.hidden_data import hidden_data
from course_lib.grading.engine.leaderboard import leaderboard
from course_lib.grading.engine.quality import load_spec

ROOT = Path(__file__).resolve().parents[1]
A = "a0_warmup"
LIMITS = Limits(cell_timeout=60, notebook_timeout=240, memory_mb=4000, cpu_seconds=600)
SAVE_UNTRAINED = "build_model(2, 3).save('model.keras')   # the re-run saves an untrained model"
SAVE_TRAINED = "model.save('model.keras')"


def _blobs(n: int, seed: int):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = np.array([[0.0, 0.0], [3.0, 3.0], [0.0, 4.0]])[y] + rng.normal(0, 0.6, (n, 2))
    return x.astype("float32"), y


hidden_data("blobs777")(lambda: dict(zip(("x", "y"), _blobs(300, 777))))


def _keras_file(path: Path, train: bool, inputs: int = 2, lam: bool = False) -> bytes:
    import tensorflow as tf

    layers = [tf.keras.Input((inputs,))] + ([tf.keras.layers.Lambda(lambda t: t)] if lam else [])
    model = tf.keras.Sequential(layers + [tf.keras.layers.Dense(16, activation="relu"),
                                          tf.keras.layers.Dense(3, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    if train:
        tf.keras.utils.set_random_seed(0)
        model.fit(*_blobs(600, 1), epochs=40, verbose=0)
    model.save(path)
    return path.read_bytes()


def _notebook(save: str) -> str:
    nb = json.loads((ROOT / "assignments" / "samples" / A / "reference" / f"{A}.ipynb").read_text())
    k = next(i for i, c in enumerate(nb["cells"])
             if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "test_training")
    nb["cells"].insert(k, {"cell_type": "code", "metadata": {}, "source": save, "outputs": [], "execution_count": None})
    return json.dumps(nb)


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, bytes]:
    d = tmp_path_factory.mktemp("models")
    return {"trained": _keras_file(d / "t.keras", True), "untrained": _keras_file(d / "u.keras", False),
            "wide": _keras_file(d / "w.keras", False, inputs=3), "lambda": _keras_file(d / "l.keras", True, lam=True)}


@pytest.fixture(scope="module")
def spec(tmp_path_factory) -> list[dict]:
    f = tmp_path_factory.mktemp("spec") / "grading.yaml"
    f.write_text(f"{A}:\n  - model: [model.keras]\n    source: submitted\n    max_mb: 1\n"
                 "    rerun_parameters: {epochs: 30}\n    audit_tolerance: 0.05\n"
                 "    data: {builder: blobs777}\n    metric: accuracy\n    margin: 0.005\n"
                 "    thresholds: {test_training_hidden: 0.9}\n")
    return load_spec(A, f)


@pytest.fixture(scope="module")
def graded(tmp_path_factory, models, spec):
    course = grading.prepare_course(tmp_path_factory.mktemp("submitted") / "course")
    grading.release(course, A)
    good = models["trained"]
    subs = {   # student -> (model file bytes | a special entry | None, the notebook's own save cell)
        "honest": (good, SAVE_TRAINED),
        "rerun_overwrites": (good, SAVE_UNTRAINED),     # the re-run writes a bad model.keras: not what is graded
        "untrained": (models["untrained"], SAVE_TRAINED),
        "no_file": (None, SAVE_TRAINED),
        "empty": (b"", SAVE_TRAINED),
        "truncated": (good[:200], SAVE_TRAINED),
        "not_keras": (b"print('I am a Python script')\n", SAVE_TRAINED),
        "oversized": (good[:4] + os.urandom(2 * 2 ** 20), SAVE_TRAINED),
        "symlink": ("symlink", SAVE_TRAINED),
        "fifo": ("fifo", SAVE_TRAINED),
        "lambda": (models["lambda"], SAVE_TRAINED),
        "wrong_input": (models["wide"], SAVE_TRAINED),
    }
    for student, (model, save) in subs.items():
        d = course / "submitted" / student / A
        d.mkdir(parents=True)
        (d / f"{A}.ipynb").write_text(_notebook(save))
        if model == "symlink":
            (d / "model.keras").symlink_to(ROOT / "assignments" / "grading.yaml")
        elif model == "fifo":
            os.mkfifo(d / "model.keras")
        elif model is not None:
            (d / "model.keras").write_bytes(model)
    report = grade_assignment(A, course, jobs=2, limits=LIMITS, quality=spec, progress=lambda m: None)
    return course, {r.student: r for r in report.rows}, report


def test_the_submitted_file_is_graded_not_the_rerun(graded, models):
    course, rows, report = graded
    sha = hashlib.sha256(models["trained"]).hexdigest()
    for s in ("honest", "rerun_overwrites"):
        q = rows[s].quality[0]
        assert rows[s].status == "ok" and rows[s].score == 12, rows[s]
        assert q["source"] == "submitted" and q["sha256"] == sha and q["value"] >= 0.9, q
    assert rows["untrained"].score == 10 and rows["untrained"].quality[0]["value"] < 0.9
    with open(report.csv) as f:
        by_student = {r["student_id"]: r for r in csv.DictReader(f)}
    assert f"sha256={sha}" in by_student["rerun_overwrites"]["models"]


def test_the_rerun_uses_the_grading_parameters(graded):
    course, rows, _ = graded
    nb = json.loads((course / "autograded" / "honest" / A / f"{A}.ipynb").read_text())
    injected = [c for c in nb["cells"] if "injected-parameters" in c["metadata"].get("tags", [])]
    assert len(injected) == 1 and "epochs = 30" in "".join(injected[0]["source"])
    assert rows["honest"].scores()["test_training"] == (2.0, 2.0)     # len(history) == epochs (30) held


@pytest.mark.parametrize("student,status,words", [
    ("no_file", "model-missing", "no model.keras was submitted"),
    ("empty", "model-invalid", "is empty"),
    ("not_keras", "model-invalid", "not a Keras v3 zip archive"),
    ("oversized", "model-invalid", "over the 1 MB limit"),
    ("symlink", "model-invalid", "symbolic link"),
    ("fifo", "model-invalid", "FIFO"),
    ("truncated", "model-unloadable", "could not be loaded"),
    ("lambda", "model-unloadable", "could not be loaded"),
    ("wrong_input", "model-unloadable", "could not be loaded"),
])
def test_bad_model_files_get_a_status_and_no_quality_points(graded, student, status, words):
    _, rows, _ = graded
    r = rows[student]
    assert r.status == status, r
    assert r.score == 10 and r.scores()["test_training_hidden"] == (0.0, 2.0)   # the notebook's 10 points kept
    assert any(words in i.detail for i in r.issues), r.issues


def test_audit_retrains_at_the_learners_parameters(graded, spec):
    course, _, _ = graded
    report = grade_assignment(A, course, jobs=2, limits=LIMITS, quality=spec, students=["honest", "rerun_overwrites"],
                              audit=2, progress=lambda m: None)
    rows = {r.student: r for r in report.rows}
    honest, cheat = rows["honest"].quality[0], rows["rerun_overwrites"].quality[0]
    assert honest["audit"].startswith("agrees") and honest["retrained_value"] >= 0.9, honest
    assert cheat["audit"].startswith("MISMATCH") and cheat["retrained_value"] < 0.85, cheat
    assert rows["rerun_overwrites"].score == 12                 # flagged for the instructor, points unchanged
    nb = json.loads((course / "autograded" / "honest" / A / f"{A}.ipynb").read_text())
    assert not [c for c in nb["cells"] if "injected-parameters" in c["metadata"].get("tags", [])]


def test_leaderboard_ranks_each_learners_best_under_pseudonyms(graded):
    course, rows, _ = graded
    entries, page = leaderboard(course, A)
    assert [e.value for e in entries] == sorted((e.value for e in entries), reverse=True)
    measured = {s for s, r in rows.items() if r.quality[0]["value"] is not None}
    assert len(entries) == len(measured) and not {e.learner for e in entries} & set(rows)
    again, _ = leaderboard(course, A)
    assert [e.learner for e in again] == [e.learner for e in entries]           # stable pseudonyms
    named, _ = leaderboard(course, A, names=True)
    assert named[0].learner in {"honest", "rerun_overwrites"} and named[-1].learner == "untrained"
    assert "leaderboard" in page.read_text() and (page.parent / "leaderboard.csv").is_file()
