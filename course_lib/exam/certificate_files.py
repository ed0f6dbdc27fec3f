"""A certificate's files (JSON, HTML, PDF), reading them back, verifying a file or a code, the dashboard.

    paths = write_certificate(cert, out_dir)          # certificate.json / .html / .pdf, each carries the token
    payload = verify_any("out/alice/certificate.html", public_key, register=out_dir)   # or a TFCK-… code

The HTML shows every field in an element with a ``data-field`` attribute and embeds the signed token; a
verified HTML whose visible name, date, version, score or result differs from the signed one fails the
``visible fields`` check. The PDF (matplotlib's PDF backend, offline) carries the token in its ``Subject``.
"""
from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

from .certificates import CandidateStatus, Certificate, verify
from ..exceptions import CertificateError, VerificationFailed

__all__ = ["write_certificate", "read_certificate", "verify_any", "visible_fields", "dashboard_html"]

TOKEN_RE = re.compile(r"TFCK1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
CODE_RE = re.compile(r"^TFCK-[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}$")

CSS = """body{font-family:Georgia,serif;max-width:820px;margin:2em auto;color:#222}
h1{font-size:1.8em;margin-bottom:.2em} .result{font-size:1.3em;font-weight:bold}
.pass{color:#1a7f37} .fail{color:#b42318} table{border-collapse:collapse;width:100%;margin:1em 0}
td,th{border-bottom:1px solid #ccc;padding:.35em .5em;text-align:left} td.n{text-align:right}
.code{font-family:monospace;font-size:1.2em;letter-spacing:.05em} .small{font-size:.8em;color:#555;word-break:break-all}
.left li{color:#b42318}"""


def visible_fields(p: dict[str, Any]) -> dict[str, str]:
    """Field name -> the text the HTML shows for it (what ``visible fields`` compares)."""
    out = {"name": p["name"], "student_id": p["student_id"], "exam_title": p.get("exam_title", ""),
           "exam_version": p["exam_version"], "exam_date": p["exam_date"], "issued": p["issued"],
           "total": f"{p['total']:g} / {p['total_max']:g}", "result": "PASSED" if p["passed"] else "NOT PASSED"}
    for t in p["tasks"]:
        out[f"task:{t['id']}"] = f"{t['score']:g} / {t['max']:g}"
    return out


def _html(cert: Certificate) -> str:
    p, e = cert.payload, html.escape
    f = visible_fields(p)

    def span(key: str) -> str:
        return f'<span data-field="{e(key)}">{e(f[key])}</span>'
    rows = "".join(f"<tr><td>{e(t['title'])}</td><td class=n>{span('task:' + t['id'])}</td><td class=n>{t['min']}</td>"
                   f"<td>{'ok' if t['score'] >= t['min'] else 'below minimum'}</td></tr>" for t in p["tasks"])
    cls = "pass" if p["passed"] else "fail"
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Certificate: {e(p['name'])}</title>
<style>{CSS}</style></head><body>
<h1>Certificate of examination</h1>
<p>{span('name')} (candidate id {span('student_id')}) sat the exam <b>{span('exam_title')}</b>,
version {span('exam_version')}, submitted on {span('exam_date')}.</p>
<p class="result {cls}">Result: {span('result')} &mdash; total {span('total')} (pass mark {p['total_min']},
and every task at its minimum)</p>
<table><tr><th>task</th><th>score</th><th>minimum</th><th></th></tr>{rows}</table>
<p>Issued on {span('issued')}. Verification code: <span class="code">{e(cert.code)}</span></p>
<p class="small">Verify with the instructor's public key: <code>course certify verify {e(cert.code)}</code> (from
the issuing course) or <code>course certify verify certificate.html</code>. Signed token (Ed25519, key
{e(p['key_id'])}):<br>{e(cert.token())}</p>
<script type="application/json" id="certificate-token">{e(cert.token())}</script>
</body></html>
"""


def _pdf(cert: Certificate, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    p = cert.payload
    fig = plt.figure(figsize=(8.27, 11.69))
    y = [0.93]

    def line(text: str, size: int = 11, weight: str = "normal", color: str = "#222", dy: float = 0.035) -> None:
        fig.text(0.1, y[0], text, fontsize=size, weight=weight, color=color, family="serif")
        y[0] -= dy
    line("Certificate of examination", 22, "bold", dy=0.06)
    line(f"{p['name']}  (candidate id {p['student_id']})", 15, "bold", dy=0.045)
    line(f"{p.get('exam_title', p['exam'])}, version {p['exam_version']}")
    line(f"Submitted on {p['exam_date']}; issued on {p['issued']}", dy=0.05)
    res = "PASSED" if p["passed"] else "NOT PASSED"
    line(f"Result: {res}  -  total {p['total']:g} / {p['total_max']:g} (pass mark {p['total_min']})", 14, "bold",
         "#1a7f37" if p["passed"] else "#b42318", dy=0.05)
    for t in p["tasks"]:
        mark = "" if t["score"] >= t["min"] else "   (below the minimum of %d)" % t["min"]
        line(f"{t['title']}: {t['score']:g} / {t['max']:g}{mark}", 11)
    y[0] -= 0.02
    line(f"Verification code: {cert.code}", 13, "bold")
    line(f"Verify: course certify verify {cert.code}   or   course certify verify certificate.pdf", 9)
    line(f"Ed25519 key {p['key_id']}; the signed token is in this PDF's Subject field.", 9)
    fig.savefig(path, format="pdf", metadata={"Title": f"Certificate: {p['name']}", "Subject": cert.token(),
                                              "Creator": "tf-course-kit course certify"})
    plt.close(fig)


def write_certificate(cert: Certificate, out_dir: str | Path) -> dict[str, Path]:
    """Write ``certificate.json``, ``certificate.html`` and ``certificate.pdf`` into ``out_dir``."""
    d = Path(out_dir)
    d.mkdir(parents=True, exist_ok=True)
    paths = {"json": d / "certificate.json", "html": d / "certificate.html", "pdf": d / "certificate.pdf"}
    paths["json"].write_text(cert.to_json())
    paths["html"].write_text(_html(cert), encoding="utf-8")
    _pdf(cert, paths["pdf"])
    return paths


def read_certificate(path: str | Path) -> tuple[Certificate, dict[str, str] | None]:
    """The certificate in a JSON, HTML or PDF file, and (HTML only) the fields it shows."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as e:
        raise CertificateError(f"cannot read {p}: {e}") from e
    text = data.decode("latin-1")
    shown = None
    if p.suffix == ".json":
        import json

        try:
            token = json.loads(text)["token"]
        except (ValueError, KeyError, TypeError) as e:
            raise VerificationFailed("format", f"{p} is not a certificate.json ({e}).") from e
    else:
        m = TOKEN_RE.search(text)
        if not m:
            raise VerificationFailed("format", f"{p} holds no signed certificate token (TFCK1.…).")
        token = m.group(0)
        if p.suffix in (".html", ".htm"):
            shown = {html.unescape(k): html.unescape(v) for k, v in
                     re.findall(r'data-field="([^"]*)">([^<]*)<', data.decode("utf-8", errors="replace"))}
    return Certificate.from_token(token), shown


