"""The compiler's partition, by dataflow: which ops that could map end up in the Edge TPU subgraph.

What the 9 real models of the corpus show (google-coral/test_data, compiled by Coral's compiler):

* an op that can map is mapped unless it is **downstream of a TPU->CPU edge**: a path from a mapped op
  through a CPU op to it. Then it would start a second Edge TPU subgraph, and by default the compiler
  builds one ("More than one subgraph is not supported", google-coral/edgetpu#461);
* ops that do **not** depend on a CPU op keep mapping even when they come after one in file order
  (MoveNet: the keypoint heads after the ARG_MAX branch are inside the edgetpu-custom-op);
* CPU ops **before** any mapped op do not stop anything (MoveNet: CAST and a float QUANTIZE at the input,
  then 87 mapped ops), so the graph is not "cut once in file order".

Compiler flags: ``-a`` (``multiple_subgraphs``) lifts the one-subgraph rule, so every op that can map is
mapped and each TPU->CPU->TPU crossing starts another subgraph. ``-n N`` splits the mapped ops into N
pipeline segments (separate models) without changing which ops map; ``-d`` only searches for a smaller
delegate when a compilation fails, which a pre-flight cannot predict. Neither changes the placement here.
"""
from __future__ import annotations

from .graph import TFLiteGraph

__all__ = ["partition"]


def partition(g: TFLiteGraph, own_cpu: list[bool], multiple_subgraphs: bool = False) -> tuple[list[bool], list[int]]:
    """Place the ops of ``g`` (in file order, which TFLite keeps topological).

    ``own_cpu[k]`` says whether op ``k`` cannot map on its own (a rule failed). Returns ``(blocked, subgraph)``:
    ``blocked[k]`` is True for an op that could map but is downstream of a TPU->CPU edge (only without
    ``-a``); ``subgraph[k]`` is the Edge TPU subgraph of a mapped op (0, 1, ...) or -1 on the CPU.
    """
    n = len(g.ops)
    tpu_above = [False] * n     # some mapped op is upstream of (or is) this op
    after_cut = [False] * n     # a path mapped -> CPU -> this op exists
    level = [0] * n             # mapped op: its subgraph; CPU op: the subgraph a mapped op after it would start
    blocked = [False] * n
    subgraph = [-1] * n
    for k in range(n):
        cut_in = above = False
        for p in g.producers(k):
            above |= tpu_above[p]
            cut_in |= after_cut[p] or (subgraph[p] < 0 and tpu_above[p])
        mapped = not own_cpu[k] and (multiple_subgraphs or not cut_in)
        after_cut[k], blocked[k], tpu_above[k] = cut_in, not own_cpu[k] and not mapped, above or mapped
        lv = [level[p] + (1 if subgraph[p] >= 0 and not mapped else 0) for p in g.producers(k)]
        level[k] = max(lv, default=0)
        subgraph[k] = level[k] if mapped else -1
    if multiple_subgraphs:                          # number the subgraphs 0, 1, ... without gaps
        used = sorted({s for s in subgraph if s >= 0})
        subgraph = [used.index(s) if s >= 0 else -1 for s in subgraph]
    return blocked, subgraph
