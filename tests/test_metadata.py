"""course_lib.metadata on real models: real tflite_support writers, MetadataDisplayer and Task Library."""
from __future__ import annotations

import numpy as np
import pytest

from course_lib import metadata as M
from course_lib.resources import registry

LABELS = ["background", "tree"]


@pytest.fixture(scope="module")
def tiny_classifier(tmp_path_factory):
    """A float32 2-class Keras model converted without metadata; input RGB in [0, 1], 32x32."""
    import tensorflow as tf

    tf.keras.utils.set_random_seed(0)
    m = tf.keras.Sequential([tf.keras.Input((32, 32, 3)), tf.keras.layers.Conv2D(4, 3, activation="relu"),
                             tf.keras.layers.GlobalAveragePooling2D(), tf.keras.layers.Dense(2, activation="softmax")])
    path = tmp_path_factory.mktemp("tiny") / "tiny.tflite"
    path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(m).convert())
    return path


@pytest.fixture(scope="module")
def effnet():
    return registry.fetch("efficientnet-lite0-int8") / "efficientnet_lite0.tflite"


@pytest.fixture(scope="module")
def detector():
    return registry.fetch("treecrown-detector")


def _crops(n=6, size=224):
    """Real NEON aerial tiles cropped to ``size`` px (no resize: the two pipelines see the same pixels)."""
    from PIL import Image

    tiles = sorted((registry.fetch("treecrown-detector") / "images").glob("*.jpg"))[:n]
    return [np.asarray(Image.open(t).convert("RGB"))[:size, :size] for t in tiles]


def test_normalization_from_ranges_handles_and_keras_models():
    import tensorflow as tf

    assert M.normalization_for((0, 1)).mean == (0.0,) and M.normalization_for((0, 1)).std == (255.0,)
    n = M.normalization_for((-1, 1))
    assert n.mean == (127.5,) and n.std == (127.5,) and n.value_range == (-1.0, 1.0)
    assert M.normalization_for("mobilenet_v2_100_224/feature_vector").std == (255.0,)   # registered: [0, 1]

    inp = tf.keras.Input((32, 32, 3))
    mnv2 = tf.keras.applications.MobileNetV2(input_shape=(32, 32, 3), alpha=0.35, weights=None, include_top=False)
    raw = tf.keras.Model(inp, mnv2(inp))                                            # expects [-1, 1]
    n = M.normalization_for(raw)
    assert (n.mean, n.std) == ((127.5,), (127.5,)) and "mobilenetv2" in n.source
    x = tf.keras.layers.Rescaling(1 / 127.5, offset=-1)(inp)                        # rescales raw pixels itself
    n = M.normalization_for(tf.keras.Model(inp, mnv2(x)))
    assert (n.mean, n.std) == ((0.0,), (1.0,))
    x = tf.keras.layers.Rescaling(1 / 255.0)(inp)                                   # unknown body after Rescaling
    n = M.normalization_for(tf.keras.Model(inp, tf.keras.layers.Conv2D(2, 3)(x)))
    assert (n.mean, n.std) == ((0.0,), (1.0,))
    with pytest.raises(M.MetadataError, match=r"normalization_for\(\(0, 1\)\)"):
        M.normalization_for(tf.keras.Model(inp, tf.keras.layers.Conv2D(2, 3)(inp)))
    with pytest.raises(M.MetadataError, match="not in datasets/manifest.yaml"):
        M.normalization_for("my/unknown/handle")


def test_write_then_inspect_and_extract(tiny_classifier, tmp_path):
    out = M.write_classifier_metadata(tiny_classifier, LABELS, tmp_path / "md.tflite", M.normalization_for((0, 1)),
                                      name="Tiny trees", version="2.1", author="kit")
    s = M.summarize(out)
    assert s.has_metadata and (s.name, s.version, s.author) == ("Tiny trees", "2.1", "kit")
    assert s.inputs[0].norm.mean == (0.0,) and s.inputs[0].norm.std == (255.0,)
    assert s.outputs[0].name == "probability" and s.labels() == LABELS
    assert 0 < s.overhead < 5000
    assert abs(s.size_without_metadata - tiny_classifier.stat().st_size) < 64   # an emptied buffer entry remains
    text = str(s)
    assert "Tiny trees" in text and "std [255.0]" in text and "background, tree" in text
    assert M.packed_files(out) == ["labels.txt"]
    (f,) = M.extract_files(out, tmp_path / "x")
    assert f.read_text().split() == LABELS
    assert not M.summarize(tiny_classifier).has_metadata and M.packed_files(tiny_classifier) == []


def test_strip_and_rewrite_real_efficientnet_keeps_every_tensor(effnet, tmp_path):
    s = M.summarize(effnet)
    assert s.name.startswith("EfficientNet-lite") and len(s.labels()) == 1000 and s.inputs[0].dtype == "uint8"
    stripped = M.strip_metadata(effnet)
    assert not M.summarize(stripped).has_metadata
    assert len(stripped) == s.size_without_metadata and s.overhead > 10_000     # labels + JSON
    same = M.compare_weights(effnet, stripped)
    assert same.equal and same.tensors > 50 and same.bytes > 4_000_000
    again = M.write_classifier_metadata(stripped, s.labels(), tmp_path / "re.tflite", s.inputs[0].norm,
                                        name=s.name, version=s.version)
    assert M.compare_weights(effnet, again).equal
    assert M.summarize(again).labels() == s.labels()
    # and the comparison can fail: another model differs
    other = M.compare_weights(effnet, registry.fetch("treecrown-detector") / "treecrown_detector.tflite")
    assert not other.equal and other.differing


