"""Transfer learning with TF Hub: a feature-vector model by handle, a classifier on top, fine-tuning.

    layer, info = feature_extractor("mobilenet_v2_100_224/feature_vector")   # hub.KerasLayer
    model = build_classifier(layer, info, n_classes=2, augment=augmentation())
    history = train(model, data.train, data.val, epochs=5)
    fine_tune(model, layer, unfreeze_top=40, learning_rate=1e-4); train(...)   # = unfreeze + compile
"""
from __future__ import annotations

import sys
import weakref
from dataclasses import dataclass

from .exceptions import ModelError
from .resources.handles import ResolvedHandle, resolve_handle

__all__ = ["FeatureExtractorInfo", "feature_extractor", "check_feature_vector", "build_classifier", "unfreeze",
           "fine_tune", "train", "TqdmProgress"]


@dataclass(frozen=True)
class FeatureExtractorInfo:
    handle: str
    target: str
    image_size: int
    value_range: tuple[float, float]
    feature_dim: int
    standin: str | None

    def describe(self) -> str:
        what = f"offline stand-in {self.standin!r}" if self.standin else self.target
        return (f"{self.handle} -> {what}: {self.image_size}x{self.image_size} RGB in "
                f"[{self.value_range[0]:g}, {self.value_range[1]:g}] -> {self.feature_dim} features")


def _input_size(r: ResolvedHandle, image_size: int | None) -> int:
    spec = r.spec
    if spec is not None and spec.output != "feature_vector":
        raise ModelError(f"{r.requested!r} outputs {spec.output!r}, not a feature vector. Use a "
                         "`.../feature_vector/...` handle for transfer learning.")
    if spec is None and image_size is None:
        raise ModelError(f"{r.requested!r} is not registered, so its input size is unknown: pass image_size=.")
    if image_size is not None and spec is not None and image_size != spec.input_size:
        raise ModelError(f"{r.requested!r} ({r.describe()}) takes {spec.input_size}x{spec.input_size} images, "
                         f"not {image_size}x{image_size}. Use image_size={spec.input_size} (or leave it out).")
    return int(spec.input_size if spec is not None else image_size)


def check_feature_vector(layer, resolved: ResolvedHandle, image_size: int | None = None) -> FeatureExtractorInfo:
    """Probe a loaded ``hub.KerasLayer``: it must map ``size x size`` RGB to ``(batch, features)``."""
    import tensorflow as tf

    size = _input_size(resolved, image_size)
    try:
        out = layer(tf.zeros([1, size, size, 3]))
    except (ValueError, TypeError) as e:
        raise ModelError(f"{resolved.target} does not accept {size}x{size} RGB float images: {str(e)[:300]}") from e
    if isinstance(out, (list, tuple, dict)) or len(out.shape) != 2:
        shape = [tuple(o.shape) for o in out] if isinstance(out, (list, tuple)) else getattr(out, "shape", out)
        raise ModelError(f"{resolved.requested!r} returns {shape}, not a feature vector of shape (batch, features). "
                         "Choose a feature_vector model (not a classification or detection one).")
    spec = resolved.spec
    value_range = tuple(spec.value_range) if spec is not None else (0.0, 1.0)
    return FeatureExtractorInfo(resolved.requested, resolved.target, size, value_range, int(out.shape[-1]),
                                resolved.standin)


def feature_extractor(handle: str, image_size: int | None = None, trainable: bool = False,
                      offline: bool | None = None):
    """``(hub.KerasLayer, FeatureExtractorInfo)`` for a feature-vector handle.

    The expected input size and value range come from the handle's registry entry. A handle whose
    output is not a feature vector, or an ``image_size`` the model does not take, is a ModelError.
    """
    import tensorflow_hub as hub

    r = resolve_handle(handle, offline=offline)
    size = _input_size(r, image_size)                 # fails before anything is loaded
    layer = hub.KerasLayer(r.target, trainable=trainable, name="feature_extractor")
    return layer, check_feature_vector(layer, r, size)


