"""The HTML report of ``course run``: environment, notebooks, grades and the figures the notebooks drew."""
from __future__ import annotations

import html
import os
import time
from pathlib import Path

from .doctor import Check
from ..grading.samples import SampleCheck
from .notebooks import NotebookResult, cell_label

__all__ = ["write_run_report"]

_CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}
.ok{color:#176d2c;font-weight:600}.bad{color:#b00020;font-weight:600}.opt{color:#8a6d00}
figure{display:inline-block;margin:8px;vertical-align:top}figure img{max-width:340px;border:1px solid #ddd}
figcaption{font-size:80%;color:#555}"""


def _status(ok: bool, optional: bool = False) -> str:
    if ok:
        return '<span class="ok">OK</span>'
    return '<span class="opt">absent</span>' if optional else '<span class="bad">FAIL</span>'


def write_run_report(path: Path, checks: list[Check], notebooks: list[NotebookResult],
                     grades: dict[str, list[SampleCheck]], step_seconds: dict[str, float]) -> Path:
    e = html.escape
    rel = lambda p: os.path.relpath(p, path.parent)  # noqa: E731 - links stay valid if build/ moves
    out = [f"<!doctype html><meta charset=utf-8><title>Course kit run</title><style>{_CSS}</style>",
           "<h1>On-device TensorFlow course kit: run report</h1>",
           f"<p>{e(time.strftime('%Y-%m-%d %H:%M'))}; steps: "
           + ", ".join(f"{e(k)} {v:.0f} s" for k, v in step_seconds.items()) + "</p>",
           "<h2>Environment (<code>course doctor</code>)</h2><table><tr><th>check</th><th>status</th><th>detail</th></tr>"]
    for c in checks:
        out.append(f"<tr><td>{e(c.name)}</td><td>{_status(c.ok, not c.required)}</td><td>{e(c.detail)}</td></tr>")
    out.append("</table><h2>Notebooks (papermill)</h2><table><tr><th>notebook</th><th>status</th>"
               "<th>seconds</th><th>failing cell</th><th>error</th></tr>")
    for r in notebooks:
        name = f'<a href="{e(rel(r.html))}">{e(r.notebook)}</a>' if r.html else e(r.notebook)
        cell = cell_label(r) if r.cell_index is not None else ""
        out.append(f"<tr><td>{name}</td><td>{_status(r.status == 'ok')} {e(r.status)}</td><td>{r.seconds:.1f}</td>"
                   f"<td>{e(cell)}</td><td>{e((r.error or '')[:300])}</td></tr>")
    out.append("</table><h2>Autograded sample submissions (nbgrader)</h2>")
    for assignment, rows in grades.items():
        out.append(f"<h3>{e(assignment)}</h3><table><tr><th>submission</th><th>score</th><th>expected</th>"
                   "<th>failing tests</th><th>check</th></tr>")
        for g in rows:
            out.append(f"<tr><td>{e(g.student)}</td><td>{g.score:g} / {g.max_score:g}</td><td>{g.expected_score:g}</td>"
                       f"<td>{e(', '.join(g.failing) or '-')}</td><td>{_status(g.ok)} {e('; '.join(g.problems))}</td></tr>")
        out.append("</table>")
    figs = [(r.notebook, f) for r in notebooks for f in r.figures]
    if figs:
        out.append("<h2>Figures the notebooks produced</h2>")
        for nb, f in figs:
            out.append(f'<figure><img src="{e(rel(f))}"><figcaption>{e(nb)}: {e(Path(f).name)}</figcaption></figure>')
    path.write_text("\n".join(out) + "\n")
    return path
