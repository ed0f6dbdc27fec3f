"""Float Keras models rebuilt from TFLite files: exact on a float file, faithful on the real int8 EfficientNet-Lite0."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from course_lib.resources import registry
from course_lib.exceptions import ModelError
from course_lib.tflite_float import keras_from_tflite

LITE0 = "efficientnet_lite0.tflite"


def tiny_cnn(concat: bool = False):
    """Stem conv, depthwise, projection, residual add, global pooling, dense softmax (or a concat, unsupported)."""
    import tensorflow as tf

    L = tf.keras.layers
    x0 = tf.keras.Input((32, 32, 3))
    x = L.Conv2D(8, 3, strides=2, padding="same", activation="relu6")(x0)
    y = L.DepthwiseConv2D(3, padding="same", activation="relu6")(x)
    y = L.Conv2D(8, 1)(y)
    x = L.Concatenate()([x, y]) if concat else L.Add()([x, y])
    x = L.GlobalAveragePooling2D()(x)
    return tf.keras.Model(x0, L.Dense(5, activation="softmax")(x))


def to_tflite(model, path):
    import tensorflow as tf

    path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    return path


def test_a_float_file_is_rebuilt_exactly(tmp_path):
    import tensorflow as tf

    tf.keras.utils.set_random_seed(0)
    model = tiny_cnn()
    rng = np.random.default_rng(1)
    for layer in model.layers[1:4]:     # non-zero conv biases: a rebuild that dropped them would not match
        layer.set_weights([w if w.ndim > 1 else rng.normal(0, 0.5, w.shape).astype(np.float32)
                           for w in layer.get_weights()])
    x = np.random.default_rng(0).uniform(-1, 1, (4, 32, 32, 3)).astype(np.float32)
    rebuilt = keras_from_tflite(to_tflite(model, tmp_path / "tiny.tflite"), 32, "probabilities")
    np.testing.assert_allclose(rebuilt(x).numpy(), model(x).numpy(), atol=1e-5)
    assert sum(len(layer.trainable_weights) for layer in rebuilt.layers) == len(model.trainable_weights)
    features = keras_from_tflite(tmp_path / "tiny.tflite", 32, "features")
    assert features.output_shape == (None, 8)
    untrained = keras_from_tflite(tmp_path / "tiny.tflite", 32, "probabilities", pretrained=False)
    assert not np.allclose(untrained.layers[2].get_weights()[0], rebuilt.layers[2].get_weights()[0])


@pytest.fixture(scope="module")
def patches():
    files = sorted((registry.fetch("tree-patches") / "test").glob("*/*"))[::70][:8]
    return np.stack([np.asarray(Image.open(f).convert("RGB").resize((224, 224))) for f in files])


def test_the_real_int8_efficientnet_lite0_becomes_a_float_model_that_agrees_with_it(patches):
    import tensorflow as tf

    path = registry.fetch("efficientnet-lite0-int8") / LITE0
    it = tf.lite.Interpreter(model_path=str(path), experimental_preserve_all_tensors=True)
    it.allocate_tensors()
    pool = next(t for t in it.get_tensor_details() if t["name"] == "efficientnet-lite0/model/head/AvgPool")
    out = it.get_output_details()[0]
    ref_feat, ref_prob = [], []
    for im in patches:
        it.set_tensor(it.get_input_details()[0]["index"], im[None])
        it.invoke()
        s, z = pool["quantization"]
        ref_feat.append((it.get_tensor(pool["index"]).reshape(-1).astype(np.float32) - z) * s)
        s, z = out["quantization"]
        ref_prob.append((it.get_tensor(out["index"])[0].astype(np.float32) - z) * s)
    ref_feat, ref_prob = np.stack(ref_feat), np.stack(ref_prob)

    features = keras_from_tflite(path, 224, "features")(patches / 255.0).numpy()
    probs = keras_from_tflite(path, 224, "probabilities")(patches / 255.0).numpy()
    assert features.shape == (8, 1280) and features.min() >= 0.0           # ReLU6, then average pooling
    assert np.corrcoef(features.ravel(), ref_feat.ravel())[0, 1] > 0.99
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)
    assert np.abs(probs - ref_prob).max() < 0.1
    # the same classes: the int8 model rates the float model's top class within 0.02 of its own top class
    # (these patches are no ImageNet class: top probabilities 0.02-0.3, near-ties within int8's 1/256 steps)
    top = probs.argmax(1)
    assert (ref_prob[np.arange(8), top] >= ref_prob.max(1) - 0.02).all() and (top == ref_prob.argmax(1)).sum() >= 5
    # image by image: each patch's features match its own int8 features (0.993-0.998 here), not a profile
    # shared by all patches (other patches' features: 0.13-0.80)
    c = np.corrcoef(features, ref_feat)[:8, 8:]
    assert c.diagonal().min() > 0.98 and (c - 2 * np.eye(8)).max() < 0.9


def test_taps_give_the_feature_pyramid_at_any_input_size():
    path = registry.fetch("efficientnet-lite0-int8") / LITE0
    taps = keras_from_tflite(path, 320, "taps", taps=("blocks_4", "blocks_10", "blocks_15"), pixel=(128.0, 127.0))
    assert [tuple(t.shape[1:]) for t in taps.outputs] == [(40, 40, 40), (20, 20, 112), (10, 10, 320)]
    with pytest.raises(ModelError, match="blocks_99 not found.*blocks_15"):
        keras_from_tflite(path, 320, "taps", taps=("blocks_4", "blocks_99"))
    with pytest.raises(ValueError, match="taps"):
        keras_from_tflite(path, 320, "taps")


def test_unsupported_ops_and_other_files_are_refused(tmp_path):
    with pytest.raises(ModelError, match="CONCATENATION"):
        keras_from_tflite(to_tflite(tiny_cnn(concat=True), tmp_path / "concat.tflite"), 32, "probabilities")
    (tmp_path / "notes.tflite").write_text("not a model")
    with pytest.raises(ModelError, match="not a TFLite model"):
        keras_from_tflite(tmp_path / "notes.tflite", 32)