def test_task_library_agrees_with_interpreter_on_real_images(effnet):
    images = _crops()
    task = M.classify_task(effnet, images, k=3)
    assert all(len(t) == 3 and t[0][0] in M.summarize(effnet).labels() for t in task)
    report = M.verify_classifier(effnet, images, None, M.summarize(effnet).labels())
    assert report.ok, str(report)
    assert report.top1_agreement == 1.0 and report.max_score_diff < 1e-6


def test_wrong_normalisation_is_caught(tiny_classifier, tmp_path):
    right = M.normalization_for((0, 1))
    bad = M.write_classifier_metadata(tiny_classifier, LABELS, tmp_path / "bad.tflite", M.normalization_for((-1, 1)))
    report = M.verify_classifier(bad, _crops(4, 32), right, LABELS)
    assert not report.ok
    assert "wrong normalisation" in report.problems[0] and "input_norm_std=[255.0]" in report.problems[0]
    with pytest.raises(M.MetadataError, match="wrong normalisation"):
        report.raise_for_problems()
    good = M.write_classifier_metadata(tiny_classifier, LABELS, tmp_path / "ok.tflite", right)
    assert M.verify_classifier(good, _crops(4, 32), right, LABELS).ok


def test_label_problems_say_what_is_wrong(tiny_classifier, tmp_path):
    from tflite_support.metadata_writers import image_classifier, writer_utils

    with pytest.raises(M.MetadataError, match="3 labels for a model with 2 outputs"):
        M.write_classifier_metadata(tiny_classifier, ["a", "b", "c"], tmp_path / "x.tflite", M.normalization_for((0, 1)))
    # the raw writer does not check: a 3-line label file on a 2-class model
    (tmp_path / "l3.txt").write_text("a\nb\nc\n")
    w = image_classifier.MetadataWriter.create_for_inference(writer_utils.load_file(str(tiny_classifier)), [0.0],
                                                             [255.0], [str(tmp_path / "l3.txt")])
    writer_utils.save_file(w.populate(), str(tmp_path / "l3.tflite"))
    problems = M.check_metadata(tmp_path / "l3.tflite", "classifier")
    assert any("has 3 lines but the output has 2 classes" in p for p in problems)
    off = M.write_classifier_metadata(tiny_classifier, ["tree", "background"], tmp_path / "off.tflite",
                                      M.normalization_for((0, 1)))
    assert any("do not match the expected" in p for p in M.check_metadata(off, "classifier", None, LABELS))
    none = M.write_classifier_metadata(tiny_classifier, None, tmp_path / "none.tflite", M.normalization_for((0, 1)))
    assert any("no label file" in p for p in M.check_metadata(none, "classifier"))


def test_float_model_without_metadata_is_refused_by_the_task_library(tiny_classifier):
    with pytest.raises(M.MetadataError, match="NormalizationOptions"):
        M.classify_task(tiny_classifier, _crops(1, 32))
    assert "no TFLite metadata" in M.check_metadata(tiny_classifier, "classifier")[0]


def test_detector_metadata_roundtrip_and_agreement(detector, tmp_path):
    model = detector / "treecrown_detector.tflite"
    norm = M.Normalization((127.0,), (128.0,))
    out = M.write_detector_metadata(model, detector / "labels.txt", tmp_path / "det.tflite", norm, name="Trees")
    s = M.summarize(out)
    assert sorted(t.name for t in s.outputs) == sorted(M.DETECTOR_OUTPUTS)
    assert any(t.labels_file for t in s.outputs if t.name == "category")
    assert M.compare_weights(model, out).equal
    images = sorted((detector / "images").glob("*.jpg"))[:4]
    report = M.verify_detector(out, images, norm, ["tree"])
    assert report.ok, str(report)
    assert report.mean_iou > 0.95 and report.top1_agreement == 1.0
    dets = M.detect_task(out, images[:1], max_results=3)[0]
    assert len(dets) == 3 and all(d.label == "tree" for d in dets)


def test_detector_mistakes_are_caught(detector, tmp_path):
    model = detector / "treecrown_detector.tflite"
    norm = M.Normalization((127.0,), (128.0,))
    images = sorted((detector / "images").glob("*.jpg"))[:3]
    good = M.write_detector_metadata(model, ["tree"], tmp_path / "det.tflite", norm)
    moved = M.permute_outputs(good, [1, 3, 0, 2])
    report = M.verify_detector(moved, images, norm, ["tree"])
    assert not report.ok and "not in the order its metadata describes" in report.problems[0]
    assert "holds boxes [1, 25, 4]" in report.problems[0]
    with pytest.raises(M.MetadataError):
        M.detect_task(moved, images[:1])
    bg = M.write_detector_metadata(model, ["???", "tree"], tmp_path / "bg.tflite", norm)
    problems = M.verify_detector(bg, images, norm, ["tree"]).problems
    assert any("shifted by one" in p for p in problems) and any("another label" in p for p in problems)
    wrong = M.write_detector_metadata(model, ["tree"], tmp_path / "w.tflite", M.normalization_for((0, 1)))
    report = M.verify_detector(wrong, images, norm, ["tree"])
    assert "wrong normalisation" in report.problems[0] and report.mean_iou < 0.5
