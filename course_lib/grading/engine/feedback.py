"""Feedback for one learner (HTML): public tests with their results, hidden tests as points only, answers
left for manual grading as such, and a late submission's penalty.

Built from the engine's row, never from the autograded notebook, so neither the source of hidden
tests nor the hidden data (only the metric measured on it) can appear in it.
"""
from __future__ import annotations

from html import escape

from ..result import GradedResult

__all__ = ["feedback_html", "score_line"]


def score_line(row: GradedResult) -> str:
    """``8/10``, or ``autograded 8/10, 2 points await manual grading``; a late submission's penalty after it."""
    manual = sum(row.manual.values())
    text = f"{row.score:g}/{row.max_score:g}"
    if manual:
        waits = "point awaits" if manual == 1 else "points await"
        text = f"autograded {text}, {manual:g} {waits} manual grading"
    late = row.late or {}
    if late.get("seconds_late", 0) > 0:
        text += f"; {late['seconds_late'] / 3600:.1f} h late, penalty {late['penalty']:g}"
    return text


def feedback_html(row: GradedResult, hidden: list[str]) -> str:
    lines = [f"<h1>{escape(row.assignment)}: {escape(score_line(row))}</h1>",
             f"<p>Status: <b>{escape(row.status)}</b></p>", "<table border=1 cellpadding=4>",
             "<tr><th>test</th><th>points</th><th>result</th></tr>"]
    for gid, t in row.tests.items():
        if t.status == "manual":
            lines.append(f"<tr><td>{escape(gid)}</td><td>? / {t.points:g}</td>"
                         "<td>awaits manual grading (your written answer)</td></tr>")
            continue
        if gid in hidden:
            result = "hidden test (its code is not shown)"
        else:
            result = "passed" if t.status == "passed" else escape(t.message or "failed")
        lines.append(f"<tr><td>{escape(gid)}</td><td>{t.score or 0.0:g} / {t.points:g}</td><td>{result}</td></tr>")
    lines.append("</table>")
    for q in row.quality:
        lines.append(f"<p>Model quality of {escape(str(q.get('model')))}: {escape(str(q.get('metric')))} = "
                     f"{q.get('value')!s} on held-out data ({escape(q.get('note', ''))})</p>")
    for title, items in (("What happened", row.issues), ("Reported to the instructor", row.findings)):
        if items:
            lines.append(f"<h2>{title}</h2><ul>" + "".join(f"<li>{escape(i.detail)}</li>" for i in items)
                         + "</ul>")
    return ("<!doctype html><meta charset='utf-8'><title>Feedback</title>"
            "<body style='font-family:sans-serif'>" + "\n".join(lines) + "</body>")
