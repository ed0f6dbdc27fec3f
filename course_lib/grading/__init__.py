"""Grading: the nbgrader chain (:mod:`.nbgrader_chain`), the grading engine (:mod:`.engine`), the learner's
self-check (:mod:`.selfcheck`) and progress (:mod:`.progress`), quality plugins (:mod:`.plugins`).

The nbgrader chain's public names are re-exported here: assignment notebooks call
``from course_lib.grading import model_quality``.
"""
from .nbgrader_chain import (
    COURSE_ID,
    SampleGrade,
    assignments,
    autograde,
    check_samples,
    export,
    model_quality,
    prepare_course,
    read_grades,
    release,
    submit_samples,
)

__all__ = ["SampleGrade", "assignments", "prepare_course", "release", "submit_samples", "autograde",
           "export", "read_grades", "check_samples", "model_quality", "COURSE_ID"]
