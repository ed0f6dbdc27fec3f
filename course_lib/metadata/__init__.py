"""TFLite metadata: write it, read it back, check it with the Task Library, strip it.

    >>> from course_lib import metadata
    >>> norm = metadata.normalization_for(keras_model)          # mean/std from the model's known preprocessing
    >>> metadata.write_classifier_metadata("m.tflite", ["cat", "dog"], "m_md.tflite", norm)
    >>> print(metadata.summarize("m_md.tflite"))                 # what the Task Library will read
    >>> report = metadata.verify_classifier("m_md.tflite", images, norm, ["cat", "dog"])
    >>> report.ok, report.problems                               # Task Library vs the kit's own pipeline

The metadata says how to turn pixels into the input tensor, ``input = (pixel - mean) / std``, and what the
outputs mean (labels, boxes). A wrong value is silent at run time: the Task Library happily returns wrong
labels. ``verify_*`` runs the model twice, once through the Task Library (which trusts the metadata) and once
through a plain ``tf.lite.Interpreter`` with what the kit knows to be right, and says what disagrees.
"""
from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from ..exceptions import ModelError
from ..images import open_rgb

__all__ = ["MetadataError", "Normalization", "normalization_for", "write_classifier_metadata",
           "write_detector_metadata", "MetadataSummary", "summarize", "packed_files", "extract_files",
           "strip_metadata", "WeightComparison", "compare_weights", "permute_outputs", "Detection",
           "classify_task", "classify_interpreter", "detect_task", "detect_interpreter", "check_metadata",
           "Agreement", "verify_classifier", "verify_detector", "DETECTOR_OUTPUTS"]

DETECTOR_OUTPUTS = ("location", "category", "score", "number of detections")


class MetadataError(ModelError):
    """A model's metadata is missing or does not match the model (wrong normalisation, labels, outputs)."""


# ------------------------------------------------------------------------------------------ helpers
def _buffer(model) -> bytes:
    if isinstance(model, (bytes, bytearray)):
        return bytes(model)
    p = Path(model)
    if not p.is_file():
        raise MetadataError(f"{p}: no such model file. Check the path (write the model with writer_utils.save_file).")
    return p.read_bytes()


def _name(model) -> str:
    return "<model bytes>" if isinstance(model, (bytes, bytearray)) else str(model)


def _interpreter(model):
    import tensorflow as tf

    try:
        it = tf.lite.Interpreter(model_content=_buffer(model))
    except ValueError as e:
        raise MetadataError(f"{_name(model)} is not a valid TFLite model ({e}).") from e
    it.allocate_tensors()
    return it


def _labels(labels: Sequence[str] | str | Path | None) -> list[str] | None:
    if labels is None or isinstance(labels, list) or isinstance(labels, tuple):
        return None if labels is None else list(labels)
    return [line for line in Path(labels).read_text().splitlines() if line.strip()]


def _rgb_array(image) -> np.ndarray:
    if isinstance(image, np.ndarray):
        return np.ascontiguousarray(image.astype(np.uint8))
    return np.asarray(open_rgb(image), dtype=np.uint8)


# ------------------------------------------------------------------------------------- normalisation
@dataclass(frozen=True)
class Normalization:
    """``input = (pixel - mean) / std`` for pixels in [0, 255]; ``source`` says where the values came from."""

    mean: tuple[float, ...]
    std: tuple[float, ...]
    source: str = ""

    @classmethod
    def for_value_range(cls, lo: float, hi: float, source: str = "") -> "Normalization":
        """The mean/std that map pixels 0..255 onto [lo, hi]."""
        std = 255.0 / (hi - lo)
        return cls((-lo * std,), (std,), source or f"value range [{lo:g}, {hi:g}]")

    @property
    def value_range(self) -> tuple[float, float]:
        return ((0 - self.mean[0]) / self.std[0], (255 - self.mean[0]) / self.std[0])

    def apply(self, pixels: np.ndarray) -> np.ndarray:
        return (pixels.astype(np.float32) - np.float32(self.mean)) / np.float32(self.std)

    def close_to(self, other: "Normalization", rtol: float = 1e-3) -> bool:
        a, b = np.array(self.value_range), np.array(other.value_range)
        return bool(np.allclose(a, b, rtol=rtol, atol=rtol * max(1.0, float(np.abs(b).max()))))

    def __str__(self) -> str:
        lo, hi = self.value_range
        return (f"mean {list(self.mean)}, std {list(self.std)} (pixels 0..255 -> [{lo:g}, {hi:g}])"
                + (f" from {self.source}" if self.source else ""))


