"""Running a model through the Task Library (trusts the metadata) or a plain interpreter (does not)."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ..boxes import Detection
from .common import MetadataError, interpreter_for, label_list, model_bytes, model_name, output_array, rgb_array
from .normalization import Normalization
from .detector_outputs import detector_roles


# -------------------------------------------------------------------------------- running the model
def _task_error(model, e: Exception) -> MetadataError:
    return MetadataError(f"The Task Library cannot load {model_name(model)}: {str(e).rstrip('.')}. Check its metadata with "
                         "metadata.summarize(); write it with the metadata_writers (labels, mean/std).")


def classify_task(model, images: Iterable, k: int = 3) -> list[list[tuple[str, float]]]:
    """Top-``k`` (label, score) per image from ``tflite_support.task.vision.ImageClassifier``."""
    from tflite_support.task import core, processor, vision

    opts = vision.ImageClassifierOptions(base_options=core.BaseOptions(file_content=model_bytes(model)),
                                         classification_options=processor.ClassificationOptions(max_results=k))
    try:
        clf = vision.ImageClassifier.create_from_options(opts)
    except (RuntimeError, ValueError) as e:
        raise _task_error(model, e) from e
    out = []
    for image in images:
        pixels = rgb_array(image)          # keep a reference: TensorImage does not copy the array
        r = clf.classify(vision.TensorImage.create_from_array(pixels))
        out.append([(c.category_name or str(c.index), float(c.score)) for c in r.classifications[0].categories])
    return out


def _prepare(it, image, norm: Normalization | None) -> np.ndarray:
    d = it.get_input_details()[0]
    h, w = int(d["shape"][1]), int(d["shape"][2])
    pixels = rgb_array(image)
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


def classify_interpreter(model, images: Iterable, norm: Normalization | None, labels: Sequence[str] | str | Path,
                         k: int = 3) -> list[list[tuple[str, float]]]:
    """The kit's own pipeline: bilinear resize, ``(pixel - mean) / std``, ``tf.lite.Interpreter``, top-k."""
    it = interpreter_for(model)
    names = label_list(labels)
    inp, outd = it.get_input_details()[0], it.get_output_details()[0]
    res = []
    for image in images:
        it.set_tensor(inp["index"], _prepare(it, image, norm))
        it.invoke()
        p = output_array(it, outd).reshape(-1)
        top = np.argsort(-p, kind="stable")[:k]
        res.append([(names[i] if i < len(names) else str(i), float(p[i])) for i in top])
    return res


def detect_task(model, images: Iterable, max_results: int = 10, score_threshold: float = 0.0
                ) -> list[list[Detection]]:
    """Detections per image from ``tflite_support.task.vision.ObjectDetector``."""
    from tflite_support.task import core, processor, vision

    opts = vision.ObjectDetectorOptions(base_options=core.BaseOptions(file_content=model_bytes(model)),
                                        detection_options=processor.DetectionOptions(
                                            max_results=max_results, score_threshold=score_threshold))
    try:
        det = vision.ObjectDetector.create_from_options(opts)
    except (RuntimeError, ValueError) as e:
        raise _task_error(model, e) from e
    out = []
    for image in images:
        pixels = rgb_array(image)          # keep a reference: TensorImage does not copy the array
        r = det.detect(vision.TensorImage.create_from_array(pixels))
        out.append([Detection(d.bounding_box.origin_x, d.bounding_box.origin_y,
                              d.bounding_box.origin_x + d.bounding_box.width,
                              d.bounding_box.origin_y + d.bounding_box.height, float(d.categories[0].score),
                              d.categories[0].category_name or str(d.categories[0].index), d.categories[0].index)
                    for d in r.detections])
    return out


def detect_interpreter(model, images: Iterable, norm: Normalization | None, labels: Sequence[str] | str | Path,
                       max_results: int = 10, score_threshold: float = 0.0) -> list[list[Detection]]:
    """The kit's own detector pipeline; finds boxes/classes/scores/count by shape and values, not position."""
    roles = detector_roles(model)
    it = interpreter_for(model)
    names = label_list(labels)
    inp, outs = it.get_input_details()[0], it.get_output_details()
    res = []
    for image in images:
        arr = rgb_array(image)
        h, w = arr.shape[:2]
        it.set_tensor(inp["index"], _prepare(it, arr, norm))
        it.invoke()
        got = {r: output_array(it, d) for r, d in zip(roles, outs)}
        boxes, classes, scores, count = got["boxes"], got["classes"], got["scores"], got["count"]
        dets = []
        for i in range(min(int(count.reshape(-1)[0]), boxes.shape[1])):
            s = float(scores[0, i])
            if s < score_threshold:
                continue
            c = int(round(float(classes[0, i])))
            y0, x0, y1, x1 = (float(v) for v in boxes[0, i])
            dets.append(Detection(x0 * w, y0 * h, x1 * w, y1 * h, s, names[c] if c < len(names) else str(c), c))
        res.append(sorted(dets, key=lambda d: -d.score)[:max_results])
    return res
