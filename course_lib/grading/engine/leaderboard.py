"""``course leaderboard``: learners ranked by their best graded model quality on the hidden data.

Reads what ``course grade`` recorded (``<course>/grading/<assignment>/history.jsonl``: every graded
measurement, so a resubmission that scores lower does not lose a learner's best) and writes
``leaderboard.html`` and ``leaderboard.csv`` beside it. Learners appear under pseudonyms unless ``names``:
a pseudonym is derived from the student id with a secret kept in the instructor's course
(``grading/leaderboard.key``), so it is stable across runs and cannot be computed by a learner.
"""
from __future__ import annotations

import csv
import hashlib
import hmac
import html
import json
import secrets
from dataclasses import dataclass
from pathlib import Path

from ...exceptions import GradingError

__all__ = ["Entry", "leaderboard", "pseudonym"]

_ADJ = ["amber", "brisk", "calm", "deft", "eager", "fleet", "gentle", "hardy", "keen", "lucid", "merry", "nimble",
        "quiet", "rapid", "sunny", "tidy", "vivid", "witty", "bold", "clever"]
_NOUN = ["alder", "birch", "cedar", "elm", "fir", "hazel", "juniper", "larch", "maple", "oak", "pine", "rowan",
         "spruce", "walnut", "willow", "yew", "aspen", "beech", "cherry", "linden"]


@dataclass
class Entry:
    rank: int
    learner: str
    value: float
    submissions: int
    model: str
    metric: str


def pseudonym(student: str, key: bytes) -> str:
    """A stable, unguessable name for ``student`` (adjective-tree-NN)."""
    d = hmac.new(key, student.encode(), hashlib.sha256).digest()
    return f"{_ADJ[d[0] % len(_ADJ)]}-{_NOUN[d[1] % len(_NOUN)]}-{d[2] % 100:02d}"


def _key(course: Path) -> bytes:
    p = course / "grading" / "leaderboard.key"
    if not p.is_file():
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(secrets.token_hex(32))
        p.chmod(0o600)
    return bytes.fromhex(p.read_text().strip())


def leaderboard(course: Path, assignment: str, *, names: bool = False, entry: int = 0) -> tuple[list[Entry], Path]:
    """Rank every graded learner of ``assignment`` by their best value of quality entry ``entry``
    (``grading.yaml`` order); returns the ranking and the HTML page written."""
    state = Path(course) / "grading" / assignment
    history = state / "history.jsonl"
    if not history.is_file():
        raise GradingError(f"{history} does not exist: grade the assignment first (`course grade {assignment}`), "
                           "with a model-quality entry in assignments/grading.yaml.")
    best: dict[str, dict] = {}
    counts: dict[str, int] = {}
    for line in history.read_text().splitlines():
        rec = json.loads(line)
        qs = rec.get("quality") or []
        if len(qs) <= entry:
            continue
        q, s = qs[entry], rec["student"]
        counts[s] = counts.get(s, 0) + 1
        if q.get("value") is None:
            continue
        if s not in best or ((q["value"] > best[s]["value"]) if q["higher_is_better"]
                             else (q["value"] < best[s]["value"])):
            best[s] = q
    if not best:
        raise GradingError(f"{history}: no graded measurement of quality entry {entry} yet.")
    higher = next(iter(best.values()))["higher_is_better"]
    key = None if names else _key(Path(course))
    ranked = sorted(best.items(), key=lambda kv: (-kv[1]["value"] if higher else kv[1]["value"], kv[0]))
    entries, rank, last = [], 0, None
    for k, (s, q) in enumerate(ranked, 1):
        if q["value"] != last:
            rank, last = k, q["value"]
        entries.append(Entry(rank, s if names else pseudonym(s, key), q["value"], counts[s], q["model"], q["metric"]))
    with open(state / "leaderboard.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["rank", "learner", entries[0].metric, "graded_submissions", "model"])
        for e in entries:
            w.writerow([e.rank, e.learner, f"{e.value:g}", e.submissions, e.model])
    page = state / "leaderboard.html"
    page.write_text(_html(assignment, entries, higher), encoding="utf-8")
    return entries, page


def _html(assignment: str, entries: list[Entry], higher: bool) -> str:
    metric = entries[0].metric
    rows = "".join(f"<tr><td>{e.rank}</td><td>{html.escape(e.learner)}</td><td>{e.value:g}</td>"
                   f"<td>{e.submissions}</td></tr>" for e in entries)
    return (f"<!doctype html><meta charset='utf-8'><title>{assignment} leaderboard</title>"
            "<style>body{font-family:sans-serif;margin:2em}td,th{padding:4px 12px;text-align:left}"
            "tr:nth-child(even){background:#f3f3f3}</style>"
            f"<h1>{html.escape(assignment)}: leaderboard</h1>"
            f"<p>Best {metric} of each learner's graded model on the hidden data "
            f"({'higher' if higher else 'lower'} is better); {len(entries)} learners.</p>"
            f"<table><tr><th>rank</th><th>learner</th><th>{metric}</th><th>graded submissions</th></tr>{rows}</table>")
