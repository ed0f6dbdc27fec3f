"""The one writer: merges worker rows into the course's nbgrader gradebook, in this process only.

As nbgrader's ``SaveAutoGrades`` then ``AssignLatePenalties`` would: an answered manually graded cell is left for
the formgrader (no auto score, ``needs_manual_grade``), a grade given by hand is kept and marked for review, and a
late submission's notebooks get the course's penalty (:mod:`.late`).

Workers never see the course's gradebook; every write to it happens here, one row at a time, through
nbgrader's Gradebook API (so SQLite never sees two writers). A row is merged, then its result file is
written: a batch stopped at any point resumes by skipping students whose result file matches their
current submission (same digest).
"""
from __future__ import annotations

import csv
import json
import os
import shutil
import warnings
from pathlib import Path

from ..result import GradedResult
from .feedback import feedback_html
from .late import assign_penalties, penalty_plugin, submission_time

__all__ = ["Writer"]


class Writer:
    def __init__(self, course: Path, assignment: str, hidden: list[str]):
        self.course, self.assignment, self.hidden = course, assignment, hidden
        self.state = course / "grading" / assignment
        (self.state / "results").mkdir(parents=True, exist_ok=True)
        self.plugin = penalty_plugin(course)          # late submissions: the course's configured penalty

    def result_path(self, student: str) -> Path:
        return self.state / "results" / f"{student}.json"

    def done(self, student: str, digest: str) -> bool:
        p = self.result_path(student)
        try:
            return json.loads(p.read_text()).get("digest") == digest
        except (OSError, json.JSONDecodeError):
            return False

    def merge(self, row: GradedResult) -> None:
        from nbgrader.api import Gradebook

        a, s = self.assignment, row.student
        manual = row.manual
        when = submission_time(self.course / "submitted" / s / a)
        with warnings.catch_warnings(), Gradebook(f"sqlite:///{self.course / 'gradebook.db'}") as gb:
            warnings.simplefilter("ignore")      # nbgrader's own SQLAlchemy autoflush notices
            gb.update_or_create_student(s)
            sub = gb.update_or_create_submission(a, s, **({"timestamp": when} if when else {}))
            for nb in sub.notebooks:
                for g in nb.grades:
                    if g.name in row.tests and g.max_score:
                        score = row.tests[g.name].score or 0.0
                        # an answered manually graded cell: no auto score, left for the formgrader; a test: never
                        # above its points
                        g.auto_score = None if g.name in manual else max(0.0, min(float(score), float(g.max_score)))
                        # as nbgrader's SaveAutoGrades: a grade given by hand is reviewed again after a regrade
                        g.needs_manual_grade = g.manual_score is not None or g.auto_score is None
            gb.db.commit()
            penalty = assign_penalties(sub, self.plugin, s)    # from the merged scores, as nbgrader's order
            gb.db.commit()
            row.late = {"timestamp": when.isoformat(), "seconds_late": float(sub.total_seconds_late),
                           "penalty": penalty} if when else None
        out = self.course / "autograded" / s / a
        for name, text in row.autograded.items():
            out.mkdir(parents=True, exist_ok=True)
            (out / f"{name}.ipynb").write_text(text, encoding="utf-8")
        fb = self.course / "feedback" / s / a
        fb.mkdir(parents=True, exist_ok=True)
        (fb / f"{a}.html").write_text(feedback_html(row, self.hidden), encoding="utf-8")
        for name in ("timestamp.txt", "submission_secret.txt"):    # as nbgrader generate_feedback: release_feedback
            src = self.course / "submitted" / s / a / name            # names the released file by them
            if src.is_file():
                shutil.copyfile(src, fb / name)
        if row.quality:                         # every graded measurement, for the leaderboard's best
            with open(self.state / "history.jsonl", "a") as f:
                f.write(json.dumps({"student": s, "digest": row.digest, "quality": row.quality}) + "\n")
        tmp = self.result_path(s).with_suffix(".tmp")
        tmp.write_text(json.dumps(row.to_dict(), indent=1))
        os.replace(tmp, self.result_path(s))

    def rows(self) -> list[GradedResult]:
        return [GradedResult.from_dict(json.loads(p.read_text()))
                for p in sorted((self.state / "results").glob("*.json"))]

    def export_csv(self, path: Path | None = None) -> Path:
        """One row per graded student: the gradebook's score, and the engine's status and reports."""
        from nbgrader.api import Gradebook, MissingEntry

        path = path or self.state / "grades.csv"
        with Gradebook(f"sqlite:///{self.course / 'gradebook.db'}") as gb, open(path, "w", newline="") as f:
            w = csv.writer(f)
            # score as `nbgrader export`'s: raw_score less the late penalty; awaiting_manual: points of answered
            # manually graded cells the formgrader has not graded yet (counted 0 in raw_score until then)
            w.writerow(["assignment", "student_id", "score", "max_score", "raw_score", "late_penalty",
                        "awaiting_manual", "status", "issues", "findings", "models", "isolation"])
            for row in self.rows():
                try:
                    sub = gb.find_submission(self.assignment, row.student)
                    raw, max_score = float(sub.score), float(sub.max_score)
                    penalty = float(sub.late_submission_penalty)
                    waiting = sum(float(g.max_score) for nb in sub.notebooks for g in nb.grades
                                  if g.max_score and g.needs_manual_grade and g.manual_score is None)
                except MissingEntry:
                    raw, max_score, penalty, waiting = 0.0, row.max_score, 0.0, 0.0
                w.writerow([self.assignment, row.student, f"{max(0.0, raw - penalty):g}", f"{max_score:g}",
                            f"{raw:g}", f"{penalty:g}", f"{waiting:g}", row.status,
                            " | ".join(i.detail for i in row.issues),
                            " | ".join(f"{i.kind}: {i.detail}" for i in row.findings),
                            " | ".join(_model_cell(q) for q in row.quality),
                            row.isolation.get("sandbox", "")])
        return path


def _model_cell(q: dict) -> str:
    """One measured model in the CSV: name, source, sha256 of a submitted file, value, audit."""
    parts = [q["model"], q.get("source", "rerun"), f"{q['metric']}={q['value']}"]
    if q.get("sha256"):
        parts.insert(2, f"sha256={q['sha256']}")
    if q.get("audit"):
        parts.append(f"audit: {q['audit']}")
    return " ".join(parts)
