"""The instructor's side of a hub course: release, collect, grade (the kit's engine), release feedback.

nbgrader's exchange commands run as the grader account (``runuser``), in the course folder, with the grader's
Jupyter config, exactly as the formgrader service runs them. Grading is ``course grade``'s engine: every
submission in its own sandbox (learner code never sees the course folder, the gradebook or hidden tests), one
writer into the course's gradebook; feedback HTML goes to ``feedback/<learner>/<assignment>/`` and nbgrader's
``release_feedback`` puts it in the exchange, where each learner's ``fetch_feedback`` finds their own only.
"""
from __future__ import annotations

import re
from pathlib import Path
from dataclasses import dataclass, field

from ..exceptions import HubError
from .accounts import chown_tree, run_as
from .hub_config import server_env
from .hub_state import HubState

__all__ = ["Collected", "as_grader", "release_assignment", "inbound", "collect", "grade", "release_feedback"]


def as_grader(state: HubState, *args: str, timeout: float = 1800) -> str:
    """``nbgrader ARGS`` as the grader account in the course folder; its output. Raises on failure."""
    s = state.settings()
    proc = run_as(s.grader, [s.python, "-m", "nbgrader", *args], cwd=state.course,
                  env=server_env(s, state, "grader"), timeout=timeout)
    out = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise HubError(f"`nbgrader {' '.join(args)}` as {s.grader} failed (exit {proc.returncode}):\n{out[-3000:]}",
                       "Fix what nbgrader says (an assignment name? see `course hub status`) and run it again.")
    return out


def release_assignment(state: HubState, assignment: str) -> str:
    """``generate_assignment`` (solutions and hidden tests removed) then ``release_assignment`` into the exchange."""
    s = state.settings()
    if not (state.course / "source" / assignment).is_dir():
        known = sorted(p.name for p in (state.course / "source").iterdir() if p.is_dir())
        raise HubError(f"no assignment {assignment!r} in the course ({state.course / 'source'})",
                       f"Known: {', '.join(known)}.")
    as_grader(state, "generate_assignment", assignment, "--force")
    return as_grader(state, "release_assignment", assignment, "--force")


@dataclass
class Collected:
    """What ``collect`` did: learners newly collected, those whose newer submission replaced the older one,
    and how many times each learner submitted (nbgrader keeps the newest)."""

    new: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    submissions: dict[str, int] = field(default_factory=dict)

    def lines(self) -> list[str]:
        out = [f"{u}: submitted {n} times; nbgrader keeps the newest"
               + (" (it replaced the one collected before)" if u in self.updated else "")
               for u, n in sorted(self.submissions.items()) if n > 1]
        return out + [f"collected: {', '.join(sorted(self.new)) or 'none new'}; updated: {', '.join(sorted(self.updated)) or 'none'}"]


def inbound(state: HubState, assignment: str) -> dict[str, list[str]]:
    """learner -> the timestamps of their submissions of ``assignment`` in the exchange, oldest first."""
    box = state.exchange / state.settings().course_id / "inbound"
    out: dict[str, list[str]] = {}
    for p in sorted(box.glob(f"*+{assignment}+*")) if box.is_dir() else []:
        learner, _, timestamp, *_ = p.name.split("+")
        out.setdefault(learner, []).append(timestamp)
    return {k: sorted(v) for k, v in out.items()}


def collect(state: HubState, assignment: str, students: list[str] | None = None) -> Collected:
    """``nbgrader collect --update``: each learner's newest submission into ``submitted/<learner>/<assignment>/``.

    ``students``: one learner collects only theirs (``--student``); several (nbgrader takes one name or a glob)
    collect everyone's newest, which grading then leaves alone unless they are among ``students``."""
    counts = {k: len(v) for k, v in inbound(state, assignment).items() if students is None or k in students}
    one = [f"--student={students[0]}"] if students and len(students) == 1 else []
    out = as_grader(state, "collect", assignment, "--update", *one)
    new = re.findall(rf"Collecting submission: (\S+) {re.escape(assignment)}", out)
    updated = re.findall(rf"Updating submission: (\S+) {re.escape(assignment)}", out)
    return Collected([u for u in new if u in counts], [u for u in updated if u in counts], dict(counts))


def release_feedback(state: HubState, assignment: str, students: list[str] | None = None) -> str:
    """``nbgrader release_feedback``: every learner's feedback, or only ``students``' (the others excluded)."""
    others = sorted(p.name for p in (state.course / "feedback").glob("*") if p.is_dir() and p.name not in students) \
        if students else []
    return as_grader(state, "release_feedback", assignment,
                     *([f"--CourseDirectory.student_id_exclude={','.join(others)}"] if others else []))


def grade(state: HubState, assignment: str, *, jobs: int = 2, regrade: bool = False,
          students: list[str] | None = None, progress=print):
    """Collect, grade new or changed submissions (all, or ``students``') with the engine, release their feedback."""
    from ..grading.engine import grade_assignment
    from ..grading.engine.quality import load_spec

    s = state.settings()
    got = collect(state, assignment, students)
    for line in got.lines():
        progress(line)
    spec = load_spec(assignment, Path(s.kit) / "assignments" / "grading.yaml")
    try:
        report = grade_assignment(assignment, state.course, jobs=jobs, regrade=regrade, quality=spec,
                                  students=students, progress=progress)
        for row in report.rows:        # the engine applied nbgrader's late policy (the course's nbgrader_config.py)
            late = row.late or {}
            if late.get("seconds_late", 0) > 0 and row.student in report.graded:
                progress(f"{row.student}: submitted {late['seconds_late']:.0f} s after the due date (nbgrader's "
                         f"late policy: penalty {s.late_penalty}, {late['penalty']:g} points)")
    finally:
        chown_tree(state.course, s.grader)         # the engine writes as root: the grader owns the course
    release_feedback(state, assignment, students)
    return report
