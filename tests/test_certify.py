"""`course certify`: real Ed25519 keys, a real nbgrader gradebook, certificates issued, verified and tampered with."""
from __future__ import annotations

import datetime as dt
import json
import shutil
import stat
from pathlib import Path

import pytest

from course_lib.exam import certificates as C
from course_lib.exam.certificate_files import read_certificate, verify_any, write_certificate
from course_lib.cli.main import main as course
from course_lib.exceptions import CertificateError, VerificationFailed

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "assignments" / "source" / "cert_exam" / "exam_rules.yaml"

# per-task scores (0-5) of three candidates, in the order of exam_rules.yaml's tasks
CANDIDATES = {
    "ada": ("Ada Lovelace", [5, 4, 4, 3, 5, 5, 5]),       # 31: passes
    "bob": ("Bob Builder", [5, 5, 5, 1, 5, 5, 5]),        # 31 but task 4 below its minimum: fails
    "cy": ("Cy Twombly", [2, 2, 2, 2, 2, 2, 2]),          # 14: every minimum met, total too low: fails
}


def make_gradebook(course: Path) -> Path:
    """An nbgrader course whose gradebook holds the exam (a notebook per task, 5 one-point cells each) and
    graded submissions of CANDIDATES, written with nbgrader's own API."""
    from nbgrader.api import Gradebook

    rules = C.load_rules(RULES)
    (course / "source" / "cert_exam").mkdir(parents=True)
    shutil.copy(RULES, course / "source" / "cert_exam" / "exam_rules.yaml")
    db = course / "gradebook.db"
    with Gradebook(f"sqlite:///{db}") as gb:
        gb.add_assignment("cert_exam")
        for t in rules.tasks:
            gb.add_notebook(t.id, "cert_exam")
            for q in range(1, 6):
                gb.add_grade_cell(f"{t.id}_q{q}", t.id, "cert_exam", max_score=1, cell_type="code")
        for sid, (name, scores) in CANDIDATES.items():
            first, last = name.split()
            gb.add_student(sid, first_name=first, last_name=last)
            gb.add_submission("cert_exam", sid, timestamp=dt.datetime(2026, 11, 20, 14, 30))
            for t, score in zip(rules.tasks, scores):
                for q in range(1, 6):
                    g = gb.find_grade(f"{t.id}_q{q}", t.id, "cert_exam", sid)
                    g.auto_score = 1.0 if q <= score else 0.0
            gb.db.commit()
        gb.add_student("dee", first_name="Dee", last_name="Absent")     # registered, never submitted
    return course


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    base = tmp_path_factory.mktemp("certify")
    course = make_gradebook(base / "course")
    priv, pub = C.keygen(base / "keys")
    return {"course": course, "db": course / "gradebook.db", "priv": priv, "pub": pub, "base": base,
            "rules": C.load_rules(course / "source" / "cert_exam" / "exam_rules.yaml")}


def test_keygen_private_key_is_0600_and_never_overwritten(setup):
    assert stat.S_IMODE(setup["priv"].stat().st_mode) == 0o600
    assert setup["priv"].read_text().startswith("-----BEGIN PRIVATE KEY-----")
    before = setup["priv"].read_bytes()
    with pytest.raises(CertificateError, match="already exists"):
        C.keygen(setup["priv"].parent)
    assert setup["priv"].read_bytes() == before


def test_rules_are_the_one_place_for_pass_rules(setup):
    r = setup["rules"]
    assert len(r.tasks) >= 7 and r.total_min > 0 and all(t.min >= 1 for t in r.tasks)
    md = C.rules_markdown(r)
    assert f"at least **{r.total_min}**" in md and all(t.id in md for t in r.tasks)


def test_issue_and_verify_a_passing_certificate(setup):
    cert = C.issue("ada", setup["db"], setup["priv"], setup["rules"], issued=dt.date(2026, 11, 27))
    p = cert.payload
    assert (p["name"], p["exam_date"], p["issued"], p["exam_version"]) == \
        ("Ada Lovelace", "2026-11-20", "2026-11-27", setup["rules"].version)
    assert [t["score"] for t in p["tasks"]] == [5, 4, 4, 3, 5, 5, 5] and p["total"] == 31 and p["passed"]
    paths = write_certificate(cert, setup["base"] / "out" / "ada")
    for f in paths.values():                                     # every file verifies on its own
        assert verify_any(str(f), setup["pub"])["name"] == "Ada Lovelace"
    assert paths["pdf"].read_bytes().startswith(b"%PDF")
    assert verify_any(cert.code, setup["pub"], register=setup["base"] / "out")["student_id"] == "ada"
    assert verify_any(cert.code.lower(), setup["pub"], register=setup["base"] / "out")["passed"]


