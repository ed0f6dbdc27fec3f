"""The pre-flight result: one row per op, and the compiler's ``.log`` format to print it in."""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .graph import TensorInfo
from .status import CACHE_BYTES, COMPILER_VERSIONS, CPU, EDGE_TPU, MAPPED, SUBGRAPH

__all__ = ["OpPrediction", "Preflight", "SubgraphModes", "CoCompileReport", "CompiledInspection", "fmt_bytes"]


def fmt_bytes(n: int | float) -> str:
    """Bytes the way the compiler prints them: ``584.06KiB``."""
    for unit, size in (("MiB", 1024 ** 2), ("KiB", 1024)):
        if abs(n) >= size:
            return f"{n / size:.2f}{unit}"
    return f"{n:.2f}B"


@dataclass
class OpPrediction:
    """One op: where it runs, the compiler's status string for it, why, and the fix where one exists."""

    index: int
    op: str
    version: int
    status: str
    reason: str = ""
    fix: str = ""
    output: str = ""                    # name of the op's first output tensor (what a compiled model keeps)
    shape: tuple[int, ...] = ()
    subgraph: int = -1                  # Edge TPU subgraph of a mapped op, -1 on the CPU

    @property
    def mapped(self) -> bool:
        return self.status == MAPPED

    @property
    def placement(self) -> str:
        return EDGE_TPU if self.mapped else CPU


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
    compiler_version: int = 16
    notes: list[str] = field(default_factory=list)

    @property
    def mapped_ops(self) -> int:
        return sum(o.mapped for o in self.ops)

    @property
    def mapped_fraction(self) -> float:
        return self.mapped_ops / len(self.ops) if self.ops else 0.0

    @property
    def subgraphs(self) -> int:
        """Edge TPU subgraphs (edgetpu-custom-ops) the compiled model would hold."""
        return len({o.subgraph for o in self.ops if o.mapped})

    @property
    def blockers(self) -> list[OpPrediction]:
        """Ops that cannot map on their own (not the ones left out only by the one-subgraph rule)."""
        return [o for o in self.ops if not o.mapped and o.status != SUBGRAPH]

    @property
    def partition(self) -> OpPrediction | None:
        """The first op that cannot map on its own, or None."""
        return next(iter(self.blockers), None)

    @property
    def fully_mapped(self) -> bool:
        return bool(self.ops) and self.mapped_ops == len(self.ops)

    def rows(self) -> list[tuple[str, int, str]]:
        """``(op, count, status)`` grouped by op and status, in order of first appearance."""
        groups: OrderedDict[tuple[str, str], int] = OrderedDict()
        for o in self.ops:
            groups[(o.op, o.status)] = groups.get((o.op, o.status), 0) + 1
        return [(op, n, status) for (op, status), n in groups.items()]

    def log(self, per_op: bool = True) -> str:
        """The compiler's ``.log`` format (``Operator / Count / Status``), then op by op, then the fixes."""
        stem = Path(self.name).stem
        version = COMPILER_VERSIONS.get(self.compiler_version, str(self.compiler_version))
        lines = [f"Edge TPU pre-flight for Edge TPU Compiler version {version} (course_lib prediction, "
                 "not edgetpu_compiler)", f"Input: {self.name}",
                 f"Output: {self.name if self.compiled else stem + '_edgetpu.tflite'}", "",
                 f"{'Operator':<31}{'Count':<11}Status", ""]
        lines += [f"{op:<31}{n:<11}{status}" for op, n, status in self.rows()]
        lines += ["", f"Number of Edge TPU subgraphs: {self.subgraphs}",
                  f"Number of operations that will run on Edge TPU: {self.mapped_ops}",
                  f"Number of operations that will run on CPU: {len(self.ops) - self.mapped_ops}",
                  f"Parameters on the Edge TPU: {fmt_bytes(self.param_bytes)} (on-chip cache "
                  f"{fmt_bytes(CACHE_BYTES)})"]
        if self.compiled:
            lines.append("Already compiled: each edgetpu-custom-op holds the ops the compiler mapped "
                         "(their parameters are inside its executable)")
        lines += [f"Note: {n}" for n in self.notes]
        if per_op:
            lines += ["", "Op by op (index, type, output tensor, shape, placement, status):"]
            lines += [f"  {o.index:>4} {o.op:<30} {o.output[:48]:<48} {str(list(o.shape)):<18} "
                      f"{o.placement:<9} {o.status}" for o in self.ops]
        fixes = [o for o in self.ops if o.fix]
        if fixes:
            lines += ["", "What to change:"]
            by_fix: OrderedDict[str, list[OpPrediction]] = OrderedDict()
            for o in fixes:                       # one line per distinct fix, not one per op
                by_fix.setdefault(o.fix, []).append(o)
            for fix, same in by_fix.items():
                o = same[0]
                lines.append(f"  op #{o.index} {o.op}: {o.reason} -> fix: {fix}")
                if len(same) > 1:
                    more = ", ".join(f"#{x.index} {x.op}" for x in same[1:6]) + (", ..." if len(same) > 6 else "")
                    lines.append(f"    (the same for {len(same) - 1} more ops: {more})")
        left = [o for o in self.ops if o.status == SUBGRAPH]
        if left:
            lines.append(f"  {len(left)} op(s) that could map depend on an op above through the CPU, so they "
                         "would start a second Edge TPU subgraph: the compiler leaves them on the CPU (fix the "
                         "op they depend on, or compile with -a)")
        return "\n".join(lines)

    def summary(self) -> str:
        cut = self.partition
        where = f"; first CPU op #{cut.index} {cut.op}" if cut else ""
        return (f"{self.name}: {self.mapped_ops}/{len(self.ops)} ops predicted on the Edge TPU "
                f"({100 * self.mapped_fraction:.0f} %) in {self.subgraphs} subgraph(s){where}; "
                f"parameters {fmt_bytes(self.param_bytes)}")

    def to_dict(self) -> dict:
        """The prediction as plain data (``course edgetpu analyze --json``)."""
        return {"model": self.name, "compiler_version": COMPILER_VERSIONS.get(self.compiler_version),
                "multiple_subgraphs": self.multiple_subgraphs, "subgraphs": self.subgraphs,
                "tpu_ops": self.mapped_ops, "cpu_ops": len(self.ops) - self.mapped_ops,
                "param_bytes": self.param_bytes, "notes": list(self.notes),
                "ops": [{**asdict(o), "shape": list(o.shape), "placement": o.placement} for o in self.ops]}