# Keras layers that change the pixel range inside the model, and layers that leave it alone.
_SPATIAL = ("Resizing", "CenterCrop", "RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation",
            "RandomCrop", "RandomContrast", "InputLayer", "Cropping2D")
# Backbones by Keras model-name prefix -> the input range they expect (keras.applications conventions).
_KNOWN_BACKBONES = {"mobilenetv2": (-1.0, 1.0), "mobilenetv3": (0.0, 255.0), "mobilenet": (-1.0, 1.0),
                    "efficientnetv2": (0.0, 255.0), "efficientnet": (0.0, 255.0), "inception": (-1.0, 1.0),
                    "xception": (-1.0, 1.0), "nasnet": (-1.0, 1.0)}


def _handle_range(handle: str) -> tuple[tuple[float, float], str] | None:
    from ..resources import registry

    target = str(handle).rstrip("/")
    for h in registry.handles().values():
        if target in {h.name, h.handle, h.kaggle} or (h.kaggle and target.endswith(h.kaggle)):
            return tuple(h.value_range), f"registered handle {h.name!r}"
        res = h.resource or h.offline
        if res and Path(target).resolve().is_relative_to(registry.get(res).path.resolve()):
            spec = registry.get_handle(res) if res in registry.handles() else h
            return tuple(spec.value_range), f"registered resource {res!r}"
    return None


def normalization_for(source: Any) -> Normalization:
    """Derive mean/std instead of asking for them.

    ``source``: a Keras model (its leading ``Rescaling`` layers plus a known backbone: a registered
    ``hub.KerasLayer`` handle or a ``keras.applications`` family), a registered handle name/URL, or a
    value range ``(lo, hi)``. Unknown models raise :class:`MetadataError` saying what to pass instead.
    """
    if isinstance(source, (tuple, list)) and len(source) == 2:
        return Normalization.for_value_range(float(source[0]), float(source[1]))
    if isinstance(source, str):
        found = _handle_range(source)
        if found is None:
            raise MetadataError(f"Handle {source!r} is not in datasets/manifest.yaml, so its input range is unknown. "
                                "Pass value_range=(lo, hi) from the model's documentation.")
        return Normalization.for_value_range(*found[0], source=found[1])
    return _from_keras(source)


def _from_keras(model) -> Normalization:
    a, b, seen = 1.0, 0.0, []
    for layer in model.layers:
        kind = type(layer).__name__
        if kind in _SPATIAL:
            continue
        if kind == "Rescaling":
            scale, offset = float(np.mean(layer.scale)), float(np.mean(layer.offset))
            a, b = a * scale, b * scale + offset
            seen.append(f"{layer.name} (x*{scale:g}{offset:+g})")
            continue
        rng, what = None, None
        if kind == "KerasLayer":
            found = _handle_range(getattr(layer, "_handle", ""))
            if found:
                rng, what = found
        else:
            for prefix, r in _KNOWN_BACKBONES.items():
                if layer.name.lower().startswith(prefix):
                    rng, what = r, f"keras.applications {prefix} convention"
                    break
        if rng is None and seen:      # the model rescales raw pixels itself
            rng, what = (b, 255 * a + b), "the model's own rescaling of raw pixels"
        if rng is None:
            raise MetadataError(
                f"Cannot tell which pixel range {model.name!r} expects: its first layer {layer.name!r} ({kind}) "
                "is not a registered backbone and no Rescaling layer precedes it. Pass the range you fed it in "
                "training, e.g. normalization_for((0, 1)) if you divided pixels by 255.")
        lo, hi = rng
        std = 255.0 * a / (hi - lo)
        mean = (b - lo) * 255.0 / (hi - lo)
        return Normalization((round(mean, 6),), (round(std, 6),),
                             f"{model.name}: {' -> '.join(seen + [f'{layer.name} expects [{lo:g}, {hi:g}] ({what})'])}")
    raise MetadataError(f"{model.name!r} has no layer after its preprocessing; pass a value range instead.")


