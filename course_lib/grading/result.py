"""The one graded result: what the engine returns for a submission, the gradebook writer merges, feedback
shows, ``course samples`` and ``course run`` compare with expectations and ``course check`` presents.

    result = GradedResult("ada", "a0_warmup", tests={"test_x": TestResult("test_x", 2.0, 2.0)})
    result.score, result.max_score, result.failing, result.manual     # 2.0 2.0 [] {}
    GradedResult.from_dict(result.to_dict()) == result                # the JSON a batch keeps per student

A test's ``status`` says how it was scored: ``passed``/``failed`` (autograded), ``manual`` (an answered written
answer left for the formgrader: no score yet, counted 0), ``hidden`` (a hidden test not run in a self-check)
and ``not checked`` (a self-check stopped by the environment, not by the answer).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["TestResult", "Finding", "GradedResult", "pass_fail"]

SCORED = ("passed", "failed")


@dataclass
class TestResult:
    """One graded cell: a test, a model-quality placeholder or a written answer."""

    grade_id: str
    points: float
    score: float | None = None      # None: not scored here (hidden in a self-check, awaiting manual grading)
    status: str = "passed"          # passed | failed | manual | hidden | not checked
    cell: int | None = None         # 1-based position in the notebook (None: unknown or missing)
    section: str = ""               # the heading above it
    answer_cell: str | None = None  # the grade id of the answer cell it checks
    message: str | None = None      # the failing assertion, or why it was not checked

    __test__ = False                # not a pytest test class despite its name


def pass_fail(score: float, points: float) -> str:
    """``passed`` with full points, else ``failed`` (a broken test loses all its points)."""
    return "passed" if score >= points else "failed"


@dataclass
class Finding:
    """Something that happened while grading (``issues``: faults that cost points) or was reported to the
    instructor (``findings``: tampering, refused file access)."""

    kind: str
    detail: str
    trace: str | None = None

    @classmethod
    def of(cls, d: "Finding | dict[str, Any]") -> "Finding":
        if isinstance(d, Finding):
            return d
        return cls(str(d.get("kind", "")), str(d.get("detail", "")), d.get("trace"))


@dataclass
class GradedResult:
    """One student's graded submission of one assignment."""

    student: str
    assignment: str
    tests: dict[str, TestResult] = field(default_factory=dict)
    status: str = "ok"              # the engine's: ok, or the faults that happened, most severe first
    issues: list[Finding] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    quality: list[dict[str, Any]] = field(default_factory=list)   # each measured model: model, metric, value,
    digest: str = ""                                               # thresholds, source, sha256, note, audit
    seconds: float | None = None
    phases: dict[str, float] = field(default_factory=dict)   # where the seconds went (setup, kernel_start, ...)
    isolation: dict[str, Any] = field(default_factory=dict)
    late: dict[str, Any] | None = None      # timestamp, seconds_late, penalty (the course's late policy)
    autograded: dict[str, str] = field(default_factory=dict, repr=False, compare=False)  # notebook name -> text

    @property
    def score(self) -> float:
        """Points earned before any late penalty (written answers awaiting the formgrader count 0)."""
        return float(sum(t.score or 0.0 for t in self.tests.values()))

    @property
    def max_score(self) -> float:
        return float(sum(t.points for t in self.tests.values()))

    @property
    def manual(self) -> dict[str, float]:
        """Answers awaiting manual grading: grade id -> points."""
        return {g: t.points for g, t in self.tests.items() if t.status == "manual"}

    @property
    def failing(self) -> list[str]:
        return sorted(g for g, t in self.tests.items() if t.status == "failed")

    def scores(self) -> dict[str, tuple[float, float]]:
        """grade id -> (score, points) of every cell scored here (not the manual or hidden ones)."""
        return {g: (float(t.score or 0.0), t.points) for g, t in self.tests.items() if t.status in SCORED}

    def set_score(self, grade_id: str, score: float, points: float, message: str | None = None) -> None:
        """Score an autograded cell (a test, or a model-quality placeholder)."""
        self.tests[grade_id] = TestResult(grade_id, float(points), float(score), pass_fail(score, points),
                                          message=message)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (without the autograded notebooks), with score and max_score for readers of the file."""
        d = asdict(self)
        d.pop("autograded")
        d.update(score=self.score, max_score=self.max_score)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "GradedResult":
        """Read :meth:`to_dict`'s form, or the engine's older rows (``tests``: grade id -> [score, points],
        ``manual``: grade id -> points, ``messages``: grade id -> text), so a resumed batch reads both."""
        tests: dict[str, TestResult] = {}
        manual, messages = d.get("manual") or {}, d.get("messages") or {}
        for gid, t in (d.get("tests") or {}).items():
            if isinstance(t, dict):
                tests[gid] = TestResult(**t)
            else:                                           # the older [score, points]
                score, points = float(t[0]), float(t[1])
                tests[gid] = (TestResult(gid, points, None, "manual") if gid in manual else
                              TestResult(gid, points, score, pass_fail(score, points),
                                         message=messages.get(gid)))
        return cls(student=d["student"], assignment=d["assignment"], tests=tests, status=d.get("status", "ok"),
                   issues=[Finding.of(i) for i in d.get("issues") or []],
                   findings=[Finding.of(f) for f in d.get("findings") or []],
                   quality=list(d.get("quality") or []), digest=d.get("digest", ""), seconds=d.get("seconds"),
                   phases=dict(d.get("phases") or {}), isolation=dict(d.get("isolation") or {}), late=d.get("late"))
