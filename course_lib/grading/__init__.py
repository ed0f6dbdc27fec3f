"""Grading: the nbgrader chain (:mod:`.nbgrader_chain`), the grading engine (:mod:`.engine`), the learner's
``course samples`` (:mod:`.samples`), the learner's
self-check (:mod:`.selfcheck`) and progress (:mod:`.progress`), quality plugins (:mod:`.plugins`).

The nbgrader chain's public names are re-exported here: assignment notebooks call
``from course_lib.grading import model_quality``.
"""
from .nbgrader_chain import (
    COURSE_ID,
    assignments,
    autograde,
    export,
    model_quality,
    nbgrader_env,
    prepare_course,
    release,
    run_nbgrader,
    submit_samples,
)
from .result import GradedResult, TestResult
from .samples import SampleCheck, check_samples, read_grades

__all__ = ["GradedResult", "TestResult", "SampleCheck", "assignments", "prepare_course", "release", "submit_samples", "autograde",
           "export", "read_grades", "check_samples", "model_quality", "COURSE_ID", "nbgrader_env", "run_nbgrader"]