# ------------------------------------------------------------------------------------------- writing
def _label_file(labels, tmp: Path) -> str:
    if isinstance(labels, (list, tuple)):
        p = tmp / "labels.txt"
        p.write_text("".join(f"{x}\n" for x in labels))
        return str(p)
    if not Path(labels).is_file():
        raise MetadataError(f"Label file {labels} does not exist: write one label per line, in output order.")
    return str(labels)


def _set_general(buf: bytes, **fields: str | None) -> bytes:
    """Set name/version/description/author/license of already-written metadata (files kept)."""
    import flatbuffers
    from tflite_support import metadata as md
    from tflite_support import metadata_schema_py_generated as fb

    fields = {k: v for k, v in fields.items() if v is not None}
    if not fields:
        return buf
    disp = md.MetadataDisplayer.with_model_buffer(buf)
    meta = fb.ModelMetadataT.InitFromObj(fb.ModelMetadata.GetRootAsModelMetadata(disp.get_metadata_buffer(), 0))
    for k, v in fields.items():
        setattr(meta, k, v)
    builder = flatbuffers.Builder(0)
    builder.Finish(meta.Pack(builder), md.MetadataPopulator.METADATA_FILE_IDENTIFIER)
    files = {n: disp.get_associated_file_buffer(n) for n in disp.get_packed_associated_file_list()}
    pop = md.MetadataPopulator.with_model_buffer(strip_metadata(buf))
    pop.load_metadata_buffer(builder.Output())
    if files:
        pop.load_associated_file_buffers(files)
    pop.populate()
    return bytes(pop.get_model_buffer())


def _write(kind: str, model, labels, out, norm: Normalization, general: dict) -> Path:
    from tflite_support.metadata_writers import image_classifier, object_detector, writer_utils

    module = {"classifier": image_classifier, "detector": object_detector}[kind]
    buf = bytearray(strip_metadata(model))
    with tempfile.TemporaryDirectory() as tmp:
        files = [] if labels is None else [_label_file(labels, Path(tmp))]
        writer = module.MetadataWriter.create_for_inference(buf, list(norm.mean), list(norm.std), files)
        result = _set_general(bytes(writer.populate()), **general)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    writer_utils.save_file(result, str(out))
    return out


def write_classifier_metadata(model, labels: Sequence[str] | str | Path | None, out: str | Path,
                              norm: Normalization, name: str | None = None, version: str | None = None,
                              description: str | None = None, author: str | None = None,
                              license: str | None = None) -> Path:
    """``image_classifier.MetadataWriter.create_for_inference`` on ``model`` (old metadata dropped).

    Refuses a label list whose length does not match the model's output (the writer itself does not check).
    """
    labels_list = _labels(labels)
    n_out = int(np.prod(_interpreter(model).get_output_details()[0]["shape"][1:]))
    if labels_list is not None and len(labels_list) != n_out:
        raise MetadataError(f"{len(labels_list)} labels for a model with {n_out} outputs ({_name(model)}): "
                            "the label file needs exactly one line per output class, in output order.")
    return _write("classifier", model, labels, out, norm, dict(name=name, version=version,
                  description=description, author=author, license=license))


def write_detector_metadata(model, labels: Sequence[str] | str | Path | None, out: str | Path,
                            norm: Normalization, name: str | None = None, version: str | None = None,
                            description: str | None = None, author: str | None = None,
                            license: str | None = None) -> Path:
    """``object_detector.MetadataWriter.create_for_inference``; checks each output got the right name."""
    path = _write("detector", model, labels, out, norm, dict(name=name, version=version,
                  description=description, author=author, license=license))
    problems = _detector_output_problems(path)
    if problems:
        path.unlink()
        raise MetadataError(problems[0])
    return path


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


def _metadata_json(model) -> dict | None:
    from tflite_support import metadata as md

    try:
        disp = md.MetadataDisplayer.with_model_buffer(_buffer(model))
    except ValueError:
        return None
    return json.loads(disp.get_metadata_json())


def packed_files(model) -> list[str]:
    """Names of the files packed into the model (label files, vocabularies...)."""
    from tflite_support import metadata as md

    try:
        return sorted(md.MetadataDisplayer.with_model_buffer(_buffer(model)).get_packed_associated_file_list())
    except ValueError:
        return []


