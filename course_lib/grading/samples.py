"""``course samples``: release an assignment, grade its sample submissions with the grading engine
(:mod:`course_lib.grading.engine`: real nbgrader autograde per submission in a confined process, then model
quality on hidden data) and compare every sample's grades with its ``expected.yaml``."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..exceptions import GradingError
from ..paths import build_dir, repo_root
from .nbgrader_chain import prepare_course, release, submit_samples
from .result import GradedResult, TestResult

__all__ = ["SampleCheck", "read_grades", "check_samples"]


@dataclass
class SampleCheck:
    """A sample's graded result compared with its ``expected.yaml`` entry."""

    result: GradedResult
    expected_failing: list[str] = field(default_factory=list)
    expected_score: float | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def student(self) -> str:
        return self.result.student

    @property
    def score(self) -> float:
        return self.result.score

    @property
    def max_score(self) -> float:
        return self.result.max_score

    @property
    def failing(self) -> list[str]:
        return self.result.failing

    @property
    def ok(self) -> bool:
        return not self.problems


def read_grades(course: Path, assignment: str) -> dict[str, GradedResult]:
    """Every student's submission of ``assignment`` as the course's gradebook holds it (the formgrader's view:
    a written answer not graded by hand yet is ``manual``; a test cell of a crashed kernel is ``failed``)."""
    from nbgrader.api import Gradebook, MissingEntry

    out = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for student in gb.students:
            try:
                sub = gb.find_submission(assignment, student.id)
            except MissingEntry:
                continue
            result = GradedResult(student.id, assignment)
            for nb in sub.notebooks:
                written = {c.name for c in nb.notebook.solution_cells}    # grade + solution: graded by hand
                for g in nb.grades:
                    if g.max_score and g.name in written and g.auto_score is None and g.manual_score is None:
                        result.tests[g.name] = TestResult(g.name, float(g.max_score), None, "manual")
                    elif g.max_score:           # (a test cell of a crashed kernel also has no auto_score)
                        result.set_score(g.name, float(g.score), float(g.max_score))
            out[student.id] = result
    return out


def check_samples(assignment: str, course: Path | None = None, progress=print, jobs: int = 1) -> list[SampleCheck]:
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
    release(course, assignment)
    students = submit_samples(course, assignment)
    missing = sorted(set(students) - set(expected))
    if missing:
        raise GradingError(f"{expected_file}: no expectation for sample(s) {missing}.")
    progress(f"{assignment}: released (nbgrader generate_assignment); grading {len(students)} samples "
             f"({', '.join(students)})")
    report = grade_assignment(assignment, course, jobs=jobs, limits=Limits(cell_timeout=600),
                              quality=load_spec(assignment, repo_root() / "assignments" / "grading.yaml"),
                              progress=progress)
    rows = {r.student: r for r in report.rows}      # the engine's results, as merged into the gradebook
    results = []
    for student in students:
        if student not in rows:
            raise GradingError(f"{assignment}/{student}: the grading engine returned no result for it.")
        g = compare(rows[student], expected[student] or {})
        if not g.ok:
            progress(f"  {student}: " + "; ".join(g.problems))
        results.append(g)
    good = sum(g.ok for g in results)
    progress(f"{assignment}: {good} of {len(results)} samples graded as expected.yaml says"
             + ("" if good == len(results) else " (see above)"))
    return results


def compare(r: GradedResult, exp: dict) -> SampleCheck:
    """``r`` against its expectation: ``failing`` tests (a sample loses exactly their points), optional
    ``score`` and ``status`` (default ``ok``)."""
    g = SampleCheck(r, expected_failing=sorted(exp.get("failing", [])))
    if r.status != exp.get("status", "ok"):
        g.problems.append(f"status {r.status!r}, expected {exp.get('status', 'ok')!r}: "
                          + "; ".join(i.detail for i in r.issues)[:600])
    unknown = set(g.expected_failing) - set(r.tests)
    if unknown:
        g.problems.append(f"expected.yaml names unknown tests {sorted(unknown)}")
    g.expected_score = r.max_score - sum(r.tests[t].points for t in g.expected_failing if t in r.tests) \
        - sum(r.manual.values())
    if "score" in exp and float(exp["score"]) != g.expected_score:
        g.problems.append(f"expected.yaml says score {exp['score']} but its failing tests imply {g.expected_score}")
    if r.failing != g.expected_failing:
        g.problems.append(f"failing tests {r.failing}, expected {g.expected_failing}")
    partial = [t for t, (s, m) in r.scores().items() if 0 < s < m]
    if partial:
        g.problems.append(f"partial credit on {partial}: a broken test must lose all its points")
    if r.score != g.expected_score:
        g.problems.append(f"score {r.score}/{r.max_score}, expected {g.expected_score}")
    return g
