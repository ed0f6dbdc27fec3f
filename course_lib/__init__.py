"""course_lib: the helper library behind the on-device TensorFlow course kit.

Modules (import the one you need; TensorFlow is only imported where it is used):
``registry`` data sets and models with checksums; ``handles`` TF Hub handles and offline stand-ins;
``notebooks`` papermill runs; ``grading`` the nbgrader chain; ``doctor`` environment checks.
"""
from .exceptions import (
    ChecksumMismatch,
    CourseError,
    DataError,
    ModelError,
    ResourceUnavailable,
    UnknownResource,
)

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "CourseError",
    "ChecksumMismatch",
    "DataError",
    "ModelError",
    "ResourceUnavailable",
    "UnknownResource",
]
