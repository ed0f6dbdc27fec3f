"""The compiler's status strings, verbatim, and the compiler versions the rules model.

Sources of the strings (public ``*_edgetpu.log`` files and compiler reports):

* ``Mapped to Edge TPU``, ``Operation is working on an unsupported data type``: the kit's real fixture log
  (compiler 15.0, ssdlite_mobiledet), google-coral/edgetpu#490 (16.0);
* ``Operation is otherwise supported, but not mapped due to some unspecified limitation``: a float-input
  QUANTIZE in google-coral/edgetpu#342 and system-software-lab/nrf20 ``convert/quantize/README.md`` (15.0),
  RESIZE_BILINEAR in google-coral/edgetpu#31;
* ``More than one subgraph is not supported``: google-coral/edgetpu#461, #342, ultralytics/hub#1136 (16.0);
* ``Operation not supported``: TRANSPOSE in google-coral/edgetpu#342;
* ``Operation version not supported``: RESIZE_NEAREST_NEIGHBOR v3 in a 14.1 log
  (rajansaini691/retinanet-model-tflite ``tiny_yolo_edgetpu.log``);
* ``Tensor has unsupported rank (up to 3 innermost dimensions mapped)``: maxbbraun/thermal-face#2 (14.1).
"""
from __future__ import annotations

__all__ = ["MAPPED", "UNSPECIFIED", "DATA_TYPE", "VERSION", "SUBGRAPH", "NOT_SUPPORTED", "RANK",
           "COMPILER_VERSIONS", "DEFAULT_COMPILER", "CACHE_BYTES", "EDGE_TPU", "CPU", "check_version"]

MAPPED = "Mapped to Edge TPU"
UNSPECIFIED = "Operation is otherwise supported, but not mapped due to some unspecified limitation"
DATA_TYPE = "Operation is working on an unsupported data type"
VERSION = "Operation version not supported"
SUBGRAPH = "More than one subgraph is not supported"
NOT_SUPPORTED = "Operation not supported"
RANK = "Tensor has unsupported rank (up to 3 innermost dimensions mapped)"

EDGE_TPU, CPU = "Edge TPU", "CPU"

# The full version strings the compiler prints (`Edge TPU Compiler version ...`): 15.0 in the kit's real
# co-compile fixture, 16.0 (the current and last release) in google-coral/edgetpu#512 and #879.
COMPILER_VERSIONS = {15: "15.0.340273435", 16: "16.0.384591198"}
DEFAULT_COMPILER = 16

# ~8 MB of on-chip SRAM caches parameters (the real co-compile log: 4.89 MiB used + 2.74 MiB left = 8.0e6 B)
CACHE_BYTES = 8_000_000


def check_version(version: int | str) -> int:
    """``16``, ``"16"`` or ``"16.0.384591198"`` -> 16; a ValueError naming the known versions otherwise."""
    major = int(str(version).split(".")[0]) if str(version).split(".")[0].isdigit() else None
    if major not in COMPILER_VERSIONS:
        raise ValueError(f"compiler version {version!r} is not modelled; use one of "
                         f"{sorted(COMPILER_VERSIONS)} (the current edgetpu_compiler is 16)")
    return major
