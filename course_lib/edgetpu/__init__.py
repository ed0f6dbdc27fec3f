"""Lesson 5's Edge TPU tools in one import: the pre-flight analyzer, the compiler wrapper, the compare tool.

    >>> from course_lib import edgetpu
    >>> print(edgetpu.analyze("model_int8.tflite").log())          # no compiler needed (version 16 rules)
    >>> edgetpu.analyze("model_int8.tflite", compiler_version=15, multiple_subgraphs=True)   # -a
    >>> result = edgetpu.compile_models(["detector.tflite", "classifier.tflite"], out_dir="edgetpu")
    >>> print(edgetpu.compare("model_int8.tflite", "model_int8_edgetpu.tflite").table())

Modules: :mod:`.graph` reads the flatbuffer, :mod:`.rules` checks each op, :mod:`.partition` places the ops
by dataflow as the compiler does, :mod:`.report` holds the result and prints the compiler's log format,
:mod:`.analyzer` ties them together, :mod:`.compiler` runs ``edgetpu_compiler`` and parses its output,
:mod:`.compare` measures agreement with a real compiled model or log.
"""
from .analyzer import analyze, analyze_cocompiled, analyze_subgraph_modes, inspect_compiled
from .compare import Agreement, compare, compiled_placement
from .compiler import (INSTALL_HELP, CompiledModel, CompileResult, OpStatus, compile_models, find_compiler,
                       parse_log, parse_size, parse_stdout)
from .graph import TensorInfo, TFLiteGraph
from .report import CoCompileReport, CompiledInspection, OpPrediction, Preflight, SubgraphModes
from .status import (CACHE_BYTES, COMPILER_VERSIONS, DATA_TYPE, DEFAULT_COMPILER, MAPPED, NOT_SUPPORTED, RANK,
                     SUBGRAPH, UNSPECIFIED, VERSION)

__all__ = ["CACHE_BYTES", "CoCompileReport", "CompiledInspection", "OpPrediction", "Preflight", "SubgraphModes",
           "analyze", "analyze_cocompiled", "analyze_subgraph_modes", "inspect_compiled", "INSTALL_HELP",
           "CompiledModel", "CompileResult", "OpStatus", "compile_models", "find_compiler", "parse_log", "parse_size",
           "parse_stdout", "Agreement", "compare", "compiled_placement", "TensorInfo", "TFLiteGraph",
           "COMPILER_VERSIONS", "DEFAULT_COMPILER", "MAPPED", "UNSPECIFIED", "DATA_TYPE", "VERSION", "SUBGRAPH",
           "NOT_SUPPORTED", "RANK"]