@dataclass
class SubgraphModes:
    """One model predicted twice: as the compiler builds it by default (one Edge TPU subgraph) and with ``-a``."""

    default: Preflight
    several: Preflight                  # multiple_subgraphs=True

    @property
    def as_expected(self) -> bool:
        """Lesson 5's rule: by default the ops after the first one that cannot map stay on the CPU; with ``-a``
        they map again, in another Edge TPU subgraph, and only the ops that cannot map run on the CPU."""
        left_by_default = [o for o in self.default.ops if o.status == SUBGRAPH]
        return (bool(left_by_default) and self.default.subgraphs == 1 and self.several.subgraphs >= 2
                and all(o.mapped for o in self.several.ops if o.index in {x.index for x in left_by_default})
                and {o.index for o in self.several.ops if not o.mapped} == {o.index for o in self.several.blockers})

    def explain(self) -> str:
        d, s, cut = self.default, self.several, self.default.partition
        if cut is None:
            return (f"{d.name}: every op can map, so -a changes nothing ({d.subgraphs} subgraph): put an op the "
                    "Edge TPU cannot run in the middle of the graph to see the difference")
        after = sum(o.status == SUBGRAPH for o in d.ops)
        cpu = ", ".join(f"#{o.index} {o.op}" for o in s.ops if not o.mapped)
        lines = [f"default: {d.mapped_ops}/{len(d.ops)} ops on the Edge TPU in {d.subgraphs} subgraph; cut at "
                 f"#{cut.index} {cut.op}; {after} op(s) after it that could map stay on the CPU",
                 f"-a:      {s.mapped_ops}/{len(s.ops)} ops on the Edge TPU in {s.subgraphs} subgraphs; "
                 f"on the CPU only {cpu}"]
        if self.as_expected:
            lines.append("as expected: -a maps the ops after the cut in another Edge TPU subgraph (each Edge TPU -> "
                         "CPU -> Edge TPU crossing copies the tensor out and back in)")
        elif not after:
            lines.append(f"nothing after #{cut.index} {cut.op} could map, so -a has nothing to move: put the "
                         "unsupported op in the middle, with ops the Edge TPU can run after it")
        else:
            lines.append("not what the lesson predicts: read the op-by-op log of both predictions")
        return "\n".join(lines)


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
            lines.append(f"{Path(m.name).name[:39]:<40}{fmt_bytes(m.param_bytes):>12}{fmt_bytes(on):>12}"
                         f"{fmt_bytes(off):>12}{fmt_bytes(left):>12}{100 * m.mapped_fraction:>8.0f}%")
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
        return (f"{self.name}: {self.edgetpu_custom_ops} edgetpu-custom-op ({fmt_bytes(self.executable_bytes)} "
                f"executable; {inside}); ops on the CPU: {cpu}")
