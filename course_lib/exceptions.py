"""Every error the kit raises on purpose. Each message names the thing and the fix.

    CourseError
     ├── ResourceError
     │    ├── UnknownResource        name not in datasets/manifest.yaml
     │    ├── ResourceUnavailable    offline (or every source failed) and not cached
     │    └── ChecksumMismatch       a downloaded or cached file is not the registered one
     ├── ProfileError               malformed ci/params/<profile>.yaml
     ├── DataError                  a corrupt image, a malformed annotation file
     ├── ModelError                 a model that is not what the lesson needs
     │    └── EdgeTPUCompileError   edgetpu_compiler failed, timed out or wrote no model
     ├── NotebookError              a notebook failed, hung or could not be read
     ├── GradingError               nbgrader chain or expected scores went wrong
     ├── CertificateError           exam rules, keys or gradebook entries for a certificate are missing or wrong
     │    └── VerificationFailed    a certificate failed a check (says which)
     └── EnvironmentProblem         a missing package, system library or CLI
"""
from __future__ import annotations

__all__ = [
    "CourseError",
    "ResourceError",
    "UnknownResource",
    "ResourceUnavailable",
    "ChecksumMismatch",
    "ProfileError",
    "DataError",
    "ModelError",
    "EdgeTPUCompileError",
    "NotebookError",
    "GradingError",
    "CertificateError",
    "VerificationFailed",
    "EnvironmentProblem",
]


class CourseError(Exception):
    """Base class: anything the kit reports to a learner or an instructor."""


class ResourceError(CourseError):
    """A registered data set or model could not be provided."""


class UnknownResource(ResourceError, KeyError):
    def __init__(self, name: str, known: list[str]):
        self.name = name
        super().__init__(
            f"No resource named {name!r} in datasets/manifest.yaml. "
            f"Known resources: {', '.join(sorted(known))}. Run `course data list` to see them."
        )

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return self.args[0]


class ResourceUnavailable(ResourceError):
    pass


class ChecksumMismatch(ResourceError):
    def __init__(self, path: str, expected: str, actual: str, fix: str):
        self.path, self.expected, self.actual = path, expected, actual
        super().__init__(
            f"Checksum mismatch for {path}: expected sha256 {expected}, got {actual}. "
            f"The file is not the registered one and was not used. {fix}"
        )


class ProfileError(CourseError):
    pass


class DataError(CourseError):
    pass


class ModelError(CourseError):
    pass


class EdgeTPUCompileError(ModelError):
    """``edgetpu_compiler`` failed, timed out or wrote no compiled model."""


class NotebookError(CourseError):
    pass


class GradingError(CourseError):
    pass


class EnvironmentProblem(CourseError):
    pass


class CertificateError(CourseError):
    """A certificate cannot be issued or read (rules, keys, gradebook)."""


class VerificationFailed(CertificateError):
    """A certificate failed verification; ``check`` names the check that failed."""

    def __init__(self, check: str, message: str):
        super().__init__(f"check '{check}' failed: {message}")
        self.check = check
