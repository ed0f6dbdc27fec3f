"""``course samples``: release an assignment, grade its sample submissions with the grading engine
(:mod:`course_lib.grading.engine`: real nbgrader autograde per submission in a confined process, then model
quality on hidden data) and compare every sample's grades with its ``expected.yaml``."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..exceptions import GradingError
from ..paths import build_dir, repo_root
from .nbgrader_chain import export, prepare_course, release, submit_samples

__all__ = ["SampleGrade", "read_grades", "check_samples"]


@dataclass
class SampleGrade:
    student: str
    score: float
    max_score: float
    tests: dict[str, tuple[float, float]]          # grade_id -> (score, max), autograded cells only
    expected_failing: list[str] = field(default_factory=list)
    expected_score: float | None = None
    problems: list[str] = field(default_factory=list)
    status: str = "ok"                              # the grading engine's status of the submission
    quality: list[dict] = field(default_factory=list)   # its model-quality measurements
    manual: dict[str, float] = field(default_factory=dict)   # answers awaiting manual grading: grade_id -> max

    @property
    def failing(self) -> list[str]:
        return sorted(g for g, (s, m) in self.tests.items() if s < m)

    @property
    def ok(self) -> bool:
        return not self.problems


def read_grades(course: Path, assignment: str) -> dict[str, SampleGrade]:
    from nbgrader.api import Gradebook, MissingEntry

    out = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for student in gb.students:
            try:
                sub = gb.find_submission(assignment, student.id)
            except MissingEntry:
                continue
            tests, manual = {}, {}
            for nb in sub.notebooks:
                written = {c.name for c in nb.notebook.solution_cells}    # grade + solution: graded by hand
                for g in nb.grades:
                    if g.max_score and g.name in written and g.auto_score is None and g.manual_score is None:
                        manual[g.name] = float(g.max_score)      # left for the formgrader: not a failure
                    elif g.max_score:           # (a test cell of a crashed kernel also has no auto_score)
                        tests[g.name] = (float(g.score), float(g.max_score))
            out[student.id] = SampleGrade(student.id, float(sub.score), float(sub.max_score), tests, manual=manual)
    return out


def check_samples(assignment: str, course: Path | None = None, progress=print, jobs: int = 1) -> list[SampleGrade]:
    """Release ``assignment``, grade its samples with the grading engine (``course grade``: real nbgrader
    autograde, confined, then model quality from ``assignments/grading.yaml``), compare with expectations.

    ``expected.yaml`` maps each sample to ``failing: [grade ids]`` (optionally ``score``, and ``status`` when
    it is not ``ok``); a sample must lose exactly the points of the tests it is expected to fail. An answered
    manually graded cell (a "why" question) is left for the formgrader: its points are neither lost nor scored
    here; an unanswered one scores 0 (nbgrader: no response) and is listed as failing like a test.
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
        g.expected_score = g.max_score - sum(g.tests[t][1] for t in g.expected_failing if t in g.tests) \
            - sum(g.manual.values())
        if "score" in exp and float(exp["score"]) != g.expected_score:
            g.problems.append(f"expected.yaml says score {exp['score']} but its failing tests imply {g.expected_score}")
        if g.failing != g.expected_failing:
            g.problems.append(f"failing tests {g.failing}, expected {g.expected_failing}")
        partial = [t for t, (s, m) in g.tests.items() if 0 < s < m]
        if partial:
            g.problems.append(f"partial credit on {partial}: a broken test must lose all its points")
        if g.score != g.expected_score:
            g.problems.append(f"score {g.score}/{g.max_score}, expected {g.expected_score}")
        waiting = f" ({sum(g.manual.values()):g} to grade by hand)" if g.manual else ""
        progress(f"  {student:24} {g.score:g}/{g.max_score:g}{waiting}  " + ("OK" if g.ok else "; ".join(g.problems)))
        results.append(g)
    return results
