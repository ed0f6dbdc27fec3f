"""The grading engine (`course grade`): real nbgrader, a real 2-worker Dask cluster, real a0 notebooks.

One batch grades a submission per failure mode (built here from the a0 reference sample by editing
cells); a second run, through the CLI on an existing Dask scheduler, resumes it (nothing regraded) and
grades model-quality submissions against hidden data.
"""
from __future__ import annotations

import copy
import csv
import json
import shutil
import sqlite3
from pathlib import Path

import pytest
import yaml

from course_lib import grading
from course_lib.resources import registry
from course_lib.grading.engine import Limits, grade_assignment, prepare_data

ROOT = Path(__file__).resolve().parents[1]
A = "a0_warmup"
SAMPLES = ROOT / "assignments" / "samples" / A
LIMITS = Limits(cell_timeout=20, notebook_timeout=240, memory_mb=4000, cpu_seconds=600)


def _nb(sample: str = "reference") -> dict:
    return json.loads((SAMPLES / sample / f"{A}.ipynb").read_text())


def _cell(nb: dict, gid: str) -> dict:
    return next(c for c in nb["cells"] if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == gid)


def _prepend(nb: dict, gid: str, code: str) -> dict:
    c = _cell(nb, gid)
    c["source"] = code + "\n" + "".join(c["source"])
    return nb


def _submit(course: Path, student: str, nb: dict | str | None) -> None:
    d = course / "submitted" / student / A
    d.mkdir(parents=True)
    if nb is None:
        (d / "notes.txt").write_text("I forgot the notebook")
    else:
        (d / f"{A}.ipynb").write_text(nb if isinstance(nb, str) else json.dumps(nb))


def _submissions(course: Path) -> dict[str, tuple[dict | str | None, float]]:
    """student -> (notebook, expected score out of 12)."""
    gb = course / "gradebook.db"
    deleted = _nb()
    deleted["cells"].remove(_cell(deleted, "test_make_tensor"))
    edited = _nb("flaw_no_training")
    _cell(edited, "test_training")["source"] = "pass  # trust me"
    helper = _prepend(_nb(), "train", "def make_blobs(n, seed):\n    return np.zeros((n, 2), 'float32'), np.zeros(n, int)")
    return {
        "reference": (_nb(), 12),
        "flaw_int_tensor": (_nb("flaw_int_tensor"), 10),
        "hang": (_prepend(_nb(), "normalize", "import time\nwhile True:\n    time.sleep(1)"), 9),
        "memory": (_prepend(_nb(), "make_tensor", "_hog = np.ones(2**31)  # 16 GB"), 10),
        "os_exit": (_prepend(_nb(), "train", "import os\nos._exit(1)"), 8),       # raised as SystemExit
        "killed": (_prepend(_nb(), "train", "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"), 0),
        "sys_exit": (_prepend(_nb(), "build_model", "import sys\nsys.exit(3)"), 5),
        "deleted_cell": (deleted, 10),
        "edited_test": (edited, 8),
        "invalid_json": ('{"cells": [ this is not json', 0),
        "missing": (None, 0),
        # without the guard both patches would make the hidden nan test pass (12)
        "monkeypatch": (_prepend(_nb("flaw_nan_on_constant"), "normalize",
                                 "np.testing.assert_allclose = lambda *a, **k: None\nnp.any = lambda *a, **k: False"), 11),
        "helper": (helper, 12),
        "reads_outside": (_prepend(_nb(), "make_tensor", (
            "for _p in ['../../../gradebook.db', %r, %r]:\n"
            "    try:\n        print(open(_p, 'rb').read()[:50])\n    except PermissionError as e:\n        print(e)"
        ) % (str(course / "source" / A / f"{A}.ipynb"), str(ROOT / "assignments" / "source" / A / f"{A}.ipynb"))), 12),
        "writes_gradebook": (_prepend(_nb(), "make_tensor", (
            "import sqlite3\nfor _p in [%r, '../../../gradebook.db']:\n"
            "    try:\n        con = sqlite3.connect(_p)\n        con.execute('update grade set auto_score = 100')\n"
            "        con.commit()\n    except Exception as e:\n        print(e)") % str(gb)), 12),
    }


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    course = grading.prepare_course(tmp_path_factory.mktemp("engine") / "course")
    grading.release(course, A)                       # the instructor's gradebook knows the release
    subs = _submissions(course)
    for student, (nb, _) in subs.items():
        _submit(course, student, nb)
    log: list[str] = []
    report = grade_assignment(A, course, jobs=2, limits=LIMITS, progress=log.append)
    return course, report, {s: e for s, (_, e) in subs.items()}, log


