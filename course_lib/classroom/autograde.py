"""Grading on submit (optional, per assignment): a hub-managed service grades new submissions and releases feedback.

``course hub autograde ASSIGNMENT --daily-limit N`` turns it on (``--off`` turns it off); the hub, restarted,
runs ``python -m course_lib.classroom.autograde <state>`` as a service (as root, like ``course hub grade``).
Every ``interval`` seconds :func:`poll_once` looks at the exchange: the learners whose newest submission of an
enabled assignment has not been graded yet are collected, graded together in one batch of the kit's engine
(sandboxed, two at once) and get feedback, at most ``daily_limit`` times per learner per UTC day (0: no limit). A submission over the limit
waits, and is graded the next day (or by the instructor's ``course hub grade``). What it did is appended to
``<state>/autograde.jsonl``.
"""
from __future__ import annotations

import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from ..exceptions import CourseError
from .hub_course import grade, inbound
from .hub_state import HubState

__all__ = ["poll_once", "serve", "set_autograde"]


def set_autograde(state: HubState, assignment: str, daily_limit: int | None) -> dict[str, int]:
    """Turn grading on submit on for ``assignment`` (``daily_limit`` gradings per learner per day; 0: no limit)
    or off (None). Returns every enabled assignment; the hub applies it at its next start."""
    s = state.settings()
    if daily_limit is None:
        s.autograde.pop(assignment, None)
    else:
        s.autograde[assignment] = int(daily_limit)
    state.save(s)
    return dict(s.autograde)


def _log(state: HubState) -> list[dict]:
    path = state.root / "autograde.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []


def _graded(state: HubState, assignment: str, learner: str, submission: str) -> bool:
    """This submission was collected, graded and its feedback made (by ``course hub grade`` too)."""
    stamp = state.course / "feedback" / learner / assignment / "timestamp.txt"
    return stamp.is_file() and stamp.read_text().strip() == submission


def poll_once(state: HubState, progress=print, jobs: int = 2) -> list[dict]:
    """Grade what is new (see the module docstring): every learner due a grading of an assignment in one batch
    of the engine (``jobs`` at once); returns this round's records."""
    s = state.settings()
    today = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    done = _log(state)
    out = []
    for assignment, limit in s.autograde.items():
        recs: list[dict] = []
        for learner, stamps in inbound(state, assignment).items():
            mine = [r for r in done if r["assignment"] == assignment and r["learner"] == learner]
            newest = stamps[-1]
            if any(r["submission"] == newest for r in mine) or _graded(state, assignment, learner, newest):
                continue                     # graded (here or by `course hub grade`), or already told it waits
            graded_today = sum(r["status"] == "graded" and r["day"] == today for r in mine)
            rec = {"assignment": assignment, "learner": learner, "submission": newest, "day": today}
            if limit and graded_today >= limit:
                rec.update(status="daily-limit", note=f"{graded_today} of {limit} gradings today used; graded "
                                                      "tomorrow or by the instructor")
            recs.append(rec)
        due = [r for r in recs if "status" not in r]
        if due:
            try:
                report = grade(state, assignment, jobs=jobs, students=[r["learner"] for r in due], progress=progress)
                rows = {r.student: r for r in report.rows}
                for rec in due:
                    row = rows.get(rec["learner"])
                    if row:
                        rec.update(status="graded", score=row.score, max_score=row.max_score, row=row.status)
                    else:
                        rec.update(status="error", note="the engine returned no row for this learner")
            except CourseError as e:
                for rec in due:
                    rec.update(status="error", note=str(e)[:2000])
        with open(state.root / "autograde.jsonl", "a") as f:
            for rec in recs:
                rec["at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
                f.write(json.dumps(rec) + "\n")
                progress(f"autograde: {assignment} {rec['learner']} {rec['submission']}: {rec['status']}")
        done += recs
        out += recs
    return out


def serve(state: HubState, interval: float = 15.0) -> None:
    """The service's loop: :func:`poll_once` every ``interval`` seconds until stopped (SIGTERM from the hub)."""
    while True:
        poll_once(state)
        time.sleep(interval)


if __name__ == "__main__":
    serve(HubState(Path(sys.argv[1])), float(sys.argv[2]) if len(sys.argv) > 2 else 15.0)
