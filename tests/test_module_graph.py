"""course_lib's layout, read from the source: no import cycle, no private name used outside its module, no module
over 600 lines, the lesson modules and the grading package kept apart, no internal use of a moved module's old name."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

import course_lib

LIB = Path(course_lib.__file__).parent
MAX_LINES = 600
BASE = {"course_lib", "course_lib.exceptions", "course_lib.paths", "course_lib.images", "course_lib.annotations",
        "course_lib.detection_data", "course_lib.boxes"}
# errors, paths, the image / VOC-annotation readers every layer reads data with, and the box metrics (IoU, COCO AP)
# that the lessons and the grader both measure with
# lesson modules the exam's quality plugin measures a submitted model with (they read no data): what the exam's
# tasks 6 and 7 grade is that the candidate's .tflite passes the lesson's own metadata and Edge TPU checks
MEASURED_WITH = {("course_lib.exam.quality", "course_lib.metadata"), ("course_lib.exam.quality", "course_lib.edgetpu"),
                 ("course_lib.exam.quality", "course_lib.interpreter")}
PACKAGES = ("course_lib.grading", "course_lib.resources", "course_lib.exam", "course_lib.course", "course_lib.cli",
            "course_lib.classroom")


def _modules() -> dict[str, Path]:
    mods = {}
    for p in LIB.rglob("*.py"):
        if "ipython_profile" in p.parts:      # IPython startup files, not importable modules
            continue
        parts = p.relative_to(LIB.parent).with_suffix("").parts
        mods[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p
    return mods


MODULES = _modules()


def _imports(name: str, path: Path) -> list[tuple[str, list[str], int]]:
    """(target module, imported names, line) of every import statement, relative ones resolved."""
    base = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(a.name, [], node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = base.split(".")
                parts = parts[:len(parts) - node.level + 1]
                mod = ".".join(parts + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.append((mod, [a.name for a in node.names], node.lineno))
    return out


def _edges() -> dict[str, set[str]]:
    edges = {m: set() for m in MODULES}
    for m, p in MODULES.items():
        for mod, names, _ in _imports(m, p):
            # ``from pkg import sub`` imports the submodule; ``from pkg import name`` runs pkg's __init__
            targets = {f"{mod}.{n}" if f"{mod}.{n}" in MODULES else mod for n in names} or {mod}
            edges[m] |= {t for t in targets if t in MODULES and t != m}
    return edges


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    comps: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return comps


def _lesson(m: str) -> bool:
    return m not in BASE and not m.startswith(PACKAGES) and m.startswith("course_lib.")


def test_the_graph_reader_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"p": {"p.x"}, "p.x": set()}) == []


def test_no_import_cycle():
    assert _cycles(_edges()) == []


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def test_no_private_name_used_outside_its_module():
    found = []
    for m, p in MODULES.items():
        where = p.relative_to(LIB.parent)
        bound = {}                                      # a local name -> the course_lib module it stands for
        for mod, names, line in _imports(m, p):
            found += [f"{where}:{line} imports {mod}.{n}" for n in names if _private(n) and mod.startswith("course_lib")]
            bound.update({n: f"{mod}.{n}" for n in names if f"{mod}.{n}" in MODULES})
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for a in node.names:            # aliases: ``from . import detection_data as dd``
                    if a.asname and a.name in bound:
                        bound[a.asname] = bound[a.name]
            elif (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                  and node.value.id in bound and _private(node.attr)):
                found.append(f"{where}:{node.lineno} uses {bound[node.value.id]}.{node.attr}")
    assert not found, "\n".join(found)


def test_no_module_over_the_size_limit():
    sizes = {m: len(p.read_text().splitlines()) for m, p in MODULES.items()}
    assert {m: n for m, n in sizes.items() if n > MAX_LINES} == {}


def test_lesson_modules_and_grading_stay_apart():
    edges = _edges()
    lesson_to_grading = [(m, t) for m, ts in edges.items() if _lesson(m) for t in ts
                         if t.startswith("course_lib.grading")]
    grading_to_lesson = [(m, t) for m, ts in edges.items() if m.startswith(("course_lib.grading", "course_lib.exam"))
                         for t in ts if _lesson(t) and (m, t) not in MEASURED_WITH]
    assert lesson_to_grading == []
    assert grading_to_lesson == []


def test_inside_course_lib_moved_modules_are_imported_by_their_new_name():
    old = {f"course_lib.{n}" for n in course_lib.MOVED}
    found = [f"{m} imports {mod}" for m, p in MODULES.items() for mod, names, _ in _imports(m, p)
             for t in [mod] + [f"{mod}.{n}" for n in names] if t in old]
    assert not found, "\n".join(found)


@pytest.mark.parametrize("old", sorted(course_lib.MOVED))
def test_a_moved_module_keeps_its_old_name(old):
    import importlib

    moved = importlib.import_module(f"course_lib.{old}")
    assert moved is importlib.import_module(f"course_lib.{course_lib.MOVED[old]}")
    assert moved.__spec__.name == f"course_lib.{course_lib.MOVED[old]}"
