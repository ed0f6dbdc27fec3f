"""AP / AP50 of an exported TFLite detector on images held in arrays: the grader's side of lesson 2.

    data = heldout_tiles()                      # {"images", "boxes", "labels", "offsets"}: plain arrays, no pickle
    np.savez(path, **data)                      # what the grading engine caches; boxes_of(data) splits them back
    scores = tflite_ap("a2_model.tflite", data) # {"AP": ..., "AP50": ..., "n": 16}

Registered with the grading engine as the hidden-data builder ``neon_treecrown_heldout`` and the metric
``ap50`` (``assignments/grading.yaml``). The detector runs in ``tf.lite.Interpreter`` as Model Maker's
``evaluate_tflite`` runs it (serving signature: scores ``output_1``, classes ``output_2``, boxes
``output_3`` as normalised ``[ymin, xmin, ymax, xmax]``); the COCO metrics are pycocotools' ``COCOeval``
(100 detections per image). Nothing of Model Maker, or of the submission, is imported. Variable numbers of boxes per image
are stored flat: image ``i`` owns ``boxes[offsets[i]:offsets[i + 1]]`` (pixel ``xmin, ymin, xmax, ymax``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from ..engine.hidden_data import hidden_data
from ..engine.metrics import metric
from ...boxes import coco_ap
from ...exceptions import DataError, ModelError

__all__ = ["pack", "decode_image", "boxes_of", "heldout_tiles", "public_tiles", "tflite_detect", "coco_ap", "tflite_ap", "ap50", "HELDOUT"]

HELDOUT = "neon-treecrown-tiles/test"      # the folder the held-out tiles come from (withheld from submissions)

# EfficientDet-Lite's input normalisation (Model Maker's lite configs): a float model takes (x - 127) / 128
_MEAN, _STD = 127.0, 128.0


def pack(examples: Sequence, label_map: dict[int, str]) -> dict[str, np.ndarray]:
    """Images (uint8, all the same size) and their boxes, flat with offsets, from ``detection_data`` examples.

    Images are decoded by TensorFlow, as Model Maker decodes them for training and ``evaluate_tflite``
    (PIL's JPEG decoder differs by up to 12 levels on 3 pixels in 4, which moved AP50 by 0.004 on 16 tiles).
    """
    ids = {name: i for i, name in label_map.items()}
    images = [decode_image(e.image) for e in examples]
    if len({im.shape for im in images}) > 1:
        raise ValueError(f"images of different sizes {sorted({im.shape for im in images})}: pack same-size tiles.")
    boxes = [[b.xmin, b.ymin, b.xmax, b.ymax] for e in examples for b in e.boxes]
    return {"images": np.stack(images),
            "boxes": np.asarray(boxes, dtype=np.float32).reshape(-1, 4),
            "labels": np.asarray([ids[b.label] for e in examples for b in e.boxes], dtype=np.int32),
            "offsets": np.cumsum([0] + [len(e.boxes) for e in examples]).astype(np.int64)}


def decode_image(path: str | Path) -> np.ndarray:
    """``path`` as an RGB uint8 array decoded by ``tf.io.decode_image`` (Model Maker's decoder), or
    :class:`DataError` for a file that is missing or not an image."""
    import tensorflow as tf

    path = Path(path)
    try:
        return tf.io.decode_image(path.read_bytes(), channels=3, expand_animations=False).numpy()
    except FileNotFoundError as e:
        raise DataError(f"{path}: no such image file.") from e
    except (tf.errors.InvalidArgumentError, tf.errors.UnknownError) as e:
        raise DataError(f"{path}: not a readable image ({e.message.splitlines()[0]}). Remove or replace "
                        "the file.") from e


def boxes_of(data: dict[str, np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per image: (boxes ``(k, 4)`` pixel xyxy, labels ``(k,)``), from the flat arrays of :func:`pack`."""
    off = data["offsets"]
    if off.ndim != 1 or len(off) != len(data["images"]) + 1 or off[0] != 0 or off[-1] != len(data["boxes"]) \
            or np.any(np.diff(off) < 0):
        raise ValueError(f"offsets {off[:5]}... do not split {len(data['boxes'])} boxes over "
                         f"{len(data['images'])} images.")
    return [(data["boxes"][a:b], data["labels"][a:b]) for a, b in zip(off[:-1], off[1:])]


@hidden_data("neon_treecrown_heldout", withholds=lambda n=0: [HELDOUT], version=2)   # 2: decoded by TF
def heldout_tiles(n: int = 0) -> dict[str, np.ndarray]:
    """The held-out tiles of ``neon-treecrown-tiles`` (``test/``; the first ``n``, 0: all 16) as arrays: the
    grading engine's hidden data for ``a2_object_detection``."""
    from ... import detection_data as dd
    from ...resources import registry

    tiles = registry.fetch("neon-treecrown-tiles")
    label_map = dd.read_label_map(tiles / "labels.txt")
    test = dd.load_voc(tiles / "test" / "images", tiles / "test" / "annotations", label_map)
    return pack(test.examples[:n] if n else test.examples, label_map)


@hidden_data("neon_treecrown_public_tiles")
def public_tiles(start: int = 0, every: int = 1) -> dict[str, np.ndarray]:
    """Every ``every``-th 320-px tile (not the whole images) of ``neon-treecrown-tiles/train`` from ``start``,
    as arrays: public data, on which ``course check`` measures a learner's detector."""
    from ... import detection_data as dd
    from ...resources import registry

    tiles = registry.fetch("neon-treecrown-tiles")
    label_map = dd.read_label_map(tiles / "labels.txt")
    train = dd.load_voc(tiles / "train" / "images", tiles / "train" / "annotations", label_map)
    square = [e for e in train.examples if (e.width, e.height) == (320, 320)]
    return pack(square[start::every], label_map)


def _fit(image: np.ndarray, h: int, w: int) -> tuple[np.ndarray, float]:
    """Resize keeping the aspect ratio and pad bottom/right to ``h x w`` (as Model Maker); the scale back."""
    from PIL import Image

    ih, iw = image.shape[:2]
    if (ih, iw) == (h, w):
        return image, 1.0
    s = min(h / ih, w / iw)
    small = np.asarray(Image.fromarray(image).resize((max(1, round(iw * s)), max(1, round(ih * s))),
                                                     Image.BILINEAR))
    out = np.zeros((h, w, 3), np.uint8)
    out[:small.shape[0], :small.shape[1]] = small
    return out, 1.0 / s


def tflite_detect(model: str | Path, images: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per image: (boxes ``(k, 4)`` pixel xyxy, scores, class ids from 1) of a Model Maker TFLite detector."""
    import tensorflow as tf

    try:
        interp = tf.lite.Interpreter(model_path=str(model), num_threads=2)
        # allocate first, as evaluate_tflite does: a signature runner made before allocate_tensors runs an
        # int8 model on other kernels (scores differ by up to 0.035, AP50 by 0.003 on the 16 tiles)
        interp.allocate_tensors()
        runner = interp.get_signature_runner()
    except (ValueError, RuntimeError) as e:
        raise ModelError(f"{model}: not a TFLite detector with a serving signature ({e}); export it with Model "
                         "Maker's model.export(...).") from e
    inp = interp.get_input_details()[0]
    _, h, w, _ = inp["shape"]
    scale, zero = inp["quantization"]
    out = []
    for image in images:
        x, back = _fit(np.asarray(image, np.uint8), int(h), int(w))
        if inp["dtype"] == np.float32:
            x = (x.astype(np.float32) - _MEAN) / _STD
        elif scale:                                    # quantized input: pixels in the model's scale
            x = np.clip(np.round((x.astype(np.float32) - _MEAN) / _STD / scale + zero),
                        *((0, 255) if inp["dtype"] == np.uint8 else (-128, 127))).astype(inp["dtype"])
        res = runner(images=x[None])
        if not {"output_1", "output_2", "output_3"} <= set(res):
            raise ModelError(f"{model}: outputs {sorted(res)}; a Model Maker detector has output_0..output_3 "
                             "(count, scores, classes, boxes). Export with post-processing (the default).")
        scores, classes = res["output_1"][0].astype(np.float32), res["output_2"][0].astype(np.float32)
        yxyx = res["output_3"][0].astype(np.float32) * np.array([h, w, h, w], np.float32) * back
        keep = scores > 0
        out.append((yxyx[keep][:, [1, 0, 3, 2]], scores[keep], classes[keep].astype(np.int64) + 1))
    return out


def tflite_ap(model: str | Path, data: dict[str, np.ndarray]) -> dict[str, float]:
    """AP, AP50 and the number of images of a TFLite detector on :func:`pack`'d data."""
    truth = boxes_of(data)
    return {**coco_ap(truth, tflite_detect(model, data["images"])), "n": len(truth)}


@metric("ap50")
def ap50(model: Path, data: dict[str, np.ndarray] | None) -> dict:
    """The grading engine's metric: AP50 of a ``.tflite`` detector on the hidden tiles."""
    if data is None:
        raise ValueError("ap50 needs hidden data (images, boxes, labels, offsets).")
    if Path(model).suffix != ".tflite":
        raise ModelError(f"{model}: ap50 measures TFLite detectors; save the exported .tflite file.")
    r = tflite_ap(model, data)
    return {"value": r["AP50"], "n": r["n"], "format": f"TFLite detector (AP {r['AP']:.3f})"}
