"""One TFLite conversion configuration for the whole kit, with a named constructor per precision.

    from course_lib.conversion import TFLiteConversion, convert
    convert(model, TFLiteConversion.float16())                          # float16 weights
    convert(model, TFLiteConversion.dynamic_range(sparse=True))         # int8 weights, sparse storage
    convert(model, TFLiteConversion.int8(representative))               # full integer, uint8 in and out
    convert(model, TFLiteConversion.named("float16", sparse=True))      # from a precision name (a loop, a parameter)

Precisions (one naming everywhere, as the file names say: ``model_float16.tflite``):
``float32`` (plain conversion), ``float16`` (float16 weights), ``dynamic_range`` (int8 weights, float
activations), ``int8`` (full integer: int8 builtins, calibrated on a representative data set; ``io_type``
uint8 / int8 / float32 for the input and output). ``sparse`` adds ``tf.lite.Optimize.EXPERIMENTAL_SPARSITY``
(pruned weights stored sparse; XNNPACK's sparse kernels are float only).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable, Iterator

from .exceptions import ModelError

__all__ = ["PRECISIONS", "TFLiteConversion", "convert"]

PRECISIONS = ("float32", "float16", "dynamic_range", "int8")

Representative = Callable[[], Iterator[list]]


@dataclass(frozen=True)
class TFLiteConversion:
    """How to convert a Keras model to TFLite; build it with a named constructor."""

    precision: str = "float32"
    sparse: bool = False
    representative: Representative | None = None     # int8: a function yielding ``[batch-1 float32 sample]``
    io_type: Any = "uint8"                            # int8: the input and output type

    def __post_init__(self):
        if self.precision not in PRECISIONS:
            raise ModelError(f"Unknown TFLite precision {self.precision!r}; choose one of {', '.join(PRECISIONS)}.")
        if self.precision == "int8" and self.representative is None:
            raise ModelError("Full-integer (int8) conversion needs a representative data set: pass "
                             "representative=<a function yielding [one float32 sample]> "
                             "(course_lib.quantize.representative_dataset(x_train) builds one).")

    @classmethod
    def float32(cls, sparse: bool = False) -> "TFLiteConversion":
        return cls("float32", sparse)

    @classmethod
    def float16(cls, sparse: bool = False) -> "TFLiteConversion":
        return cls("float16", sparse)

    @classmethod
    def dynamic_range(cls, sparse: bool = False) -> "TFLiteConversion":
        return cls("dynamic_range", sparse)

    @classmethod
    def int8(cls, representative: Representative, io_type: Any = "uint8", sparse: bool = False) -> "TFLiteConversion":
        return cls("int8", sparse, representative, io_type)

    @classmethod
    def named(cls, precision: str, sparse: bool = False, representative: Representative | None = None,
              io_type: Any = "uint8") -> "TFLiteConversion":
        """The conversion for a precision name (one of :data:`PRECISIONS`)."""
        return cls(precision, sparse, representative if precision == "int8" else None, io_type)

    def with_sparsity(self, sparse: bool = True) -> "TFLiteConversion":
        """The same conversion with (or without) ``EXPERIMENTAL_SPARSITY``."""
        return replace(self, sparse=sparse)


def convert(model, conversion: TFLiteConversion) -> bytes:
    """Convert a Keras model to TFLite bytes as ``conversion`` says."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    opts = [tf.lite.Optimize.EXPERIMENTAL_SPARSITY] if conversion.sparse else []
    if conversion.precision != "float32":
        opts.append(tf.lite.Optimize.DEFAULT)
    converter.optimizations = opts
    if conversion.precision == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if conversion.precision == "int8":
        converter.representative_dataset = conversion.representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        dtype = tf.as_dtype(conversion.io_type)
        if dtype != tf.float32:
            converter.inference_input_type = dtype
            converter.inference_output_type = dtype
    return converter.convert()
