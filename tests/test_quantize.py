"""Full-integer PTQ on real Fashion-MNIST: representative data, batch 1, uint8 I/O, float vs int8."""
import numpy as np
import pytest

from course_lib import quantize
from course_lib.resources import registry
from course_lib.exceptions import ModelError


def _read_idx(path):
    data = path.read_bytes()
    ndim = data[3]
    shape = np.frombuffer(data, ">u4", ndim, 4)
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(shape)


@pytest.fixture(scope="module")
def fashion():
    d = registry.fetch("fashion-mnist")
    x = _read_idx(d / "train-images-idx3-ubyte")[:2000, :, :, None].astype("float32")
    y = _read_idx(d / "train-labels-idx1-ubyte")[:2000].astype("int64")
    xt = _read_idx(d / "t10k-images-idx3-ubyte")[:500, :, :, None].astype("float32")
    yt = _read_idx(d / "t10k-labels-idx1-ubyte")[:500].astype("int64")
    return x, y, xt, yt


@pytest.fixture(scope="module")
def trained(fashion):
    import tensorflow as tf

    tf.keras.utils.set_random_seed(0)
    x, y, _, _ = fashion
    model = tf.keras.Sequential([tf.keras.Input((28, 28, 1)), tf.keras.layers.Rescaling(1 / 255.0),
                                 tf.keras.layers.Conv2D(8, 3, activation="relu"), tf.keras.layers.MaxPooling2D(),
                                 tf.keras.layers.Flatten(), tf.keras.layers.Dense(10, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=2, batch_size=64, verbose=0)
    int8 = quantize.convert_int8(quantize.with_batch_one(model), quantize.representative_dataset(x, n=100))
    f32 = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    return model, int8, f32


def test_representative_dataset_yields_float32_batches_of_one():
    images = np.arange(10 * 4 * 4, dtype=np.uint8).reshape(10, 4, 4, 1)
    samples = list(quantize.representative_dataset(images, n=6, seed=1)())
    assert len(samples) == 6 and all(len(s) == 1 for s in samples)
    assert {s[0].shape for s in samples} == {(1, 4, 4, 1)} and samples[0][0].dtype == np.float32
    firsts = {float(s[0][0, 0, 0, 0]) for s in samples}
    assert len(firsts) == 6 and firsts <= {float(v) for v in images[:, 0, 0, 0]}   # distinct real samples
    with pytest.raises(ModelError, match="no images"):
        quantize.representative_dataset(np.zeros((0, 4, 4, 1)))


def test_batch_one_model_shares_the_weights(trained, fashion):
    model, _, _ = trained
    b1 = quantize.with_batch_one(model)
    assert b1.input_shape == (1, 28, 28, 1)
    x = fashion[2][:1]
    np.testing.assert_allclose(b1.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5)


def test_int8_io_quantization_is_uint8_batch_one(trained):
    _, int8, _ = trained
    rows = {r["role"]: r for r in quantize.io_quantization(int8)}
    assert rows["input"]["dtype"] == "uint8" and rows["input"]["shape"] == [1, 28, 28, 1]
    assert rows["input"]["scale"] == pytest.approx(1.0, rel=0.02) and rows["input"]["zero_point"] == 0
    assert rows["output"]["dtype"] == "uint8" and rows["output"]["scale"] == pytest.approx(1 / 256)


def test_float_vs_int8_on_held_out_fashion_mnist(trained, fashion):
    model, int8, f32 = trained
    _, _, xt, yt = fashion
    cmp = quantize.compare(model, int8, xt, yt, [str(i) for i in range(10)], float_tflite=f32)
    assert cmp.n == 500 and cmp.float_accuracy > 0.6
    assert abs(cmp.int8_accuracy - cmp.float_accuracy) <= 0.03 and cmp.agreement >= 0.95
    assert len(cmp.per_class) == 10 and sum(r["n"] for r in cmp.per_class) == 500
    assert cmp.float_size_bytes > 3 * cmp.int8_size_bytes            # float32 weights vs int8
    assert cmp.int8_latency_ms > 0 and "int8" in cmp.summary()


def test_tflite_model_quantizes_float_inputs_itself(trained, fashion):
    _, int8, f32 = trained
    x = fashion[2][:20]
    p_int8, p_f32 = quantize.TFLiteModel(int8).predict(x), quantize.TFLiteModel(f32).predict(x)
    assert p_int8.dtype == np.float32 and p_int8.shape == (20, 10)
    assert np.abs(p_int8 - p_f32).max() < 0.1           # dequantized probabilities, not raw uint8
    with pytest.raises(ModelError, match="tflite"):
        quantize.TFLiteModel(b"\x00" * 64)


def test_tflite_accuracy_takes_arrays_or_a_dataset_and_agrees_with_compare(trained, fashion, tmp_path):
    import tensorflow as tf

    from course_lib.interpreter import tflite_accuracy

    model, int8, _ = trained
    xt, yt = fashion[2][:100], fashion[3][:100]
    acc = tflite_accuracy(int8, xt, yt)             # uint8 input: quantized by the model's own scale
    assert acc == quantize.compare(model, int8, xt, yt).int8_accuracy
    assert tflite_accuracy(int8, tf.data.Dataset.from_tensor_slices((xt, yt)).batch(32)) == acc
    assert tflite_accuracy(int8, xt, yt, limit=10) == quantize.compare(model, int8, xt[:10], yt[:10]).int8_accuracy
    with pytest.raises(ModelError, match="no such .tflite file"):
        tflite_accuracy(tmp_path / "missing.tflite", xt, yt)
