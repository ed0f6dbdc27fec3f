"""Run Coral's ``edgetpu_compiler`` and read what it says, as data.

    >>> from course_lib import edgetpu
    >>> result = edgetpu.compile_models(["detector.tflite", "classifier.tflite"], out_dir="edgetpu")
    >>> result.models[1].on_chip_bytes, result.models[1].off_chip_bytes

Several models on one command line are *co-compiled*: they share one caching token and the ~8 MB of
on-chip memory is handed out in command-line order. Without the compiler on ``PATH``,
:func:`compile_models` says how to install it and returns the pre-flight prediction of
:mod:`course_lib.edgetpu.analyzer` instead (``result.compiled`` is False).

The parsers work on the compiler's real stdout (``Input model: ...`` blocks) and on its per-model
``*_edgetpu.log`` (the ``Operator / Count / Status`` table).
"""
from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from ..exceptions import EdgeTPUCompileError
from .status import MAPPED

__all__ = ["OpStatus", "CompiledModel", "CompileResult", "INSTALL_HELP", "find_compiler", "compile_models",
           "parse_stdout", "parse_log", "parse_size"]

INSTALL_HELP = """\
edgetpu_compiler is not on PATH. It ships only from Coral's apt repository, for x86-64 Linux
(Debian/Ubuntu; on macOS/Windows/ARM use Docker or Coral's web compiler):

  curl https://packages.cloud.google.com/apt/doc/apt-key.gpg | sudo apt-key add -
  echo "deb https://packages.cloud.google.com/apt coral-edgetpu-stable main" | \\
      sudo tee /etc/apt/sources.list.d/coral-edgetpu.list
  sudo apt-get update && sudo apt-get install edgetpu-compiler

Until then you get the kit's pre-flight prediction (course_lib.edgetpu.analyze), not the compiler's result."""

_UNITS = {"B": 1, "KiB": 1024, "MiB": 1024 ** 2, "GiB": 1024 ** 3}
_SIZE = re.compile(r"^\s*([\d.]+)\s*(B|KiB|MiB|GiB)\s*$")
_ROW = re.compile(r"^(\S+)\s+(\d+)\s+(\S.*?)\s*$")


def parse_size(text: str) -> int:
    """``'4.08MiB'`` -> 4278190 bytes (the compiler prints two decimals, so this is approximate)."""
    m = _SIZE.match(text)
    if not m:
        raise ValueError(f"not a compiler size: {text!r}")
    return int(round(float(m.group(1)) * _UNITS[m.group(2)]))


@dataclass(frozen=True)
class OpStatus:
    """One row of the operation table: ``CONV_2D  66  Mapped to Edge TPU``."""

    op: str
    count: int
    status: str

    @property
    def mapped(self) -> bool:
        return self.status == MAPPED


@dataclass
class CompiledModel:
    """What the compiler reported for one model."""

    input_model: str
    output_model: str | None = None
    input_bytes: int | None = None
    output_bytes: int | None = None
    on_chip_bytes: int | None = None
    on_chip_remaining_bytes: int | None = None
    off_chip_bytes: int | None = None
    subgraphs: int | None = None
    total_ops: int | None = None
    tpu_ops: int | None = None
    cpu_ops: int | None = None
    log_file: str | None = None
    operations: list[OpStatus] = field(default_factory=list)
    compiler_version: str | None = None

    def __post_init__(self) -> None:
        self.finish()

    def finish(self) -> None:
        """Fill the counts the compiler leaves out: without a "will run on CPU" line, every op is mapped."""
        if self.total_ops is not None and self.tpu_ops is None and self.cpu_ops is None and self.subgraphs:
            self.tpu_ops, self.cpu_ops = self.total_ops, 0
        if self.operations and self.tpu_ops is None:
            self.tpu_ops = sum(o.count for o in self.operations if o.mapped)
            self.cpu_ops = sum(o.count for o in self.operations if not o.mapped)

    @property
    def fully_mapped(self) -> bool:
        return self.cpu_ops == 0 and bool(self.tpu_ops)


@dataclass
class CompileResult:
    """The outcome of :func:`compile_models`: the compiler's report, or the pre-flight prediction."""

    compiled: bool
    models: list[CompiledModel] = field(default_factory=list)
    compiler_version: str | None = None
    milliseconds: int | None = None
    command: list[str] = field(default_factory=list)
    stdout: str = ""
    preflight: object | None = None     # edgetpu.CoCompileReport when there was no compiler

    def model(self, name: str) -> CompiledModel:
        for m in self.models:
            if Path(m.input_model).name == Path(name).name or Path(m.output_model or "").name == Path(name).name:
                return m
        raise KeyError(f"no model {name!r}; the compiler reported {[m.input_model for m in self.models]}")


def _table(lines: list[str]) -> list[OpStatus]:
    ops = []
    for line in lines:
        m = _ROW.match(line)
        if m and m.group(1) != "Operator":
            ops.append(OpStatus(m.group(1), int(m.group(2)), m.group(3)))
    return ops


