"""Agreement of the pre-flight with a real compiler result: a compiled ``*_edgetpu.tflite`` or its ``.log``.

    >>> from course_lib import edgetpu
    >>> a = edgetpu.compare("model.tflite", "model_edgetpu.tflite")
    >>> print(a.table()); a.ops_right, a.total, a.partition_right

A compiled model keeps, outside its ``edgetpu-custom-op``\\ s, exactly the ops that ran on the CPU, with
their output tensor names: an op of the CPU model whose output name is still produced by a non-custom op
ran on the CPU, every other op is inside an Edge TPU subgraph. A ``.log`` has no op indices, so it is
compared per op type (counts on the Edge TPU and on the CPU, and per status string).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ..exceptions import ModelError
from .analyzer import analyze
from .compiler import parse_log, parse_stdout
from .graph import EDGETPU_CUSTOM_OP, TFLiteGraph
from .report import OpPrediction, Preflight
from .status import CPU, DEFAULT_COMPILER, EDGE_TPU

__all__ = ["Agreement", "compare", "compiled_placement"]


@dataclass
class Agreement:
    """How a prediction lines up with the compiler's result for one model."""

    model: str
    reference: str
    kind: str                                   # "compiled model" or "log"
    ops_right: int
    total: int
    subgraphs_predicted: int
    subgraphs_real: int | None
    status_right: int | None = None             # only from a log: ops whose status string agrees
    wrong: list[tuple[OpPrediction, str]] = field(default_factory=list)   # (prediction, real placement)
    by_type: list[tuple[str, int, int, int, int]] = field(default_factory=list)  # log: op, pred/real TPU/CPU

    @property
    def fraction(self) -> float:
        return self.ops_right / self.total if self.total else 1.0

    @property
    def partition_right(self) -> bool:
        return self.ops_right == self.total and self.subgraphs_real in (None, self.subgraphs_predicted)

    def table(self) -> str:
        lines = [f"{self.model} vs {self.reference} ({self.kind}): {self.ops_right}/{self.total} ops placed right "
                 f"({100 * self.fraction:.1f} %); Edge TPU subgraphs predicted {self.subgraphs_predicted}, real "
                 f"{'?' if self.subgraphs_real is None else self.subgraphs_real}; partition "
                 f"{'right' if self.partition_right else 'WRONG'}"]
        if self.status_right is not None:
            lines.append(f"status strings agreeing: {self.status_right}/{self.total}")
        if self.by_type:
            lines.append(f"  {'Operator':<30}{'TPU pred':>9}{'TPU real':>9}{'CPU pred':>9}{'CPU real':>9}")
            lines += [f"  {op:<30}{a:>9}{b:>9}{c:>9}{d:>9}" + ("" if (a, c) == (b, d) else "  <-")
                      for op, a, b, c, d in self.by_type]
        for o, real in self.wrong:
            lines.append(f"  op #{o.index} {o.op} -> {o.output[:50]}: predicted {o.placement} ({o.status}), "
                         f"compiler: {real}")
        return "\n".join(lines)


def compiled_placement(compiled: str | Path | bytes) -> tuple[set[str], int]:
    """``(names of tensors produced by CPU ops, number of edgetpu-custom-ops)`` of a compiled model."""
    g = TFLiteGraph(compiled)
    cpu, n = set(), 0
    for k, op in enumerate(g.ops):
        if g.opname(op)[2] == EDGETPU_CUSTOM_OP:
            n += 1
        else:
            cpu |= {g.tensor(i).name for i in g.outputs(k)}
    if n == 0:
        raise ModelError(f"{g.name}: no edgetpu-custom-op, so not an edgetpu_compiler output; pass the "
                         "*_edgetpu.tflite the compiler wrote, or its .log.")
    return cpu, n


def _against_log(pre: Preflight, text: str, ref: str) -> Agreement:
    real = parse_stdout(text).models[0] if "Input model:" in text else parse_log(text)
    if not real.operations:
        raise ModelError(f"{ref}: no operation table; compile with -s, or pass the *_edgetpu.log.")
    placed = {(o.op, o.mapped): 0 for o in real.operations}
    for o in real.operations:
        placed[(o.op, o.mapped)] += o.count
    mine = Counter((o.op, o.mapped) for o in pre.ops)
    types = list(dict.fromkeys([o.op for o in pre.ops] + [o.op for o in real.operations]))
    by_type = [(t, mine[(t, True)], placed.get((t, True), 0), mine[(t, False)], placed.get((t, False), 0))
               for t in types]
    right = sum(min(a, b) + min(c, d) for _, a, b, c, d in by_type)
    real_status = Counter()
    for o in real.operations:
        real_status[(o.op, o.status)] += o.count
    status_right = sum(min(n, real_status[key]) for key, n in Counter((o.op, o.status) for o in pre.ops).items())
    total = max(len(pre.ops), sum(o.count for o in real.operations))
    return Agreement(pre.name, ref, "log", right, total, pre.subgraphs, real.subgraphs, status_right,
                     by_type=by_type)


def compare(model: str | Path | bytes, reference: str | Path | bytes, compiler_version: int | str = DEFAULT_COMPILER,
            multiple_subgraphs: bool = False) -> Agreement:
    """Compare the pre-flight of ``model`` (the CPU ``.tflite``) with the real compiler's ``reference``.

    ``reference`` is the compiled ``*_edgetpu.tflite`` (a path or bytes) or the compiler's ``.log`` / stdout
    (a path ending in ``.log``/``.txt``). Pass the flags the compiler was run with.
    """
    pre = analyze(model, multiple_subgraphs=multiple_subgraphs, compiler_version=compiler_version)
    if isinstance(reference, (str, Path)) and Path(reference).suffix in (".log", ".txt"):
        return _against_log(pre, Path(reference).read_text(), Path(reference).name)
    cpu, n_custom = compiled_placement(reference)
    ref = Path(reference).name if isinstance(reference, (str, Path)) else "compiled model"
    wrong = []
    for o in pre.ops:
        real = CPU if o.output in cpu else EDGE_TPU
        if real != o.placement:
            wrong.append((o, real))
    return Agreement(pre.name, ref, "compiled model", len(pre.ops) - len(wrong), len(pre.ops), pre.subgraphs,
                     n_custom, wrong=wrong)
