"""The instructor's course (read-only here) and the template course each worker grades in.

The template is made once per batch from the course's ``source/<assignment>/``: ``nbgrader
generate_assignment`` in a scratch course gives a gradebook that knows the assignment (cells, points,
checksums) and nothing else (no students, no grades); the source notebooks (hidden tests) are then
removed, so a worker gets the gradebook, the config, the grading kernel's startup files and the
assignment's non-notebook files only.
"""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from ..nbgrader_chain import prepare_course, run_nbgrader
from ...exceptions import GradingError

__all__ = ["Template", "make_template", "submissions", "digest"]

GUARD = Path(__file__).with_name("guard_startup.py")


class Template(dict):
    """files (relpath -> bytes), notebooks (name -> {cells, helpers}), grade_cells, hidden."""


def make_template(course: Path, assignment: str, work: Path, cell_timeout: int) -> Template:
    from nbgrader.api import Gradebook

    from .tamper import helpers_of

    src = course / "source" / assignment
    if not src.is_dir():
        raise GradingError(f"{src} does not exist: `course grade` grades an assignment of the nbgrader course "
                           f"at {course} (its source/<assignment>/ folder). Check the name or pass --course.")
    scratch = prepare_course(work / "template", cell_timeout=cell_timeout, source=course / "source")
    for other in (scratch / "source").iterdir():
        if other.is_dir() and other.name != assignment:      # files beside the folders (a header notebook) stay
            shutil.rmtree(other)
    startup = scratch / ".ipython" / "profile_default" / "startup"
    shutil.copy(GUARD, startup / "99-course-guard.py")
    run_nbgrader(scratch, "generate_assignment", assignment, "--force")
    t = Template(notebooks={}, grade_cells={}, hidden=[])
    with Gradebook(f"sqlite:///{scratch / 'gradebook.db'}") as gb:
        for nb in gb.find_assignment(assignment).notebooks:
            release = json.loads((scratch / "release" / assignment / f"{nb.name}.ipynb").read_text())
            cells = {}                       # the release's checksums (hidden tests already removed)
            for c in release["cells"]:
                meta = c.get("metadata", {}).get("nbgrader", {})
                if meta.get("grade_id") and meta.get("checksum"):
                    cells[meta["grade_id"]] = {"checksum": meta["checksum"], "grade": bool(meta.get("grade"))}
            for g in nb.grade_cells:
                if g.max_score:
                    t["grade_cells"][g.name] = {"max_score": float(g.max_score), "notebook": nb.name}
            t["notebooks"][nb.name] = {"cells": cells, "helpers": helpers_of(release)}
            for c in release["cells"]:
                gid = c.get("metadata", {}).get("nbgrader", {}).get("grade_id")
                if gid in t["grade_cells"] and c.get("metadata", {}).get("nbgrader", {}).get("grade") \
                        and not "".join(c.get("source", "")).strip():
                    t["hidden"].append(gid)
    for nb in (scratch / "source" / assignment).glob("*.ipynb"):
        nb.unlink()                                   # hidden tests stay out of the workers' copies
    shutil.rmtree(scratch / "release")
    t["files"] = {str(p.relative_to(scratch)): p.read_bytes() for p in sorted(scratch.rglob("*"))
                  if p.is_file() and "__pycache__" not in p.parts}
    return t


def check_gradebook(course: Path, assignment: str, template: Template) -> None:
    """The course's gradebook must hold the same release of ``assignment`` (same graded cells and points)."""
    from nbgrader.api import Gradebook, MissingEntry

    db = course / "gradebook.db"
    fix = (f"run `nbgrader generate_assignment {assignment}` in {course} (the repo's nbgrader_config.py points "
           "there) so the gradebook holds the release your learners got")
    if not db.is_file():
        raise GradingError(f"{db} does not exist: {fix}.")
    with Gradebook(f"sqlite:///{db}") as gb:
        try:
            a = gb.find_assignment(assignment)
        except MissingEntry:
            raise GradingError(f"{db} does not know {assignment}: {fix}.") from None
        cells = {g.name: float(g.max_score) for nb in a.notebooks for g in nb.grade_cells if g.max_score}
    want = {g: c["max_score"] for g, c in template["grade_cells"].items()}
    if cells != want:
        raise GradingError(f"{db} holds another version of {assignment} (graded cells {cells}, the source has "
                           f"{want}): {fix}.")


def submissions(course: Path, assignment: str) -> dict[str, Path]:
    """student -> ``submitted/<student>/<assignment>/`` (nbgrader's layout)."""
    sub = course / "submitted"
    return {p.parent.name: p for p in sorted(sub.glob(f"*/{assignment}")) if p.is_dir()} if sub.is_dir() else {}


def read_files(folder: Path, limit_mb: int = 200) -> dict[str, bytes]:
    files, total = {}, 0
    for p in sorted(folder.rglob("*")):
        if p.is_file() and not p.is_symlink() and ".ipynb_checkpoints" not in p.parts:
            total += p.stat().st_size
            if total > limit_mb * 2 ** 20:
                raise GradingError(f"{folder} is over {limit_mb} MB")
            files[str(p.relative_to(folder))] = p.read_bytes()
    return files


def digest(files: dict[str, bytes]) -> str:
    h = hashlib.sha256()
    for rel in sorted(files):
        h.update(rel.encode() + b"\0" + hashlib.sha256(files[rel]).digest())
    return h.hexdigest()
