"""TFLite metadata: write it, read it back, check it with the Task Library, strip it.

    >>> from course_lib import metadata
    >>> norm = metadata.normalization_for(keras_model)          # mean/std from the model's known preprocessing
    >>> metadata.write_classifier_metadata("m.tflite", ["cat", "dog"], "m_md.tflite", norm)
    >>> print(metadata.summarize("m_md.tflite"))                 # what the Task Library will read
    >>> report = metadata.verify_classifier("m_md.tflite", images, norm, ["cat", "dog"])
    >>> report.ok, report.problems                               # Task Library vs the kit's own pipeline

The metadata says how to turn pixels into the input tensor, ``input = (pixel - mean) / std``, and what the
outputs mean (labels, boxes). A wrong value is silent at run time: the Task Library happily returns wrong
labels. ``verify_*`` runs the model twice, once through the Task Library (which trusts the metadata) and once
through a plain ``tf.lite.Interpreter`` with what the kit knows to be right, and says what disagrees.

Modules: :mod:`.normalization` (mean/std), :mod:`.writing`, :mod:`.reading` (summaries, stripping, weights),
:mod:`.running` (Task Library and plain interpreter), :mod:`.checking` (static checks, the two pipelines
compared), :mod:`.detector_outputs` and :mod:`.common` (shared by them).
"""
from __future__ import annotations

from .common import DETECTOR_OUTPUTS, MetadataError
from .normalization import Normalization, normalization_for
from .reading import (
    MetadataSummary,
    WeightComparison,
    compare_weights,
    extract_files,
    packed_files,
    permute_outputs,
    strip_metadata,
    summarize,
)
from .writing import write_classifier_metadata, write_detector_metadata
from .running import Detection, classify_interpreter, classify_task, detect_interpreter, detect_task
from .checking import Agreement, check_metadata, verify_classifier, verify_detector

__all__ = ["MetadataError", "Normalization", "normalization_for", "write_classifier_metadata",
           "write_detector_metadata", "MetadataSummary", "summarize", "packed_files", "extract_files",
           "strip_metadata", "WeightComparison", "compare_weights", "permute_outputs", "Detection",
           "classify_task", "classify_interpreter", "detect_task", "detect_interpreter", "check_metadata",
           "Agreement", "verify_classifier", "verify_detector", "DETECTOR_OUTPUTS"]