def _rows(report) -> dict[str, dict]:
    return {r.student: r for r in report.rows}


def test_every_submission_gets_its_score_in_an_intact_gradebook(graded):
    from nbgrader.api import Gradebook

    course, report, expected, log = graded
    rows = _rows(report)
    assert sorted(rows) == sorted(expected)
    assert {s: rows[s].score for s in expected} == expected
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        in_gb = {s: float(gb.find_submission(A, s).score) for s in expected}
    assert in_gb == expected                             # nothing the students wrote reached it
    con = sqlite3.connect(course / "gradebook.db")
    assert con.execute("pragma integrity_check").fetchone()[0] == "ok"
    assert con.execute("select max(auto_score) from grade").fetchone()[0] <= 3
    assert any(f"[{len(expected)}/{len(expected)}]" in line for line in log)


def test_fault_statuses(graded):
    rows = _rows(graded[1])
    status = {s: r.status for s, r in rows.items()}
    assert status["reference"] == status["flaw_int_tensor"] == "ok"
    assert status["hang"] == "timeout"
    assert status["memory"] == "out-of-memory"
    assert status["os_exit"] == "exited" and status["killed"] == "kernel-died"
    assert status["sys_exit"] == "exited"
    assert status["invalid_json"] == "invalid-notebook"
    assert status["missing"] == "missing-notebook"
    assert "MemoryError" in " ".join(i.detail for i in rows["memory"].issues)


def test_tampering_is_reported(graded):
    rows = _rows(graded[1])

    def kinds(s):
        return {f.kind: f.detail for f in rows[s].findings}

    for s in ("deleted_cell", "edited_test", "monkeypatch", "helper", "reads_outside", "writes_gradebook"):
        assert rows[s].status == "tampered", s
    assert "test_make_tensor" in kinds("deleted_cell")["deleted-cell"]
    assert "test_training" in kinds("edited_test")["edited-cell"]
    patched = " ".join(f.detail for f in rows["monkeypatch"].findings)
    assert "numpy.testing.assert_allclose" in patched and "numpy.any" in patched
    assert "make_blobs" in kinds("helper")["redefined-helper"]
    reads = " ".join(f.detail for f in rows["reads_outside"].findings if f.kind == "file-access")
    assert "gradebook.db" in reads and f"source/{A}/{A}.ipynb" in reads
    writes = [f.detail for f in rows["writes_gradebook"].findings if f.kind == "file-access"]
    assert len(writes) == 2 and all("sqlite3.connect" in w for w in writes)
    for s in ("reference", "flaw_int_tensor"):
        assert rows[s].findings == [], rows[s].findings


def test_csv_feedback_and_no_hidden_tests(graded):
    course, report, expected, _ = graded
    with open(report.csv) as f:
        table = {r["student_id"]: r for r in csv.DictReader(f)}
    assert {s: float(r["score"]) for s, r in table.items()} == expected
    assert table["killed"]["status"] == "kernel-died" and "kernel died" in table["killed"]["issues"]
    for s in expected:
        html = (course / "feedback" / s / A / f"{A}.html").read_text()
        assert "test_make_tensor" in html and "hidden test" in html
        assert "BEGIN HIDDEN" not in html and "12345" not in html and "x_test" not in html
    fb = (course / "feedback" / "flaw_int_tensor" / A / f"{A}.html").read_text()
    assert "expected float32" in fb                      # the public test's message
    out = (course / "autograded" / "reads_outside" / A / f"{A}.ipynb").read_text()
    assert "outside your submission" in out and "BEGIN HIDDEN" not in out.split("test_normalize_hidden")[0]


