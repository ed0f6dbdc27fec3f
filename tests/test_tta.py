"""Test-time augmentation (course_lib.tta) with real Keras models and tf.data."""
from __future__ import annotations

import numpy as np
import pytest

from course_lib import tta


def _corner_model(size: int = 3):
    """p(class 1) = the top-left pixel of channel 0: it sees only one orientation of an image."""
    import tensorflow as tf

    inp = tf.keras.Input((size, size, 1))
    v = tf.keras.layers.Lambda(lambda x: x[:, 0, 0, 0])(inp)
    out = tf.keras.layers.Lambda(lambda v: tf.stack([1.0 - v, v], axis=-1))(v)
    return tf.keras.Model(inp, out)


def test_d8_copies_are_the_eight_distinct_symmetries():
    img = np.arange(9, dtype=np.float32).reshape(1, 3, 3, 1)
    views = tta.copies(img, "d8")
    assert len(views) == 8 and np.array_equal(views[0], img)
    assert len({v.tobytes() for v in views}) == 8                       # all different
    assert all(sorted(v.ravel()) == list(range(9)) for v in views)      # same pixels, moved
    assert [len(tta.copies(img, k)) for k in ("none", "flip")] == [1, 2]


def test_predict_averages_over_the_views():
    model = _corner_model()
    img = np.zeros((2, 3, 3, 1), np.float32)
    img[0, 0, 0, 0] = 1.0          # a bright corner: it is top-left in 2 of the 8 views (as is, and one mirror)
    img[1, 1, 1, 0] = 1.0          # a bright centre: never top-left
    plain = tta.predict(model, img, "none")
    assert plain[:, 1].tolist() == [1.0, 0.0]
    assert tta.predict(model, img, "d8")[:, 1] == pytest.approx([0.25, 0.0])
    assert tta.predict(model, img, "flip")[:, 1] == pytest.approx([0.5, 0.0])


def test_accuracy_on_a_batched_dataset():
    import tensorflow as tf

    img = np.zeros((4, 3, 3, 1), np.float32)
    img[:2, 0, 0, 0] = 1.0
    labels = np.array([1, 1, 0, 0])
    ds = tf.data.Dataset.from_tensor_slices((img, labels)).batch(3)
    model = _corner_model()
    assert tta.accuracy(model, ds, "none") == 1.0
    assert tta.accuracy(model, ds, "d8") == 0.5        # the corner class loses the vote 0.25 vs 0.75


def test_bad_views_and_shapes_are_clear_errors():
    with pytest.raises(ValueError, match="choose one of"):
        tta.copies(np.zeros((1, 3, 3, 1)), "d4")
    with pytest.raises(ValueError, match="square"):
        tta.copies(np.zeros((1, 3, 4, 1)), "d8")
    with pytest.raises(ValueError, match=r"\[N, H, W, C\]"):
        tta.copies(np.zeros((3, 3, 1)), "flip")
