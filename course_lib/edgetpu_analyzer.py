"""Edge TPU pre-flight: predict, without the compiler, which ops of a ``.tflite`` map to the Edge TPU.

    >>> from course_lib import edgetpu_analyzer as eta
    >>> report = eta.analyze("classifier_int8.tflite")
    >>> print(report.log())            # the compiler's own `Operator / Count / Status` format
    >>> report.mapped_fraction, report.partition, report.param_bytes

The rules are Coral's published model requirements (int8/uint8 tensors, constant parameters, static
shapes, only the 3 innermost dimensions > 1, the supported-op list with its per-op limits) plus op
versions the compiler is known to reject. The compiler partitions once: the first op that cannot map
and every op after it run on the CPU ("More than one subgraph is not supported") unless ``-a``.
This is a *prediction*: the compiler has limits it does not publish ("unspecified limitation").

The model is read with the flatbuffer schema that ships with TensorFlow
(``tensorflow.lite.tools.flatbuffer_utils``), so no interpreter and no compiler are needed.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .exceptions import ModelError

__all__ = ["MAPPED", "UNSPECIFIED", "DATA_TYPE", "VERSION", "SUBGRAPH", "NOT_SUPPORTED", "RANK", "CACHE_BYTES",
           "OpPrediction", "TensorInfo", "Preflight", "CoCompileReport", "CompiledInspection", "TFLiteGraph",
           "analyze", "analyze_cocompiled", "inspect_compiled"]

# Status strings, verbatim from edgetpu_compiler logs (the first five are in the kit's real fixtures /
# REFERENCES §3; the last two are the compiler's wording in public logs).
MAPPED = "Mapped to Edge TPU"
UNSPECIFIED = "Operation is otherwise supported, but not mapped due to some unspecified limitation"
DATA_TYPE = "Operation is working on an unsupported data type"
VERSION = "Operation version not supported"
SUBGRAPH = "More than one subgraph is not supported"
NOT_SUPPORTED = "Operation not supported"
RANK = "Tensor has unsupported rank (up to 3 innermost dimensions mapped)"

# ~8 MB of on-chip SRAM caches parameters (the real co-compile log: 4.89 MiB used + 2.74 MiB left = 8.0e6 B)
CACHE_BYTES = 8_000_000

SUPPORTED = {
    "ADD", "LOGISTIC", "MAXIMUM", "MINIMUM", "MUL", "SUB", "RELU", "RELU6", "RELU_N1_TO_1", "TANH",
    "L2_NORMALIZATION", "QUANTIZE", "EXPAND_DIMS", "SLICE", "SPACE_TO_DEPTH", "AVERAGE_POOL_2D", "MAX_POOL_2D",
    "CONCATENATION", "CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "LSTM", "UNIDIRECTIONAL_SEQUENCE_LSTM",
    "MEAN", "PACK", "PAD", "PRELU", "REDUCE_MAX", "REDUCE_MIN", "RESHAPE", "RESIZE_BILINEAR",
    "RESIZE_NEAREST_NEIGHBOR", "SOFTMAX", "SQUEEZE", "STRIDED_SLICE", "TRANSPOSE", "SPLIT", "SUM",
    "SQUARED_DIFFERENCE", "RSQRT", "TRANSPOSE_CONV",
}
# Highest op version the compiler accepts, where a newer converter is known to emit one it rejects:
# CONV_2D v6 (edgetpu#631, compiler 16.0), TRANSPOSE_CONV v3 (edgetpu#147, #358), RESIZE_* v3 =
# half_pixel_centers (edgetpu#420, #396).
MAX_VERSION = {"CONV_2D": 5, "TRANSPOSE_CONV": 2, "RESIZE_BILINEAR": 2, "RESIZE_NEAREST_NEIGHBOR": 2}
_INT = {"INT8", "UINT8"}


@dataclass(frozen=True)
class TensorInfo:
    name: str
    dtype: str
    shape: tuple[int, ...]
    signature: tuple[int, ...]          # -1 where the dimension is dynamic
    scale: float | None
    zero_point: int | None
    constant: bool
    nbytes: int

    @property
    def dynamic(self) -> bool:
        return any(d < 0 for d in self.signature)


@dataclass
class OpPrediction:
    index: int
    op: str
    version: int
    status: str
    reason: str = ""
    fix: str = ""

    @property
    def mapped(self) -> bool:
        return self.status == MAPPED


@dataclass
class Preflight:
    """The prediction for one model."""

    name: str
    ops: list[OpPrediction]
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]
    param_bytes: int                    # constant parameters of the ops predicted on the Edge TPU
    total_param_bytes: int
    size_bytes: int
    compiled: bool = False              # already holds an edgetpu-custom-op
    multiple_subgraphs: bool = False

    @property
    def mapped_ops(self) -> int:
        return sum(o.mapped for o in self.ops)

    @property
    def mapped_fraction(self) -> float:
        return self.mapped_ops / len(self.ops) if self.ops else 0.0

    @property
    def partition(self) -> OpPrediction | None:
        """The first op that cannot map (everything after it runs on the CPU), or None."""
        return next((o for o in self.ops if not o.mapped and o.status != SUBGRAPH), None)

    @property
    def fully_mapped(self) -> bool:
        return bool(self.ops) and self.mapped_ops == len(self.ops)

    def rows(self) -> list[tuple[str, int, str]]:
        """``(op, count, status)`` grouped by op and status, in order of first appearance."""
        groups: OrderedDict[tuple[str, str], int] = OrderedDict()
        for o in self.ops:
            groups[(o.op, o.status)] = groups.get((o.op, o.status), 0) + 1
        return [(op, n, status) for (op, status), n in groups.items()]

    def log(self) -> str:
        """The prediction in the compiler's ``.log`` format, then why each op falls back and the fix."""
        stem = Path(self.name).stem
        lines = ["Edge TPU pre-flight (course_lib prediction, not edgetpu_compiler)", f"Input: {self.name}",
                 f"Output: {self.name if self.compiled else stem + '_edgetpu.tflite'}", "", f"{'Operator':<31}{'Count':<11}Status", ""]
        lines += [f"{op:<31}{n:<11}{status}" for op, n, status in self.rows()]
        lines += ["", f"Number of operations that will run on Edge TPU: {self.mapped_ops}",
                  f"Number of operations that will run on CPU: {len(self.ops) - self.mapped_ops}",
                  f"Parameters on the Edge TPU: {_fmt(self.param_bytes)} (on-chip cache {_fmt(CACHE_BYTES)})"]
        if self.compiled:
            lines.append("Already compiled: each edgetpu-custom-op holds the ops the compiler mapped "
                         "(their parameters are inside its executable)")
        reasons = [o for o in self.ops if not o.mapped and o.status != SUBGRAPH]
        if reasons:
            lines += ["", "Why not mapped:"]
            by_fix: OrderedDict[str, list[OpPrediction]] = OrderedDict()
            for o in reasons:                     # one line per distinct fix, not one per op
                by_fix.setdefault(o.fix or o.reason, []).append(o)
            for same in by_fix.values():
                o = same[0]
                lines.append(f"  op #{o.index} {o.op}: {o.reason}" + (f" -> fix: {o.fix}" if o.fix else ""))
                if len(same) > 1:
                    more = ", ".join(f"#{x.index} {x.op}" for x in same[1:6]) + (", ..." if len(same) > 6 else "")
                    lines.append(f"    (the same for {len(same) - 1} more ops: {more})")
        cut = self.partition
        if cut is not None and any(o.status == SUBGRAPH for o in self.ops):
            lines.append(f"  ops after #{cut.index} {cut.op}: the compiler partitions once, so they run on the CPU "
                         "too (fix the op above, or compile with -a for several Edge TPU subgraphs)")
        return "\n".join(lines)

    def summary(self) -> str:
        cut = self.partition
        where = f"; partition at op #{cut.index} {cut.op}" if cut else ""
        return (f"{self.name}: {self.mapped_ops}/{len(self.ops)} ops predicted on the Edge TPU "
                f"({100 * self.mapped_fraction:.0f} %){where}; parameters {_fmt(self.param_bytes)}")


