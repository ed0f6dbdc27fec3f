"""Can XNNPACK run this ``.tflite`` with its sparse kernels? Checked structurally, from the flatbuffer.

    report = check_sparse_inference("sparse_float16.tflite")
    print(report.explain())            # each condition: OK / FAIL, where, why
    report.eligible, report.conv1x1_sparsity

XNNPACK's sparse (NCHW) kernels do not run on x86 CPUs with AVX ("currently target only SSE"), so on a
laptop or CI machine no speedup can be measured: the conditions are read from the model instead
(TFLite XNNPACK delegate README; XNNPACK ``subgraph.c``):

1. ``float``      float32 activations (the sparse kernels are float only; float16 *weights* are fine);
2. ``densify``    the 1x1 conv weights are stored sparse and expanded by ``DENSIFY``
                  (``tf.lite.Optimize.EXPERIMENTAL_SPARSITY``);
3. ``start``      the subgraph starts at a 3x3 stride-2 ``CONV_2D`` with 3 input channels and explicit
                  1-pixel padding (``PAD`` + ``VALID``);
4. ``end``        it ends at a spatial ``MEAN`` (global average pooling);
5. ``ops_inside`` between them only 1x1 stride-1 convs, 3x3/5x5 depthwise convs (stride-1 ``SAME`` is
                  symmetric and accepted; stride-2 needs explicit padding), explicit ``PAD``, 4-D ``ADD``/``MUL``,
                  ``RESIZE_BILINEAR`` and unary elementwise ops;
6. ``sparsity``   over the 1x1 convs inside, zeros x 3 > weights x 2 (more than 2/3 zeros).

The flatbuffer reader is the Edge TPU pre-flight's (:mod:`course_lib.edgetpu.graph`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .edgetpu.graph import TFLiteGraph
from .exceptions import ModelError

__all__ = ["CONDITIONS", "Condition", "ConvWeights", "SparseInferenceReport", "check_sparse_inference",
           "conv_weights", "host_sparse_kernels"]

CONDITIONS = ("float", "densify", "start", "end", "ops_inside", "sparsity")
_UNARY = {"RELU", "RELU6", "RELU_N1_TO_1", "LOGISTIC", "TANH", "HARD_SWISH", "ABS", "NEG", "ELU", "LEAKY_RELU",
          "SQUARE", "SQRT", "FLOOR", "CEIL", "ROUND", "GELU"}
_WEIGHT_PATH = {"DEQUANTIZE", "DENSIFY"}
_DTYPES = {"FLOAT32": np.float32, "FLOAT16": np.float16, "INT8": np.int8, "UINT8": np.uint8}


@dataclass(frozen=True)
class Condition:
    name: str
    ok: bool
    where: str
    detail: str


@dataclass(frozen=True)
class ConvWeights:
    op_index: int
    op: str              # CONV_2D | DEPTHWISE_CONV_2D
    output: str          # name of the op's output tensor (names the layer)
    kernel: tuple        # (kh, kw)
    stride: tuple
    padding: str         # SAME | VALID
    params: int
    zeros: int
    densified: bool      # weights expanded by DENSIFY (stored sparse)
    weight_type: str

    @property
    def sparsity(self) -> float:
        return self.zeros / self.params if self.params else 0.0


@dataclass
class SparseInferenceReport:
    model: str
    size: int
    conditions: list[Condition]
    convs: list[ConvWeights] = field(default_factory=list)      # every conv, in graph order
    inside: list[ConvWeights] = field(default_factory=list)     # the 1x1 convs of the sparse subgraph

    @property
    def eligible(self) -> bool:
        return all(c.ok for c in self.conditions)

    @property
    def failures(self) -> list[Condition]:
        return [c for c in self.conditions if not c.ok]

    def condition(self, name: str) -> Condition:
        return next(c for c in self.conditions if c.name == name)

    @property
    def conv1x1_sparsity(self) -> float:
        """Zeros / weights over the 1x1 convs of the subgraph (all 1x1 convs where no subgraph was found)."""
        rows = self.inside or [c for c in self.convs if c.op == "CONV_2D" and c.kernel == (1, 1)]
        params = sum(c.params for c in rows)
        return sum(c.zeros for c in rows) / params if params else 0.0

    def explain(self) -> str:
        head = (f"{self.model} ({self.size:,} B): " + ("ELIGIBLE for XNNPACK sparse inference" if self.eligible
                else f"NOT eligible ({', '.join(c.name for c in self.failures)} failed)"))
        lines = [head] + [f"  [{'OK' if c.ok else 'FAIL':4}] {c.name:10} {c.detail}" + (f"  (at {c.where})" if c.where else "")
                          for c in self.conditions]
        return "\n".join(lines)


def _trace_weights(model: TFLiteGraph, producers: dict[int, int], t: int) -> tuple[int, bool]:
    """Follow DEQUANTIZE / DENSIFY back to the constant; returns (tensor index, densified)."""
    densified = False
    while t in producers:
        op = model.sg.operators[producers[t]]
        name = model.opname(op)[0]
        if name not in _WEIGHT_PATH:
            break
        densified |= name == "DENSIFY"
        t = op.inputs[0]
    return t, densified


def _values(model: TFLiteGraph, t: int) -> np.ndarray | None:
    tensor = model.sg.tensors[t]
    buf = model.buffer(tensor)
    dtype = _DTYPES.get(model.type_names.get(tensor.type))
    return None if buf is None or dtype is None else buf.view(dtype)


def _padding(model: TFLiteGraph, op) -> str:
    return "SAME" if getattr(op.builtinOptions, "padding", 1) == 0 else "VALID"


def conv_weights(model: str | Path | bytes | TFLiteGraph) -> list[ConvWeights]:
    """Every CONV_2D / DEPTHWISE_CONV_2D with its measured weight zeros (sparse storage counted exactly)."""
    m = model if isinstance(model, TFLiteGraph) else TFLiteGraph(model)
    producers = {o: i for i, op in enumerate(m.sg.operators) for o in op.outputs}
    rows = []
    for i, op in enumerate(m.sg.operators):
        name = m.opname(op)[0]
        if name not in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            continue
        w, densified = _trace_weights(m, producers, op.inputs[1])
        shape = tuple(int(d) for d in m.sg.tensors[w].shape)
        total = int(np.prod(shape)) if shape else 0
        vals = _values(m, w)
        nonzero = total if vals is None else int(np.count_nonzero(vals))
        o = op.builtinOptions
        out = m.sg.tensors[op.outputs[0]].name
        rows.append(ConvWeights(i, name, (out.decode() if isinstance(out, bytes) else str(out)).split(";")[-1],
                                (shape[1], shape[2]) if len(shape) == 4 else (0, 0),
                                (int(getattr(o, "strideH", 1)), int(getattr(o, "strideW", 1))), _padding(m, op),
                                total, total - nonzero, densified, m.type_names.get(m.sg.tensors[w].type, "?")))
    return rows


def check_sparse_inference(model: str | Path | bytes) -> SparseInferenceReport:
    """Check the six conditions (module docstring) and say which fails and where."""
    m = TFLiteGraph(model)
    ops = m.sg.operators
    names = [m.opname(op)[0] for op in ops]
    producers = {o: i for i, op in enumerate(ops) for o in op.outputs}
    convs = conv_weights(m)
    by_op = {c.op_index: c for c in convs}
    conds: list[Condition] = []

    def tname(t: int) -> str:
        n = m.sg.tensors[t].name
        return (n.decode() if isinstance(n, bytes) else str(n)).split(";")[-1]

    def where(i: int) -> str:
        return f"op {i} {names[i]} -> {tname(ops[i].outputs[0])}"

    # 1. float activations
    int_convs = [c for c in convs if m.type_names.get(m.sg.tensors[ops[c.op_index].inputs[0]].type) != "FLOAT32"
                 or c.weight_type not in ("FLOAT32", "FLOAT16")]
    conds.append(Condition("float", not int_convs, where(int_convs[0].op_index) if int_convs else "",
                           "float32 activations" if not int_convs else
                           "integer activations or int8 weights: XNNPACK's sparse kernels are float only (use float32 or float16 weights)"))
    # 3. start: 3x3 stride-2 conv, 3 input channels, PAD 1 + VALID
    start, start_detail = None, "no 3x3 stride-2 CONV_2D with 3 input channels"
    for c in convs:
        if c.op != "CONV_2D" or c.kernel != (3, 3) or c.stride != (2, 2):
            continue
        inp = ops[c.op_index].inputs[0]
        cin = int(m.sg.tensors[inp].shape[-1])
        if cin != 3:
            continue
        pad_op = producers.get(inp)
        pads = None
        if pad_op is not None and names[pad_op] == "PAD":
            pads = m.const_ints(ops[pad_op].inputs[1])
        if c.padding == "VALID" and pads is not None and pads.reshape(-1).tolist() == [0, 0, 1, 1, 1, 1, 0, 0]:
            start, start_detail = c.op_index, "3x3 stride-2 CONV_2D, 3 input channels, explicit 1-px PAD"
        else:
            start_detail = (f"the 3x3 stride-2 entry conv uses {c.padding} padding"
                            + ("" if pads is None else f" after PAD {pads.reshape(-1).tolist()}")
                            + ": it needs PAD 1 + VALID (ZeroPadding2D(1) and padding='valid')")
            start = None
            conds.append(Condition("start", False, where(c.op_index), start_detail))
        break
    if not any(c.name == "start" for c in conds):
        conds.append(Condition("start", start is not None, where(start) if start is not None else "", start_detail))
    # 4. end: a spatial MEAN after the start
    first = start if start is not None else 0
    def axes(i: int) -> list[int]:
        a = m.const_ints(ops[i].inputs[1])
        return [] if a is None else sorted(a.tolist())

    end = next((i for i in range(first, len(ops)) if names[i] == "MEAN" and axes(i) == [1, 2]), None)
    conds.append(Condition("end", end is not None, where(end) if end is not None else "",
                           "spatial MEAN (global average pooling)" if end is not None else
                           "no spatial MEAN over height and width: end the features with GlobalAveragePooling2D"))
    # 5. ops inside
    last = end if end is not None else len(ops)
    bad = None
    for i in range(first + 1, last):
        n = names[i]
        if n in _WEIGHT_PATH and all(t not in producers or names[producers[t]] in _WEIGHT_PATH for t in ops[i].inputs):
            continue      # weight decoding on constants
        c = by_op.get(i)
        ok = (n in _UNARY or n == "PAD"
              or (n in ("ADD", "MUL") and len(m.sg.tensors[ops[i].outputs[0]].shape) == 4)
              or n == "RESIZE_BILINEAR"
              or (n == "CONV_2D" and c.kernel == (1, 1) and c.stride == (1, 1))
              or (n == "DEPTHWISE_CONV_2D" and c.kernel in ((3, 3), (5, 5)) and c.stride[0] == c.stride[1]
                  and c.stride[0] in (1, 2) and (c.padding == "VALID" or c.stride == (1, 1))))
        if not ok:
            bad = i
            break
    conds.append(Condition("ops_inside", bad is None, where(bad) if bad is not None else "",
                           "only 1x1 convs, depthwise 3x3/5x5, PAD, ADD/MUL and elementwise ops inside" if bad is None
                           else f"{names[bad]} is not allowed inside the sparse subgraph"
                           + (f" ({by_op[bad].kernel[0]}x{by_op[bad].kernel[1]}, stride {by_op[bad].stride[0]}, "
                              f"{by_op[bad].padding})" if bad in by_op else "")))
    inside = [c for c in convs if first < c.op_index < last and c.op == "CONV_2D" and c.kernel == (1, 1)]
    # 2. DENSIFY'd weights on the 1x1 convs
    dense = [c for c in inside if not c.densified]
    conds.insert(1, Condition("densify", bool(inside) and not dense, where(dense[0].op_index) if dense else "",
                              f"all {len(inside)} 1x1 convs read DENSIFY'd sparse weights" if inside and not dense else
                              f"{len(dense)} of {len(inside)} 1x1 convs have dense-stored weights: convert with "
                              "tf.lite.Optimize.EXPERIMENTAL_SPARSITY (after strip_pruning)"))
    # 6. sparsity over the 1x1 convs
    params, zeros = sum(c.params for c in inside), sum(c.zeros for c in inside)
    conds.append(Condition("sparsity", params > 0 and zeros * 3 > params * 2, "",
                           f"{zeros:,} of {params:,} 1x1-conv weights are zero ({zeros / max(params, 1):.1%}); "
                           "XNNPACK needs more than 2/3"))
    return SparseInferenceReport(m.name, m.size, conds, convs, inside)


def host_sparse_kernels(machine: str | None = None, cpu_flags: set[str] | None = None) -> tuple[bool, str]:
    """Would XNNPACK use its sparse kernels on this CPU? Returns ``(expected, why)``.

    The sparse microkernels exist for ARM (NEON) and WebAssembly SIMD; on x86 they "currently target only
    SSE" and are switched off on CPUs with AVX, i.e. on nearly every laptop and CI machine. ``machine`` and
    ``cpu_flags`` default to this host's (``platform.machine()``, the ``flags`` line of ``/proc/cpuinfo``).
    """
    import platform

    machine = (machine or platform.machine()).lower()
    if machine.startswith(("arm", "aarch64")):
        return True, f"{machine}: ARM CPUs have XNNPACK's sparse (NEON) kernels; a speedup is expected"
    if machine not in ("x86_64", "amd64", "i386", "i686", "x86"):
        return False, f"{machine}: no XNNPACK sparse kernels known for this CPU; measure before you rely on them"
    if cpu_flags is None:
        info = Path("/proc/cpuinfo")
        line = next((l for l in info.read_text().splitlines() if l.startswith("flags")), "") if info.is_file() else ""
        cpu_flags = set(line.split(":", 1)[-1].split())
    if not cpu_flags:
        return False, f"{machine}: CPU flags unknown; XNNPACK's x86 sparse kernels are off on CPUs with AVX"
    if "avx" in cpu_flags:
        return False, (f"{machine} with AVX: XNNPACK's x86 sparse kernels target only SSE and are off on AVX CPUs, "
                       "so sparse and dense models run the same dense kernels here: expect no speedup")
    return True, f"{machine} without AVX: XNNPACK's SSE sparse kernels apply; a speedup is expected"