def extract_files(model, dest: str | Path) -> list[Path]:
    """Write every packed file of ``model`` into ``dest``; returns their paths."""
    from tflite_support import metadata as md

    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    try:
        disp = md.MetadataDisplayer.with_model_buffer(_buffer(model))
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

    buf = _buffer(model)
    it = _interpreter(buf)
    s = MetadataSummary(_name(model), False, size=len(buf), size_without_metadata=len(strip_metadata(buf)))
    meta = _metadata_json(buf)
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

    obj = fu.convert_bytearray_to_object(bytearray(_buffer(model)))
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

    obj = fu.convert_bytearray_to_object(bytearray(_buffer(model)))
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

    buf = _buffer(model)
    obj = fu.convert_bytearray_to_object(bytearray(strip_metadata(buf)))
    outs = list(obj.subgraphs[0].outputs)
    obj.subgraphs[0].outputs = [outs[i] for i in order]
    new = bytes(fu.convert_object_to_bytearray(obj))
    if _metadata_json(buf) is None:
        return new
    disp = md.MetadataDisplayer.with_model_buffer(buf)
    pop = md.MetadataPopulator.with_model_buffer(new)
    pop.load_metadata_buffer(disp.get_metadata_buffer())
    files = {n: disp.get_associated_file_buffer(n) for n in disp.get_packed_associated_file_list()}
    if files:
        pop.load_associated_file_buffers(files)
    pop.populate()
    return bytes(pop.get_model_buffer())


# -------------------------------------------------------------------------------- running the model
@dataclass(frozen=True)
class Detection:
    label: str
    index: int
    score: float
    box: tuple[float, float, float, float]        # xmin, ymin, xmax, ymax in pixels of the original image


def _task_error(model, e: Exception) -> MetadataError:
    return MetadataError(f"The Task Library cannot load {_name(model)}: {str(e).rstrip('.')}. Check its metadata with "
                         "metadata.summarize(); write it with the metadata_writers (labels, mean/std).")


def classify_task(model, images: Iterable, k: int = 3) -> list[list[tuple[str, float]]]:
    """Top-``k`` (label, score) per image from ``tflite_support.task.vision.ImageClassifier``."""
    from tflite_support.task import core, processor, vision

    opts = vision.ImageClassifierOptions(base_options=core.BaseOptions(file_content=_buffer(model)),
                                         classification_options=processor.ClassificationOptions(max_results=k))
    try:
        clf = vision.ImageClassifier.create_from_options(opts)
    except (RuntimeError, ValueError) as e:
        raise _task_error(model, e) from e
    out = []
    for image in images:
        pixels = _rgb_array(image)          # keep a reference: TensorImage does not copy the array
        r = clf.classify(vision.TensorImage.create_from_array(pixels))
        out.append([(c.category_name or str(c.index), float(c.score)) for c in r.classifications[0].categories])
    return out


def _prepare(it, image, norm: Normalization | None) -> np.ndarray:
    d = it.get_input_details()[0]
    h, w = int(d["shape"][1]), int(d["shape"][2])
    pixels = _rgb_array(image)
    if pixels.shape[:2] != (h, w):
        # bilinear, half-pixel centres, truncated to uint8: close to (not exactly) the Task Library's libyuv
        # scaler; feed images at the model's input size for an exact comparison
        import tensorflow as tf

        pixels = np.floor(tf.image.resize(pixels, (h, w), "bilinear").numpy()).clip(0, 255).astype(np.uint8)
    if d["dtype"] == np.uint8:
        return pixels[None].astype(np.uint8)
    if d["dtype"] != np.float32:
        raise MetadataError(f"input type {np.dtype(d['dtype']).name} is not supported by the kit's pipeline "
                            "(float32 or uint8 only).")
    if norm is None:
        raise MetadataError("A float model needs a Normalization for the interpreter pipeline "
                            "(metadata.normalization_for(...)).")
    return norm.apply(pixels)[None]


def _output(it, d) -> np.ndarray:
    x = it.get_tensor(d["index"])
    scale, zero = d["quantization"]
    return (x.astype(np.float32) - zero) * scale if scale else x.astype(np.float32)


def classify_interpreter(model, images: Iterable, norm: Normalization | None, labels: Sequence[str] | str | Path,
                         k: int = 3) -> list[list[tuple[str, float]]]:
    """The kit's own pipeline: bilinear resize, ``(pixel - mean) / std``, ``tf.lite.Interpreter``, top-k."""
    it = _interpreter(model)
    names = _labels(labels)
    inp, outd = it.get_input_details()[0], it.get_output_details()[0]
    res = []
    for image in images:
        it.set_tensor(inp["index"], _prepare(it, image, norm))
        it.invoke()
        p = _output(it, outd).reshape(-1)
        top = np.argsort(-p, kind="stable")[:k]
        res.append([(names[i] if i < len(names) else str(i), float(p[i])) for i in top])
    return res


