"""Running a ``.tflite`` in ``tf.lite.Interpreter``: float in, float out whatever its I/O types; accuracy, latency.

    m = TFLiteModel("model_int8.tflite")             # quantizes the input, dequantizes the outputs
    m.predict(x_test); m.latency_ms(x_test[0])
    tflite_accuracy("model.tflite", x_test, y_test)  # or tflite_accuracy(model, test_dataset) for (images, labels)
    io_quantization("model_int8.tflite")             # what the learner feeds: dtype, scale, zero point

The one interpreter wrapper of the kit (lessons 1, 4, 5, the cascade, the exam's quality checks).
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from .exceptions import ModelError

__all__ = ["TFLiteModel", "io_quantization", "tflite_accuracy"]


class TFLiteModel:
    """A ``tf.lite.Interpreter`` that takes float inputs and gives float outputs whatever its I/O types.

    ``predict`` quantizes the input with the model's own scale/zero point and dequantizes the output,
    one sample at a time (the batch is 1 for the Edge TPU). ``delegate`` is e.g. the Edge TPU delegate.
    """

    def __init__(self, model: str | Path | bytes, delegate: Any = None, num_threads: int = 2):
        import tensorflow as tf

        if isinstance(model, (str, Path)) and not Path(model).is_file():
            raise ModelError(f"{model}: no such .tflite file; write the converter's output there first.")
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

    def latency_ms(self, x: np.ndarray, runs: int = 20, warmup: int = 1) -> float:
        """Median wall time of one ``invoke`` on this machine (after ``warmup`` runs), batch 1, with the
        interpreter's default XNNPACK delegate (``num_threads`` threads)."""
        self.run(x)
        for _ in range(warmup - 1):
            self.interpreter.invoke()
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


def tflite_accuracy(model: str | Path | bytes, x, y=None, limit: int | None = None) -> float:
    """Top-1 accuracy of a TFLite classifier, one image at a time (integer models get their input quantized).

    ``x, y``: arrays of images and labels; or ``x`` alone: a data set of (images, labels) batches (a
    ``tf.data`` set). ``limit``: stop after that many images.
    """
    clf = TFLiteModel(model, num_threads=1)
    if y is not None:
        batches = [(np.asarray(x), np.asarray(y))]
    else:
        batches = ((np.asarray(images), np.asarray(labels)) for images, labels in x)
    correct = total = 0
    for images, labels in batches:
        for img, lab in zip(images, labels):
            correct += int(clf.run(img)[0].argmax() == lab)
            total += 1
            if limit and total >= limit:
                return correct / total
    return correct / max(total, 1)
