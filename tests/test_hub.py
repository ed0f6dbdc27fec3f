"""Lesson 1 library: handles to hub.KerasLayer, the image pipeline, fine-tuning, export (real TF)."""
import numpy as np
import pytest
from PIL import Image

from course_lib.exceptions import DataError, ModelError
from course_lib.conversion import TFLiteConversion
from course_lib.export import export_all
from course_lib.interpreter import TFLiteModel, tflite_accuracy
from course_lib.hub import build_classifier, feature_extractor, fine_tune, unfreeze
from course_lib.imagedata import augmentation, collect, load_image_folder


@pytest.fixture(scope="module")
def backbone():
    return feature_extractor("mobilenet_v2_100_224/feature_vector", offline=True)


def test_feature_extractor_reads_size_and_range_from_the_registry(backbone):
    layer, info = backbone
    assert (info.image_size, info.feature_dim, info.value_range) == (160, 1280, (0.0, 1.0))
    assert info.standin and "stand-in" in info.describe()


def test_wrong_input_size_is_a_clear_error():
    with pytest.raises(ModelError, match="takes 160x160 images, not 224x224"):
        feature_extractor("mobilenet_v2_100_224/feature_vector", image_size=224, offline=True)


def test_a_model_that_is_not_a_feature_vector_is_rejected(tmp_path):
    import tensorflow as tf

    inp = tf.keras.Input((32, 32, 3))
    tf.saved_model.save(tf.keras.Model(inp, tf.keras.layers.Conv2D(4, 3)(inp)), str(tmp_path / "fmap"))
    with pytest.raises(ModelError, match="not a feature vector"):
        feature_extractor(str(tmp_path / "fmap"), image_size=32)


