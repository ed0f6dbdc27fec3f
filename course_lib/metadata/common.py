"""Shared by the metadata modules: the error, the detector's output names, reading a model."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from ..exceptions import ModelError
from ..images import open_rgb


DETECTOR_OUTPUTS = ("location", "category", "score", "number of detections")


class MetadataError(ModelError):
    """A model's metadata is missing or does not match the model (wrong normalisation, labels, outputs)."""


# ------------------------------------------------------------------------------------------ helpers
def model_bytes(model) -> bytes:
    if isinstance(model, (bytes, bytearray)):
        return bytes(model)
    p = Path(model)
    if not p.is_file():
        raise MetadataError(f"{p}: no such model file. Check the path (write the model with writer_utils.save_file).")
    return p.read_bytes()


def model_name(model) -> str:
    return "<model bytes>" if isinstance(model, (bytes, bytearray)) else str(model)


def interpreter_for(model):
    import tensorflow as tf

    try:
        it = tf.lite.Interpreter(model_content=model_bytes(model))
    except ValueError as e:
        raise MetadataError(f"{model_name(model)} is not a valid TFLite model ({e}).") from e
    it.allocate_tensors()
    return it


def label_list(labels: Sequence[str] | str | Path | None) -> list[str] | None:
    if labels is None or isinstance(labels, list) or isinstance(labels, tuple):
        return None if labels is None else list(labels)
    return [line for line in Path(labels).read_text().splitlines() if line.strip()]


def rgb_array(image) -> np.ndarray:
    if isinstance(image, np.ndarray):
        return np.ascontiguousarray(image.astype(np.uint8))
    return np.asarray(open_rgb(image), dtype=np.uint8)


def output_array(it, d) -> np.ndarray:
    x = it.get_tensor(d["index"])
    scale, zero = d["quantization"]
    return (x.astype(np.float32) - zero) * scale if scale else x.astype(np.float32)
