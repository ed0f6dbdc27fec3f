"""Late submissions as plain ``nbgrader autograde`` treats them, applied by the writer to the course's gradebook.

The submission's ``timestamp.txt`` (written by ``nbgrader submit``/``collect``) becomes the submission's
timestamp; the gradebook then knows how late it is (the assignment's due date plus the learner's extension).
Each notebook of a late submission gets the penalty of the course's late-submission plugin
(``c.AssignLatePenalties.plugin_class`` in the course's ``nbgrader_config.py``; default nbgrader's
``LateSubmissionPlugin``, ``c.LateSubmissionPlugin.penalty_method = 'zero' | 'none'``), from the notebook's
score and clamped to [0, that score], as nbgrader's ``AssignLatePenalties`` does after ``SaveAutoGrades``.
The plugin is the instructor's code: it runs here, in the writer, never in a learner's sandbox.
"""
from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

__all__ = ["submission_time", "penalty_plugin", "assign_penalties"]


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


def penalty_plugin(course: Path):
    """The course's late-submission plugin, configured from its ``nbgrader_config.py`` (a plugin named as
    ``module.Class`` is imported from the course folder, as nbgrader run there would)."""
    from nbgrader.preprocessors import AssignLatePenalties
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    config = Config()
    if (course / "nbgrader_config.py").is_file():
        config = PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()
    sys.path.insert(0, str(course))
    try:
        pre = AssignLatePenalties(config=config)
        pre.init_plugin()
        return pre.plugin_inst
    finally:
        sys.path.remove(str(course))


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