def build_classifier(layer, info: FeatureExtractorInfo, n_classes: int, dropout: float = 0.2,
                     augment=None, learning_rate: float = 1e-3):
    """Frozen backbone + dropout + dense softmax head, compiled (Adam, sparse categorical cross-entropy).

    The backbone is always called with ``training=False`` so its BatchNorm statistics stay those of
    the pretrained model, also while fine-tuning (the Keras transfer-learning rule).
    """
    import tensorflow as tf

    layer.trainable = False
    inputs = tf.keras.Input((info.image_size, info.image_size, 3), name="image")
    x = augment(inputs) if augment is not None else inputs
    x = layer(x, training=False)
    x = tf.keras.layers.Dropout(dropout, name="dropout")(x)
    outputs = tf.keras.layers.Dense(n_classes, activation="softmax", name="classifier")(x)
    model = tf.keras.Model(inputs, outputs, name="transfer_classifier")
    model.compile(optimizer=tf.keras.optimizers.Adam(learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _variable_groups(layer) -> list[str]:
    """The backbone's layers, in order, as the prefixes of its variable names."""
    groups: list[str] = []
    for v in layer.variables:
        g = v.name.rsplit("/", 1)[0]
        if g not in groups:
            groups.append(g)
    return groups


_ORIGINAL: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def unfreeze(layer, top: int | None = None) -> int:
    """Make the top ``top`` layers of a hub.KerasLayer backbone trainable (all if None, none if 0);
    returns the number of trainable backbone variables. Compile the model again afterwards."""
    if layer not in _ORIGINAL:
        _ORIGINAL[layer] = (list(layer._trainable_weights), list(layer._non_trainable_weights))
    trainable, non_trainable = _ORIGINAL[layer]
    keep = set(_variable_groups(layer)[-top:]) if top else set()
    if top is None:
        keep = {v.name.rsplit("/", 1)[0] for v in trainable}
    # hub.KerasLayer is one Keras layer: the lower layers are frozen by moving their variables to the
    # non-trainable list (BatchNorm moving statistics are never trainable anyway).
    layer._trainable_weights[:] = [v for v in trainable if v.name.rsplit("/", 1)[0] in keep]
    layer._non_trainable_weights[:] = non_trainable + [v for v in trainable if v.name.rsplit("/", 1)[0] not in keep]
    layer.trainable = True
    return len(layer.trainable_weights)


def fine_tune(model, layer, unfreeze_top: int | None = None, learning_rate: float = 1e-4,
              decay_steps: int | None = None) -> int:
    """:func:`unfreeze` the top layers and recompile with a lower learning rate.

    With ``decay_steps`` (batches per epoch x epochs) the rate follows a cosine from ``learning_rate``
    down to 0, which settles the noisy end of fine-tuning.
    """
    import tensorflow as tf

    n = unfreeze(layer, unfreeze_top)
    rate = tf.keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps) if decay_steps else learning_rate
    model.compile(optimizer=tf.keras.optimizers.Adam(rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return n


class TqdmProgress:
    """A Keras callback factory: one progress bar per fit, epoch metrics in the bar."""

    def __new__(cls, epochs: int, desc: str = "training"):
        import tensorflow as tf
        from tqdm.auto import tqdm

        class _Bar(tf.keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                self.bar = tqdm(total=epochs, desc=desc, unit="epoch", file=sys.stdout)

            def on_epoch_end(self, epoch, logs=None):
                logs = logs or {}
                self.bar.set_postfix({k: f"{v:.3f}" for k, v in logs.items() if "acc" in k or "loss" in k})
                self.bar.update(1)

            def on_train_end(self, logs=None):
                self.bar.close()

        return _Bar()


def train(model, train_ds, val_ds, epochs: int, patience: int = 3, desc: str = "training"):
    """``model.fit`` with a progress bar and early stopping on validation accuracy (best weights kept)."""
    import tensorflow as tf

    stop = tf.keras.callbacks.EarlyStopping(monitor="val_accuracy", patience=patience,
                                            restore_best_weights=True, mode="max")
    return model.fit(train_ds, validation_data=val_ds, epochs=epochs, verbose=0,
                     callbacks=[stop, TqdmProgress(epochs, desc)])
