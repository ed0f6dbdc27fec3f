"""course_lib: the helper library behind the on-device TensorFlow course kit.

Packages by audience (import the module you need; TensorFlow is only imported where it is used):
``resources`` data sets and models with checksums, TF Hub handles, the resource builders; ``grading`` the
nbgrader chain, the grading engine, self-check and progress; ``exam`` the certification exam and its
certificates; ``course`` course operations (``course run``, the notebook runner, doctor, lab); ``cli`` the
``course`` command. The lesson modules (``hub``, ``detection``, ``metadata``, ``pruning``, ...) sit at the top.

Modules that moved into a package keep their old name for the notebooks that import it
(``from course_lib import registry`` is :mod:`course_lib.resources.registry`): see ``MOVED``.
"""
import importlib
import importlib.abc
import importlib.machinery
import sys

from .exceptions import (
    ChecksumMismatch,
    CourseError,
    DataError,
    ModelError,
    ResourceUnavailable,
    UnknownResource,
)

__version__ = "0.1.0"

MOVED = {   # old module name -> where it lives now (notebooks and assignment notebooks import the old names)
    "registry": "resources.registry",
    "handles": "resources.handles",
    "standins": "resources.standins",
    "kit_models": "resources.kit_models",
    "progress": "grading.progress",
    "selfcheck": "grading.selfcheck",
    "doctor": "course.doctor",
    "exam_data": "exam.data",
    "certificates": "exam.certificates",
}


class _MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports ``course_lib.<old>`` as the module it moved to (the same module object, not a copy)."""

    def __init__(self) -> None:
        self.specs: dict[str, importlib.machinery.ModuleSpec] = {}

    def find_spec(self, fullname, path=None, target=None):
        pkg, _, name = fullname.partition(".")
        if pkg != __name__ or name not in MOVED:
            return None
        return importlib.machinery.ModuleSpec(fullname, self)

    def create_module(self, spec):
        module = importlib.import_module(f"{__name__}.{MOVED[spec.name.partition('.')[2]]}")
        self.specs[module.__name__] = module.__spec__
        return module

    def exec_module(self, module):
        module.__spec__ = self.specs[module.__name__]   # the import system gave it the old name's spec


if not any(isinstance(f, _MovedModules) for f in sys.meta_path):
    sys.meta_path.append(_MovedModules())

__all__ = [
    "__version__",
    "MOVED",
    "CourseError",
    "ChecksumMismatch",
    "DataError",
    "ModelError",
    "ResourceUnavailable",
    "UnknownResource",
]