@pytest.mark.parametrize("student, why", [("bob", "Text classification"), ("cy", "total 14/35")])
def test_certificate_of_a_failing_candidate_says_so(setup, student, why):
    cert = C.issue(student, setup["db"], setup["priv"], setup["rules"])
    assert cert.payload["passed"] is False
    paths = write_certificate(cert, setup["base"] / "out" / student)
    assert "NOT PASSED" in paths["html"].read_text()
    assert verify_any(str(paths["json"]), setup["pub"])["passed"] is False
    status = C.candidate_status(student, setup["db"], setup["rules"])
    assert any(why in line for line in status.left())


def _tampered_json(src: Path, dest: Path, edit) -> Path:
    d = json.loads(src.read_text())
    edit(d["payload"])
    cert = C.Certificate(d["payload"], read_certificate(src)[0].signature)   # same signature, edited payload
    d["token"] = cert.token()
    dest.write_text(json.dumps(d))
    return dest


@pytest.mark.parametrize("field, edit", [
    ("score", lambda p: p["tasks"][3].update(score=5)),
    ("name", lambda p: p.update(name="Mallory Lovelace")),
    ("date", lambda p: p.update(exam_date="2025-01-01")),
    ("result", lambda p: p.update(passed=True)),
])
def test_tampered_signed_payload_is_rejected(setup, field, edit):
    cert = C.issue("bob", setup["db"], setup["priv"], setup["rules"])
    paths = write_certificate(cert, setup["base"] / "tamper" / field)
    bad = _tampered_json(paths["json"], setup["base"] / "tamper" / f"{field}.json", edit)
    with pytest.raises(VerificationFailed) as e:
        verify_any(str(bad), setup["pub"])
    assert e.value.check == "signature" and "edited after signing" in str(e.value)


@pytest.mark.parametrize("field, old, new", [
    ("name", "Ada Lovelace", "Eve Lovelace"),
    ("exam_date", "2026-11-20", "2026-11-21"),
    ("task:task4_text", "3 / 5", "5 / 5"),
])
def test_edited_html_page_is_rejected_naming_the_field(setup, field, old, new):
    cert = C.issue("ada", setup["db"], setup["priv"], setup["rules"])
    page = write_certificate(cert, setup["base"] / "html" / field.replace(":", "_"))["html"]
    text = page.read_text()
    marker = f'data-field="{field}">{old}<'
    assert marker in text
    page.write_text(text.replace(marker, f'data-field="{field}">{new}<'))
    with pytest.raises(VerificationFailed) as e:
        verify_any(str(page), setup["pub"])
    assert e.value.check == "visible fields" and field in str(e.value)


def test_other_key_and_unknown_code_are_rejected(setup):
    cert = C.issue("ada", setup["db"], setup["priv"], setup["rules"])
    _, other_pub = C.keygen(setup["base"] / "other-keys")
    with pytest.raises(VerificationFailed) as e:
        C.verify(cert, other_pub)
    assert e.value.check == "key"
    with pytest.raises(VerificationFailed) as e:
        verify_any("TFCK-AAAA-BBBB-CCCC-DDDD", setup["pub"], register=setup["base"] / "out")
    assert e.value.check == "code"


def test_candidate_without_submission_gets_no_certificate(setup):
    with pytest.raises(CertificateError, match="no graded submission"):
        C.issue("dee", setup["db"], setup["priv"], setup["rules"])
    assert C.candidate_status("dee", setup["db"], setup["rules"]).left() == ["no graded submission of the exam yet"]
    with pytest.raises(CertificateError, match="students: ada, bob, cy, dee"):
        C.issue("nobody", setup["db"], setup["priv"], setup["rules"])