def detect_task(model, images: Iterable, max_results: int = 10, score_threshold: float = 0.0
                ) -> list[list[Detection]]:
    """Detections per image from ``tflite_support.task.vision.ObjectDetector``."""
    from tflite_support.task import core, processor, vision

    opts = vision.ObjectDetectorOptions(base_options=core.BaseOptions(file_content=_buffer(model)),
                                        detection_options=processor.DetectionOptions(
                                            max_results=max_results, score_threshold=score_threshold))
    try:
        det = vision.ObjectDetector.create_from_options(opts)
    except (RuntimeError, ValueError) as e:
        raise _task_error(model, e) from e
    out = []
    for image in images:
        pixels = _rgb_array(image)          # keep a reference: TensorImage does not copy the array
        r = det.detect(vision.TensorImage.create_from_array(pixels))
        out.append([Detection(d.categories[0].category_name or str(d.categories[0].index), d.categories[0].index,
                              float(d.categories[0].score),
                              (d.bounding_box.origin_x, d.bounding_box.origin_y,
                               d.bounding_box.origin_x + d.bounding_box.width,
                               d.bounding_box.origin_y + d.bounding_box.height)) for d in r.detections])
    return out


def detect_interpreter(model, images: Iterable, norm: Normalization | None, labels: Sequence[str] | str | Path,
                       max_results: int = 10, score_threshold: float = 0.0) -> list[list[Detection]]:
    """The kit's own detector pipeline; finds boxes/classes/scores/count by shape and values, not position."""
    roles = _detector_roles(model)
    it = _interpreter(model)
    names = _labels(labels)
    inp, outs = it.get_input_details()[0], it.get_output_details()
    res = []
    for image in images:
        arr = _rgb_array(image)
        h, w = arr.shape[:2]
        it.set_tensor(inp["index"], _prepare(it, arr, norm))
        it.invoke()
        got = {r: _output(it, d) for r, d in zip(roles, outs)}
        boxes, classes, scores, count = got["boxes"], got["classes"], got["scores"], got["count"]
        dets = []
        for i in range(min(int(count.reshape(-1)[0]), boxes.shape[1])):
            s = float(scores[0, i])
            if s < score_threshold:
                continue
            c = int(round(float(classes[0, i])))
            y0, x0, y1, x1 = (float(v) for v in boxes[0, i])
            dets.append(Detection(names[c] if c < len(names) else str(c), c, s, (x0 * w, y0 * h, x1 * w, y1 * h)))
        res.append(sorted(dets, key=lambda d: -d.score)[:max_results])
    return res


# ---------------------------------------------------------------------------------------- checking
_ROLE_NAMES = {"boxes": "location", "classes": "category", "scores": "score", "count": "number of detections"}


def _detector_roles(model) -> list[str]:
    """The role of each output (boxes, classes, scores, count) from its shape and values on a grey image."""
    it = _interpreter(strip_metadata(model))
    outs = it.get_output_details()
    d = it.get_input_details()[0]
    it.set_tensor(d["index"], np.full(d["shape"], 128 if d["dtype"] == np.uint8 else 0, dtype=d["dtype"]))
    it.invoke()
    roles = []
    for o in outs:
        shape, v = tuple(o["shape"]), _output(it, o)
        if len(shape) == 3 and shape[-1] == 4:
            roles.append("boxes")
        elif len(shape) == 1:
            roles.append("count")
        else:
            roles.append("classes" if np.all(np.mod(v, 1) == 0) else "scores")
    if sorted(roles) != ["boxes", "classes", "count", "scores"]:        # ambiguous: assume the op's port order
        return ["boxes", "classes", "scores", "count"][:len(outs)]
    return roles