def _from_register(code: str, register: Path) -> Certificate:
    for f in sorted(register.rglob("certificate.json")):
        cert, _ = read_certificate(f)
        if cert.code == code:
            return cert
    raise VerificationFailed("code", f"no certificate with code {code} among those issued in {register}: check the "
                                     "code, or verify the certificate file itself.")


def verify_any(target: str, public_key: str | Path, register: str | Path | None = None) -> dict[str, Any]:
    """Verify a certificate file or a verification code; returns the payload or raises ``VerificationFailed``.

    For a code, the certificate is looked up in ``register`` (the folder of issued certificates); the register
    is not trusted: the found certificate is verified with the public key like any file.
    """
    code = target.strip().upper()
    if CODE_RE.match(code):
        if register is None or not Path(register).is_dir():
            raise CertificateError(f"to verify a code, pass --register, the folder of issued certificates "
                                   f"(not found: {register}).")
        cert, shown = _from_register(code, Path(register)), None
    else:
        cert, shown = read_certificate(target)
    payload = verify(cert, public_key)
    if CODE_RE.match(code) and cert.code != code:
        raise VerificationFailed("code", f"code {code} does not belong to this certificate ({cert.code}).")
    if shown is not None:
        want = visible_fields(payload)
        bad = [k for k in want if shown.get(k) != want[k]]
        if bad:
            k = bad[0]
            raise VerificationFailed("visible fields", f"the page shows {k} = {shown.get(k)!r}, but the signed "
                                     f"certificate says {want[k]!r}: the HTML was edited. Fields that differ: "
                                     f"{', '.join(bad)}.")
    return payload


def dashboard_html(statuses: list[CandidateStatus], title: str) -> str:
    """Every candidate's per-task scores and what is left to pass, as one HTML page."""
    e = html.escape
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{e(title)}</title><style>{CSS}</style>"
             f"</head><body><h1>{e(title)}: candidates</h1>"]
    for st in statuses:
        res = "passed" if st.passed else "not passed"
        parts.append(f"<h2>{e(st.name)} <small>({e(st.student_id)})</small> &mdash; "
                     f"<span class='{'pass' if st.passed else 'fail'}'>{res}</span>, {st.total:g}/{st.total_max:g}</h2>")
        parts.append("<table><tr><th>task</th><th>score</th><th>minimum</th><th>left</th></tr>" + "".join(
            f"<tr><td>{e(t.title)}</td><td class=n>{t.score:g}/{t.max:g}</td><td class=n>{t.min}</td>"
            f"<td class=n>{t.left:g}</td></tr>" for t in st.tasks) + "</table>")
        left = st.left()
        if left:
            parts.append("<p>What is left:</p><ul class=left>" + "".join(f"<li>{e(x)}</li>" for x in left) + "</ul>")
    parts.append("</body></html>\n")
    return "".join(parts)