def test_resume_on_existing_scheduler_and_model_quality(graded, tmp_path):
    """Second run: the CLI on an existing 2-worker cluster skips every finished submission and grades
    the new ones, whose saved models the evaluator measures on hidden data they never see."""
    import numpy as np
    from distributed import LocalCluster

    from course_lib.cli.main import main
    from course_lib.grading.engine.hidden_data import hidden_data
    from course_lib.grading.result import GradedResult

    course, _, expected, _ = graded
    rng = np.random.default_rng(999)                         # a0's blobs, a seed nobody knows
    y = rng.integers(0, 3, 300)
    x = np.array([[0.0, 0.0], [3.0, 3.0], [0.0, 4.0]])[y] + rng.normal(0, 0.6, (300, 2))
    # built on this side by a registered builder that also withholds the tree-patches test folder, which
    # submissions' kernels may then not read, while registry.fetch("tree-patches") still works for them
    hidden_data("blobs999", withholds=lambda: ["tree-patches/test"])(
        lambda: {"x": x.astype("float32"), "y": y})
    test_jpg = next((registry.fetch("tree-patches") / "test" / "tree").glob("*.jpg"))    # there on this side
    spec = tmp_path / "grading.yaml"
    spec.write_text(f"{A}:\n  - model: [model.keras, model.tflite]\n    data: {{builder: blobs999}}\n"
                    "    metric: accuracy\n    margin: 0.005\n    thresholds: {test_training_hidden: 0.9}\n")
    save = {
        "keras": "model.save('model.keras')",
        "tflite": "open('model.tflite', 'wb').write(tf.lite.TFLiteConverter.from_keras_model(model).convert())",
        "lambda": "import numpy as _np\nm2 = tf.keras.Sequential([tf.keras.Input((2,)), tf.keras.layers.Lambda(lambda t: t),"
                  " model])\nm2.save('model.keras')",
        "no_model": "pass",
        # the sandbox does not mount the withheld folder: it is empty inside, a file known by name is not there
        "peek": "from course_lib import registry\nfolder = registry.fetch('tree-patches')\n"
                "print('LISTED', len(list((folder / 'test' / 'tree').glob('*.jpg'))))\ntry:\n"
                f"    open(folder / 'test' / 'tree' / {test_jpg.name!r}, 'rb')\n    print('PEEKED')\n"
                "except OSError:\n    print('refused')\nmodel.save('model.keras')",
    }
    for name, code in save.items():
        nb = _nb()
        k = nb["cells"].index(_cell(nb, "test_training"))
        nb["cells"].insert(k, {"cell_type": "code", "metadata": {}, "source": code, "outputs": [],
                               "execution_count": None})
        _submit(course, f"q_{name}", nb)
    before = {s: (course / "grading" / A / "results" / f"{s}.json").stat().st_mtime_ns for s in expected}
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      memory_limit=0) as cluster:
        rc = main(["grade", A, "--course", str(course), "--scheduler", cluster.scheduler_address,
                   "--quality", str(spec), "--cell-timeout", "60", "--notebook-timeout", "240",
                   "--memory-mb", "4000"])
    assert rc == 1                                           # some rows have a fault status
    after = {s: (course / "grading" / A / "results" / f"{s}.json").stat().st_mtime_ns for s in expected}
    assert after == before                                   # resumed: nothing regraded
    rows = {p.stem: GradedResult.from_dict(json.loads(p.read_text()))      # the result files a resume reads
            for p in (course / "grading" / A / "results").glob("*.json")}
    assert rows["q_keras"].status == rows["q_tflite"].status == "ok"
    assert rows["q_peek"].status == "tampered" and rows["q_peek"].score == 12, rows["q_peek"]
    assert any("tree-patches/test" in f.detail for f in rows["q_peek"].findings)
    peek = json.loads((course / "autograded" / "q_peek" / A / f"{A}.ipynb").read_text())
    printed = "".join("".join(o.get("text", "")) for c in peek["cells"] for o in c.get("outputs", []))
    assert "LISTED 0" in printed and "refused" in printed and "PEEKED" not in printed
    for s in ("q_keras", "q_tflite"):
        assert rows[s].quality[0]["value"] >= 0.9 and rows[s].score == 12, rows[s]
    assert "TFLite" in rows["q_tflite"].quality[0]["note"] and "safe_mode" in rows["q_keras"].quality[0]["note"]
    assert rows["q_lambda"].status == "model-unloadable" and rows["q_lambda"].score == 10
    assert rows["q_no_model"].status == "model-missing" and rows["q_no_model"].score == 10
    assert rows["reference"].score == 12                  # graded before, kept


def test_evaluator_loads_savedmodels_as_graphs_and_refuses_file_ops(tmp_path):
    """The evaluator (run here in-process) measures a SavedModel and refuses one whose serving graph touches files."""
    import numpy as np
    import tensorflow as tf

    from course_lib.grading.engine.quality import evaluate

    x = np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 0.0], [0.0, 3.0]], "float32")
    np.savez(tmp_path / "data.npz", x=x, y=np.array([0, 1, 0, 1]))

    class Argmaxer(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32)])
        def serve(self, t):
            return {"p": tf.nn.softmax(t)}

    class Leaker(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32)])
        def serve(self, t):
            tf.io.write_file(str(tmp_path / "leak.txt"), tf.strings.as_string(tf.reduce_sum(t)))
            return {"p": tf.nn.softmax(t)}

    for name, cls in (("good", Argmaxer), ("leaky", Leaker)):
        m = cls()
        tf.saved_model.save(m, str(tmp_path / name), signatures={"serving_default": m.serve})
    res = evaluate("accuracy", tmp_path / "good", tmp_path / "data.npz")
    assert res["value"] == 1.0 and res["n"] == 4 and "SavedModel" in res["format"]
    with pytest.raises(ValueError, match="WriteFile"):
        evaluate("accuracy", tmp_path / "leaky", tmp_path / "data.npz")
    assert not (tmp_path / "leak.txt").exists()