def _detector_output_problems(model) -> list[str]:
    it = _interpreter(model)
    shapes = [[int(x) for x in d["shape"]] for d in it.get_output_details()]
    if len(shapes) != 4:
        return [f"{_name(model)} has {len(shapes)} outputs {shapes}; a Task Library detector needs 4: boxes "
                "[1, N, 4], classes [1, N], scores [1, N], count [1] (export with TFLite_Detection_PostProcess)."]
    meta = _metadata_json(model)
    if meta is None:
        return []
    roles = _detector_roles(model)
    names = [m.get("name", "") for m in (meta.get("subgraph_metadata") or [{}])[0].get("output_tensor_metadata", [])]
    wrong = [f"output {i} holds {r} {s} but its metadata calls it {n!r}"
             for i, (r, s, n) in enumerate(zip(roles, shapes, names)) if _ROLE_NAMES[r] != n]
    if not wrong:
        return []
    return [f"{_name(model)}: the detector's outputs are not in the order its metadata describes: "
            + "; ".join(wrong) + ". The Task Library finds boxes, classes and scores by these metadata names, "
            "so it would read the wrong tensors. Rewrite the metadata with "
            "object_detector.MetadataWriter.create_for_inference on the model as exported (it matches "
            "outputs to the post-processing op's ports), or re-export so the outputs come straight from "
            "TFLite_Detection_PostProcess."]


def check_metadata(model, kind: str, expected_norm: Normalization | None = None,
                   expected_labels: Sequence[str] | None = None) -> list[str]:
    """Static checks of ``model``'s metadata: one message per problem (empty list: none found)."""
    if kind not in ("classifier", "detector"):
        raise ValueError("kind must be 'classifier' or 'detector'")
    writer = "image_classifier" if kind == "classifier" else "object_detector"
    s = summarize(model)
    if not s.has_metadata:
        return [f"{s.model} has no TFLite metadata: the Task Library cannot know its normalisation or labels. "
                f"Write it with metadata_writers.{writer}.MetadataWriter.create_for_inference(...)."]
    problems = []
    if kind == "detector":
        problems += _detector_output_problems(model)
    inp = s.inputs[0]
    if expected_norm is not None and inp.dtype == "float32":
        if inp.norm is None:
            problems.append(f"{s.model}: the input has no normalisation in its metadata; the model expects "
                            f"{expected_norm}. Pass input_norm_mean/input_norm_std to the writer.")
        elif not inp.norm.close_to(expected_norm):
            problems.append(f"{s.model}: wrong normalisation: the metadata says {inp.norm}, but the model expects "
                            f"{expected_norm}. Rewrite the metadata with input_norm_mean={list(expected_norm.mean)}, "
                            f"input_norm_std={list(expected_norm.std)}.")
    with_labels = [i for i, t in enumerate(s.outputs) if t.labels_file]
    out_index = 0 if kind == "classifier" else (with_labels[0] if with_labels else
                                                next((i for i, t in enumerate(s.outputs) if t.name == "category"), 0))
    labels = s.labels(out_index)
    if labels is None:
        problems.append(f"{s.model}: no label file is attached to output {out_index} "
                        f"({s.outputs[out_index].name!r}), so results carry class indices, not names. Pass "
                        "label_file_paths=[<labels.txt>] to the writer.")
    else:
        if kind == "classifier":
            n = int(np.prod(s.outputs[0].shape[1:]))
            if len(labels) != n:
                problems.append(f"{s.model}: the label file {s.outputs[0].labels_file} has {len(labels)} lines but "
                                f"the output has {n} classes; write one label per output, in output order.")
        if expected_labels is not None and list(labels) != list(expected_labels):
            exp = list(expected_labels)
            if len(labels) > 1 and labels[1:] == exp[:len(labels) - 1]:
                hint = (f"they are shifted by one (the file starts with {labels[0]!r}: a background entry the "
                        "model does not output?)")
            elif labels == exp[1:] or labels[:-1] == exp[1:len(labels)]:
                hint = f"they are shifted by one (the first expected label {exp[0]!r} is missing)"
            else:
                hint = f"first difference at line {next(i for i, (a, b) in enumerate(zip(labels + [''], exp + [''])) if a != b) + 1}"
            problems.append(f"{s.model}: labels {labels[:6]} do not match the expected {exp[:6]}: {hint}.")
    return problems


@dataclass
class Agreement:
    """Task Library vs the kit's interpreter pipeline on the same images."""

    kind: str
    images: int
    top1_agreement: float                  # images whose top-1 label (ties allowed) or top detection agrees
    max_score_diff: float
    mean_iou: float | None = None
    min_iou: float | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def raise_for_problems(self) -> None:
        if self.problems:
            raise MetadataError("\n".join(self.problems))

    def __str__(self) -> str:
        s = (f"{self.kind}: {self.images} images, top-1 agreement {100 * self.top1_agreement:.1f} %, "
             f"max score difference {self.max_score_diff:.4f}")
        if self.mean_iou is not None:
            s += f", box IoU mean {self.mean_iou:.3f} / min {self.min_iou:.3f}"
        return s + ("" if self.ok else "\n  PROBLEMS:\n  - " + "\n  - ".join(self.problems))


