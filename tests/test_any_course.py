"""`course grade` on a course laid out as nbgrader's documentation describes (not this kit's): a header notebook
in source/, two notebooks and a data file per assignment, students bitdiddle and hacker. Its scores equal plain
`nbgrader autograde` on the same submissions; a missing assignment folder is an error naming the path."""
from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest

from course_lib.exceptions import GradingError
from course_lib.grading.engine import Limits, grade_assignment
from course_lib.grading.nbgrader_chain import run_nbgrader

from factories import nbgrader_cell, nbgrader_notebook

A = "ps1"
LIMITS = Limits(cell_timeout=60, notebook_timeout=300, memory_mb=4000, cpu_seconds=300)
ANSWERS = {   # student -> grade id -> the answer cell's source
    "bitdiddle": {"squares": "def squares(n):\n    return [i ** 2 for i in range(1, n + 1)]",
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
        nbgrader_cell("assert squares(3) == [1, 4, 9]", "test_squares_three", grade=True, points=2)])
    nbgrader_notebook(src / A / "problem2.ipynb", [
        nbgrader_cell("def total():\n    ### BEGIN SOLUTION\n    return sum(int(x) for x in open('data.txt').read()"
                      ".split())\n    ### END SOLUTION", "total", solution=True),
        nbgrader_cell("assert total() == 6", "test_total", grade=True, points=3)])
    (src / A / "data.txt").write_text("1 2 3\n")
    (root / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        "c.CourseDirectory.course_id = 'course101'\n"
        "c.CourseDirectory.root = __import__('os').path.dirname(__file__)\n"
        "c.IncludeHeaderFooter.header = 'source/header.ipynb'\n")
    run_nbgrader(root, "db", "assignment", "add", A)
    run_nbgrader(root, "generate_assignment", A, "--force")
    for student, answers in ANSWERS.items():
        run_nbgrader(root, "db", "student", "add", student)
        dest = root / "submitted" / student / A
        shutil.copytree(root / "release" / A, dest)
        for nb_path in dest.glob("*.ipynb"):
            nb = nbformat.read(nb_path, as_version=4)
            for c in nb.cells:
                gid = c.metadata.get("nbgrader", {}).get("grade_id")
                if gid in answers:
                    c.source = answers[gid]
            nbformat.write(nb, str(nb_path))
    return root


def _plain_scores(course: Path) -> dict[str, float]:
    from nbgrader.api import Gradebook

    run_nbgrader(course, "autograde", A, "--force")
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        return {s: float(gb.find_submission(A, s).score) for s in ANSWERS}


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    return _course(tmp_path_factory.mktemp("course101") / "course101")


def test_scores_equal_plain_nbgrader_autograde(course, tmp_path):
    plain = shutil.copytree(course, tmp_path / "plain")
    expected = _plain_scores(plain)
    assert expected == {"bitdiddle": 6.0, "hacker": 3.0}
    report = grade_assignment(A, course, jobs=1, limits=LIMITS, progress=lambda m: None)
    rows = {r["student"]: r for r in report.rows}
    assert {s: r["score"] for s, r in rows.items()} == expected
    assert {s: r["status"] for s, r in rows.items()} == {"bitdiddle": "ok", "hacker": "ok"}
    assert rows["hacker"]["tests"]["test_total"] == [0.0, 3.0]


def test_an_unknown_assignment_names_the_missing_folder(course):
    (course / "submitted" / "bitdiddle" / "ps9").mkdir()
    with pytest.raises(GradingError, match=r"source/ps9 does not exist"):
        grade_assignment("ps9", course, jobs=1, limits=LIMITS, progress=lambda m: None)