@dataclass
class CoCompileReport:
    """How models compiled together would share the on-chip parameter cache (command-line order)."""

    models: list[Preflight]
    on_chip: list[int] = field(default_factory=list)
    off_chip: list[int] = field(default_factory=list)
    remaining: list[int] = field(default_factory=list)

    def table(self) -> str:
        lines = [f"{'Model':<40}{'params':>12}{'on-chip':>12}{'off-chip':>12}{'cache left':>12}{'mapped':>9}"]
        for m, on, off, left in zip(self.models, self.on_chip, self.off_chip, self.remaining):
            lines.append(f"{Path(m.name).name[:39]:<40}{_fmt(m.param_bytes):>12}{_fmt(on):>12}{_fmt(off):>12}"
                         f"{_fmt(left):>12}{100 * m.mapped_fraction:>8.0f}%")
        return "\n".join(lines)


@dataclass
class CompiledInspection:
    """What an already compiled ``*_edgetpu.tflite`` holds."""

    name: str
    edgetpu_custom_ops: int
    cpu_ops: list[str]
    executable_bytes: int
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]
    ops_inside: int | None = None       # original ops compiled into the custom op (from the compiler's report)

    def summary(self) -> str:
        inside = (f"{self.ops_inside} original ops" if self.ops_inside is not None
                  else "the original op count is not stored in the file (see the compiler's log)")
        cpu = ", ".join(self.cpu_ops) if self.cpu_ops else "none"
        return (f"{self.name}: {self.edgetpu_custom_ops} edgetpu-custom-op ({_fmt(self.executable_bytes)} "
                f"executable; {inside}); ops on the CPU: {cpu}")


