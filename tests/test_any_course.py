"""`course grade` on a course laid out as nbgrader's documentation describes (not this kit's): a header notebook
in source/, two notebooks and a data file per assignment, a manually graded written answer, a due date and the
documentation's late-penalty plugin (``SubMarks``, one point per hour late, from the course folder), students
bitdiddle (answers the written question, submits 1.6 h late) and hacker (leaves it blank, on time). Its grades
(each cell's auto score and whether it awaits the formgrader), timestamps and late penalties equal plain
`nbgrader autograde` on the same submissions; a missing assignment folder is an error naming the path."""
from __future__ import annotations

import csv
import shutil
from pathlib import Path

import nbformat
import pytest

from course_lib.exceptions import GradingError
from course_lib.grading.engine import Limits, grade_assignment
from course_lib.grading.engine.writer import Writer
from course_lib.grading.nbgrader_chain import run_nbgrader

from factories import nbgrader_cell, nbgrader_notebook

A = "ps1"
LIMITS = Limits(cell_timeout=60, notebook_timeout=300, memory_mb=4000, cpu_seconds=300)
DUE = "2026-01-10 12:00:00 UTC"
SUBMITTED = {"bitdiddle": "2026-01-10 13:36:00.000000 UTC", "hacker": "2026-01-10 11:00:00.000000 UTC"}
SUBMARKS = '''from nbgrader.plugins import BasePlugin


class SubMarks(BasePlugin):
    def late_submission_penalty(self, student_id, score, total_seconds_late):
        """Penalty of 1 mark per hour late"""
        hours_late = total_seconds_late / 3600
        return round(hours_late, 0)
'''
ANSWERS = {   # student -> grade id -> the answer cell's source
    "bitdiddle": {"squares": "def squares(n):\n    return [i ** 2 for i in range(1, n + 1)]",
                  "why_squares": "A list comprehension builds the list in one pass.",
                  "total": "def total():\n    return sum(int(x) for x in open('data.txt').read().split())"},
    "hacker": {"squares": "def squares(n):\n    return [i ** 2 for i in range(1, n + 1)]",
               "total": "def total():\n    return 0"},
}


def _course(root: Path) -> Path:
    src = root / "source"
    nbgrader_notebook(src / "header.ipynb", [nbformat.v4.new_markdown_cell("# Course 101\nRead the rules first.")])
    nbgrader_notebook(src / A / "problem1.ipynb", [
        nbgrader_cell("def squares(n):\n    ### BEGIN SOLUTION\n    return [i ** 2 for i in range(1, n + 1)]\n"
                      "    ### END SOLUTION", "squares", solution=True),
        nbgrader_cell("assert squares(1) == [1]", "test_squares_one", grade=True, points=1),
        nbgrader_cell("assert squares(3) == [1, 4, 9]", "test_squares_three", grade=True, points=2),
        nbformat.v4.new_markdown_cell("Why a list comprehension? (graded by hand)"),
        nbgrader_cell("### BEGIN SOLUTION\nIt builds the list in one pass.\n### END SOLUTION", "why_squares",
                      solution=True, grade=True, points=2, markdown=True)])
    nbgrader_notebook(src / A / "problem2.ipynb", [
        nbgrader_cell("def total():\n    ### BEGIN SOLUTION\n    return sum(int(x) for x in open('data.txt').read()"
                      ".split())\n    ### END SOLUTION", "total", solution=True),
        nbgrader_cell("assert total() == 6", "test_total", grade=True, points=3)])
    (src / A / "data.txt").write_text("1 2 3\n")
    (root / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        "c.CourseDirectory.course_id = 'course101'\n"
        "c.CourseDirectory.root = __import__('os').path.dirname(__file__)\n"
        "c.IncludeHeaderFooter.header = 'source/header.ipynb'\n"
        "c.AssignLatePenalties.plugin_class = 'late.SubMarks'\n")
    (root / "late.py").write_text(SUBMARKS)       # nbgrader's documented example plugin
    run_nbgrader(root, "db", "assignment", "add", A, f"--duedate={DUE}")
    run_nbgrader(root, "generate_assignment", A, "--force")
    for student, answers in ANSWERS.items():
        run_nbgrader(root, "db", "student", "add", student)
        dest = root / "submitted" / student / A
        shutil.copytree(root / "release" / A, dest)
        (dest / "timestamp.txt").write_text(SUBMITTED[student])
        for nb_path in dest.glob("*.ipynb"):
            nb = nbformat.read(nb_path, as_version=4)
            for c in nb.cells:
                gid = c.metadata.get("nbgrader", {}).get("grade_id")
                if gid in answers:
                    c.source = answers[gid]
            nbformat.write(nb, str(nb_path))
    return root