def _folder(tmp_path, n=12):
    rng = np.random.default_rng(0)
    for k, name in enumerate(["cat", "dog"]):
        d = tmp_path / "imgs" / name
        d.mkdir(parents=True)
        for i in range(n):
            arr = rng.integers(0, 256, (20 + i, 30, 3), dtype=np.uint8)
            arr[..., k] = 255                              # a colour per class
            Image.fromarray(arr).save(d / f"{i}.jpg")
    (tmp_path / "imgs" / "cat" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (tmp_path / "imgs" / "dog" / "notes.txt").write_text("hello")
    return tmp_path / "imgs"


def test_pipeline_skips_bad_files_by_name_and_splits_with_a_seed(tmp_path):
    folder = _folder(tmp_path)
    data = load_image_folder(folder, 24, value_range=(0.0, 1.0), batch_size=4, seed=1)
    skipped = {p.split("/")[-1] for p, _ in data.skipped}
    assert skipped == {"broken.jpg", "notes.txt"}
    assert data.counts == {"train": 14, "val": 5, "test": 5} and data.class_names == ["cat", "dog"]
    x, y, _ = collect(data.train)
    assert x.shape == (14, 24, 24, 3) and x.min() >= 0.0 and x.max() <= 1.0
    again = load_image_folder(folder, 24, batch_size=4, seed=1)
    assert np.array_equal(np.sort(collect(again.test)[1]), np.sort(collect(data.test)[1]))


def test_pipeline_rejects_a_folder_without_classes(tmp_path):
    with pytest.raises(DataError, match="at least 2"):
        load_image_folder(tmp_path, 24)


def test_registered_dataset_keeps_its_held_out_test_split():
    data = load_image_folder("tree-patches", 32, limit_per_class=10)
    assert data.class_names == ["background", "tree"]
    assert data.counts == {"train": 20, "val": 8, "test": 16}


def test_unfreeze_top_layers_trains_only_those(backbone):
    import tensorflow as tf

    layer, info = backbone
    model = build_classifier(layer, info, 2)
    assert len(model.trainable_weights) == 2, "frozen backbone: only the head trains"
    n = unfreeze(layer, top=4)
    assert 0 < n < 20
    model.compile(tf.keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy")
    top = {v.name: v.numpy().copy() for v in layer.trainable_weights}
    bottom = next(v for v in layer.weights if v.name == "Conv1/kernel:0")
    bottom_before = bottom.numpy().copy()
    x = tf.random.uniform([4, 160, 160, 3])
    model.fit(x, np.array([0, 1, 0, 1]), epochs=1, verbose=0)
    assert any(not np.allclose(v.numpy(), top[v.name]) for v in layer.trainable_weights)
    assert np.array_equal(bottom.numpy(), bottom_before), "layers below the top stay frozen"
    assert unfreeze(layer, None) > 100 and unfreeze(layer, 0) == 0


def test_colour_augmentation_changes_training_images_only():
    import tensorflow as tf

    aug = augmentation(flip=False, rotation=0, zoom=0, contrast=0.3, brightness=0.2, seed=1)
    x = tf.random.uniform([8, 16, 16, 3], 0.2, 0.8, seed=0)
    assert np.array_equal(aug(x, training=False).numpy(), x.numpy()), "inference sees the image unchanged"
    y = aug(x, training=True).numpy()
    assert not np.allclose(y, x.numpy())
    assert y.min() >= 0.0 and y.max() <= 1.0, "brightness stays inside the model's value range"
    with pytest.raises(DataError, match="contrast"):
        augmentation(contrast=0.3, value_range=(-1.0, 1.0))


def test_fine_tune_with_decay_steps_follows_a_cosine_to_zero(backbone):
    layer, info = backbone
    model = build_classifier(layer, info, 2)
    n = fine_tune(model, layer, unfreeze_top=4, learning_rate=1e-4, decay_steps=100)
    assert n > 0
    import tensorflow as tf

    schedule = tf.keras.optimizers.schedules.deserialize(model.optimizer.get_config()["learning_rate"])
    assert float(schedule(0)) == pytest.approx(1e-4)
    assert float(schedule(50)) == pytest.approx(5e-5, rel=1e-3)
    assert float(schedule(100)) == pytest.approx(0.0, abs=1e-12)
    unfreeze(layer, 0)


@pytest.fixture(scope="module")
def tiny():
    import tensorflow as tf

    tf.keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).uniform(0, 1, (64, 8, 8, 3)).astype("float32")
    y = (x[..., 0].mean((1, 2)) > 0.5).astype("int32")
    model = tf.keras.Sequential([tf.keras.Input((8, 8, 3)), tf.keras.layers.Conv2D(16, 3, activation="relu"),
                                 tf.keras.layers.Flatten(), tf.keras.layers.Dense(64, activation="relu"),
                                 tf.keras.layers.Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
    model.fit(x, y, epochs=30, verbose=0)
    return model, tf.data.Dataset.from_tensor_slices((x, y)).batch(16)


def test_every_tflite_variant_matches_keras(tiny, tmp_path):
    model, ds = tiny
    rows = export_all(model, tmp_path, ds, representative=ds)
    by = {r.variant: r for r in rows}
    assert set(by) == {"keras (SavedModel)", "float32", "dynamic_range", "float16", "int8"}
    assert by["int8"].bytes < by["float32"].bytes
    keras_acc = by["keras (SavedModel)"].accuracy
    assert abs(by["float32"].accuracy - keras_acc) < 1e-6
    assert abs(by["int8"].accuracy - keras_acc) <= 0.1
    x = next(iter(ds))[0].numpy()
    np.testing.assert_allclose(TFLiteModel(by["float32"].file).predict(x), model.predict(x, verbose=0), atol=1e-5)
    clf = TFLiteModel(by["int8"].file)
    assert clf.input["dtype"] == np.uint8 and clf.outputs[0]["dtype"] == np.uint8
    assert tflite_accuracy(by["int8"].file, ds) == by["int8"].accuracy


def test_int8_without_representative_data_says_what_to_pass(tiny, tmp_path):
    with pytest.raises(ModelError, match="representative"):
        TFLiteConversion.named("int8")
    with pytest.raises(ModelError, match="representative"):
        export_all(tiny[0], tmp_path, tiny[1], variants=["int8"], saved_model=False)
    with pytest.raises(ModelError, match="Unknown TFLite precision"):
        TFLiteConversion.named("int4")
    with pytest.raises(ModelError, match="Unknown TFLite variant 'fp16'"):
        export_all(tiny[0], tmp_path, tiny[1], variants=["fp16"], saved_model=False)
