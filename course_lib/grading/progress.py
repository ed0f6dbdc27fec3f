"""A learner's progress through the course, kept on this machine (``course progress``).

    board = collect()              # every lesson (notebooks/*.ipynb) and assignment (assignments/source/*)
    print(board.text())            # or board.table(): a pandas DataFrame
    plot(board, "progress.png")    # one bar per lesson and assignment

Where a status comes from:
* a lesson is *in progress* once a code cell of your notebook has run (and been saved), and *ran to the
  end* when every code cell has run without an error; the best status ever seen is kept, so clearing
  the outputs does not undo it;
* an assignment is *in progress* once fetched (JupyterLab's Assignment List) or checked, and *passing
  public checks* when the last ``course check`` passed every public test; its score is the public points.

The record is ``state_dir()/progress.json`` (``COURSE_STATE`` overrides), written atomically: it
survives restarts, ``build/`` and the resource cache being deleted.
"""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ..paths import build_dir, repo_root, state_dir

__all__ = ["Item", "Board", "collect", "record_check", "load", "lesson_status", "plot", "store_path", "working_copy",
           "NOT_STARTED", "IN_PROGRESS", "RAN", "PASSING"]

NOT_STARTED, IN_PROGRESS, RAN, PASSING = "not started", "in progress", "ran to the end", "passing public checks"
_RANK = {NOT_STARTED: 0, IN_PROGRESS: 1, RAN: 2}
_VERSION = 1


@dataclass
class Item:
    kind: str                       # lesson | assignment
    name: str
    status: str
    score: float | None = None      # assignments: public points of the last check
    max_score: float | None = None
    detail: str = ""

    @property
    def fraction(self) -> float:
        if self.score is not None and self.max_score:
            return self.score / self.max_score
        return {NOT_STARTED: 0.0, IN_PROGRESS: 0.5}.get(self.status, 1.0)


@dataclass
class Board:
    items: list[Item]
    store: Path

    def get(self, name: str) -> Item:
        return next(i for i in self.items if i.name == name)

    def table(self):
        import pandas as pd

        return pd.DataFrame([(i.kind, i.name, i.status, _points(i), i.detail) for i in self.items],
                            columns=["kind", "name", "status", "score", "detail"])

    def text(self) -> str:
        w = max(len(i.name) for i in self.items)
        lines = [f"{'':10} {'':{w}}  {'status':22} {'score':>7}  detail"]
        lines += [f"{i.kind:10} {i.name:{w}}  {i.status:22} {_points(i):>7}  {i.detail}" for i in self.items]
        done = sum(i.status in (RAN, PASSING) for i in self.items)
        lines.append(f"\n{done} of {len(self.items)} done. Your record: {self.store}")
        return "\n".join(lines)


def _points(i: Item) -> str:
    return f"{i.score:g}/{i.max_score:g}" if i.score is not None and i.max_score is not None else ""


def store_path() -> Path:
    return state_dir() / "progress.json"


def load() -> dict:
    """The stored record (an empty one if there is none or it cannot be read)."""
    try:
        data = json.loads(store_path().read_text())
    except (OSError, json.JSONDecodeError):
        data = {}
    if not isinstance(data, dict) or data.get("version") != _VERSION:
        data = {"version": _VERSION}
    data.setdefault("lessons", {})
    data.setdefault("assignments", {})
    return data


def _save(data: dict) -> None:
    """Write the record atomically: a reader sees the old file or the new one, never half of one."""
    path = store_path()
    fd, tmp = tempfile.mkstemp(prefix=".progress-", suffix=".json", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=1, sort_keys=True)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _now() -> str:
    return datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds")


def record_check(report) -> None:
    """Store a :class:`course_lib.grading.selfcheck.CheckReport` as the assignment's latest check."""
    data = load()
    old = data["assignments"].get(report.assignment, {})
    data["assignments"][report.assignment] = {
        "status": report.status, "score": report.score, "max_score": report.max_score,
        "best": max(report.score, old.get("best", 0.0)), "failing": report.failing,
        "environment": [i.kind for i in report.issues], "checked_at": _now(),
        "notebook": report.notebook, "report": report.html_path}
    _save(data)


