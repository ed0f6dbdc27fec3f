"""The nbgrader chain on a working copy of the course: release, submit samples, autograde, export.

``check_samples`` grades with the grading engine (:mod:`course_lib.grading.engine`), which runs nbgrader autograde
for each submission in a confined process and then measures saved models on hidden data.

The instructor's course is ``assignments/`` (``nbgrader_config.py`` at the repo root). The kit's own
checks work on a copy under ``build/nbgrader/`` so they never touch the instructor's gradebook:

    steps = [prepare_course, release, submit_samples, autograde, export]   # in this order:
    # release (generate_assignment) needs the source and the db entry; submissions are copies of
    # sample notebooks under submitted/<student>/<assignment>/; autograde reads the release's
    # checksums from the gradebook; export reads the gradebook only.

``check_samples`` runs the chain and compares every sample's grades with ``expected.yaml``.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..exceptions import GradingError
from ..paths import build_dir, repo_root

__all__ = ["SampleGrade", "assignments", "prepare_course", "release", "submit_samples", "autograde",
           "export", "read_grades", "check_samples", "model_quality", "COURSE_ID"]

COURSE_ID = "tf-on-device"


@dataclass
class SampleGrade:
    student: str
    score: float
    max_score: float
    tests: dict[str, tuple[float, float]]          # grade_id -> (score, max)
    expected_failing: list[str] = field(default_factory=list)
    expected_score: float | None = None
    problems: list[str] = field(default_factory=list)
    status: str = "ok"                              # the grading engine's status of the submission
    quality: list[dict] = field(default_factory=list)   # its model-quality measurements

    @property
    def failing(self) -> list[str]:
        return sorted(g for g, (s, m) in self.tests.items() if s < m)

    @property
    def ok(self) -> bool:
        return not self.problems


def assignments(root: Path | None = None) -> list[str]:
    root = root or repo_root()
    return sorted(p.name for p in (root / "assignments" / "source").iterdir() if p.is_dir())


def _env(course: Path | None = None) -> dict[str, str]:
    env = dict(os.environ)
    # nbgrader shells out to `alembic`, which lives beside this interpreter
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.setdefault("MPLBACKEND", "Agg")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("COURSE_OFFLINE", "1")
    if course is not None:
        # nbgrader fails a test cell on any stderr output: grading kernels start with library
        # warnings off (an IPython startup file that prepare_course copies into the course)
        env["IPYTHONDIR"] = str(course / ".ipython")
        env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    return env


def _nbgrader(course: Path, *args: str, timeout: int = 1800) -> str:
    cmd = [sys.executable, "-m", "nbgrader", *args]
    proc = subprocess.run(cmd, cwd=course, env=_env(course), capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise GradingError(f"`nbgrader {' '.join(args)}` failed in {course} (exit {proc.returncode}):\n"
                           + proc.stderr[-3000:])
    return proc.stdout + proc.stderr


def prepare_course(course: Path | None = None, cell_timeout: int = 600, source: Path | None = None) -> Path:
    """A fresh working copy of the course (sources only) with its own ``nbgrader_config.py``.

    ``source`` (default ``assignments/source``) is a folder of ``<assignment>/`` folders: a release
    folder makes a course whose gradebook holds only what learners were given (``course check``).
    """
    course = course or build_dir() / "nbgrader"
    if course.exists():
        shutil.rmtree(course)
    shutil.copytree(source or repo_root() / "assignments" / "source", course / "source")
    shutil.copytree(Path(__file__).parent / "ipython_profile", course / ".ipython")
    (course / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        f"c.CourseDirectory.course_id = {COURSE_ID!r}\n"
        "c.CourseDirectory.root = __import__('os').path.dirname(__file__)\n"
        f"c.Execute.timeout = {cell_timeout}\n"
        f"c.ExecutePreprocessor.timeout = {cell_timeout}\n"
        "c.ClearSolutions.code_stub = {'python': '# YOUR CODE HERE\\nraise NotImplementedError()'}\n")
    return course


def release(course: Path, assignment: str) -> Path:
    """``nbgrader generate_assignment``: solutions and hidden tests removed, checksums recorded."""
    _nbgrader(course, "db", "assignment", "add", assignment)
    _nbgrader(course, "generate_assignment", assignment, "--force")
    out = course / "release" / assignment
    if not out.is_dir():
        raise GradingError(f"generate_assignment wrote no {out}")
    return out


def submit_samples(course: Path, assignment: str) -> list[str]:
    """Copy each sample under ``assignments/samples/<assignment>/<student>/`` in as a submission."""
    samples = repo_root() / "assignments" / "samples" / assignment
    students = sorted(p.name for p in samples.iterdir() if p.is_dir())
    for student in students:
        dest = course / "submitted" / student / assignment
        if dest.exists():
            shutil.rmtree(dest)
        shutil.copytree(samples / student, dest)
        _nbgrader(course, "db", "student", "add", student)
    return students


def autograde(course: Path, assignment: str, timeout: int = 3600) -> str:
    return _nbgrader(course, "autograde", assignment, "--force", timeout=timeout)


def export(course: Path) -> Path:
    _nbgrader(course, "export", "--to", "grades.csv")
    return course / "grades.csv"


def read_grades(course: Path, assignment: str) -> dict[str, SampleGrade]:
    from nbgrader.api import Gradebook, MissingEntry

    out = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for student in gb.students:
            try:
                sub = gb.find_submission(assignment, student.id)
            except MissingEntry:
                continue
            tests = {}
            for nb in sub.notebooks:
                for g in nb.grades:
                    if g.max_score:
                        tests[g.name] = (float(g.score), float(g.max_score))
            out[student.id] = SampleGrade(student.id, float(sub.score), float(sub.max_score), tests)
    return out


def check_samples(assignment: str, course: Path | None = None, progress=print, jobs: int = 1) -> list[SampleGrade]:
    """Release ``assignment``, grade its samples with the grading engine (``course grade``: real nbgrader
    autograde, confined, then model quality from ``assignments/grading.yaml``), compare with expectations.

    ``expected.yaml`` maps each sample to ``failing: [grade ids]`` (optionally ``score``, and ``status`` when
    it is not ``ok``); a sample must lose exactly the points of the tests it is expected to fail.
    """
    from .engine import Limits, grade_assignment
    from .engine.quality import load_spec

    samples_dir = repo_root() / "assignments" / "samples" / assignment
    expected_file = samples_dir / "expected.yaml"
    if not expected_file.is_file():
        raise GradingError(f"{expected_file} is missing: every sample needs its expected failing tests.")
    expected = yaml.safe_load(expected_file.read_text()) or {}
    course = prepare_course(course or build_dir() / "nbgrader" / assignment)
    progress(f"{assignment}: generate_assignment")
    release(course, assignment)
    students = submit_samples(course, assignment)
    missing = sorted(set(students) - set(expected))
    if missing:
        raise GradingError(f"{expected_file}: no expectation for sample(s) {missing}.")
    progress(f"{assignment}: course grade {len(students)} samples ({', '.join(students)})")
    report = grade_assignment(assignment, course, jobs=jobs, limits=Limits(cell_timeout=600),
                              quality=load_spec(assignment, repo_root() / "assignments" / "grading.yaml"),
                              progress=progress)
    export(course)
    grades = read_grades(course, assignment)
    rows = {r["student"]: r for r in report.rows}
    results = []
    for student in students:
        g = grades.get(student)
        if g is None:
            raise GradingError(f"{assignment}/{student}: no submission in the gradebook after autograde.")
        exp = expected[student] or {}
        g.status, g.quality = rows[student]["status"], rows[student].get("quality") or []
        if g.status != exp.get("status", "ok"):
            g.problems.append(f"status {g.status!r}, expected {exp.get('status', 'ok')!r}: "
                              + "; ".join(i["detail"] for i in rows[student]["issues"])[:600])
        g.expected_failing = sorted(exp.get("failing", []))
        unknown = set(g.expected_failing) - set(g.tests)
        if unknown:
            g.problems.append(f"expected.yaml names unknown tests {sorted(unknown)}")
        g.expected_score = g.max_score - sum(g.tests[t][1] for t in g.expected_failing if t in g.tests)
        if "score" in exp and float(exp["score"]) != g.expected_score:
            g.problems.append(f"expected.yaml says score {exp['score']} but its failing tests imply {g.expected_score}")
        if g.failing != g.expected_failing:
            g.problems.append(f"failing tests {g.failing}, expected {g.expected_failing}")
        partial = [t for t, (s, m) in g.tests.items() if 0 < s < m]
        if partial:
            g.problems.append(f"partial credit on {partial}: a broken test must lose all its points")
        if g.score != g.expected_score:
            g.problems.append(f"score {g.score}/{g.max_score}, expected {g.expected_score}")
        progress(f"  {student:24} {g.score:g}/{g.max_score:g}  " + ("OK" if g.ok else "; ".join(g.problems)))
        results.append(g)
    return results


def model_quality(saved: str | Path) -> None:
    """The body of a hidden model-quality test cell; ``course grade``'s evaluator sets its points.

    Nothing is measured in the learner's kernel, where the held-out data is not readable: the grading
    engine measures ``saved`` afterwards in a separate process (``assignments/grading.yaml``). Here the
    cell checks that the model was saved, and fails under plain ``nbgrader autograde``, which cannot
    measure it.
    """
    if not Path(saved).exists():
        raise AssertionError(f"{saved} was not saved: 0 points for model quality.")
    if os.environ.get("COURSE_GRADE_ENGINE") != "1" and os.environ.get("COURSE_PROFILE"):
        print(f"{saved} saved (`course notebooks` runs the instructor's source: nothing is graded here).")
        return
    if os.environ.get("COURSE_GRADE_ENGINE") != "1":
        raise AssertionError(f"{saved} is graded by `course grade`, whose evaluator measures it on held-out data "
                             "outside this notebook; plain `nbgrader autograde` gives no points for model quality.")
    print(f"{saved} saved: the grader measures it on held-out data after this notebook has run.")
