"""Certificates for the certification exam: pass rules, scores from the gradebook, Ed25519 signatures.

    rules = load_rules()                                  # assignments/source/cert_exam/exam_rules.yaml
    keygen(key_dir)                                       # the instructor, once: private + public key
    cert = issue("alice", gradebook, private_key_path)    # a signed Certificate from the nbgrader gradebook
    verify(cert.token(), public_key_path)                 # raises VerificationFailed naming the failed check

A certificate is a canonical JSON *payload* (name, dates, exam version, per-task scores, pass/fail) and an
Ed25519 signature over exactly those bytes. Its verification code (``TFCK-XXXX-XXXX-XXXX-XXXX``) is derived
from the signature, so a code also names one signed payload. Verifying needs the public key only: the files
(:mod:`course_lib.exam.certificate_files`) carry the signed payload with them.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..exceptions import CertificateError, VerificationFailed
from ..paths import repo_root, state_dir

__all__ = ["ExamRules", "TaskRule", "TaskScore", "CandidateStatus", "Certificate", "load_rules", "rules_markdown",
           "default_key_dir", "keygen", "key_id", "candidate_status", "issue", "sign", "verify", "FORMAT"]

FORMAT = "tf-course-kit-certificate/1"
PRIVATE_NAME, PUBLIC_NAME = "instructor_ed25519.pem", "instructor_ed25519.pub"


# ---------------------------------------------------------------------------------------------- pass rules
@dataclass(frozen=True)
class TaskRule:
    id: str                  # = the task's notebook name in the exam folder
    title: str
    min: int


@dataclass(frozen=True)
class ExamRules:
    exam: str
    title: str
    version: str
    duration_minutes: int
    rules: list[str]
    total_min: int
    tasks: list[TaskRule]
    path: Path

    def passed(self, scores: dict[str, float]) -> bool:
        """The pass rule: every task at its minimum and the total at the total minimum."""
        return (all(scores.get(t.id, 0.0) >= t.min for t in self.tasks)
                and sum(scores.get(t.id, 0.0) for t in self.tasks) >= self.total_min)


def rules_path(course: Path | None = None) -> Path:
    return (course or repo_root() / "assignments") / "source" / "cert_exam" / "exam_rules.yaml"


def load_rules(path: str | Path | None = None) -> ExamRules:
    """Read and validate the exam's rules file (default ``assignments/source/cert_exam/exam_rules.yaml``)."""
    p = Path(path) if path else rules_path()
    try:
        d = yaml.safe_load(p.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise CertificateError(f"cannot read the exam rules {p}: {e}. Restore it from git.") from e
    try:
        task_min = int(d["pass"].get("task_min", 0))
        tasks = [TaskRule(str(t["id"]), str(t["title"]), int(t.get("min", task_min))) for t in d["tasks"]]
        rules = ExamRules(exam=str(d["exam"]), title=str(d["title"]), version=str(d["version"]),
                          duration_minutes=int(d["duration_minutes"]), rules=[str(r) for r in d.get("rules", [])],
                          total_min=int(d["pass"]["total_min"]), tasks=tasks, path=p)
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise CertificateError(f"{p} is malformed ({type(e).__name__}: {e}): it needs exam, title, version, "
                               "duration_minutes, pass: {total_min, task_min} and tasks: [{id, title}].") from e
    if len({t.id for t in tasks}) != len(tasks) or not tasks:
        raise CertificateError(f"{p}: task ids must be unique and there must be at least one task.")
    return rules


def rules_markdown(rules: ExamRules, max_per_task: int = 5) -> str:
    """The rules as Markdown, for the notebooks' introductions."""
    lines = [f"**{rules.title}**, version {rules.version}. Time allowed: {rules.duration_minutes // 60} h "
             f"{rules.duration_minutes % 60:02d} min.", ""]
    lines += [f"* {r}" for r in rules.rules]
    lines += ["", f"**To pass:** at least **{rules.total_min}** of {max_per_task * len(rules.tasks)} points in total, "
              "and at least the minimum of every task:", "", "| task | points | minimum |", "|---|---|---|"]
    lines += [f"| {t.title} (`{t.id}`) | {max_per_task} | {t.min} |" for t in rules.tasks]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- scores
@dataclass(frozen=True)
class TaskScore:
    id: str
    title: str
    score: float
    max: float
    min: int

    @property
    def left(self) -> float:
        """Points still missing to reach this task's minimum."""
        return max(0.0, self.min - self.score)


@dataclass
class CandidateStatus:
    """A candidate's standing, from the gradebook: for certificates and the dashboard."""

    student_id: str
    name: str
    graded: bool                               # the gradebook holds a graded submission of the exam
    submitted: dt.datetime | None = None       # its submission time (None when nbgrader recorded none)
    tasks: list[TaskScore] = field(default_factory=list)
    total_min: int = 0

    @property
    def total(self) -> float:
        return sum(t.score for t in self.tasks)

    @property
    def total_max(self) -> float:
        return sum(t.max for t in self.tasks)

    @property
    def passed(self) -> bool:
        return self.graded and not self.left()

    def left(self) -> list[str]:
        """What is left to pass, one line each (empty when passed)."""
        if not self.graded:
            return ["no graded submission of the exam yet"]
        out = [f"{t.title}: {t.score:g}/{t.max:g}, needs {t.min} (short by {t.left:g})" for t in self.tasks if t.left]
        if self.total < self.total_min:
            out.append(f"total {self.total:g}/{self.total_max:g}, needs {self.total_min} (short by "
                       f"{self.total_min - self.total:g})")
        return out


def candidate_status(student: str, gradebook: str | Path, rules: ExamRules | None = None) -> CandidateStatus:
    """Per-task scores of ``student``'s graded exam in the nbgrader ``gradebook`` (a task = a notebook)."""
    from nbgrader.api import Gradebook, MissingEntry

    rules = rules or load_rules()
    db = Path(gradebook)
    if not db.is_file():
        raise CertificateError(f"no gradebook at {db}: grade the exam first (`course grade {rules.exam}`), or pass "
                               "--course to the nbgrader course that holds it.")
    with Gradebook(f"sqlite:///{db}") as gb:
        try:
            s = gb.find_student(student)
        except MissingEntry:
            known = sorted(x.id for x in gb.students)
            raise CertificateError(f"{db} has no student {student!r} (students: {', '.join(known) or 'none'}).") from None
        name = " ".join(x for x in (s.first_name, s.last_name) if x) or student
        try:
            a = gb.find_assignment(rules.exam)
        except MissingEntry:
            raise CertificateError(f"{db} does not know the exam {rules.exam!r}: release and grade it first.") from None
        maxima = {nb.name: float(sum(c.max_score or 0 for c in nb.grade_cells)) for nb in a.notebooks}
        missing = [t.id for t in rules.tasks if t.id not in maxima]
        if missing:
            raise CertificateError(f"the exam in {db} has no notebook for task(s) {missing} of {rules.path}: the "
                                   "rules and the released exam disagree; release the exam again.")
        try:
            sub = gb.find_submission(rules.exam, student)
            got = {nb.name: float(sum(g.score or 0 for g in nb.grades)) for nb in sub.notebooks}
            graded, when = True, sub.timestamp
        except MissingEntry:
            got, graded, when = {}, False, None
    tasks = [TaskScore(t.id, t.title, got.get(t.id, 0.0), maxima[t.id], t.min) for t in rules.tasks]
    return CandidateStatus(student, name, graded, when, tasks, rules.total_min)


# ---------------------------------------------------------------------------------------------- keys
def default_key_dir() -> Path:
    """``COURSE_STATE``/certify (``~/.local/share/tf-course-kit/certify``): never inside the checkout."""
    return state_dir() / "certify"


def keygen(key_dir: str | Path | None = None) -> tuple[Path, Path]:
    """Create an Ed25519 key pair: ``instructor_ed25519.pem`` (mode 0600) and ``instructor_ed25519.pub``."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    d = Path(key_dir) if key_dir else default_key_dir()
    priv, pub = d / PRIVATE_NAME, d / PUBLIC_NAME
    for p in (priv, pub):
        if p.exists():
            raise CertificateError(f"{p} already exists: a new key pair would make every certificate signed with the "
                                   "old key unverifiable with the new public key. Move the old pair away first, or "
                                   "pass --key-dir for another folder.")
    d.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    fd = os.open(priv, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    os.chmod(priv, 0o600)                                  # whatever the umask
    pub.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo))
    return priv, pub


def _load_private(path: Path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    if not path.is_file():
        raise CertificateError(f"no private key at {path}: create one with `course certify keygen` (or pass --key-dir).")
    if path.stat().st_mode & 0o077:
        raise CertificateError(f"{path} is readable by other users (mode {oct(path.stat().st_mode & 0o777)}): "
                               f"run `chmod 600 {path}`.")
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise CertificateError(f"{path} is not an Ed25519 private key: create one with `course certify keygen`.")
    return key


def _load_public(path: Path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    if not path.is_file():
        raise CertificateError(f"no public key at {path}: ask the instructor for {PUBLIC_NAME} and pass it with "
                               "--public-key.")
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except ValueError as e:
        raise CertificateError(f"{path} is not a PEM public key ({e}).") from e
    if not isinstance(key, Ed25519PublicKey):
        raise CertificateError(f"{path} is not an Ed25519 public key.")
    return key


def key_id(public_key) -> str:
    """The first 16 hex digits of the SHA-256 of the raw public key."""
    from cryptography.hazmat.primitives import serialization

    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


# ---------------------------------------------------------------------------------------------- certificates
def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def canonical(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def code_for(signature: bytes) -> str:
    """The verification code: 16 base-32 characters of the signature's SHA-256, in groups of 4."""
    c = base64.b32encode(hashlib.sha256(signature).digest()).decode()[:16]
    return "TFCK-" + "-".join(c[i:i + 4] for i in range(0, 16, 4))


@dataclass(frozen=True)
class Certificate:
    payload: dict[str, Any]
    signature: bytes

    @property
    def code(self) -> str:
        return code_for(self.signature)

    def token(self) -> str:
        """The whole signed certificate in one line: ``TFCK1.<payload>.<signature>`` (base64url)."""
        return f"TFCK1.{_b64(canonical(self.payload))}.{_b64(self.signature)}"

    @classmethod
    def from_token(cls, token: str) -> "Certificate":
        try:
            tag, body, sig = token.strip().split(".")
            if tag != "TFCK1":
                raise ValueError(f"unknown prefix {tag!r}")
            return cls(json.loads(_unb64(body)), _unb64(sig))
        except (ValueError, json.JSONDecodeError) as e:
            raise VerificationFailed("format", f"not a certificate token ({e}).") from e

    def to_json(self) -> str:
        return json.dumps({"payload": self.payload, "signature": _b64(self.signature), "code": self.code,
                           "token": self.token()}, indent=1, sort_keys=True) + "\n"


def sign(payload: dict[str, Any], private_key_path: str | Path) -> Certificate:
    key = _load_private(Path(private_key_path))
    payload = {**payload, "key_id": key_id(key.public_key())}
    return Certificate(payload, key.sign(canonical(payload)))


def issue(student: str, gradebook: str | Path, private_key_path: str | Path, rules: ExamRules | None = None,
          issued: dt.date | None = None) -> Certificate:
    """A signed certificate (passed or not) for ``student``'s graded exam."""
    rules = rules or load_rules()
    st = candidate_status(student, gradebook, rules)
    if not st.graded:
        raise CertificateError(f"{student} has no graded submission of {rules.exam}: grade it first "
                               f"(`course grade {rules.exam}`).")
    payload = {
        "format": FORMAT, "student_id": st.student_id, "name": st.name,
        "exam": rules.exam, "exam_title": rules.title, "exam_version": rules.version,
        # nbgrader records the submission time when it collects (timestamp.txt); without one, the issue date
        "exam_date": (st.submitted.date() if st.submitted else issued or dt.date.today()).isoformat(),
        "issued": (issued or dt.date.today()).isoformat(),
        "tasks": [{"id": t.id, "title": t.title, "score": t.score, "max": t.max, "min": t.min} for t in st.tasks],
        "total": st.total, "total_max": st.total_max, "total_min": rules.total_min, "passed": st.passed,
    }
    return sign(payload, private_key_path)


def verify(cert: Certificate, public_key_path: str | Path) -> dict[str, Any]:
    """Check ``cert`` with the public key alone; returns its payload or raises :class:`VerificationFailed`.

    Checks, in order: ``format``, ``key`` (signed by this key pair), ``signature`` (no byte of the payload
    changed), ``pass rule`` (the stated result follows from the signed scores and minimums).
    """
    from cryptography.exceptions import InvalidSignature

    pub = _load_public(Path(public_key_path))
    p = cert.payload
    need = {"format", "student_id", "name", "exam_version", "exam_date", "issued", "tasks", "total", "total_min",
            "passed", "key_id"}
    if not isinstance(p, dict) or p.get("format") != FORMAT or need - set(p):
        raise VerificationFailed("format", f"not a {FORMAT} payload (missing {sorted(need - set(p or {}))}).")
    if p["key_id"] != key_id(pub):
        raise VerificationFailed("key", f"signed by key {p['key_id']}, but {public_key_path} is key {key_id(pub)}: "
                                        "use the public key of the instructor who issued it.")
    try:
        pub.verify(cert.signature, canonical(p))
    except InvalidSignature:
        raise VerificationFailed("signature", "the Ed25519 signature does not match the certificate's contents: a "
                                              "field (name, date, version, a score or the result) was edited after "
                                              "signing. This certificate is not genuine.") from None
    scores = {t["id"]: t["score"] for t in p["tasks"]}
    ok = all(t["score"] >= t["min"] for t in p["tasks"]) and sum(scores.values()) >= p["total_min"]
    if ok != p["passed"] or abs(sum(scores.values()) - p["total"]) > 1e-9:
        raise VerificationFailed("pass rule", "the stated total or result does not follow from the signed scores.")
    return p
