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