def _fmt(n: int | float) -> str:
    for unit, size in (("MiB", 1024 ** 2), ("KiB", 1024)):
        if abs(n) >= size:
            return f"{n / size:.2f}{unit}"
    return f"{n:.2f}B"


def _enum_names(enum_cls) -> dict[int, str]:
    return {v: k for k, v in vars(enum_cls).items() if not k.startswith("_") and isinstance(v, int)}


class TFLiteGraph:
    """The parts of a ``.tflite`` flatbuffer the rules need (TensorFlow's own schema)."""

    def __init__(self, model: str | Path | bytes):
        from tensorflow.lite.python import schema_py_generated as schema
        from tensorflow.lite.tools import flatbuffer_utils

        if isinstance(model, (str, Path)):
            path = Path(model)
            if not path.is_file():
                raise ModelError(f"{path}: no such model file; convert one with tf.lite.TFLiteConverter first.")
            self.name, data = path.name, path.read_bytes()
        else:
            self.name, data = "model.tflite", bytes(model)
        if len(data) < 8 or data[4:8] != b"TFL3":
            raise ModelError(f"{self.name}: not a TFLite flatbuffer (no TFL3 identifier); pass a .tflite file.")
        self.size = len(data)
        self.schema = schema
        self.m = flatbuffer_utils.convert_bytearray_to_object(bytearray(data))
        self.op_names = _enum_names(schema.BuiltinOperator)
        self.type_names = _enum_names(schema.TensorType)
        if not self.m.subgraphs:
            raise ModelError(f"{self.name}: the model has no subgraph.")
        self.sg = self.m.subgraphs[0]

    def opname(self, op) -> tuple[str, int, str]:
        code = self.m.operatorCodes[op.opcodeIndex]
        builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
        custom = code.customCode.decode() if isinstance(code.customCode, bytes) else (code.customCode or "")
        return self.op_names.get(builtin, str(builtin)), code.version, custom

    def buffer(self, t) -> np.ndarray | None:
        data = self.m.buffers[t.buffer].data if 0 <= t.buffer < len(self.m.buffers) else None
        return None if data is None or len(data) == 0 else np.asarray(data, dtype=np.uint8)

    def tensor(self, i: int) -> TensorInfo:
        t = self.sg.tensors[i]
        shape = tuple(int(d) for d in (t.shape if t.shape is not None else ()))
        sig = tuple(int(d) for d in t.shapeSignature) if t.shapeSignature is not None else shape
        q = t.quantization
        scale = float(q.scale[0]) if q is not None and q.scale is not None and len(q.scale) else None
        zp = int(q.zeroPoint[0]) if q is not None and q.zeroPoint is not None and len(q.zeroPoint) else None
        buf = self.buffer(t)
        name = t.name.decode() if isinstance(t.name, bytes) else str(t.name)
        return TensorInfo(name, self.type_names.get(t.type, str(t.type)), shape, sig, scale, zp,
                          buf is not None, 0 if buf is None else int(buf.size))

    def const_ints(self, i: int) -> np.ndarray | None:
        t = self.sg.tensors[i]
        buf = self.buffer(t)
        if buf is None or self.type_names.get(t.type) not in ("INT32", "INT64"):
            return None
        return buf.view(np.int32 if self.type_names[t.type] == "INT32" else np.int64)