def verify_classifier(model, images: Sequence, norm: Normalization | None, labels: Sequence[str] | str | Path,
                      k: int = 3, score_tol: float = 0.02, min_agreement: float = 0.95) -> Agreement:
    """Check the metadata, then compare Task Library and interpreter (with ``norm``/``labels``) on ``images``."""
    labels = _labels(labels)
    problems = check_metadata(model, "classifier", norm, labels)
    if problems and not summarize(model).has_metadata:
        return Agreement("classifier", len(images), 0.0, float("nan"), problems=problems)
    task = classify_task(model, images, k)
    ref = classify_interpreter(model, images, norm, labels, k)
    agree, diff = 0, 0.0
    for t, r in zip(task, ref):
        tied = {lab for lab, score in r if score >= r[0][1] - 1e-6}     # quantised scores tie often
        agree += bool(t) and t[0][0] in tied
        tdict = dict(t)
        for lab, score in r[:1]:
            diff = max(diff, abs(tdict.get(lab, 0.0) - score))
    rate = agree / max(len(images), 1)
    if rate < min_agreement:
        problems.append(f"top-1 labels agree on only {100 * rate:.1f} % of {len(images)} images "
                        f"(need {100 * min_agreement:.0f} %): the metadata does not describe how the model was fed.")
    if diff > score_tol:
        d = _interpreter(model).get_input_details()[0]
        resized = any(_rgb_array(i).shape[:2] != tuple(d["shape"][1:3]) for i in images)
        problems.append(f"scores differ by up to {diff:.3f} (tolerance {score_tol}): check the normalisation"
                        + (" (the images are not at the model's input size, so part of the difference is the two "
                           "pipelines' resize code: compare at the input size)" if resized else "") + ".")
    return Agreement("classifier", len(images), rate, diff, problems=problems)


def _iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def verify_detector(model, images: Sequence, norm: Normalization | None, labels: Sequence[str] | str | Path,
                    top: int = 5, score_tol: float = 0.02, min_iou: float = 0.9) -> Agreement:
    """Check the metadata, then match the top ``top`` Task Library detections to the interpreter's ones."""
    labels = _labels(labels)
    problems = check_metadata(model, "detector", norm, labels)
    if problems and (not summarize(model).has_metadata or "not in the order" in problems[0]):
        return Agreement("detector", len(images), 0.0, float("nan"), problems=problems)
    task = detect_task(model, images, max_results=top)
    ref = detect_interpreter(model, images, norm, labels, max_results=100)
    ious, diff, agree, label_bad = [], 0.0, 0, 0
    for t, r in zip(task, ref):
        # the Task Library reports whole pixels (truncated): compare against truncated interpreter boxes
        r = [Detection(x.label, x.index, x.score, tuple(float(np.trunc(v)) for v in x.box)) for x in r]
        for j, d in enumerate(t):
            best = max(r, key=lambda x: _iou(d.box, x.box), default=None)
            iou = _iou(d.box, best.box) if best else 0.0
            ious.append(iou)
            if best is None:
                continue
            diff = max(diff, abs(d.score - best.score))
            label_bad += d.label != best.label
            agree += j == 0 and d.label == best.label and iou >= min_iou
    rate = agree / max(len(images), 1)
    mean_iou = float(np.mean(ious)) if ious else 0.0
    low = float(np.min(ious)) if ious else 0.0
    if label_bad:
        problems.append(f"{label_bad} Task Library detections carry another label than the interpreter's: "
                        "check the label file (one line per class, no background line).")
    if mean_iou < min_iou:
        problems.append(f"boxes disagree: mean IoU {mean_iou:.3f} < {min_iou} between Task Library and interpreter: "
                        "check the normalisation and the output order.")
    if diff > score_tol:
        problems.append(f"scores differ by up to {diff:.3f} (tolerance {score_tol}): check the normalisation.")
    return Agreement("detector", len(images), rate, diff, mean_iou, low, problems=problems)
