"""Grades out of the nbgrader gradebook into a file an LMS imports (``course export --lms``).

Formats, each as its LMS documents the import:

- ``canvas``: Canvas's gradebook import CSV. The identity columns ``Student, ID, SIS User ID, SIS Login ID,
  Section`` (Canvas matches a row by ID, then SIS User ID, then SIS Login ID), then one column per assignment
  (a new name creates the assignment on import), and a ``Points Possible`` row under the header.
- ``moodle``: Moodle's grade import CSV, which is its CSV export format: ``First name, Last name, ID number,
  Institution, Department, Email address``, then ``Assignment: NAME (Real)`` per grade item. On import map
  "Email address" to ``useremail`` (or "ID number" to ``useridnumber``).
- ``csv``: a plain sheet: username, name, email, ids, section, then score and maximum per assignment, total.

Learners are mapped through the roster: each roster learner gets one row, in roster order; a gradebook
student missing from the roster is reported, not exported. A learner with no submission gets a blank
score (an LMS leaves blank cells alone), never a zero.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

from ..exceptions import GradingError, RosterError
from .roster import Member, Roster

__all__ = ["FORMATS", "CANVAS_IDENTITY", "MOODLE_IDENTITY", "Scores", "ExportReport", "read_scores", "render",
           "export"]

FORMATS = ("canvas", "moodle", "csv")
CANVAS_IDENTITY = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
MOODLE_IDENTITY = ("First name", "Last name", "ID number", "Institution", "Department", "Email address")


@dataclass
class Scores:
    """What the gradebook says: ``maxima[assignment]``, ``scores[student][assignment]``, and the submissions
    whose score is not final yet (``pending_manual``: cells await the formgrader)."""
    assignments: list[str]
    maxima: dict[str, float]
    scores: dict[str, dict[str, float]] = field(default_factory=dict)
    pending_manual: list[tuple[str, str]] = field(default_factory=list)
    students: list[str] = field(default_factory=list)


def read_scores(gradebook: str | Path, assignments: list[str]) -> Scores:
    """Scores of every submission of ``assignments`` in the nbgrader ``gradebook`` (nbgrader's own totals,
    late penalties included)."""
    from nbgrader.api import Gradebook, MissingEntry

    db = Path(gradebook)
    if not db.is_file():
        raise GradingError(f"no gradebook at {db}: grade first (`course grade ASSIGNMENT`), or pass --course "
                           "to the nbgrader course that holds it.")
    out = Scores(list(assignments), {})
    with Gradebook(f"sqlite:///{db}") as gb:
        known = sorted(a.name for a in gb.assignments)
        for a in assignments:
            try:
                out.maxima[a] = float(gb.find_assignment(a).max_score)
            except MissingEntry:
                raise GradingError(f"{db} has no assignment {a!r} (it has: {', '.join(known) or 'none'}); "
                                   "release and grade it first.") from None
        out.students = sorted(s.id for s in gb.students)
        for a in assignments:
            for sub in gb.assignment_submissions(a):
                out.scores.setdefault(sub.student.id, {})[a] = float(sub.score)
                if sub.needs_manual_grade:
                    out.pending_manual.append((sub.student.id, a))
    return out


def _number(x: float | None) -> str:
    return "" if x is None else f"{round(x, 2):g}"


def _identity(lms: str, m: Member, roster: Path) -> list[str]:
    if lms == "canvas":
        if not (m.lms_id or m.sis_id or m.email):
            raise RosterError(roster, m.line,
                              f"learner {m.username!r} has no lms_id, sis_id or email, so Canvas cannot match "
                              "the row to a student")
        return [m.name or m.username, m.lms_id, m.sis_id, m.email, m.section]
    if lms == "moodle":
        if not (m.email or m.sis_id):
            raise RosterError(roster, m.line, f"learner {m.username!r} has no email or sis_id, so Moodle cannot "
                                             "match the row to a user")
        first, last = m.first_last
        return [first, last, m.sis_id, "", m.section, m.email]
    return [m.username, m.name, m.email, m.lms_id, m.sis_id, m.section]


def render(lms: str, roster: Roster, scores: Scores) -> str:
    """The file's text for ``lms`` (one of :data:`FORMATS`)."""
    if lms not in FORMATS:
        raise ValueError(f"unknown LMS format {lms!r}; choose one of {', '.join(FORMATS)}")
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    names = scores.assignments
    if lms == "canvas":
        w.writerow([*CANVAS_IDENTITY, *names])
        w.writerow(["Points Possible", "", "", "", "", *(_number(scores.maxima[a]) for a in names)])
    elif lms == "moodle":
        w.writerow([*MOODLE_IDENTITY, *(f"Assignment: {a} (Real)" for a in names)])
    else:
        w.writerow(["username", "name", "email", "lms_id", "sis_id", "section",
                    *(c for a in names for c in (a, f"{a} max")), "total", "total max"])
    for m in roster.learners:
        got = scores.scores.get(m.username, {})
        row = _identity(lms, m, roster.path)
        if lms == "csv":
            row += [c for a in names for c in (_number(got.get(a)), _number(scores.maxima[a]))]
            row += [_number(sum(got.values())) if got else "", _number(sum(scores.maxima[a] for a in names))]
        else:
            row += [_number(got.get(a)) for a in names]
        w.writerow(row)
    return buf.getvalue()


@dataclass
class ExportReport:
    path: Path
    learners: int
    graded: int                                  # (learner, assignment) pairs with a score
    missing: list[tuple[str, str]]               # roster learners without a submission
    not_on_roster: list[str]                     # gradebook students left out
    pending_manual: list[tuple[str, str]]


def export(lms: str, roster: Roster, gradebook: str | Path, assignments: list[str], out: str | Path) -> ExportReport:
    """Write ``out`` for ``lms`` and say what went in, what was blank and who was left out."""
    scores = read_scores(gradebook, assignments)
    text = render(lms, roster, scores)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(out)
    on_roster = {m.username for m in roster.members}
    learners = [m.username for m in roster.learners]
    missing = [(u, a) for u in learners for a in assignments if a not in scores.scores.get(u, {})]
    return ExportReport(out, len(learners), len(learners) * len(assignments) - len(missing), missing,
                        [s for s in scores.scores if s not in on_roster],
                        [p for p in scores.pending_manual if p[0] in learners])
