"""Per-op rules: can the Edge TPU compiler map this op, on its own (before the partition)?

Checked in the compiler's order: data types, the op, its version, tensor rank, then the op's own limits.
Sources: Coral's "TensorFlow models on the Edge TPU" (https://coral.ai/docs/edgetpu/models-intro/, the
supported-operations table), the 9 real pairs in ``shared/fixtures/edgetpu/corpus`` (google-coral/test_data)
and the issues and public logs named at each rule.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .graph import TensorInfo, TFLiteGraph
from .status import DATA_TYPE, NOT_SUPPORTED, RANK, UNSPECIFIED, VERSION

__all__ = ["Problem", "SUPPORTED", "MAX_VERSION", "LARGE_ELEMENTS", "supported_ops", "check_op"]

# Coral's supported-operations table. TILE is missing from the table but the compiler maps it: Coral's own
# deeplab_mobilenet_edgetpu_slim_cityscapes_quant (corpus) has its TILE inside the edgetpu-custom-op.
SUPPORTED = frozenset({
    "ADD", "AVERAGE_POOL_2D", "CONCATENATION", "CONV_2D", "DEPTHWISE_CONV_2D", "EXPAND_DIMS", "FULLY_CONNECTED",
    "L2_NORMALIZATION", "LOGISTIC", "LSTM", "UNIDIRECTIONAL_SEQUENCE_LSTM", "MAXIMUM", "MAX_POOL_2D", "MEAN",
    "MINIMUM", "MUL", "PACK", "PAD", "PRELU", "QUANTIZE", "REDUCE_MAX", "REDUCE_MIN", "RELU", "RELU6",
    "RELU_N1_TO_1", "RESHAPE", "RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR", "RSQRT", "SLICE", "SOFTMAX",
    "SPACE_TO_DEPTH", "SPLIT", "SQUARED_DIFFERENCE", "SQUEEZE", "STRIDED_SLICE", "SUB", "SUM", "TANH", "TILE",
    "TRANSPOSE", "TRANSPOSE_CONV",
})
# Compiler 15 (runtime 13) reports TRANSPOSE as "Operation not supported" (google-coral/edgetpu#342, March
# 2021, 70 TRANSPOSE ops); Coral's table lists Transpose for runtime 14, the runtime compiler 16 targets.
_NOT_IN = {15: frozenset({"TRANSPOSE"}), 16: frozenset()}

# Op versions the compiler's TFLite cannot read: it refuses the model ("Didn't find op for builtin opcode
# 'CONV_2D' version '6'", edgetpu#631; 'QUANTIZE' version '3', edgetpu#879; both 16.0). RESIZE_* v3
# (half_pixel_centers) is NOT refused: MoveNet's three RESIZE_BILINEAR v3 are mapped (corpus).
MAX_VERSION = {"CONV_2D": 5, "QUANTIZE": 2}

# "might not be mapped for large tensor sizes" (Coral's table: Reshape, and the Resize ops "to avoid loss in
# precision"). The compiler's limit is not published. Measured bounds for RESIZE_BILINEAR: 128x128x32 output
# maps and 512x512x32 does not (edgetpu#31); 513x513x19 and 513x513x21 do not (corpus DeepLabs). The kit
# flags above 1 Mi elements; ops below it are never flagged for size.
LARGE_ELEMENTS = 1 << 20
_LARGE_OPS = {"RESHAPE", "TRANSPOSE", "CONCATENATION", "STRIDED_SLICE", "LOGISTIC", "RESIZE_BILINEAR",
              "RESIZE_NEAREST_NEIGHBOR"}
_INT8 = {"INT8", "UINT8"}
_LSTM = {"LSTM", "UNIDIRECTIONAL_SEQUENCE_LSTM"}
FULL_INT8 = ("full-integer quantization: `converter.optimizations = [tf.lite.Optimize.DEFAULT]`, a "
             "`representative_dataset` and `supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]`")


@dataclass(frozen=True)
class Problem:
    """Why one op cannot map, and a fix. ``when`` says when the fix is worth showing: ``"always"``; ``"island"``
    when an op that could map is reached from this one through CPU ops only (a float island left by the
    converter: replacing the layer removes the whole island); ``"feeds"`` when an op that could map reads this
    op's output directly. For both, only if a conv, dense or LSTM op would come back to the Edge TPU
    (post-processing at the end of a model runs fine on the CPU: MoveNet's decoder in the corpus).
    """

    status: str
    reason: str
    fix: str = ""
    when: str = "always"


def supported_ops(compiler: int) -> frozenset[str]:
    """The op types compiler ``compiler`` (15 or 16) can map."""
    return SUPPORTED - _NOT_IN[compiler]


def _dtype(g: TFLiteGraph, k: int, name: str, ins: list[TensorInfo], outs: list[TensorInfo]) -> Problem | None:
    at_input = any(i in g.graph_inputs for i in g.inputs(k))
    at_output = any(i in g.graph_outputs for i in g.outputs(k))
    if name == "QUANTIZE" and ins and ins[0].dtype.startswith("FLOAT"):
        # a float->int8 QUANTIZE is "otherwise supported" but stays on the CPU, and ops after it still map
        # (nrf20 mnist4 log and edgetpu#342, compiler 15; MoveNet's input QUANTIZE in the corpus)
        if at_input:
            return Problem(UNSPECIFIED, f"quantizes the float input {ins[0].name!r} on the CPU",
                           "set `converter.inference_input_type = tf.uint8` (or tf.int8)")
        return Problem(UNSPECIFIED, f"re-quantizes the float tensor {ins[0].name!r} left by the op before it",
                       "replace the float op before it with one that has an int8 kernel", when="island")
    if name == "DEQUANTIZE":
        if at_output:
            return Problem(DATA_TYPE, f"float output {outs[0].name!r} is dequantized on the CPU",
                           "set `converter.inference_output_type = tf.uint8` (or tf.int8)")
        return Problem(DATA_TYPE, f"the converter left a float island here: {outs[0].name!r} is {outs[0].dtype}",
                       "the next op has no int8 kernel; replace that layer with one the Edge TPU runs (e.g. ReLU)",
                       when="island")
    ok_var = _INT8 | ({"INT16"} if name in _LSTM else set())        # int16 LSTM cell state maps (corpus)
    for t in ins + outs:
        if (t.constant and t.dtype in _INT8 | {"INT32", "INT64"}) or (not t.constant and t.dtype in ok_var):
            continue
        if t.constant:
            return Problem(DATA_TYPE, f"constant {t.name!r} is {t.dtype}, not quantized", FULL_INT8)
        if name == "CAST" and at_input:
            return Problem(DATA_TYPE, f"casts the input to {t.dtype}",
                           "give the model the uint8 input directly (no cast inside the model)")
        return Problem(DATA_TYPE, f"{t.name!r} is {t.dtype}",
                       "replace this layer with one that has an int8 kernel, or move it out of the model",
                       when="feeds")
    return None


def _reduce_axes(g: TFLiteGraph, k: int, rank: int) -> list[int] | None:
    ins = g.inputs(k)
    axes = g.const_ints(ins[1]) if len(ins) > 1 else None
    return None if axes is None or not rank else [int(a) % rank for a in axes]


def _limits(g: TFLiteGraph, k: int, name: str, ins: list[TensorInfo], outs: list[TensorInfo]) -> Problem | None:
    """The per-op limits of Coral's supported-operations table (status: unspecified limitation)."""
    op = g.ops[k]
    opts = op.builtinOptions
    act = getattr(opts, "fusedActivationFunction", 0) if opts is not None else 0
    x = ins[0] if ins else None
    if name in ("AVERAGE_POOL_2D", "MAX_POOL_2D", "CONCATENATION") and act:
        return Problem(UNSPECIFIED, f"{name} with a fused activation", "put the activation in a separate layer")
    if name in ("CONV_2D", "DEPTHWISE_CONV_2D") and opts is not None and len(ins) > 1:
        kh, kw = (ins[1].shape[1], ins[1].shape[2]) if len(ins[1].shape) == 4 else (1, 1)
        dh, dw = getattr(opts, "dilationHFactor", 1), getattr(opts, "dilationWFactor", 1)
        if dh != dw and kh > 1 and kw > 1:          # a 1-wide kernel has no dilation along that axis
            return Problem(UNSPECIFIED, f"dilation {dh}x{dw} differs in y and x",
                           "use the same dilation_rate in both directions")
    if name == "CONCATENATION":
        consts = [i for i in g.inputs(k) if g.tensor(i).constant]
        if consts and (len(ins) != 2 or any(g.const_any(i) for i in consts)):
            return Problem(UNSPECIFIED, "constant input to a concatenation",
                           "constants are allowed only as an all-zero second input")
    if name == "FULLY_CONNECTED":
        if opts is not None and getattr(opts, "weightsFormat", 0) != 0:
            return Problem(UNSPECIFIED, "non-default FULLY_CONNECTED weight format",
                           "convert with the default weight format")
        if outs and sum(d > 1 for d in outs[0].shape) > 1:
            return Problem(UNSPECIFIED, f"FULLY_CONNECTED output {list(outs[0].shape)} is not 1-D",
                           "flatten before the Dense layer")
    if name in ("MEAN", "REDUCE_MAX", "REDUCE_MIN", "SUM") and x is not None:
        axes = _reduce_axes(g, k, len(x.shape))
        if axes is not None and 0 in axes and len(x.shape) > 1:
            return Problem(UNSPECIFIED, f"{name} over the batch axis", "reduce over spatial/channel axes only")
        if name == "MEAN" and axes and len(x.shape) - 1 in axes and x.shape[-1] % 4:
            return Problem(UNSPECIFIED, f"MEAN over {x.shape[-1]} channels (the z axis needs a multiple of 4)",
                           "use a channel count divisible by 4")
    if name == "PACK" and opts is not None and getattr(opts, "axis", 0) == 0 and outs and len(outs[0].shape) > 1:
        return Problem(UNSPECIFIED, "PACK along the batch axis", "pack along another axis")
    if name == "PAD" and len(g.inputs(k)) > 1:
        pads = g.const_ints(g.inputs(k)[1])
        if pads is not None and pads.size >= 2 and np.any(pads.reshape(-1, 2)[0]):
            return Problem(UNSPECIFIED, "PAD on the batch axis", "pad only spatial/channel axes")
    if name == "PRELU" and len(ins) > 1 and sum(d > 1 for d in ins[1].shape) > 1:
        return Problem(UNSPECIFIED, "PReLU alpha is not 1-D", "use shared_axes=[1, 2] so alpha is per channel")
    if name == "SOFTMAX" and x is not None:
        big = [d for d in x.shape if d > 1]
        if len(big) > 1 or (big and big[0] > 16000):
            return Problem(UNSPECIFIED, f"SOFTMAX on {list(x.shape)}",
                           "softmax over a 1-D vector of at most 16,000 elements")
    if name == "STRIDED_SLICE" and opts is not None:
        # Coral's table: strides 1, ellipsis and new-axis masks 0 (begin/end/shrink masks are fine)
        strides = g.const_ints(g.inputs(k)[3]) if len(g.inputs(k)) > 3 else None
        if getattr(opts, "ellipsisMask", 0) or getattr(opts, "newAxisMask", 0) or (
                strides is not None and np.any(strides != 1)):
            return Problem(UNSPECIFIED, "STRIDED_SLICE with strides != 1 or an ellipsis/new-axis mask",
                           "slice with stride 1 (tf.slice), without `...` or tf.newaxis")
    if name == "RESIZE_BILINEAR" and x is not None and len(x.shape) == 4 and x.shape[1:3] == (1, 1):
        # a 1x1 -> HxW "resize" is a broadcast: the compiler leaves it on the CPU (DeepLabV3's image pooling in
        # the corpus); Coral's DeepLab EdgeTPU model uses TILE there, which maps
        return Problem(UNSPECIFIED, "bilinear resize of a 1x1 input (a broadcast)",
                       "use tf.tile (TILE maps) to broadcast a 1x1 feature map")
    if name in _LARGE_OPS and outs and max(t.elements for t in ins[:1] + outs) > LARGE_ELEMENTS:
        n = max(t.elements for t in ins[:1] + outs)
        return Problem(UNSPECIFIED, f"large tensor ({n:,} elements): Coral's table says {name} may not map "
                       "at large sizes", "make the tensor smaller (a smaller input, or resize on the CPU at the "
                       "very end)", when="feeds")
    return None


def check_op(g: TFLiteGraph, k: int, compiler: int) -> Problem | None:
    """Why op ``k`` cannot map under compiler ``compiler``, or None if nothing on the op itself stops it."""
    name, version, custom = g.opname(g.ops[k])
    ins = [g.tensor(i) for i in g.inputs(k)]
    outs = [g.tensor(i) for i in g.outputs(k)]
    dt = _dtype(g, k, name, ins, outs)
    if dt is not None:
        return dt
    if name not in supported_ops(compiler):
        what = f"custom op {custom!r}" if name == "CUSTOM" else name
        why = f"{what} is not an Edge TPU op" + (f" for compiler {compiler}" if name in SUPPORTED else "")
        return Problem(NOT_SUPPORTED, why, "replace the layer with a supported one (coral.ai model requirements)",
                       when="feeds")
    if version > MAX_VERSION.get(name, 10 ** 6):
        return Problem(VERSION, f"{name} version {version}: compiler {compiler} reads up to "
                       f"{MAX_VERSION[name]} and refuses the model", "convert with an older TensorFlow (2.5-2.8)")
    big = next((t for t in ins + outs if not t.constant and len(t.shape) > 3 and any(d > 1 for d in t.shape[:-3])),
               None)
    if big is not None:
        return Problem(RANK, f"tensor {big.name!r} {list(big.shape)}: only the 3 innermost dims may be > 1",
                       "batch 1, and at most 3 non-trivial dimensions")
    return _limits(g, k, name, ins, outs)
