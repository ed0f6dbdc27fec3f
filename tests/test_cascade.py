"""Detector -> crop -> classifier on the kit's real int8 detector and held-out NEON imagery."""
import json

import numpy as np
import pytest

from course_lib import cascade, edgetpu
from course_lib.resources import registry
from course_lib.images import open_rgb

HELD_OUT = "2019_YELL_2_541000_4977000_image_crop"


def test_decode_turns_heatmap_peaks_into_boxes():
    heat = np.zeros((32, 32), np.float32)
    sizes = np.zeros((32, 32, 2), np.float32)
    heat[4, 10], heat[4, 11] = 0.9, 0.5          # a peak and its weaker neighbour (suppressed)
    heat[20, 3] = 0.4
    sizes[4, 10] = (0.125, 0.25)                 # 32 x 64 px at a 256-px input
    sizes[20, 3] = (0.0625, 0.0625)
    dets = cascade._decode(heat, sizes, 256, min_score=0.3, max_det=10)
    assert [round(d.score, 2) for d in dets] == [0.9, 0.4]
    d = dets[0]
    assert (d.xmin, d.ymin, d.xmax, d.ymax) == pytest.approx((84 - 16, 36 - 32, 84 + 16, 36 + 32))
    assert len(cascade._decode(heat, sizes, 256, min_score=0.6, max_det=10)) == 1
    scaled = cascade._decode(heat, sizes, 256, 0.6, 10, sx=2.0, sy=0.5)[0]
    assert (scaled.xmin, scaled.ymax) == pytest.approx((136, 34))


def test_tiles_keep_the_boxes_whose_centre_is_inside():
    from course_lib.tiling import tile_array

    image = np.zeros((300, 500, 3), np.uint8)
    boxes = np.array([[10, 10, 30, 30], [240, 50, 262, 70], [250, 100, 290, 140]], np.float32)
    tiles = tile_array(image, boxes, tile=256, stride=200, cover_edge=False, keep="centre")   # the detector's tiles
    assert len(tiles) == 2 and tiles[0][0].shape == (256, 256, 3)
    assert tiles[0][1].tolist() == [[10, 10, 30, 30], [240, 50, 256, 70]]      # clipped to the tile
    assert tiles[1][1].tolist() == [[40, 50, 62, 70], [50, 100, 90, 140]]
    # the default, as tile_example cuts: tiles flush with the far edges too, boxes by their visible area
    tiles = tile_array(image, boxes, tile=256, stride=200)
    assert len(tiles) == 6 and all(t.shape == (256, 256, 3) for t, _ in tiles)
    assert tiles[0][1].tolist() == [[10, 10, 30, 30], [240, 50, 256, 70]]      # the 6-px sliver of the third is dropped


def test_ap50_precision_recall_of_perfect_and_of_missing_detections():
    from course_lib.boxes import as_arrays, coco_ap, iou, precision_recall

    truth = [np.array([[0, 0, 10, 10], [20, 20, 40, 40]], np.float32)]
    labelled = [(truth[0], np.ones(2, int))]
    perfect = [[cascade.Detection(0, 0, 10, 10, 0.9), cascade.Detection(20, 20, 40, 40, 0.8)]]
    assert precision_recall(perfect, truth) == (1.0, 1.0)
    assert coco_ap(labelled, [as_arrays(perfect[0])])["AP50"] == pytest.approx(1.0)
    half = [[cascade.Detection(0, 0, 10, 10, 0.9), cascade.Detection(100, 100, 110, 110, 0.95)]]
    assert precision_recall(half, truth) == (0.5, 0.5)
    # the false positive scores higher: precision 0.5 up to recall 0.5, on COCO's 101 recall points
    assert coco_ap(labelled, [as_arrays(half[0])])["AP50"] == pytest.approx(0.5 * 51 / 101, abs=1e-3)
    assert precision_recall([[]], truth) == (0.0, 0.0)
    assert coco_ap(labelled, [as_arrays([])]) == {"AP": 0.0, "AP50": 0.0}
    assert iou((0, 0, 10, 10), [[5, 0, 15, 10], [20, 20, 30, 30], [3, 3, 3, 3]]).tolist() == [1 / 3, 0.0, 0.0]


@pytest.fixture(scope="module")
def detector_dir():
    return registry.fetch("tree-detector-int8")


def test_kit_detector_is_full_int8_and_predicted_to_map(detector_dir):
    metrics = json.loads((detector_dir / "metrics.json").read_text())
    assert metrics["test_boxes"] > 100 and metrics["int8"]["size_bytes"] < metrics["float"]["size_bytes"] / 2
    assert metrics["float"]["ap50"] > 0.05 and metrics["int8"]["ap50"] > 0.05
    report = edgetpu.analyze(detector_dir / "detector_int8.tflite")
    assert report.fully_mapped and report.inputs[0].dtype == "UINT8" and report.inputs[0].shape == (1, 256, 256, 3)


def test_cascade_detects_crops_classifies_and_draws(detector_dir, tmp_path):
    import tensorflow as tf

    from course_lib.quantize import convert_int8, representative_dataset

    image = np.asarray(open_rgb(registry.fetch("neon-treecrowns") / f"{HELD_OUT}.png"))[256:512, 512:768]
    inp = tf.keras.Input((32, 32, 3), batch_size=1)
    x = tf.keras.layers.Conv2D(4, 3, activation="relu")(tf.keras.layers.Rescaling(1 / 255.0)(inp))
    out = tf.keras.layers.Dense(2, activation="softmax")(tf.keras.layers.GlobalAveragePooling2D()(x))
    crops = np.random.default_rng(0).random((10, 32, 32, 3)) * 255
    cls_path = tmp_path / "cls.tflite"
    cls_path.write_bytes(convert_int8(tf.keras.Model(inp, out), representative_dataset(crops, n=10)))

    det = cascade.Detector(detector_dir / "detector_int8.tflite")
    dets = det.detect(image, min_score=0.2)
    assert dets and all(0 <= d.xmin < d.xmax <= 256 and 0 <= d.ymin < d.ymax <= 256 for d in dets)
    results = cascade.run(image, det, cascade.Classifier(cls_path, ["background", "tree"]), min_score=0.2)
    assert len(results) == len(dets) and {r.label for r in results} <= {"background", "tree"}
    assert all(0.0 <= r.confidence <= 1.0 for r in results)
    drawn = np.asarray(cascade.draw(image, results, colors={"tree": "lime", "background": "red"}))
    assert drawn.shape == image.shape and not np.array_equal(drawn, image)
