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

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from .conversion import TFLiteConversion, convert
from .exceptions import ModelError

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


class TFLiteModel:
    """A ``tf.lite.Interpreter`` that takes float inputs and gives float outputs whatever its I/O types.

    ``predict`` quantizes the input with the model's own scale/zero point and dequantizes the output,
    one sample at a time (the batch is 1 for the Edge TPU). ``delegate`` is e.g. the Edge TPU delegate.
    """

    def __init__(self, model: str | Path | bytes, delegate: Any = None, num_threads: int = 2):
        import tensorflow as tf

        content = Path(model).read_bytes() if isinstance(model, (str, Path)) else bytes(model)
        self.size_bytes = len(content)
        delegates = [delegate] if delegate is not None else None
        try:
            self.interpreter = tf.lite.Interpreter(model_content=content, experimental_delegates=delegates,
                                                   num_threads=num_threads)
        except ValueError as e:
            raise ModelError(f"tf.lite.Interpreter cannot load this model: {e}. Is it a .tflite file?") from e
        shape = self.interpreter.get_input_details()[0]["shape"]
        if shape[0] != 1:
            self.interpreter.resize_tensor_input(self.interpreter.get_input_details()[0]["index"], [1, *shape[1:]])
        self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]
        self.outputs = self.interpreter.get_output_details()

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.input["shape"])

    def _quantize(self, x: np.ndarray) -> np.ndarray:
        dtype = self.input["dtype"]
        if np.issubdtype(dtype, np.floating):
            return x.astype(dtype)
        scale, zp = self.input["quantization"]
        info = np.iinfo(dtype)
        return np.clip(np.round(x / scale + zp), info.min, info.max).astype(dtype)

    def _dequantize(self, detail: dict, y: np.ndarray) -> np.ndarray:
        if np.issubdtype(detail["dtype"], np.floating):
            return y.astype(np.float32)
        scale, zp = detail["quantization"]
        return (y.astype(np.float32) - zp) * scale

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        """All outputs (dequantized) for one sample ``x`` (with or without the batch axis)."""
        x = np.asarray(x, dtype=np.float32).reshape(self.input_shape)
        self.interpreter.set_tensor(self.input["index"], self._quantize(x))
        self.interpreter.invoke()
        return [self._dequantize(d, self.interpreter.get_tensor(d["index"])[0]) for d in self.outputs]

    def predict(self, xs: np.ndarray) -> np.ndarray:
        """The first output for every sample of ``xs`` (float)."""
        return np.stack([self.run(x)[0] for x in xs])

    def latency_ms(self, x: np.ndarray, runs: int = 20) -> float:
        """Median wall time of one ``invoke`` on this machine (after one warm-up)."""
        self.run(x)
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            self.interpreter.invoke()
            times.append(time.perf_counter() - t)
        return 1000 * float(np.median(times))


def io_quantization(model: str | Path | bytes) -> list[dict[str, Any]]:
    """Name, role, dtype, shape, scale and zero point of every input and output (what the learner feeds)."""
    m = TFLiteModel(model)
    rows = []
    for role, details in (("input", [m.input]), ("output", m.outputs)):
        for d in details:
            scale, zp = d["quantization"]
            rows.append({"role": role, "name": d["name"], "dtype": np.dtype(d["dtype"]).name,
                         "shape": [int(s) for s in d["shape_signature"]], "scale": float(scale),
                         "zero_point": int(zp)})
    return rows


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
