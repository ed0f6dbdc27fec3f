"""House rules for every committed notebook (cf. openvino's .ci/check_notebooks.py)."""
import json
import re

import pytest

from course_lib.course.notebooks import discover
from course_lib.paths import repo_root

NOTEBOOKS = discover()
SAMPLES = sorted((repo_root() / "assignments" / "samples").rglob("*.ipynb"))
IDS = [str(p.relative_to(repo_root())) for p in NOTEBOOKS]


def cells(path):
    return json.loads(path.read_text())["cells"]


def test_there_are_notebooks():
    assert any(p.stem == "00_setup" for p in NOTEBOOKS)
    assert any(p.parent.name == "a0_warmup" for p in NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOKS + SAMPLES, ids=IDS + [str(p.relative_to(repo_root())) for p in SAMPLES])
def test_outputs_are_stripped(path):
    for c in cells(path):
        if c["cell_type"] == "code":
            assert not c.get("outputs") and c.get("execution_count") is None, "strip outputs before committing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_has_one_parameters_cell_and_python3_kernel(path):
    nb = json.loads(path.read_text())
    tagged = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged `parameters` (papermill injects after it)"
    assert nb["metadata"]["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_cells_are_short_and_no_machine_paths(path):
    for c in cells(path):
        src = "".join(c["source"])
        if c["cell_type"] == "code":
            assert src.count("\n") < 40, f"a code cell of {src.count(chr(10))} lines: move plumbing to course_lib"
        assert not re.search(r"['\"](/tmp|/root|/home|/work)/", src), "no paths of one machine"


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if p.parent.parent.name == "source"],
                         ids=[i for i, p in zip(IDS, NOTEBOOKS) if p.parent.parent.name == "source"])
def test_assignment_cells_are_well_formed_for_nbgrader(path):
    ids, points = [], 0
    for c in cells(path):
        meta = c.get("metadata", {}).get("nbgrader")
        if not meta:
            continue
        ids.append(meta["grade_id"])
        src = "".join(c["source"])
        if meta.get("solution") and c["cell_type"] == "code":
            assert "### BEGIN SOLUTION" in src and "### END SOLUTION" in src
        if meta.get("grade") and meta.get("solution"):      # a written answer, graded by hand in the formgrader
            assert c["cell_type"] == "markdown" and not meta.get("locked") and meta.get("points", 0) > 0
            assert src.strip() and "YOUR ANSWER HERE" not in src, "the source holds the model answer"
        elif meta.get("grade"):
            assert meta.get("locked") and meta.get("points", 0) > 0
        points += meta.get("points", 0) if meta.get("grade") else 0
    assert len(ids) == len(set(ids)), "grade ids must be unique"
    assert points > 0
