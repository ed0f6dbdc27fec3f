"""The one writer: merges worker rows into the course's nbgrader gradebook, in this process only.

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

from .feedback import feedback_html

__all__ = ["Writer"]


class Writer:
    def __init__(self, course: Path, assignment: str, hidden: list[str]):
        self.course, self.assignment, self.hidden = course, assignment, hidden
        self.state = course / "grading" / assignment
        (self.state / "results").mkdir(parents=True, exist_ok=True)

    def result_path(self, student: str) -> Path:
        return self.state / "results" / f"{student}.json"

    def done(self, student: str, digest: str) -> bool:
        p = self.result_path(student)
        try:
            return json.loads(p.read_text()).get("digest") == digest
        except (OSError, json.JSONDecodeError):
            return False

    def merge(self, row: dict) -> None:
        from nbgrader.api import Gradebook

        a, s = self.assignment, row["student"]
        with warnings.catch_warnings(), Gradebook(f"sqlite:///{self.course / 'gradebook.db'}") as gb:
            warnings.simplefilter("ignore")      # nbgrader's own SQLAlchemy autoflush notices
            gb.update_or_create_student(s)
            sub = gb.update_or_create_submission(a, s)
            for nb in sub.notebooks:
                for g in nb.grades:
                    if g.name in row["tests"] and g.max_score:
                        score, points = row["tests"][g.name]
                        g.auto_score = max(0.0, min(float(score), float(g.max_score)))  # never above the points
                        g.needs_manual_grade = False
            gb.db.commit()
        out = self.course / "autograded" / s / a
        for name, text in row.get("autograded", {}).items():
            out.mkdir(parents=True, exist_ok=True)
            (out / f"{name}.ipynb").write_text(text, encoding="utf-8")
        fb = self.course / "feedback" / s / a
        fb.mkdir(parents=True, exist_ok=True)
        (fb / f"{a}.html").write_text(feedback_html(row, self.hidden), encoding="utf-8")
        for name in ("timestamp.txt", "submission_secret.txt"):    # as nbgrader generate_feedback: release_feedback
            src = self.course / "submitted" / s / a / name            # names the released file by them
            if src.is_file():
                shutil.copyfile(src, fb / name)
        slim = {k: v for k, v in row.items() if k != "autograded"}
        if row.get("quality"):                  # every graded measurement, for the leaderboard's best
            with open(self.state / "history.jsonl", "a") as f:
                f.write(json.dumps({"student": s, "digest": row["digest"], "quality": row["quality"]}) + "\n")
        tmp = self.result_path(s).with_suffix(".tmp")
        tmp.write_text(json.dumps(slim, indent=1))
        os.replace(tmp, self.result_path(s))

    def rows(self) -> list[dict]:
        return [json.loads(p.read_text()) for p in sorted((self.state / "results").glob("*.json"))]

    def export_csv(self, path: Path | None = None) -> Path:
        """One row per graded student: the gradebook's score, and the engine's status and reports."""
        from nbgrader.api import Gradebook, MissingEntry

        path = path or self.state / "grades.csv"
        with Gradebook(f"sqlite:///{self.course / 'gradebook.db'}") as gb, open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["assignment", "student_id", "score", "max_score", "status", "issues", "findings", "models",
                        "isolation"])
            for row in self.rows():
                try:
                    sub = gb.find_submission(self.assignment, row["student"])
                    score, max_score = float(sub.score), float(sub.max_score)
                except MissingEntry:
                    score, max_score = 0.0, row["max_score"]
                w.writerow([self.assignment, row["student"], f"{score:g}", f"{max_score:g}", row["status"],
                            " | ".join(i["detail"] for i in row["issues"]),
                            " | ".join(f"{i['kind']}: {i['detail']}" for i in row["findings"]),
                            " | ".join(_model_cell(q) for q in row.get("quality") or []),
                            (row.get("isolation") or {}).get("sandbox", "")])
        return path


def _model_cell(q: dict) -> str:
    """One measured model in the CSV: name, source, sha256 of a submitted file, value, audit."""
    parts = [q["model"], q.get("source", "rerun"), f"{q['metric']}={q['value']}"]
    if q.get("sha256"):
        parts.insert(2, f"sha256={q['sha256']}")
    if q.get("audit"):
        parts.append(f"audit: {q['audit']}")
    return " ".join(parts)