def _dtype_problem(model: TFLiteGraph, op: str, ins: list[TensorInfo], outs: list[TensorInfo],
                   graph_inputs: set[str], graph_outputs: set[str]) -> tuple[str, str] | None:
    for t in ins + outs:
        if t.constant and t.dtype in _INT | {"INT32"}:
            continue
        if not t.constant and t.dtype in _INT:
            continue
        if op == "QUANTIZE" and t.name in graph_inputs and t.dtype.startswith("FLOAT"):
            return (f"float input {t.name!r} ({t.dtype}) is quantized on the CPU",
                    "set `converter.inference_input_type = tf.uint8` (or tf.int8)")
        if op == "DEQUANTIZE" and any(o.name in graph_outputs for o in outs):
            return (f"float output {outs[0].name!r} ({outs[0].dtype}) is dequantized on the CPU",
                    "set `converter.inference_output_type = tf.uint8` (or tf.int8)")
        if op == "DEQUANTIZE":
            return (f"the converter left a float island here: {t.name!r} is {t.dtype}",
                    "the next op has no int8 kernel; replace that layer with one the Edge TPU runs (e.g. ReLU)")
        if op == "QUANTIZE":
            return (f"re-quantizes the float tensor {t.name!r} left by the op before it",
                    "remove the float op before it (replace that layer with an int8 one the Edge TPU runs)")
        if t.constant:
            return (f"constant {t.name!r} is {t.dtype}, not quantized",
                    "full-integer quantization: `converter.optimizations = [tf.lite.Optimize.DEFAULT]` with a "
                    "`representative_dataset` and `supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]`")
        return (f"{op} runs in float ({t.name!r} is {t.dtype}): TFLite has no int8 kernel for it, or the model "
                "is not fully quantized", "replace the layer with an int8-capable one, or quantize fully with "
                "`supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]`")
    return None


