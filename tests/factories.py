"""Factories for tiny test fixtures (cf. nbgrader's create_grade_cell)."""
from __future__ import annotations

from pathlib import Path

import nbformat


def make_notebook(path: Path, *sources: str, parameters: str | None = "x = 1") -> Path:
    """A notebook whose first cell is tagged ``parameters`` (if given), then one code cell per source."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    cells = []
    if parameters is not None:
        p = nbformat.v4.new_code_cell(parameters)
        p.metadata["tags"] = ["parameters"]
        cells.append(p)
    cells += [nbformat.v4.new_code_cell(s) for s in sources]
    nb.cells = cells
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


def nbgrader_cell(source: str, grade_id: str, *, solution: bool = False, grade: bool = False, points: float = 0,
                  task: bool = False, markdown: bool = False):
    """A code (or ``markdown``) cell with nbgrader metadata (cf. nbgrader's ``create_grade_cell``/
    ``create_solution_cell``); ``grade`` without ``solution``: an autograded test cell (locked); ``grade`` and
    ``solution``: manually graded (a written answer when ``markdown``)."""
    cell = (nbformat.v4.new_markdown_cell if markdown else nbformat.v4.new_code_cell)(source)
    meta = {"schema_version": 3, "grade_id": grade_id, "solution": solution, "grade": grade,
            "locked": not solution, "task": task}
    if grade:
        meta["points"] = points
    cell.metadata["nbgrader"] = meta
    return cell


def nbgrader_notebook(path: Path, cells: list) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = cells
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path
