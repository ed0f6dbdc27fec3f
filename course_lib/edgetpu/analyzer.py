"""Edge TPU pre-flight: predict, without the compiler, where each op of a ``.tflite`` will run.

    >>> from course_lib import edgetpu
    >>> report = edgetpu.analyze("classifier_int8.tflite")              # compiler 16 by default
    >>> print(report.log())            # the compiler's `Operator / Count / Status` format, then op by op
    >>> report.mapped_fraction, report.subgraphs, report.param_bytes

Each op is checked on its own (:mod:`.rules`), then placed by dataflow (:mod:`.partition`). On the 9 real
models of ``shared/fixtures/edgetpu/corpus`` it agrees with Coral's compiler op by op (``course edgetpu
compare``). It is still a prediction: the compiler has limits it does not publish.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..exceptions import ModelError
from .graph import EDGETPU_CUSTOM_OP, TFLiteGraph
from .partition import partition
from .report import CoCompileReport, CompiledInspection, OpPrediction, Preflight, SubgraphModes
from .rules import check_op
from .status import CACHE_BYTES, DEFAULT_COMPILER, MAPPED, SUBGRAPH, check_version

__all__ = ["analyze", "analyze_cocompiled", "analyze_subgraph_modes", "inspect_compiled"]


def _notes(g: TFLiteGraph) -> list[str]:
    notes = []
    for i in sorted(g.graph_inputs):
        t = g.tensor(i)
        if t.dynamic:
            notes.append(f"input {t.name!r} has a dynamic shape signature {list(t.signature)}: the compiler uses the "
                         f"stored shape {list(t.shape)} and maps the ops, but the Edge TPU runs only that shape; "
                         "fix the batch to 1 (`tf.keras.Input(shape, batch_size=1)`) so the file says so")
    shaped = [k for k in range(len(g.ops)) if g.opname(g.ops[k])[0] == "SHAPE" or (
        g.opname(g.ops[k])[0] == "RESHAPE" and len(g.inputs(k)) > 1 and not g.tensor(g.inputs(k)[1]).constant)]
    if shaped:
        # compiler 16 refuses such models outright: "Attempting to use a delegate that only supports
        # static-sized tensors with a graph that has dynamic-sized tensors" (google-coral/edgetpu#829, #831)
        notes.append(f"op #{shaped[0]} computes a shape at run time: if a tensor's size depends on it, the compiler "
                     "stops with 'Model failed in Tflite interpreter' (dynamic-sized tensors); fix the batch to 1 "
                     "and use constant shapes")
    return notes


def analyze(model: str | Path | bytes, multiple_subgraphs: bool = False,
            compiler_version: int | str = DEFAULT_COMPILER) -> Preflight:
    """Predict, op by op, where ``model`` (a path or the ``.tflite`` bytes) runs after ``edgetpu_compiler``.

    ``multiple_subgraphs`` is the compiler's ``-a``; ``compiler_version`` is 15 or 16 (the current one).
    """
    version = check_version(compiler_version)
    g = TFLiteGraph(model)
    names = [g.opname(op) for op in g.ops]
    compiled = any(c == EDGETPU_CUSTOM_OP for _, _, c in names)
    problems = [None if c == EDGETPU_CUSTOM_OP else check_op(g, k, version) for k, (_, _, c) in enumerate(names)]
    blocked, subgraph = partition(g, [p is not None for p in problems], multiple_subgraphs)
    island, feeds = _blocking(g, [p is not None for p in problems], blocked)
    preds, param_bytes, seen = [], 0, set()
    for k, (name, version_k, custom) in enumerate(names):
        outs = g.outputs(k)
        out = g.tensor(outs[0]) if outs else None
        row = OpPrediction(k, EDGETPU_CUSTOM_OP if custom == EDGETPU_CUSTOM_OP else name, version_k, MAPPED,
                           output=out.name if out else "", shape=out.shape if out else (), subgraph=subgraph[k])
        p = problems[k]
        if p is not None:
            row.status, row.reason = p.status, p.reason
            show = {"always": True, "island": k in island, "feeds": k in feeds}[p.when]
            row.fix = p.fix if show else ""
        elif blocked[k]:
            row.status, row.reason = SUBGRAPH, "depends on a CPU op that depends on a mapped op"
        else:
            for i in g.inputs(k):
                t = g.sg.tensors[i]
                buf = g.buffer(t)
                if buf is not None and t.buffer not in seen:
                    seen.add(t.buffer)
                    param_bytes += int(buf.size)
        preds.append(row)
    total = sum(g.tensor(i).nbytes for i in range(len(g.sg.tensors)) if g.tensor(i).constant)
    return Preflight(name=g.name, ops=preds, inputs=[g.tensor(i) for i in g.sg.inputs],
                     outputs=[g.tensor(i) for i in g.sg.outputs], param_bytes=param_bytes, total_param_bytes=total,
                     size_bytes=g.size, compiled=compiled, multiple_subgraphs=multiple_subgraphs,
                     compiler_version=version, notes=_notes(g))


# ops whose place matters for speed: a fix is shown only where it would bring one of them back to the Edge TPU
_HEAVY = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV", "LSTM", "UNIDIRECTIONAL_SEQUENCE_LSTM"}


def _blocking(g: TFLiteGraph, own_cpu: list[bool], blocked: list[bool]) -> tuple[set[int], set[int]]:
    """CPU ops whose fix would bring a blocked conv/dense/LSTM back: ``(island, feeds)``. ``island``: an op that
    could map is reached from it through CPU ops only; ``feeds``: an op that could map reads its output."""
    consumers: dict[int, list[int]] = {}
    for c in range(len(g.ops)):
        for p in g.producers(c):
            consumers.setdefault(p, []).append(c)
    n = len(g.ops)
    via_cpu, heavy_below = [False] * n, [False] * n
    for k in reversed(range(n)):                    # file order is topological: consumers come later
        cs = consumers.get(k, [])
        via_cpu[k] = any(blocked[c] or (own_cpu[c] and via_cpu[c]) for c in cs)
        heavy_below[k] = any((blocked[c] and g.opname(g.ops[c])[0] in _HEAVY) or heavy_below[c] for c in cs)
    island = {k for k in range(n) if own_cpu[k] and via_cpu[k] and heavy_below[k]}
    return island, {k for k in island if any(blocked[c] for c in consumers.get(k, []))}


def analyze_subgraph_modes(model: str | Path | bytes,
                           compiler_version: int | str = DEFAULT_COMPILER) -> SubgraphModes:
    """Predict ``model`` with the compiler's default (one Edge TPU subgraph) and with ``-a``, side by side."""
    return SubgraphModes(analyze(model, compiler_version=compiler_version),
                         analyze(model, multiple_subgraphs=True, compiler_version=compiler_version))


