"""The grading engine behind ``course grade``: isolated, parallel, fault-tolerant nbgrader autograding.

    report = grade_assignment("a0_warmup", course=Path("assignments"), jobs=2)   # or scheduler="tcp://..."

Each submission is graded by real ``nbgrader autograde`` in a throwaway copy of the course (made from
the assignment's release: no other student, no hidden test source) inside a Dask worker, confined as
described in :mod:`course_lib.grading.engine.sandbox`; the rows come back to this process, which alone writes the
course's gradebook (:mod:`course_lib.grading.engine.writer`), the per-student feedback (:mod:`.feedback`) and
the CSV. Model quality is measured by a separate evaluator process (:mod:`.quality`).
"""
from .batch import BatchReport, grade_assignment, prepare_data
from .sandbox import Limits, network_isolation, require_sandbox, sandbox_status

__all__ = ["BatchReport", "grade_assignment", "prepare_data", "Limits", "network_isolation", "require_sandbox",
           "sandbox_status"]
