"""Static checks of a submitted notebook against the assignment's gradebook (before it runs).

nbgrader itself restores the source of graded test cells from the gradebook (``OverwriteCells``) and
scores a deleted graded cell 0; these checks *report* it, plus code in the learner's cells that patches
testing functions, rebinds builtins, redefines the notebook's own helpers or names the gradebook.
"""
from __future__ import annotations

import ast
import re

__all__ = ["scan"]

_TESTING = re.compile(r"^(np|numpy|tf|tensorflow)\.(testing|debugging|test)\b|^(builtins|__builtins__)\b")


def _dotted(node: ast.AST) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return ".".join(reversed(parts))


def _defined(tree: ast.AST) -> set[str]:
    names = set()
    for n in ast.walk(tree):
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(n.name)
    return names


def _parse(src: str) -> ast.AST | None:
    lines = [ln for ln in src.splitlines() if not ln.lstrip().startswith(("%", "!"))]
    try:
        return ast.parse("\n".join(lines))
    except SyntaxError:
        return None


def scan(submitted: dict, source_cells: dict[str, dict], helpers: dict[str, list[str]]) -> list[dict]:
    """Findings ``{"kind", "detail"}`` for one notebook.

    ``source_cells``: grade_id -> {"checksum", "grade"} of the gradebook's graded/locked cells;
    ``helpers``: function name -> the original source of the non-answer cells defining it (e.g. a data
    generator the hidden tests call), see :func:`helpers_of`.
    """
    from nbgrader.utils import compute_checksum, is_grade, is_locked

    import nbformat

    submitted = nbformat.reads(__import__("json").dumps(submitted), as_version=4)   # sources as strings
    findings: list[dict] = []
    seen = {}
    for cell in submitted.get("cells", []):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        gid = meta.get("grade_id")
        if gid:
            seen[gid] = cell
    for gid, ref in sorted(source_cells.items()):
        cell = seen.get(gid)
        if cell is None:
            findings.append({"kind": "deleted-cell", "detail": f"graded cell {gid} was deleted (scored 0)"
                             if ref.get("grade") else f"read-only cell {gid} was deleted (restored)"})
            continue
        changed = (is_grade(cell) or is_locked(cell)) and compute_checksum(cell) != ref["checksum"]
        if changed and not cell.get("metadata", {}).get("nbgrader", {}).get("solution"):
            findings.append({"kind": "edited-cell",
                             "detail": f"cell {gid} was edited; the grader ran the original"})
    for k, cell in enumerate(submitted.get("cells", []), 1):
        if cell.get("cell_type") != "code":
            continue
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade") and not meta.get("solution"):
            continue                                   # test cells are replaced by the originals
        src = "".join(cell.get("source", ""))
        if "gradebook" in src.lower():
            findings.append({"kind": "gradebook", "detail": f"cell {k} mentions the gradebook"})
        tree = _parse(src)
        if tree is None:
            continue
        for n in ast.walk(tree):
            targets = []
            if isinstance(n, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
                targets = n.targets if isinstance(n, ast.Assign) else [n.target]
            elif isinstance(n, ast.Call) and _dotted(n.func) in ("setattr", "builtins.setattr") and n.args:
                targets = [n.args[0]]
            for t in targets:
                name = _dotted(t)
                if name and _TESTING.match(name):
                    findings.append({"kind": "monkeypatch", "detail": f"cell {k} assigns to {name}"})
        for name in sorted(_defined(tree) & set(helpers)):
            if src.strip() not in helpers[name]:
                findings.append({"kind": "redefined-helper",
                                 "detail": f"cell {k} redefines the notebook's helper {name}()"})
    return findings


def helpers_of(release_nb: dict) -> dict[str, list[str]]:
    """Functions defined in the released notebook's non-answer code cells -> those cells' sources."""
    names: dict[str, list[str]] = {}
    for cell in release_nb.get("cells", []):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.get("cell_type") == "code" and not meta.get("solution") and not meta.get("grade"):
            src = "".join(cell.get("source", ""))
            tree = _parse(src)
            for name in _defined(tree) if tree is not None else ():
                names.setdefault(name, []).append(src.strip())
    return names