def analyze_cocompiled(models: list[str | Path | bytes | Preflight], cache_bytes: int = CACHE_BYTES,
                       compiler_version: int | str = DEFAULT_COMPILER) -> CoCompileReport:
    """Analyze several models and share the on-chip cache between them in the given (command-line) order."""
    reports = [m if isinstance(m, Preflight) else analyze(m, compiler_version=compiler_version) for m in models]
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
    compiler's report: pass ``report`` (a :class:`course_lib.edgetpu.CompiledModel`) to add it.
    """
    g = TFLiteGraph(model)
    n_tpu, cpu, exe = 0, [], 0
    for op in g.ops:
        name, _, custom = g.opname(op)
        if custom == EDGETPU_CUSTOM_OP:
            n_tpu += 1
            exe += len(op.customOptions) if op.customOptions is not None else 0
        else:
            cpu.append(custom if name == "CUSTOM" else name)
    if n_tpu == 0:
        raise ModelError(f"{g.name}: no edgetpu-custom-op; this model is not compiled for the Edge TPU. "
                         "Run edgetpu_compiler on it (course_lib.edgetpu.compile_models).")
    inside = getattr(report, "tpu_ops", None)
    return CompiledInspection(g.name, n_tpu, cpu, exe, [g.tensor(i) for i in g.sg.inputs],
                              [g.tensor(i) for i in g.sg.outputs], inside)
