"""nbgrader's failures as fields: a tiny nbgrader course whose submission kills its kernel or raises in a cell."""
from __future__ import annotations

import nbformat
import pytest

from course_lib.exceptions import NotebookExecutionError
from course_lib.grading.diagnosis import execution_issue
from course_lib.grading.nbgrader_chain import prepare_course, run_nbgrader

from factories import make_notebook


def _course(tmp_path, answer: str):
    src = tmp_path / "src"
    make_notebook(src / "hw" / "hw.ipynb", "x = 1")
    course = prepare_course(tmp_path / "course", cell_timeout=60, source=src)
    run_nbgrader(course, "db", "assignment", "add", "hw")
    run_nbgrader(course, "generate_assignment", "hw", "--force")
    run_nbgrader(course, "db", "student", "add", "alice")
    make_notebook(course / "submitted" / "alice" / "hw" / "hw.ipynb", answer)
    return course


def test_a_dead_kernel_under_nbgrader_is_a_structured_error(tmp_path):
    course = _course(tmp_path, "import os\nos._exit(1)")
    with pytest.raises(NotebookExecutionError) as info:
        run_nbgrader(course, "autograde", "hw", "--force")
    err = info.value
    assert err.kind == "kernel-died" and err.ename == "DeadKernelError"
    assert err.notebook.endswith("hw.ipynb") and err.returncode == 1
    issue = execution_issue(err)
    assert issue.kind == "kernel-died" and "Fix" in issue.advice


def test_an_error_in_a_cell_is_the_answer_s_not_a_runner_failure(tmp_path):
    course = _course(tmp_path, "raise ValueError('wrong answer')")
    run_nbgrader(course, "autograde", "hw", "--force")       # nbgrader records it in the notebook; nothing raised
    graded = nbformat.read(course / "autograded" / "alice" / "hw" / "hw.ipynb", as_version=4)
    errors = [o for c in graded.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert [(o.ename, o.evalue) for o in errors] == [("ValueError", "wrong answer")]
