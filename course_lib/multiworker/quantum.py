"""TensorFlow Quantum against the kit's TensorFlow: which release would install, and why none does.

TFQ ships compiled TensorFlow ops, so each release works with exactly one TensorFlow minor version.
The releases below are every TFQ wheel PyPI offers for CPython 3.11 on Linux (``pip index versions
tensorflow-quantum``, checked 2026-12-06) with the TensorFlow their metadata requires.
"""
from __future__ import annotations

from dataclasses import dataclass
from importlib import metadata

__all__ = ["TFQ_RELEASES", "TFQStatus", "tfq_status"]

# release -> the TensorFlow it requires (wheel METADATA, Requires-Dist of the "and-tensorflow" extra)
TFQ_RELEASES = {"0.7.3": "tensorflow==2.15.0", "0.7.5": "tensorflow>=2.16,<2.17", "0.7.6": "tensorflow>=2.18,<2.19"}


@dataclass
class TFQStatus:
    tensorflow: str
    installed: str | None             # tensorflow-quantum's version if it is installed
    matching: list[str]               # releases whose TensorFlow requirement the installed TF meets
    nearest: str                      # the oldest release for CPython 3.11, the one closest to the kit's TF

    def explain(self) -> str:
        if self.matching:
            return f"TensorFlow Quantum {self.matching[0]} matches TensorFlow {self.tensorflow}."
        return (f"No TensorFlow Quantum release for Python 3.11 matches TensorFlow {self.tensorflow}: the oldest, "
                f"{self.nearest}, needs {TFQ_RELEASES[self.nearest]}. Moving the kit to TensorFlow 2.15 would "
                "break tflite-support's metadata writers (they need TensorFlow < 2.14), which lessons 1-5 use; "
                "so this lesson trains a classical model. The multi-worker mechanics (TF_CONFIG, "
                "MultiWorkerMirroredStrategy, Kubernetes) are the same for a TFQ model.")


def tfq_status() -> TFQStatus:
    from packaging.specifiers import SpecifierSet

    tf_version = metadata.version("tensorflow")
    try:
        installed = metadata.version("tensorflow-quantum")
    except metadata.PackageNotFoundError:
        installed = None
    matching = [r for r, req in TFQ_RELEASES.items()
                if tf_version in SpecifierSet(req.removeprefix("tensorflow"))]
    return TFQStatus(tf_version, installed, matching, min(TFQ_RELEASES, key=lambda v: tuple(map(int, v.split(".")))))