def parse_stdout(text: str) -> CompileResult:
    """Parse the compiler's stdout (one or several ``Input model:`` blocks; ``-s`` tables included)."""
    version = re.search(r"Edge TPU Compiler version (\S+)", text)
    ms = re.search(r"compiled successfully in (\d+) ms", text)
    models: list[CompiledModel] = []
    keys = {
        "Input model": ("input_model", str), "Output model": ("output_model", str),
        "Input size": ("input_bytes", parse_size), "Output size": ("output_bytes", parse_size),
        "On-chip memory used for caching model parameters": ("on_chip_bytes", parse_size),
        "On-chip memory remaining for caching model parameters": ("on_chip_remaining_bytes", parse_size),
        "Off-chip memory used for streaming uncached model parameters": ("off_chip_bytes", parse_size),
        "Number of Edge TPU subgraphs": ("subgraphs", int), "Total number of operations": ("total_ops", int),
        "Operation log": ("log_file", str), "Number of operations that will run on Edge TPU": ("tpu_ops", int),
        "Number of operations that will run on CPU": ("cpu_ops", int),
    }
    table: list[str] = []
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() in keys:
            attr, conv = keys[key.strip()]
            if attr == "input_model":
                models.append(CompiledModel(input_model=value.strip(),
                                            compiler_version=version.group(1) if version else None))
                table = []
            elif models:
                setattr(models[-1], attr, conv(value.strip()))
        elif models and _ROW.match(line):
            table.append(line)
            models[-1].operations = _table(table)
    for m in models:
        m.finish()
    return CompileResult(compiled=bool(models), models=models, compiler_version=version.group(1) if version else None,
                         milliseconds=int(ms.group(1)) if ms else None, stdout=text)


def parse_log(text: str) -> CompiledModel:
    """Parse one ``*_edgetpu.log``: compiler version, input/output names and the operation table."""
    version = re.search(r"Edge TPU Compiler version (\S+)", text)
    inp = re.search(r"^Input: (.+)$", text, re.M)
    out = re.search(r"^Output: (.+)$", text, re.M)
    if not inp or "Operator" not in text:
        raise ValueError("not an edgetpu_compiler operation log (no `Input:` line or no `Operator` table)")
    m = CompiledModel(input_model=inp.group(1).strip(), output_model=out.group(1).strip() if out else None,
                      compiler_version=version.group(1) if version else None,
                      operations=_table(text.split("Operator", 1)[1].splitlines()[1:]))
    m.total_ops = sum(o.count for o in m.operations)
    m.finish()
    return m


def find_compiler() -> str | None:
    """The path of ``edgetpu_compiler`` on PATH, or None."""
    return shutil.which("edgetpu_compiler")


def compile_models(models: list[str | Path], out_dir: str | Path = ".", show_operations: bool = True,
                   min_runtime_version: int | None = None, num_segments: int | None = None,
                   multiple_subgraphs: bool = False, intermediate_tensors: list[str] | None = None,
                   timeout_sec: int = 180, search_delegate: bool = False, verbose: bool = True) -> CompileResult:
    """Co-compile ``models`` (in this order) with ``edgetpu_compiler``; without it, the pre-flight prediction.

    The flags are the compiler's: ``-o out_dir``, ``-s``, ``-m min_runtime_version``, ``-n num_segments``,
    ``-a`` (``multiple_subgraphs``), ``-i intermediate_tensors`` (comma-joined), ``-t timeout_sec``,
    ``-d`` (``search_delegate``). The ``.log`` files the compiler writes are parsed into each model's
    ``operations`` when stdout has no table.
    """
    paths = [Path(m) for m in models]
    for p in paths:
        if not p.is_file():
            raise EdgeTPUCompileError(f"{p}: no such model file; convert it first (tf.lite.TFLiteConverter).")
    exe = find_compiler()
    if exe is None:
        from .analyzer import analyze_cocompiled

        if verbose:
            print(INSTALL_HELP)
        return CompileResult(compiled=False, preflight=analyze_cocompiled(paths))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cmd = [exe, "-o", str(out), "-t", str(timeout_sec)]
    if show_operations:
        cmd.append("-s")
    if min_runtime_version is not None:
        cmd += ["-m", str(min_runtime_version)]
    if num_segments is not None:
        cmd += ["-n", str(num_segments)]
    if multiple_subgraphs:
        cmd.append("-a")
    if intermediate_tensors:
        cmd += ["-i", ",".join(intermediate_tensors)]
    if search_delegate:
        cmd.append("-d")
    cmd += [str(p) for p in paths]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_sec + 30)
    except subprocess.TimeoutExpired as e:
        raise EdgeTPUCompileError(f"edgetpu_compiler ran past {timeout_sec + 30} s on {[p.name for p in paths]}; "
                                  "raise timeout_sec, or compile the models one at a time.") from e
    if proc.returncode != 0:
        raise EdgeTPUCompileError(
            f"`{' '.join(cmd)}` failed (exit {proc.returncode}):\n{(proc.stdout + proc.stderr)[-2000:]}\n"
            "Check that every model is fully int8 (run course_lib.edgetpu.analyze on it) and that "
            "its op versions are ones the compiler knows (convert with an older TensorFlow if it says "
            "`Didn't find op for builtin opcode`).")
    result = parse_stdout(proc.stdout)
    result.command = cmd
    if not result.models:
        raise EdgeTPUCompileError(f"`{' '.join(cmd)}` exited 0 but reported no model:\n{proc.stdout[-2000:]}")
    for m in result.models:
        log = out / (m.log_file or "")
        if m.log_file and log.is_file() and not m.operations:
            m.operations = parse_log(log.read_text()).operations
        if m.output_model and not (out / m.output_model).is_file():
            raise EdgeTPUCompileError(f"edgetpu_compiler reported {m.output_model} but did not write it in {out}.")
    if verbose:
        print(proc.stdout)
    return result
