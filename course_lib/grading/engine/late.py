"""Late submissions as plain ``nbgrader autograde`` treats them, applied by the writer to the course's gradebook.

The submission's ``timestamp.txt`` (written by ``nbgrader submit``/``collect``) becomes the submission's
timestamp; the gradebook then knows how late it is (the assignment's due date plus the learner's extension).
Each notebook of a late submission gets the penalty of the course's late-submission plugin
(``c.AssignLatePenalties.plugin_class`` in the course's nbgrader config, :func:`course_config`; default nbgrader's
``LateSubmissionPlugin``, ``c.LateSubmissionPlugin.penalty_method = 'zero' | 'none'``), from the notebook's
score and clamped to [0, that score], as nbgrader's ``AssignLatePenalties`` does after ``SaveAutoGrades``.
The plugin is the instructor's code: it runs here, in the writer, never in a learner's sandbox.
"""
from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

__all__ = ["submission_time", "course_config", "penalty_plugin", "assign_penalties"]


def submission_time(folder: Path) -> datetime | None:
    """The time in ``folder/timestamp.txt`` (nbgrader's format), or None without one (or an empty or
    unreadable one: nbgrader then grades it as on time too)."""
    from nbgrader.utils import parse_utc

    p = folder / "timestamp.txt"
    text = p.read_text(errors="replace").strip() if p.is_file() else ""
    try:
        return parse_utc(text) if text else None
    except ValueError:
        return None


def course_config(course: Path):
    """The nbgrader config instructors run ``course`` with, and the folder they run nbgrader in: the course
    folder's ``nbgrader_config.py``, else the one beside it whose ``CourseDirectory.root`` is the course (this
    kit's: the repository root's, for ``assignments/``); an empty config without either."""
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    for folder in (course, course.parent):
        if (folder / "nbgrader_config.py").is_file():
            config = PyFileConfigLoader("nbgrader_config.py", path=str(folder)).load_config()
            root = config.CourseDirectory.get("root") if "CourseDirectory" in config else None
            if folder == course or (root and Path(root).resolve() == course.resolve()):
                return config, folder
    return Config(), course


def penalty_plugin(course: Path):
    """The course's late-submission plugin, configured from its nbgrader config (a plugin named as
    ``module.Class`` is imported from the folder nbgrader runs in, as nbgrader run there would)."""
    from nbgrader.preprocessors import AssignLatePenalties

    config, folder = course_config(course)
    sys.path.insert(0, str(folder))
    try:
        pre = AssignLatePenalties(config=config)
        pre.init_plugin()
        return pre.plugin_inst
    finally:
        sys.path.remove(str(folder))


def assign_penalties(submission, plugin, student: str) -> float:
    """Set every notebook's ``late_submission_penalty`` of ``submission`` (a gradebook row whose grades are
    merged); the total penalty."""
    late = submission.total_seconds_late
    total = 0.0
    for nb in submission.notebooks:
        nb.late_submission_penalty = None                 # not late: no penalty (nbgrader resets it too)
        if late > 0:
            penalty = plugin.late_submission_penalty(student, nb.score, late)
            if penalty is not None:
                nb.late_submission_penalty = max(0.0, min(float(penalty), float(nb.score)))
                total += nb.late_submission_penalty
    return total
