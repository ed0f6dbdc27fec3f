"""Small models the kit builds offline from registered real data (``generator:`` resources).

They exist so a lesson has a model *trained outside Model Maker's metadata path* to work on:

* ``treepatch_classifier``: tree vs background on the ``tree-patches`` (MobileNetV2 stand-in backbone,
  trained linear head), exported as a float TFLite file **without metadata**.
* ``treecrown_detector``: Model Maker's EfficientDet-Lite0 spec on 320-px tiles of ``neon-treecrowns``
  with a random-weight stand-in backbone, trained 1-2 epochs, exported fp32 **without metadata**. Its
  AP is near 0; what matters is its input normalisation and output semantics (boxes, classes, scores, count).
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np

from ..annotations import read_voc
from ..images import open_rgb
from .tree_patches import TREEPATCH_LABELS, load_tree_patches

__all__ = ["treepatch_classifier", "treepatch_keras", "treecrown_detector", "TREEPATCH_LABELS",
           "DETECTOR_LABELS", "DETECTOR_MEAN", "DETECTOR_STD"]

DETECTOR_LABELS = ["tree"]
DETECTOR_MEAN, DETECTOR_STD = 127.0, 128.0     # Model Maker's EfficientDet-Lite config (mean_rgb, stddev_rgb)


# --------------------------------------------------------------------------------- classifier
def treepatch_keras(backbone: str | Path, head: dict[str, np.ndarray] | None = None, size: int = 96):
    """The kit's tree-patch classifier as Keras: RGB in [0, 1] -> Resizing(160) -> stand-in -> Dense(2).

    ``backbone`` is the stand-in SavedModel folder (``resolve_handle(...).target``); ``head`` the
    Dense weights (``np.load(<resource>/head.npz)``).
    """
    import tensorflow as tf
    import tensorflow_hub as hub

    image = tf.keras.Input((size, size, 3), name="image")
    x = tf.keras.layers.Resizing(160, 160, name="resize_to_160")(image)
    x = hub.KerasLayer(str(backbone), trainable=False, name="mobilenetv2_standin")(x)
    out = tf.keras.layers.Dense(len(TREEPATCH_LABELS), activation="softmax", name="head")(x)
    model = tf.keras.Model(image, out, name="treepatch_classifier")
    if head is not None:
        model.get_layer("head").set_weights([head["kernel"], head["bias"]])
    return model


def treepatch_classifier(out: Path, inputs: dict[str, Path], per_class: int = 300, epochs: int = 60,
                         seed: int = 0) -> None:
    """Generator: train the head on stand-in features, export ``treepatch_classifier.tflite`` (no metadata)."""
    import tensorflow as tf

    tf.keras.utils.set_random_seed(seed)
    model = treepatch_keras(inputs["mobilenetv2-imagenet-featurevector-standin"] / "savedmodel")
    x, y = load_tree_patches(96, "train", per_class, seed, inputs["tree-patches"], shuffle=False)
    features = tf.keras.Model(model.input, model.get_layer("mobilenetv2_standin").output).predict(x, batch_size=64,
                                                                                                 verbose=0)
    head = tf.keras.Sequential([tf.keras.Input((features.shape[1],)),
                                tf.keras.layers.Dense(len(TREEPATCH_LABELS), activation="softmax")])
    head.compile(tf.keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", ["accuracy"])
    head.fit(features, y, epochs=epochs, batch_size=64, verbose=0)
    kernel, bias = head.layers[-1].get_weights()
    np.savez(out / "head.npz", kernel=kernel, bias=bias)
    model.get_layer("head").set_weights([kernel, bias])
    (out / "treepatch_classifier.tflite").write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    (out / "labels.txt").write_text("\n".join(TREEPATCH_LABELS) + "\n")
    (out / "README.txt").write_text(
        "Kit-built tree vs background classifier (float32 TFLite, NO metadata).\n"
        "Input: float32 [1, 96, 96, 3], RGB scaled to [0, 1] (pixel / 255). Output: [1, 2] softmax over\n"
        "labels.txt (background, tree). Head trained on stand-in features of the tree-patches train split;\n"
        "head.npz holds its Dense weights (course_lib.resources.kit_models.treepatch_keras rebuilds the Keras model).\n")


# --------------------------------------------------------------------------------- detector
def _standin_backbone(size: int, ch: int):
    """Random-weight module with the EfficientDet-Lite feature-vector interface (levels 3..7)."""
    import tensorflow as tf

    inp = tf.keras.Input((size, size, 3), name="images")
    x, feats = inp, []
    for i, c in enumerate([16, 24, 32, 48, 64, 64, 64]):
        x = tf.keras.layers.Conv2D(c, 3, strides=2, padding="same", use_bias=False, name=f"stem_{i}")(x)
        x = tf.keras.layers.BatchNormalization(name=f"bn_{i}")(x)
        x = tf.keras.layers.Activation("relu6")(x)
        if i >= 2:
            feats.append(x)
    ct = tf.keras.layers.SeparableConv2D(ch, 3, padding="same", activation="swish", name="class_tower")
    bt = tf.keras.layers.SeparableConv2D(ch, 3, padding="same", activation="swish", name="box_tower")
    p = [tf.keras.layers.Conv2D(ch, 1, name=f"proj_{l}")(f) for l, f in enumerate(feats)]
    return tf.keras.Model(inp, [[ct(f) for f in p], [bt(f) for f in p]], name="random_effdet_lite0_standin")


def _write_tiles(image_path: Path, xml_path: Path, dest: Path, size: int, limit: int | None,
                 voc: bool) -> list[Path]:
    """Cut ``size`` px tiles on a grid; write JPEG (+ VOC xml of the boxes mostly inside each tile)."""
    image = open_rgb(image_path)
    boxes = read_voc(xml_path).boxes
    w, h = image.size
    written = []
    for y0 in range(0, h - size + 1, size):
        for x0 in range(0, w - size + 1, size):
            if limit is not None and len(written) >= limit:
                return written
            name = f"{image_path.stem}_{x0}_{y0}"
            image.crop((x0, y0, x0 + size, y0 + size)).save(dest / f"{name}.jpg", quality=95)
            written.append(dest / f"{name}.jpg")
            if not voc:
                continue
            objs = []
            for b in boxes:
                cx0, cy0 = max(b.xmin - x0, 0), max(b.ymin - y0, 0)
                cx1, cy1 = min(b.xmax - x0, size), min(b.ymax - y0, size)
                if cx1 - cx0 > 4 and cy1 - cy0 > 4 and (cx1 - cx0) * (cy1 - cy0) >= 0.5 * b.width * b.height:
                    objs.append(f"<object><name>tree</name><difficult>0</difficult><truncated>0</truncated><pose>Unspecified</pose><bndbox><xmin>{cx0:.0f}</xmin>"
                                f"<ymin>{cy0:.0f}</ymin><xmax>{cx1:.0f}</xmax><ymax>{cy1:.0f}</ymax></bndbox></object>")
            (dest / f"{name}.xml").write_text(
                f"<annotation><filename>{name}.jpg</filename><size><width>{size}</width><height>{size}</height>"
                f"<depth>3</depth></size>{''.join(objs)}</annotation>")
    return written


def treecrown_detector(out: Path, inputs: dict[str, Path], epochs: int = 1, train_tiles: int = 24,
                       batch_size: int = 8, size: int = 320, seed: int = 0) -> None:
    """Generator: EfficientDet-Lite0 spec, random stand-in backbone, fp32 TFLite export without metadata.

    Writes ``treecrown_detector.tflite``, ``labels.txt`` and ``images/`` (held-out 320-px tiles of the
    1249x1035 YELL crop, never trained on) for checking the model and its metadata.
    """
    import tensorflow as tf
    from tflite_model_maker import object_detector
    from tflite_model_maker.config import ExportFormat

    tf.keras.utils.set_random_seed(seed)
    src = inputs["neon-treecrowns"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "train").mkdir()
        _write_tiles(src / "2019_YELL_2_528000_4978000_image_crop2.png",
                     src / "2019_YELL_2_528000_4978000_image_crop2.xml", tmp / "train", size, train_tiles, True)
        tf.saved_model.save(_standin_backbone(size, 32), str(tmp / "standin"))
        train = object_detector.DataLoader.from_pascal_voc(str(tmp / "train"), str(tmp / "train"), {1: "tree"},
                                                           cache_dir=str(tmp / "cache"))
        spec = object_detector.EfficientDetSpec(model_name="efficientdet-lite0", uri=str(tmp / "standin"),
                                                hparams={"max_instances_per_image": 100},
                                                model_dir=str(tmp / "ckpt"), epochs=epochs, batch_size=batch_size)
        model = object_detector.create(train, model_spec=spec, epochs=epochs, batch_size=batch_size,
                                       train_whole_model=True)
        model.export(export_dir=str(out), tflite_filename="treecrown_detector.tflite", quantization_config=None,
                     export_format=[ExportFormat.TFLITE], with_metadata=False)
    (out / "images").mkdir()
    _write_tiles(src / "2019_YELL_2_541000_4977000_image_crop.png",
                 src / "2019_YELL_2_541000_4977000_image_crop.xml", out / "images", size, None, False)
    (out / "labels.txt").write_text("\n".join(DETECTOR_LABELS) + "\n")
    (out / "README.txt").write_text(json.dumps({
        "model": "treecrown_detector.tflite: Model Maker EfficientDet-Lite0 spec, random-weight stand-in backbone, "
                 f"{epochs} epoch(s) on {train_tiles} tiles; fp32, NO metadata. AP ~0: for metadata lessons only.",
        "input": f"float32 [1, {size}, {size}, 3], (pixel - {DETECTOR_MEAN}) / {DETECTOR_STD}",
        "outputs": "boxes [1, N, 4] (ymin, xmin, ymax, xmax in 0..1), classes [1, N] (0 = tree), scores [1, N], "
                   "count [1]",
        "images": "held-out 320-px tiles of 2019_YELL_2_541000_4977000_image_crop.png"}, indent=1) + "\n")