def test_metrics_resize_images_and_measure_regression(tmp_path):
    """`images` are resized to the model's input and scaled to [0, 1]; `mae` is lower-is-better."""
    import numpy as np
    import tensorflow as tf

    from course_lib.grading.engine.metrics import get_metric
    from course_lib.grading.engine.quality import evaluate

    images = np.zeros((6, 8, 8, 3), np.uint8)
    images[3:] = 255                                         # 3 black, 3 white images, 8 px
    np.savez(tmp_path / "img.npz", images=images, y=np.array([0, 0, 0, 1, 1, 1]))
    inp = tf.keras.Input((32, 32, 3))                        # the model wants 32 px in [0, 1]
    mean = tf.keras.layers.GlobalAveragePooling2D()(inp)
    bright = tf.keras.layers.Dense(2, kernel_initializer=tf.constant_initializer([[-1, 1]] * 3),
                                   bias_initializer=tf.constant_initializer([1.5, -1.5]))(mean)
    tf.keras.Model(inp, bright).save(tmp_path / "bright.keras")
    assert evaluate("accuracy", tmp_path / "bright.keras", tmp_path / "img.npz")["value"] == 1.0

    x = np.linspace(0, 1, 20, dtype="float32")[:, None]
    np.savez(tmp_path / "reg.npz", x=x, y=2 * x + 0.25)
    lin = tf.keras.Sequential([tf.keras.Input((1,)), tf.keras.layers.Dense(
        1, kernel_initializer=tf.constant_initializer(2.0), bias_initializer=tf.constant_initializer(0.0))])
    lin.save(tmp_path / "lin.keras")
    res = evaluate("mae", tmp_path / "lin.keras", tmp_path / "reg.npz")
    assert abs(res["value"] - 0.25) < 1e-6 and res["n"] == 20
    mae = get_metric("mae")
    assert mae.passes(0.25, 0.3, 0.0) and not mae.passes(0.35, 0.3, 0.01) and mae.passes(0.305, 0.3, 0.01)


def test_resources_are_made_before_any_kernel_starts(temp_cache, course_copy, monkeypatch, tmp_path):
    """Kernels are offline and cannot read hidden data, so `course grade` fetches and builds the registry first:
    here tree-patches (built from neon-treecrowns' wheel), which a submission finds cached, and a URL-only
    Fashion-MNIST that cannot be had offline, which is reported and does not stop the batch."""
    manifest = course_copy / "datasets" / "manifest.yaml"
    data = yaml.safe_load(manifest.read_text())
    res = {n: data["resources"][n] for n in ("neon-treecrowns", "tree-patches", "fashion-mnist")}
    res["fashion-mnist"]["sources"] = [s for s in res["fashion-mnist"]["sources"] if s["type"] == "url"]
    manifest.write_text(yaml.safe_dump({**data, "resources": res}))
    registry._load.cache_clear()
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    assert registry.status("tree-patches") == "not cached"
    course = grading.prepare_course(tmp_path / "nbgrader", source=ROOT / "assignments" / "source")
    grading.release(course, A)
    _submit(course, "reference", _prepend(_nb(), "make_tensor", "from course_lib import registry\n"
                                          "assert registry.status('tree-patches') == 'cached', 'not prepared'"))
    said: list[str] = []
    report = grade_assignment(A, course, jobs=1, limits=LIMITS, progress=said.append)
    assert _rows(report)["reference"].score == 12, _rows(report)["reference"].tests
    ready = next(k for k, m in enumerate(said) if "tree-patches: ready for the kernels" in m)
    assert ready < next(k for k, m in enumerate(said) if "[1/1] reference" in m)
    assert any("fashion-mnist: not available" in m and "offline" in m for m in said), said
    said.clear()
    assert prepare_data(said.append) == ["fashion-mnist"] and not any("tree-patches" in m for m in said)
