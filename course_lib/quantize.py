"""Full-integer post-training quantization and what it costs: float vs int8, side by side.

    >>> from course_lib import quantize
    >>> rep = quantize.representative_dataset(x_train, n=100)          # a tf.data set, batch 1
    >>> tflite = quantize.convert_int8(quantize.with_batch_one(model), rep)   # uint8 in, uint8 out
    >>> cmp = quantize.compare(model, tflite, x_test, y_test, class_names)
    >>> print(cmp.summary()); cmp.per_class

The lesson notebook writes the converter calls itself; :func:`convert_int8` is the same recipe in one call
(:class:`course_lib.conversion.TFLiteConversion`'s ``int8``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from .conversion import TFLiteConversion, convert
from .exceptions import ModelError
from .interpreter import TFLiteModel, io_quantization  # noqa: F401 (notebook 05 and a5 call quantize.TFLiteModel)

__all__ = ["representative_dataset", "with_batch_one", "convert_int8", "TFLiteModel", "Comparison", "compare",
           "io_quantization"]


def representative_dataset(images, n: int = 100, seed: int = 0) -> Callable[[], Iterator[list]]:
    """A ``representative_dataset`` for the converter: ``n`` float32 samples of ``images``, batch 1.

    ``images``: an array (shuffled with ``seed`` on ``tf.data``, then ``n`` taken) or a ``tf.data`` set of
    (images, labels) batches (its first ``n`` images, in order). Each call of the returned function yields
    ``[array of shape (1, *image_shape)]``, as the converter expects.
    """
    import tensorflow as tf

    if isinstance(images, tf.data.Dataset):
        ds = images.unbatch().map(lambda img, _: tf.cast(img, tf.float32)).take(n).batch(1)
    else:
        images = np.asarray(images, dtype=np.float32)
        if len(images) == 0:
            raise ModelError("representative_dataset: no images given; pass ~100 training images.")
        ds = tf.data.Dataset.from_tensor_slices(images).shuffle(len(images), seed=seed).take(n).batch(1)

    def gen():
        for batch in ds:
            yield [batch.numpy()]
    return gen


def with_batch_one(model):
    """The same Keras model (shared weights) with its batch fixed to 1, as the Edge TPU needs static shapes."""
    import tensorflow as tf

    inp = tf.keras.Input(model.input_shape[1:], batch_size=1, name="image")
    return tf.keras.Model(inp, model(inp, training=False), name=f"{model.name}_batch1")


def convert_int8(model, representative: Callable[[], Iterator[list]], io_type: Any = "uint8") -> bytes:
    """Full-integer PTQ: int8 builtins only, ``io_type`` (uint8/int8/float32) input and output.

    A thin alias kept for a5's released cells: it is
    ``conversion.convert(model, conversion.TFLiteConversion.int8(representative, io_type))``."""
    return convert(model, TFLiteConversion.int8(representative, io_type))


@dataclass
class Comparison:
    """Float (Keras) vs int8 (TFLite) on the same test samples."""

    float_accuracy: float
    int8_accuracy: float
    agreement: float                        # share of samples where both predict the same class
    per_class: list[dict[str, Any]] = field(default_factory=list)
    float_size_bytes: int | None = None
    int8_size_bytes: int = 0
    float_latency_ms: float | None = None
    int8_latency_ms: float = 0.0
    n: int = 0

    def summary(self) -> str:
        size = (f"size {self.float_size_bytes / 1e6:.2f} MB -> {self.int8_size_bytes / 1e6:.2f} MB"
                if self.float_size_bytes else f"int8 size {self.int8_size_bytes / 1e6:.2f} MB")
        lat = (f"; latency {self.float_latency_ms:.2f} -> {self.int8_latency_ms:.2f} ms"
               if self.float_latency_ms is not None else f"; int8 latency {self.int8_latency_ms:.2f} ms")
        return (f"{self.n} test samples: float accuracy {self.float_accuracy:.3f}, int8 {self.int8_accuracy:.3f} "
                f"(agreement {self.agreement:.3f}); {size}{lat}")


def compare(keras_model, int8_model: str | Path | bytes, x: np.ndarray, y: np.ndarray,
            class_names: list[str] | None = None, float_tflite: bytes | None = None) -> Comparison:
    """Accuracy of the Keras model and of its int8 ``.tflite`` on ``x, y``, per class too.

    ``float_tflite`` (the float32 conversion) adds its size and interpreter latency for comparison.
    """
    int8 = TFLiteModel(int8_model)
    p_float = np.asarray(keras_model.predict(x, verbose=0)).argmax(-1)
    p_int8 = int8.predict(x).argmax(-1)
    y = np.asarray(y)
    names = class_names or [str(c) for c in range(int(max(y.max(), p_float.max(), p_int8.max())) + 1)]
    per_class = []
    for c, name in enumerate(names):
        sel = y == c
        if sel.any():
            per_class.append({"class": name, "n": int(sel.sum()), "float_accuracy": float((p_float[sel] == c).mean()),
                              "int8_accuracy": float((p_int8[sel] == c).mean()),
                              "agreement": float((p_float[sel] == p_int8[sel]).mean())})
    out = Comparison(float((p_float == y).mean()), float((p_int8 == y).mean()), float((p_float == p_int8).mean()),
                     per_class, int8_size_bytes=int8.size_bytes, int8_latency_ms=int8.latency_ms(x[0]), n=len(y))
    if float_tflite is not None:
        f32 = TFLiteModel(float_tflite)
        out.float_size_bytes, out.float_latency_ms = f32.size_bytes, f32.latency_ms(x[0])
    return out
