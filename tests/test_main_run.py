"""`course run` end to end, once: doctor, every notebook (smoke), the grading engine on the samples, report.

This is the CI's papermill run of every notebook and graded run of every sample; the tests below
read what that one run (the session fixture ``course_run`` of conftest.py) left in build/.
"""
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from course_lib import grading
from course_lib.course.notebooks import discover
from course_lib.paths import repo_root


@pytest.fixture(scope="module")
def run(course_run):
    return course_run                  # conftest.py: one `course run` per session, shared with test_certify


def test_course_run_succeeds(run):
    proc, _, seconds = run
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for step in ("[1/5] doctor", "[2/5] data", "[3/5] notebooks", "[4/5] grade", "[5/5] report"):
        assert step in proc.stdout


NOISE = re.compile(r"^\s*(WARNING|INFO|ERROR|DEBUG)\b|^[IWE]\d{4} |tensorflow/|absl|oneDNN|distributed\.|nbformat|"
                   r"Warning:|Traceback")


def test_terminal_prints_progress_only_and_names_its_log(run):
    """The quiet terminal (#23): under 150 lines, none from TensorFlow's logger, Keras, Dask or nbformat; the
    library noise went to the log file the output names."""
    proc, build, _ = run
    lines = (proc.stdout + proc.stderr).splitlines()
    noise = [line for line in lines if NOISE.search(line)]
    print(f"course run printed {len(lines)} lines")     # 489 before #23, 172 before the samples' lines were merged
    assert len(lines) < 150 and not noise, f"{len(lines)} lines; noise: {noise[:10]}"
    logs = list((build / "logs").glob("run-*.log"))
    assert len(logs) == 1 and str(logs[0]) in proc.stdout and logs[0].stat().st_size > 0


def test_every_notebook_ran_within_the_smoke_budget(run):
    _, build, _ = run
    report = json.loads((build / "notebooks" / "report.json").read_text())
    ran = {r["notebook"] for r in report["notebooks"]}
    assert ran == {str(p.relative_to(repo_root())) for p in discover()}
    for r in report["notebooks"]:
        assert r["status"] == "ok", r
        assert r["seconds"] <= 150, f"{r['notebook']} took {r['seconds']} s (smoke budget: 2 minutes + start-up)"
        assert Path(r["html"]).is_file()
    assert "| notebook | status | seconds |" in (build / "notebooks" / "report.md").read_text()


def test_samples_got_exactly_their_expected_scores(run):
    _, build, _ = run
    for assignment in grading.assignments():
        grades = grading.read_grades(build / "nbgrader" / assignment, assignment)
        assert grades, f"{assignment}: nothing graded"
        expected = yaml.safe_load((repo_root() / "assignments" / "samples" / assignment / "expected.yaml").read_text())
        ref = grades["reference"]                  # full marks, except the exam's (scored by model quality)
        assert ref.max_score > 0 and ref.failing == sorted(expected["reference"].get("failing", []))
        for g in grades.values():
            assert g.score < ref.score or g.student == "reference"
        csv = (build / "nbgrader" / assignment / "grading" / assignment / "grades.csv").read_text()   # the engine's
        assert "reference" in csv


def test_a0_warmup_scores(run):
    _, build, _ = run
    grades = grading.read_grades(build / "nbgrader" / "a0_warmup", "a0_warmup")
    assert {s: (g.score, g.max_score) for s, g in grades.items()} == {      # the written answer (1 point) waits
        "reference": (12, 13), "flaw_int_tensor": (10, 13), "flaw_nan_on_constant": (11, 13),  # for the formgrader
        "flaw_no_training": (8, 13), "blank": (0, 13)}
    assert {s: g.manual for s, g in grades.items() if g.manual} == {
        s: {"why_held_out": 1.0} for s in ("reference", "flaw_int_tensor", "flaw_nan_on_constant", "flaw_no_training")}


def test_release_has_no_solutions_or_hidden_tests(run):
    _, build, _ = run
    for assignment in grading.assignments():
        for nb in (build / "nbgrader" / assignment / "release" / assignment).glob("*.ipynb"):
            text = nb.read_text()
            assert "BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text
            assert "raise NotImplementedError()" in text


def test_html_report_shows_notebooks_grades_and_figures(run):
    _, build, _ = run
    html = (build / "report.html").read_text()
    for nb in discover():
        assert str(nb.relative_to(repo_root())) in html
    assert "flaw_nan_on_constant" in html and "<img" in html
