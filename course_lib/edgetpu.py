"""Lesson 5's Edge TPU tools in one import: the pre-flight analyzer and the compiler wrapper.

    >>> from course_lib import edgetpu
    >>> print(edgetpu.analyze("model_int8.tflite").log())          # no compiler needed
    >>> result = edgetpu.compile_models(["detector.tflite", "classifier.tflite"], out_dir="edgetpu")

The code lives in :mod:`course_lib.edgetpu_analyzer` (reading a ``.tflite``, predicting the mapping,
inspecting compiled models) and :mod:`course_lib.edgetpu_compiler` (running ``edgetpu_compiler`` and
parsing its stdout and ``.log``).
"""
from .edgetpu_analyzer import (CACHE_BYTES, CoCompileReport, CompiledInspection, OpPrediction, Preflight, analyze,
                               analyze_cocompiled, inspect_compiled)
from .edgetpu_compiler import (INSTALL_HELP, CompiledModel, CompileResult, OpStatus, compile_models, find_compiler,
                               parse_log, parse_stdout)

__all__ = ["CACHE_BYTES", "CoCompileReport", "CompiledInspection", "OpPrediction", "Preflight", "analyze",
           "analyze_cocompiled", "inspect_compiled", "INSTALL_HELP", "CompiledModel", "CompileResult", "OpStatus",
           "compile_models", "find_compiler", "parse_log", "parse_stdout"]
