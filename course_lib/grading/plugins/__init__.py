"""Modules that register model-quality metrics and hidden-data builders with the grading engine
(listed in :data:`course_lib.grading.engine.metrics.PLUGINS`)."""
