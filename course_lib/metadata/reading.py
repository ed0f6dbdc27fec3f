"""Reading metadata back (summaries, packed files), stripping it, comparing weights, permuting outputs."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from .common import interpreter_for, model_bytes, model_name
from .normalization import Normalization


# ------------------------------------------------------------------------------------------ reading
@dataclass
class TensorSummary:
    name: str
    description: str
    shape: tuple[int, ...]
    dtype: str
    norm: Normalization | None = None
    labels_file: str | None = None
    content: str = ""


@dataclass
class MetadataSummary:
    """What the Task Library reads from a model (``MetadataDisplayer``), plus tensor shapes and sizes."""

    model: str
    has_metadata: bool
    name: str = ""
    version: str = ""
    description: str = ""
    author: str = ""
    license: str = ""
    inputs: list[TensorSummary] = field(default_factory=list)
    outputs: list[TensorSummary] = field(default_factory=list)
    files: dict[str, list[str]] = field(default_factory=dict)      # packed file -> its lines
    size: int = 0
    size_without_metadata: int = 0

    @property
    def overhead(self) -> int:
        return self.size - self.size_without_metadata

    def labels(self, output: int = 0) -> list[str] | None:
        f = self.outputs[output].labels_file if output < len(self.outputs) else None
        return self.files.get(f) if f else None

    def __str__(self) -> str:
        if not self.has_metadata:
            return f"{self.model}: NO metadata ({self.size:,} bytes). The Task Library cannot load it."
        out = [f"{self.model}", f"  name: {self.name!r}  version: {self.version or '-'}  author: {self.author or '-'}",
               f"  description: {self.description}",
               f"  size: {self.size:,} B, of which metadata + packed files {self.overhead:,} B"]
        for role, ts in (("input", self.inputs), ("output", self.outputs)):
            for i, t in enumerate(ts):
                out.append(f"  {role} {i}: {t.name!r} {list(t.shape)} {t.dtype} - {t.description}")
                if t.norm is not None:
                    out.append(f"      normalisation: {t.norm}")
                if t.content:
                    out.append(f"      content: {t.content}")
                if t.labels_file:
                    out.append(f"      labels: {t.labels_file} ({len(self.files.get(t.labels_file, []))} lines)")
        for f, lines in self.files.items():
            preview = ", ".join(lines[:5]) + (", ..." if len(lines) > 5 else "")
            out.append(f"  packed file {f}: {len(lines)} lines: {preview}")
        return "\n".join(out)


def metadata_json(model) -> dict | None:
    from tflite_support import metadata as md

    try:
        disp = md.MetadataDisplayer.with_model_buffer(model_bytes(model))
    except ValueError:
        return None
    return json.loads(disp.get_metadata_json())


def packed_files(model) -> list[str]:
    """Names of the files packed into the model (label files, vocabularies...)."""
    from tflite_support import metadata as md

    try:
        return sorted(md.MetadataDisplayer.with_model_buffer(model_bytes(model)).get_packed_associated_file_list())
    except ValueError:
        return []


def extract_files(model, dest: str | Path) -> list[Path]:
    """Write every packed file of ``model`` into ``dest``; returns their paths."""
    from tflite_support import metadata as md

    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    try:
        disp = md.MetadataDisplayer.with_model_buffer(model_bytes(model))
    except ValueError:
        return []
    paths = []
    for n in disp.get_packed_associated_file_list():
        (dest / n).write_bytes(disp.get_associated_file_buffer(n))
        paths.append(dest / n)
    return paths


def summarize(model) -> MetadataSummary:
    """A readable summary of ``model``'s metadata (``print()`` it); works on models without metadata too."""
    from tflite_support import metadata as md

    buf = model_bytes(model)
    it = interpreter_for(buf)
    s = MetadataSummary(model_name(model), False, size=len(buf), size_without_metadata=len(strip_metadata(buf)))
    meta = metadata_json(buf)
    if meta is None:
        return s
    disp = md.MetadataDisplayer.with_model_buffer(buf)
    for n in disp.get_packed_associated_file_list():
        s.files[n] = disp.get_associated_file_buffer(n).decode("utf-8", "replace").splitlines()
    s.has_metadata = True
    s.name, s.version = meta.get("name", ""), meta.get("version", "")
    s.description, s.author, s.license = meta.get("description", ""), meta.get("author", ""), meta.get("license", "")
    graph = (meta.get("subgraph_metadata") or [{}])[0]
    for role, details, key in (("inputs", it.get_input_details(), "input_tensor_metadata"),
                               ("outputs", it.get_output_details(), "output_tensor_metadata")):
        tmeta = graph.get(key) or []
        for i, d in enumerate(details):
            m = tmeta[i] if i < len(tmeta) else {}
            t = TensorSummary(m.get("name", d["name"]), m.get("description", ""), tuple(int(x) for x in d["shape"]),
                              np.dtype(d["dtype"]).name)
            for unit in m.get("process_units") or []:
                if unit.get("options_type") == "NormalizationOptions":
                    o = unit["options"]
                    t.norm = Normalization(tuple(o["mean"]), tuple(o["std"]), "metadata")
            content = m.get("content") or {}
            props = content.get("content_properties") or {}
            t.content = content.get("content_properties_type", "")
            if "color_space" in props:
                t.content += f" ({props['color_space']})"
            if "index" in props:
                t.content += f" box order {props['index']}, {props.get('type', '')} {props.get('coordinate_type', '')}"
            for f in m.get("associated_files") or []:
                if "LABELS" in f.get("type", ""):
                    t.labels_file = f["name"]
            getattr(s, role).append(t)
    return s


