"""Export a Keras classifier for the device: SavedModel and four TFLite variants, each measured.

    table = export_all(model, "export/", data.test, representative=data.train)
    # variant, file, bytes, accuracy (tf.lite.Interpreter on the test split)

Variants are the precisions of :mod:`course_lib.conversion`: ``float32`` (plain conversion), ``dynamic_range``
(int8 weights, float activations), ``float16`` (float16 weights), ``int8`` (full-integer, calibrated on the
first images of ``representative``, uint8 in/out).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from .conversion import PRECISIONS, TFLiteConversion, convert
from .exceptions import ModelError
from .interpreter import tflite_accuracy

__all__ = ["VARIANTS", "ExportRow", "export_all"]

VARIANTS = ("float32", "dynamic_range", "float16", "int8")     # the precisions in the order the lesson shows them


@dataclass
class ExportRow:
    variant: str
    file: str
    bytes: int
    accuracy: float


def export_all(model, out_dir: str | Path, test, representative=None, variants: Iterable[str] = VARIANTS,
               limit: int | None = None, saved_model: bool = True,
               converted: dict[str, bytes] | None = None, representative_samples: int = 100) -> list[ExportRow]:
    """Write the SavedModel and each TFLite variant to ``out_dir``; measure size and test accuracy.

    ``representative`` (a tf.data set of (images, labels), e.g. the training split) calibrates ``int8`` on its
    first ``representative_samples`` images. ``converted`` maps a variant to bytes already converted
    (conversion of a large model takes a minute)."""
    from tqdm.auto import tqdm

    from .quantize import representative_dataset

    variants = list(variants)
    bad = [v for v in variants if v not in PRECISIONS]
    if bad:
        raise ModelError(f"Unknown TFLite variant {bad[0]!r}; choose one of {', '.join(VARIANTS)}.")
    if "int8" in variants and representative is None and "int8" not in (converted or {}):
        raise ModelError("Full-integer (int8) conversion needs a representative dataset: pass "
                         "representative=<a tf.data set of (images, labels)> (e.g. the training split).")
    rep = representative_dataset(representative, representative_samples) if representative is not None else None

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
    for variant in tqdm(variants, desc="export", unit="model"):
        content = (converted or {}).get(variant) or convert(model, TFLiteConversion.named(variant, representative=rep))
        path = out / f"model_{variant}.tflite"
        path.write_bytes(content)
        rows.append(ExportRow(variant, str(path), len(content), tflite_accuracy(content, test)))
    return rows