def test_cli_keygen_issue_verify_dashboard(setup, tmp_path, capsys):
    keys, out = tmp_path / "keys", tmp_path / "certs"
    assert course(["certify", "keygen", "--key-dir", str(keys)]) == 0
    assert course(["certify", "keygen", "--key-dir", str(keys)]) == 2             # refuses to overwrite
    assert "already exists" in capsys.readouterr().err
    common = ["--course", str(setup["course"]), "--key-dir", str(keys), "--out", str(out)]
    assert course(["certify", "ada", *common]) == 0
    code = capsys.readouterr().out.split("code ")[1].split()[0]
    assert course(["certify", "verify", str(out / "ada" / "certificate.pdf"), "--key-dir", str(keys)]) == 0
    assert course(["certify", "verify", code, "--key-dir", str(keys), "--register", str(out)]) == 0
    assert "VALID: Ada Lovelace" in capsys.readouterr().out
    page = out / "ada" / "certificate.html"
    page.write_text(page.read_text().replace(">Ada Lovelace<", ">Ada Byron<"))
    assert course(["certify", "verify", str(page), "--key-dir", str(keys)]) == 1
    assert "NOT VALID: check 'visible fields' failed: the page shows name" in capsys.readouterr().out
    assert course(["certify", "dashboard", *common]) == 0
    text = capsys.readouterr().out
    assert "left: Text classification" in text and "no graded submission" in text
    assert "Cy Twombly" in (out / "dashboard.html").read_text()


# ------------------------------------------------------------------ the real chain: samples graded by `course grade`
@pytest.fixture(scope="module")
def graded_samples(course_run):
    """The exam's samples as `course run` graded them (conftest.py, once per session): released, graded by the
    grading engine (nbgrader autograde in a sandbox, then each saved model measured on hidden data by the
    evaluator) and checked against expected.yaml."""
    import yaml

    from course_lib import grading

    proc, build, _ = course_run
    course = build / "nbgrader" / "cert_exam"
    expected = yaml.safe_load((ROOT / "assignments" / "samples" / "cert_exam" / "expected.yaml").read_text())
    return course, grading.read_grades(course, "cert_exam"), expected


@pytest.mark.slow
def test_samples_graded_by_the_engine_as_expected(graded_samples):
    _, grades, expected = graded_samples
    assert set(grades) == {"reference", "weak", "blank"}
    for s, g in grades.items():
        assert g.failing == sorted(expected[s].get("failing", [])), s
    assert grades["blank"].score == 0 and grades["weak"].score < grades["reference"].score


@pytest.mark.slow
def test_certificates_from_the_engine_gradebook(graded_samples, tmp_path):
    course, grades, _ = graded_samples
    priv, pub = C.keygen(tmp_path / "keys")
    rules = C.load_rules(RULES)
    ref = C.issue("reference", course / "gradebook.db", priv, rules)
    assert ref.payload["passed"] and ref.payload["total"] == grades["reference"].score
    weak = C.issue("weak", course / "gradebook.db", priv, rules)
    assert not weak.payload["passed"]
    paths = write_certificate(weak, tmp_path / "weak")
    assert verify_any(str(paths["html"]), pub)["passed"] is False and "NOT PASSED" in paths["html"].read_text()
    left = C.candidate_status("weak", course / "gradebook.db", rules).left()
    assert any("Transfer learning" in line for line in left), left


def test_rules_tasks_notebooks_and_grader_agree():
    """exam_rules.yaml's tasks are the exam's notebooks; each has five one-point hidden cells whose announced
    thresholds are the ones assignments/grading.yaml grades with."""
    import re

    from course_lib.grading.engine.quality import load_spec

    rules = C.load_rules(RULES)
    folder = RULES.parent
    assert sorted(t.id for t in rules.tasks) == sorted(p.stem for p in folder.glob("*.ipynb"))
    spec = {g: (e["metric"], float(v), e["model"][0]) for e in load_spec("cert_exam", ROOT / "assignments" /
                                                                          "grading.yaml")
            for g, v in e["thresholds"].items()}
    for t in rules.tasks:
        cells = [c for c in json.loads((folder / f"{t.id}.ipynb").read_text())["cells"]
                 if c["metadata"].get("nbgrader", {}).get("grade")]
        assert [c["metadata"]["nbgrader"]["points"] for c in cells] == [1] * 5
        for c in cells:
            gid, src = c["metadata"]["nbgrader"]["grade_id"], "".join(c["source"])
            metric, need, model = spec[gid]
            said = re.search(r"1 point at .* (?:≥|≤) ([0-9.]+)\)", src)
            assert said and float(said.group(1)) == need, f"{gid} announces {said and said.group(0)}, grader {need}"
            assert f'model_quality("{model}")' in src