# ------------------------------------------------------------------------------- stripping and weights
def strip_metadata(model) -> bytes:
    """The model without its TFLite metadata and packed files; every tensor and op unchanged."""
    from tensorflow.lite.tools import flatbuffer_utils as fu

    obj = fu.convert_bytearray_to_object(bytearray(model_bytes(model)))
    keep = []
    for m in obj.metadata or []:
        name = m.name.decode() if isinstance(m.name, bytes) else m.name
        if name == "TFLITE_METADATA":
            obj.buffers[m.buffer].data = None          # buffer indices stay valid; its bytes go
        else:
            keep.append(m)
    obj.metadata = keep
    return bytes(fu.convert_object_to_bytearray(obj))


@dataclass
class WeightComparison:
    equal: bool
    tensors: int
    bytes: int
    differing: list[str]

    def __str__(self) -> str:
        if self.equal:
            return f"identical: {self.tensors} constant tensors, {self.bytes:,} bytes of weights, byte for byte"
        return f"DIFFERENT: {len(self.differing)} tensors differ, e.g. {self.differing[:5]}"


def _constants(model) -> dict[str, tuple]:
    from tensorflow.lite.tools import flatbuffer_utils as fu

    obj = fu.convert_bytearray_to_object(bytearray(model_bytes(model)))
    out = {}
    for g, sub in enumerate(obj.subgraphs):
        for t in sub.tensors:
            data = obj.buffers[t.buffer].data if t.buffer < len(obj.buffers) else None
            name = t.name.decode() if isinstance(t.name, bytes) else t.name
            q = t.quantization
            qkey = (None if q is None or q.scale is None else (tuple(np.ravel(q.scale)), tuple(np.ravel(q.zeroPoint))))
            out[f"{g}/{name}"] = (tuple(np.ravel(t.shape)) if t.shape is not None else (), t.type, qkey,
                                  None if data is None else bytes(np.asarray(data, dtype=np.uint8)))
    return out


def compare_weights(a, b) -> WeightComparison:
    """Compare every tensor (shape, type, quantisation, constant bytes) of two models by name."""
    ta, tb = _constants(a), _constants(b)
    differing = sorted(k for k in set(ta) | set(tb) if ta.get(k) != tb.get(k))
    consts = [v for v in ta.values() if v[3] is not None]
    return WeightComparison(not differing, len(consts), sum(len(v[3]) for v in consts), differing)


def permute_outputs(model, order: Sequence[int]) -> bytes:
    """The model with its outputs reordered (``order[i]`` = old index of new output i), metadata left as is.

    The metadata lists output tensors by position, so afterwards it describes the wrong tensors: the
    mistake of writing detector metadata in a fixed order onto an export whose outputs come in another
    (TF2 SavedModel exports list them as scores, boxes, count, classes). Made on purpose, to see it caught.
    """
    from tensorflow.lite.tools import flatbuffer_utils as fu
    from tflite_support import metadata as md

    buf = model_bytes(model)
    obj = fu.convert_bytearray_to_object(bytearray(strip_metadata(buf)))
    outs = list(obj.subgraphs[0].outputs)
    obj.subgraphs[0].outputs = [outs[i] for i in order]
    new = bytes(fu.convert_object_to_bytearray(obj))
    if metadata_json(buf) is None:
        return new
    disp = md.MetadataDisplayer.with_model_buffer(buf)
    pop = md.MetadataPopulator.with_model_buffer(new)
    pop.load_metadata_buffer(disp.get_metadata_buffer())
    files = {n: disp.get_associated_file_buffer(n) for n in disp.get_packed_associated_file_list()}
    if files:
        pop.load_associated_file_buffers(files)
    pop.populate()
    return bytes(pop.get_model_buffer())
