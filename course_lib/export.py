"""Export a Keras classifier for the device: SavedModel and four TFLite variants, each measured.

    table = export_all(model, "export/", data.test, representative=data.train)
    # variant, file, bytes, accuracy (tf.lite.Interpreter on the test split)

Variants: ``float32`` (plain conversion), ``dynamic_range`` (int8 weights, float activations),
``float16`` (fp16 weights), ``int8`` (full-integer with a representative data set, uint8 in/out).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from .exceptions import ModelError

__all__ = ["VARIANTS", "convert", "tflite_accuracy", "ExportRow", "export_all"]

VARIANTS = ("float32", "dynamic_range", "float16", "int8")


def _representative(dataset, samples: int):
    """A generator of single float32 images for the int8 calibration."""
    def gen():
        n = 0
        for images, _ in dataset:
            for img in images:
                yield [np.expand_dims(np.asarray(img, dtype=np.float32), 0)]
                n += 1
                if n >= samples:
                    return
    return gen


def convert(model, variant: str, representative=None, representative_samples: int = 100) -> bytes:
    """Convert a Keras model to TFLite bytes; ``int8`` needs a (images, labels) dataset to calibrate on
    (it is :func:`course_lib.quantize.convert_int8`: int8 builtins, uint8 in and out)."""
    import tensorflow as tf

    from .quantize import convert_int8

    if variant not in VARIANTS:
        raise ModelError(f"Unknown TFLite variant {variant!r}; choose one of {', '.join(VARIANTS)}.")
    if variant == "int8":
        if representative is None:
            raise ModelError("Full-integer (int8) conversion needs a representative dataset: pass "
                             "representative=<a tf.data set of (images, labels)> (e.g. the training split).")
        return convert_int8(model, _representative(representative, representative_samples))
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if variant == "dynamic_range":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif variant == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    return converter.convert()


def tflite_accuracy(model: bytes | str | Path, dataset, limit: int | None = None) -> float:
    """Top-1 accuracy of a TFLite classifier on a (images, labels) dataset, in tf.lite.Interpreter
    (integer models get their input quantized and output dequantized: :class:`quantize.TFLiteModel`)."""
    from .quantize import TFLiteModel

    clf = TFLiteModel(model)
    correct = total = 0
    for images, labels in dataset:
        for img, lab in zip(images.numpy(), labels.numpy()):
            correct += int(clf.run(img)[0].argmax() == lab)
            total += 1
            if limit and total >= limit:
                return correct / total
    return correct / max(total, 1)


@dataclass
class ExportRow:
    variant: str
    file: str
    bytes: int
    accuracy: float


def export_all(model, out_dir: str | Path, test, representative=None, variants: Iterable[str] = VARIANTS,
               limit: int | None = None, saved_model: bool = True,
               converted: dict[str, bytes] | None = None) -> list[ExportRow]:
    """Write the SavedModel and each TFLite variant to ``out_dir``; measure size and test accuracy.

    ``converted`` maps a variant to bytes already converted (conversion of a large model takes a minute)."""
    from tqdm.auto import tqdm

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if limit:                                   # the same test images for every row
        test = test.unbatch().take(limit).batch(32)
    rows = []
    if saved_model:
        model.save(out / "saved_model")
        size = sum(p.stat().st_size for p in (out / "saved_model").rglob("*") if p.is_file())
        _, acc = model.evaluate(test, verbose=0)
        rows.append(ExportRow("keras (SavedModel)", str(out / "saved_model"), size, float(acc)))
    for variant in tqdm(list(variants), desc="export", unit="model"):
        content = (converted or {}).get(variant) or convert(model, variant, representative)
        path = out / f"model_{variant}.tflite"
        path.write_bytes(content)
        rows.append(ExportRow(variant, str(path), len(content), tflite_accuracy(content, test)))
    return rows
