"""``course certify``: key pair, certificates from the exam's gradebook, verification, the candidates' dashboard."""
from __future__ import annotations

from pathlib import Path

USAGE = """course certify keygen                      create the instructor's Ed25519 key pair
course certify STUDENT                     issue STUDENT's certificate (HTML, PDF, signed JSON)
course certify verify FILE|CODE            verify a certificate with the public key alone
course certify dashboard                   every candidate's per-task scores and what is left"""


def add_parser(sub) -> None:
    p = sub.add_parser(
        "certify", help="certification exam: keygen, issue a signed certificate, verify one, candidates' dashboard",
        description=USAGE + "\n\nPass rules: assignments/source/cert_exam/exam_rules.yaml. Exit 0: done (verify: "
                            "genuine); 1: verification failed; 2: usage or setup error.",
        formatter_class=__import__("argparse").RawDescriptionHelpFormatter)
    p.add_argument("target", help="keygen, verify, dashboard, or a student id")
    p.add_argument("what", nargs="?", help="for verify: a certificate file (.html, .pdf, .json) or a TFCK-… code")
    p.add_argument("--course", type=Path, help="the nbgrader course with gradebook.db (default: assignments/)")
    p.add_argument("--key-dir", type=Path, help="where the key pair lives (default: ~/.local/share/tf-course-kit/"
                                                "certify, or COURSE_STATE/certify)")
    p.add_argument("--public-key", type=Path, help="public key for verify (default: KEY_DIR/instructor_ed25519.pub)")
    p.add_argument("--out", type=Path, help="output folder (default: build/certificates/)")
    p.add_argument("--register", type=Path, help="for verify CODE: folder of issued certificates "
                                                 "(default: build/certificates/)")
    p.set_defaults(func=main)


def main(args) -> int:
    from ..exam.certificates import PUBLIC_NAME, default_key_dir, keygen
    from ..exceptions import CertificateError
    from ..paths import build_dir, repo_root

    key_dir = args.key_dir or default_key_dir()
    out = args.out or build_dir() / "certificates"
    course = (args.course or repo_root() / "assignments").resolve()
    if args.target == "keygen":
        priv, pub = keygen(key_dir)
        print(f"private key: {priv} (mode 0600; keep it secret, back it up)\npublic key:  {pub} (give it to anyone "
              "who verifies certificates)")
        return 0
    if args.target == "verify":
        if not args.what:
            raise CertificateError("usage: course certify verify FILE|CODE")
        return _verify(args.what, args.public_key or key_dir / PUBLIC_NAME, args.register or out)
    if args.target == "dashboard":
        return _dashboard(course, out)
    if args.what:
        raise CertificateError(f"unexpected argument {args.what!r}.\n{USAGE}")
    return _issue(args.target, course, key_dir, out)


def _issue(student: str, course: Path, key_dir: Path, out: Path) -> int:
    from ..exam.certificate_files import write_certificate
    from ..exam.certificates import PRIVATE_NAME, issue, load_rules, rules_path

    rules = load_rules(rules_path(course))
    cert = issue(student, course / "gradebook.db", key_dir / PRIVATE_NAME, rules)
    paths = write_certificate(cert, out / student)
    p = cert.payload
    print(f"{p['name']}: {'PASSED' if p['passed'] else 'NOT PASSED'}, {p['total']:g}/{p['total_max']:g} "
          f"(pass mark {p['total_min']}); code {cert.code}")
    for t in p["tasks"]:
        print(f"  {t['title']:62} {t['score']:g}/{t['max']:g}" + ("" if t["score"] >= t["min"] else
                                                                   f"  below the minimum {t['min']}"))
    print("written: " + ", ".join(str(x) for x in paths.values()))
    return 0


def _verify(target: str, public_key: Path, register: Path) -> int:
    from ..exam.certificate_files import verify_any
    from ..exceptions import VerificationFailed

    try:
        p = verify_any(target, public_key, register)
    except VerificationFailed as e:
        print(f"NOT VALID: {e}")
        return 1
    print(f"VALID: {p['name']} ({p['student_id']}), {p.get('exam_title', p['exam'])} v{p['exam_version']}, "
          f"submitted {p['exam_date']}, issued {p['issued']}: {'PASSED' if p['passed'] else 'NOT PASSED'} "
          f"{p['total']:g}/{p['total_max']:g}")
    for t in p["tasks"]:
        print(f"  {t['title']:62} {t['score']:g}/{t['max']:g}")
    return 0


def _dashboard(course: Path, out: Path) -> int:
    from nbgrader.api import Gradebook

    from ..exam.certificate_files import dashboard_html
    from ..exam.certificates import candidate_status, load_rules, rules_path
    from ..exceptions import CertificateError

    rules = load_rules(rules_path(course))
    db = course / "gradebook.db"
    if not db.is_file():
        raise CertificateError(f"no gradebook at {db}: grade the exam first (`course grade {rules.exam}`).")
    with Gradebook(f"sqlite:///{db}") as gb:
        students = sorted(s.id for s in gb.students)
    statuses = [candidate_status(s, db, rules) for s in students]
    for st in statuses:
        print(f"{st.student_id:24} {st.total:>4g}/{st.total_max:g}  {'passed' if st.passed else 'not passed'}  "
              + " ".join(f"{t.id.split('_')[0]}={t.score:g}" for t in st.tasks))
        for line in st.left():
            print(f"    left: {line}")
    out.mkdir(parents=True, exist_ok=True)
    path = out / "dashboard.html"
    path.write_text(dashboard_html(statuses, rules.title), encoding="utf-8")
    print(f"dashboard: {path}")
    return 0