def working_copy(assignment: str) -> Path:
    """Where JupyterLab's Assignment List fetches ``assignment`` (``course lab``'s default
    ``Exchange.assignment_dir``, ``<build>/lab/my-assignments``, one folder per assignment)."""
    return build_dir() / "lab" / "my-assignments" / assignment / f"{assignment}.ipynb"


def lesson_status(notebook: Path) -> str:
    """From the notebook file itself: has any code cell run, and has every one run without an error?"""
    try:
        cells = [c for c in json.loads(notebook.read_text())["cells"] if c.get("cell_type") == "code"]
    except (OSError, ValueError, KeyError):
        return NOT_STARTED
    ran = [c for c in cells if c.get("execution_count") is not None]
    if not ran:
        return NOT_STARTED
    errors = any(o.get("output_type") == "error" for c in cells for o in c.get("outputs", []))
    return RAN if len(ran) == len(cells) and not errors else IN_PROGRESS


def collect(root: Path | None = None, save: bool = True) -> Board:
    """Every lesson and assignment with its status; lesson statuses seen now are stored (``save``)."""
    from .nbgrader_chain import assignments

    root = root or repo_root()
    data = load()
    items = []
    for nb in sorted((root / "notebooks").glob("*.ipynb")):
        seen = lesson_status(nb)
        stored = data["lessons"].get(nb.stem, {})
        best = max(seen, stored.get("status", NOT_STARTED), key=lambda s: _RANK.get(s, 0))
        if best != stored.get("status") and best != NOT_STARTED:
            data["lessons"][nb.stem] = {"status": best, "seen_at": _now()}
        when = data["lessons"].get(nb.stem, {}).get("seen_at", "")
        items.append(Item("lesson", nb.stem, best, detail=f"since {when[:16].replace('T', ' ')}" if when else ""))
    for a in assignments(root):
        rec = data["assignments"].get(a)
        if rec:
            status = PASSING if rec["status"] == "passing" else IN_PROGRESS
            detail = f"checked {rec['checked_at'][:16].replace('T', ' ')}"
            if rec["status"] == "environment":
                detail += "; the check hit an environment problem: run `course check` again"
            elif rec.get("failing"):
                detail += f"; failing: {', '.join(rec['failing'])}"
            items.append(Item("assignment", a, status, rec["score"], rec["max_score"], detail))
        elif working_copy(a).is_file():
            items.append(Item("assignment", a, IN_PROGRESS, detail=f"fetched; check it with `course check {a}`"))
        else:
            items.append(Item("assignment", a, NOT_STARTED))
    if save:
        _save(data)
    return Board(items, store_path())


def plot(board: Board, path: str | Path | None = None):
    """A bar per lesson and assignment: how far along (assignments: public points), coloured by status."""
    from matplotlib.figure import Figure

    colours = {NOT_STARTED: "#bdbdbd", IN_PROGRESS: "#fb8c00", RAN: "#43a047", PASSING: "#43a047"}
    items = board.items[::-1]
    fig = Figure(figsize=(8, 0.38 * len(items) + 1.2))
    ax = fig.subplots()
    ax.barh(range(len(items)), [max(i.fraction, 0.02) for i in items], color=[colours[i.status] for i in items])
    for k, i in enumerate(items):
        ax.text(1.02, k, f"{i.status}{'  ' + _points(i) if _points(i) else ''}", va="center", fontsize=8)
    ax.set_yticks(range(len(items)), [f"{i.name} ({i.kind})" for i in items], fontsize=8)
    ax.set_xlim(0, 1.6)
    ax.set_xticks([0, 0.5, 1.0], ["0", "half", "done"])
    ax.set_title("Your progress (assignments: public points of your last `course check`)", fontsize=9)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fig.tight_layout()
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110)
    return fig