def _limit_problem(model: TFLiteGraph, op, name: str, ins: list[TensorInfo], outs: list[TensorInfo]) -> tuple[str, str] | None:
    """Per-op limits from Coral's supported-operations table."""
    opts = op.builtinOptions
    act = getattr(opts, "fusedActivationFunction", 0) if opts is not None else 0
    if name in ("AVERAGE_POOL_2D", "MAX_POOL_2D", "CONCATENATION") and act:
        return f"{name} with a fused activation", "put the activation in a separate layer"
    if name in ("CONV_2D", "DEPTHWISE_CONV_2D") and opts is not None:
        if getattr(opts, "dilationWFactor", 1) != getattr(opts, "dilationHFactor", 1):
            return "different x and y dilation", "use the same dilation_rate in both directions"
    if name == "CONCATENATION":
        consts = [t for t, i in zip(ins, op.inputs) if t.constant]
        if consts and (len(ins) != 2 or any(np.any(model.buffer(model.sg.tensors[i]))
                                            for t, i in zip(ins, op.inputs) if t.constant)):
            return "constant input to a concatenation", "constants are allowed only as an all-zero 2nd input"
    if name == "FULLY_CONNECTED":
        if opts is not None and getattr(opts, "weightsFormat", 0) != 0:
            return "non-default FULLY_CONNECTED weight format", "convert with the default weight format"
        if outs and sum(d > 1 for d in outs[0].shape) > 1:
            return f"FULLY_CONNECTED output {list(outs[0].shape)} is not 1-D", "flatten before the Dense layer"
    if name in ("MEAN", "REDUCE_MAX", "REDUCE_MIN", "SUM") and len(op.inputs) > 1:
        axes = model.const_ints(op.inputs[1])
        rank = len(ins[0].shape)
        if axes is not None:
            axes = [int(a) % rank for a in axes] if rank else []
            if 0 in axes and rank > 1:
                return f"{name} over the batch axis", "reduce over spatial/channel axes only"
            if name == "MEAN" and rank - 1 in axes and rank and ins[0].shape[-1] % 4:
                return f"MEAN over the channel axis of {ins[0].shape[-1]} channels", "use a channel count divisible by 4"
    if name == "PAD" and len(op.inputs) > 1:
        pads = model.const_ints(op.inputs[1])
        if pads is not None and pads.size >= 2 and np.any(pads.reshape(-1, 2)[0]):
            return "PAD on the batch axis", "pad only spatial/channel axes"
    if name == "PRELU" and len(ins) > 1 and sum(d > 1 for d in ins[1].shape) > 1:
        return "PReLU alpha is not 1-D", "use shared_axes=[1, 2] so alpha is per channel"
    if name == "SOFTMAX" and ins:
        big = [d for d in ins[0].shape if d > 1]
        if len(big) > 1 or (big and big[0] > 16000):
            return f"SOFTMAX on {list(ins[0].shape)}", "softmax over a 1-D vector of at most 16,000 elements"
    if name == "SQUEEZE" and ins and outs and ins[0].shape[:1] and ins[0].shape[0] != 1:
        return "SQUEEZE of a leading dimension > 1", "squeeze only leading dimensions of size 1"
    if name == "STRIDED_SLICE" and opts is not None:
        masks = [getattr(opts, k, 0) for k in ("beginMask", "endMask", "ellipsisMask", "newAxisMask",
                                                 "shrinkAxisMask")]
        strides = model.const_ints(op.inputs[3]) if len(op.inputs) > 3 else None
        if any(masks) or (strides is not None and np.any(strides != 1)):
            return "STRIDED_SLICE with masks or strides != 1", "slice with explicit begin/end and stride 1"
    return None