def _grades(course: Path) -> dict[str, dict]:
    """What the gradebook holds of each submission: score, late penalty, timestamp, and per graded cell
    (auto score, needs manual grade)."""
    from nbgrader.api import Gradebook

    out = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for s in ANSWERS:
            sub = gb.find_submission(A, s)
            out[s] = {"score": float(sub.score), "penalty": float(sub.late_submission_penalty),
                      "timestamp": sub.timestamp, "seconds_late": sub.total_seconds_late,
                      "cells": {g.name: (g.auto_score, g.needs_manual_grade) for nb in sub.notebooks
                                for g in nb.grades}}
    return out


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    return _course(tmp_path_factory.mktemp("course101") / "course101")


@pytest.fixture(scope="module")
def plain(course, tmp_path_factory) -> dict[str, dict]:
    """Plain `nbgrader autograde` on a copy of the course taken before `course grade` writes to it."""
    copy = shutil.copytree(course, tmp_path_factory.mktemp("plain") / "course101")
    run_nbgrader(copy, "autograde", A, "--force")
    return _grades(copy)


@pytest.fixture(scope="module")
def graded(course, plain):
    said: list[str] = []
    return grade_assignment(A, course, jobs=1, limits=LIMITS, progress=said.append), said


def test_grades_equal_plain_nbgrader_autograde(course, plain, graded):
    expected = plain
    assert {s: (g["score"], g["penalty"]) for s, g in expected.items()} == {"bitdiddle": (6.0, 4.0),
                                                                            "hacker": (3.0, 0.0)}
    assert expected["bitdiddle"]["cells"]["why_squares"] == (None, True)     # left for the formgrader
    assert expected["hacker"]["cells"]["why_squares"] == (0.0, False)        # no response: 0
    report, said = graded
    assert _grades(course) == expected
    rows = {r.student: r for r in report.rows}
    assert {s: r.score for s, r in rows.items()} == {"bitdiddle": 6.0, "hacker": 3.0}
    assert {s: r.status for s, r in rows.items()} == {"bitdiddle": "ok", "hacker": "ok"}
    assert rows["hacker"].scores()["test_total"] == (0.0, 3.0)
    assert rows["bitdiddle"].manual == {"why_squares": 2.0} and rows["hacker"].manual == {}
    assert rows["bitdiddle"].late["penalty"] == 4.0 and rows["hacker"].late["penalty"] == 0.0
    assert any("bitdiddle" in m and "autograded 6/8, 2 points await manual grading; 1.6 h late, penalty 4" in m
               for m in said), said
    with open(report.csv) as f:
        table = {r["student_id"]: r for r in csv.DictReader(f)}
    assert {k: table["bitdiddle"][k] for k in ("score", "raw_score", "late_penalty", "awaiting_manual")} == {
        "score": "2", "raw_score": "6", "late_penalty": "4", "awaiting_manual": "2"}
    assert table["hacker"]["awaiting_manual"] == "0" and table["hacker"]["score"] == "3"
    feedback = (course / "feedback" / "bitdiddle" / A / f"{A}.html").read_text()
    assert "why_squares</td><td>? / 2</td><td>awaits manual grading" in feedback


def test_penalty_method_zero_takes_a_late_notebooks_score(course, graded, tmp_path):
    """nbgrader's own LateSubmissionPlugin with penalty_method 'zero': the writer merges the same rows again into
    a copy configured so, and each late notebook's penalty is its score (nbgrader's rule), on-time ones none."""
    copy = shutil.copytree(course, tmp_path / "zero")
    with open(copy / "nbgrader_config.py", "a") as f:
        f.write("c.AssignLatePenalties.plugin_class = 'nbgrader.plugins.LateSubmissionPlugin'\n"
                "c.LateSubmissionPlugin.penalty_method = 'zero'\n")
    writer = Writer(copy, A, [])
    for row in writer.rows():
        writer.merge(row)
    got = _grades(copy)
    assert {s: (g["score"], g["penalty"]) for s, g in got.items()} == {"bitdiddle": (6.0, 6.0), "hacker": (3.0, 0.0)}
    assert got["bitdiddle"]["cells"]["why_squares"] == (None, True)          # a merge again: still left for it


def test_an_unknown_assignment_names_the_missing_folder(course):
    (course / "submitted" / "bitdiddle" / "ps9").mkdir()
    with pytest.raises(GradingError, match=r"source/ps9 does not exist"):
        grade_assignment("ps9", course, jobs=1, limits=LIMITS, progress=lambda m: None)