def analyze(model: str | Path | bytes, multiple_subgraphs: bool = False) -> Preflight:
    """Predict, op by op, whether ``model`` (a path or the ``.tflite`` bytes) maps to the Edge TPU."""
    mdl = TFLiteGraph(model)
    sg = mdl.sg
    graph_inputs = {mdl.tensor(i).name for i in sg.inputs}
    graph_outputs = {mdl.tensor(i).name for i in sg.outputs}
    preds: list[OpPrediction] = []
    param_bytes, seen = 0, set()
    compiled = False
    cut = False
    total_params = sum(mdl.tensor(i).nbytes for i in range(len(sg.tensors)) if mdl.tensor(i).constant)
    for k, op in enumerate(sg.operators or []):
        name, version, custom = mdl.opname(op)
        ins = [mdl.tensor(i) for i in op.inputs if i >= 0]
        outs = [mdl.tensor(i) for i in op.outputs if i >= 0]
        label = "edgetpu-custom-op" if custom == "edgetpu-custom-op" else name
        problem: tuple[str, str, str] | None = None
        if name == "CUSTOM" and custom == "edgetpu-custom-op":
            compiled = True
        else:
            dt = _dtype_problem(mdl, name, ins, outs, graph_inputs, graph_outputs)
            if dt:
                problem = (DATA_TYPE, *dt)
            elif name not in SUPPORTED:
                what = f"custom op {custom!r}" if name == "CUSTOM" else name
                problem = (NOT_SUPPORTED, f"{what} is not an Edge TPU op",
                           "replace the layer with a supported one (coral.ai model requirements), or keep it as "
                           "the last op(s) so only they run on the CPU")
            elif version > MAX_VERSION.get(name, 10 ** 6):
                problem = (VERSION, f"{name} version {version} (the compiler knows up to {MAX_VERSION[name]})",
                           "convert with an older TensorFlow (2.5-2.8), or change the layer's options")
            else:
                dyn = next((t for t in ins + outs if t.dynamic and not t.constant), None)
                big = next((t for t in ins + outs if not t.constant and len(t.shape) > 3
                            and any(d > 1 for d in t.shape[:-3])), None)
                if dyn is not None:
                    problem = (UNSPECIFIED, f"dynamic shape {list(dyn.signature)} of {dyn.name!r}",
                               "fix the batch to 1: `tf.keras.Input(shape, batch_size=1)` or "
                               "`model.input.set_shape((1,) + shape)` before converting")
                elif big is not None:
                    problem = (RANK, f"tensor {big.name!r} {list(big.shape)}: only the 3 innermost dims may be > 1",
                               "batch 1, and at most 3 non-trivial dimensions")
                else:
                    lim = _limit_problem(mdl, op, name, ins, outs)
                    if lim:
                        problem = (UNSPECIFIED, *lim)
        if problem is None and cut and not multiple_subgraphs:
            problem = (SUBGRAPH, "after the partition point", "")
        if problem is None:
            preds.append(OpPrediction(k, label, version, MAPPED))
            for i in op.inputs:
                t = sg.tensors[i] if i >= 0 else None
                if t is not None and t.buffer not in seen and mdl.buffer(t) is not None:
                    seen.add(t.buffer)
                    param_bytes += int(mdl.buffer(t).size)
        else:
            preds.append(OpPrediction(k, label, version, *problem))
            cut = True
    return Preflight(name=mdl.name, ops=preds, inputs=[mdl.tensor(i) for i in sg.inputs],
                     outputs=[mdl.tensor(i) for i in sg.outputs], param_bytes=param_bytes,
                     total_param_bytes=total_params, size_bytes=mdl.size, compiled=compiled,
                     multiple_subgraphs=multiple_subgraphs)


def analyze_cocompiled(models: list[str | Path | bytes | Preflight], cache_bytes: int = CACHE_BYTES) -> CoCompileReport:
    """Analyze several models and share the on-chip cache between them in the given (command-line) order."""
    reports = [m if isinstance(m, Preflight) else analyze(m) for m in models]
    out = CoCompileReport(models=reports)
    left = cache_bytes
    for r in reports:
        on = min(r.param_bytes, left)
        left -= on
        out.on_chip.append(on)
        out.off_chip.append(r.param_bytes - on)
        out.remaining.append(left)
    return out


def inspect_compiled(model: str | Path | bytes, report: Any = None) -> CompiledInspection:
    """Count the ``edgetpu-custom-op``s of a compiled model and list the ops left on the CPU.

    The original ops are compiled into an opaque executable, so their number is only known from the
    compiler's report: pass ``report`` (a :class:`course_lib.edgetpu_compiler.CompiledModel`) to add it.
    """
    mdl = TFLiteGraph(model)
    n_tpu, cpu, exe = 0, [], 0
    for op in mdl.sg.operators or []:
        name, _, custom = mdl.opname(op)
        if name == "CUSTOM" and custom == "edgetpu-custom-op":
            n_tpu += 1
            exe += len(op.customOptions) if op.customOptions is not None else 0
        else:
            cpu.append(custom if name == "CUSTOM" else name)
    if n_tpu == 0:
        raise ModelError(f"{mdl.name}: no edgetpu-custom-op; this model is not compiled for the Edge TPU. "
                         "Run edgetpu_compiler on it (course_lib.edgetpu_compiler.compile_models).")
    inside = getattr(report, "tpu_ops", None)
    return CompiledInspection(mdl.name, n_tpu, cpu, exe, [mdl.tensor(i) for i in mdl.sg.inputs],
                              [mdl.tensor(i) for i in mdl.sg.outputs], inside)
