"""Rebuild a trainable float Keras model from a (quantized) TFLite CNN, op by op.

The registry has ImageNet EfficientNet-Lite0 only as a full-int8 ``.tflite`` (``efficientnet-lite0-int8``).
Its weights, dequantized (int8 x per-channel scale), are the trained float weights to within one
quantization step, so a Keras model rebuilt from the file is a trainable ImageNet EfficientNet-Lite0
(BatchNorm already folded into the convolutions). Plain CNN classifiers only: the ops below.
"""
from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from .exceptions import ModelError

SUPPORTED = ("QUANTIZE", "DEQUANTIZE", "CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "AVERAGE_POOL_2D", "MEAN",
             "RESHAPE", "FULLY_CONNECTED", "SOFTMAX")


def _dequantize(interp, detail: dict) -> np.ndarray:
    """A constant tensor as float32: ``(q - zero_point) * scale``, per channel where the file says so."""
    q = detail["quantization_parameters"]
    w = interp.get_tensor(detail["index"]).astype(np.float32)
    scales, zeros, axis = q["scales"], q["zero_points"], q["quantized_dimension"]
    if not len(scales):
        return w                                           # a float model: nothing to undo
    shape = [1] * w.ndim
    if len(scales) > 1:
        shape[axis] = len(scales)
    return (w - zeros.reshape(shape).astype(np.float32)) * scales.reshape(shape).astype(np.float32)


def _weights(interp, details: dict, ins: list[int], n_out: int) -> tuple[np.ndarray, np.ndarray]:
    """An op's kernel and bias (zeros where the file has none: the converter drops an all-zero bias)."""
    w = _dequantize(interp, details[ins[1]])
    b = _dequantize(interp, details[ins[2]]) if len(ins) > 2 and ins[2] >= 0 else np.zeros(n_out, np.float32)
    return w, b


def block_name(tensor_name: str) -> str:
    """The block a TFLite tensor belongs to, from its name: ``efficientnet-lite0/model/blocks_4/Add`` ->
    ``blocks_4`` (the third path segment, else the last); fused names keep their first part."""
    parts = tensor_name.split(";")[0].split("/")
    return parts[2] if len(parts) > 2 else parts[-1].replace(":", "_")


def keras_from_tflite(path: str | Path, input_size: int, output: str = "features",
                      taps: tuple[str, ...] = (), pixel: tuple[float, float] = (255.0, 0.0), name: str | None = None,
                      pretrained: bool = True):
    """A float ``tf.keras.Model`` with the TFLite file's layers and (dequantized) weights.

    ``output``: ``"features"`` (global-average-pooled, the feature vector), ``"probabilities"`` (the whole
    classifier), or ``"taps"``: the outputs of the blocks named in ``taps`` (see :func:`block_name`; each is
    the last op of its block), e.g. ``("blocks_4", "blocks_10", "blocks_15")`` for a feature pyramid.
    ``pixel = (a, b)``: the model's input ``x`` is the pixel value ``a * x + b`` (``(255, 0)`` for RGB in
    [0, 1], ``(128, 127)`` for Model Maker's ``(pixel - 127) / 128``); the file's input quantization turns
    pixels into what its first layer was trained on (a float file takes ``x`` as it is).
    Layers are named ``<block>_conv_<k>``, ``<block>_dwconv_<k>``, ``<block>_add``. An op outside :data:`SUPPORTED` is a ModelError.
    ``pretrained=False`` keeps Keras' random initial weights: the same network untrained (a baseline).
    """
    import tensorflow as tf
    from tensorflow.lite.python import schema_py_generated as fb

    if output not in ("features", "probabilities", "taps") or (output == "taps") != bool(taps):
        raise ValueError(f"output={output!r}, taps={taps!r}: use 'features', 'probabilities', or 'taps' with "
                         "block names.")
    path = Path(path)
    try:
        model_fb = fb.Model.GetRootAsModel(path.read_bytes(), 0)
        graph = model_fb.Subgraphs(0)
        interp = tf.lite.Interpreter(model_path=str(path))
    except (ValueError, RuntimeError, IndexError, struct.error) as e:
        raise ModelError(f"{path.name} is not a TFLite model ({e}): pass a .tflite file.") from e
    details = {d["index"]: d for d in interp.get_tensor_details()}
    opnames = {v: k for k, v in vars(fb.BuiltinOperator).items() if not k.startswith("_")}
    act = {fb.ActivationFunctionType.NONE: None, fb.ActivationFunctionType.RELU6: "relu6",
           fb.ActivationFunctionType.RELU: "relu"}
    pad = {fb.Padding.SAME: "same", fb.Padding.VALID: "valid"}
    L = tf.keras.layers

    def options(op, cls):
        o, table = cls(), op.BuiltinOptions()
        o.Init(table.Bytes, table.Pos)
        return o

    def activation(o, what):
        a = o.FusedActivationFunction()
        if a not in act:
            raise ModelError(f"{path.name}: {what} with fused activation {a} is not supported.")
        return act[a]

    image = tf.keras.Input((input_size, input_size, 3), name="images")
    first = graph.Inputs(0)
    q = details[first]["quantization_parameters"]
    scale, zero = (float(q["scales"][0]), float(q["zero_points"][0])) if len(q["scales"]) else (None, 0.0)
    # the float the first layer saw = scale * (pixel - zero)
    x = (L.Rescaling(pixel[0] * scale, offset=(pixel[1] - zero) * scale, name="input_dequantize")(image)
         if scale else image)
    env, last_of_block, k = {first: x}, {}, 0
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        code = model_fb.OperatorCodes(op.OpcodeIndex())
        kind = opnames.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()), "?")
        ins = [op.Inputs(j) for j in range(op.InputsLength())]
        out = op.Outputs(0)
        block = block_name(details[out]["name"])
        if kind not in SUPPORTED:
            raise ModelError(f"{path.name}: op {i} is {kind}, which keras_from_tflite cannot rebuild "
                             f"(supported: {', '.join(SUPPORTED)}).")
        if kind == "RESHAPE" and len(env[ins[0]].shape) != 2:
            raise ModelError(f"{path.name}: op {i} is a RESHAPE of a {len(env[ins[0]].shape)}-d tensor; only the "
                             "squeeze after global pooling is supported.")
        if kind in ("QUANTIZE", "DEQUANTIZE", "RESHAPE"):
            env[out] = env[ins[0]]                  # RESHAPE: the pooled [1, 1, C] squeezed to [C], already 2-d here
        elif kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            depthwise = kind == "DEPTHWISE_CONV_2D"
            o = options(op, fb.DepthwiseConv2DOptions if depthwise else fb.Conv2DOptions)
            w, b = _weights(interp, details, ins, details[out]["shape"][-1])
            k += 1
            kw = dict(strides=(o.StrideH(), o.StrideW()), padding=pad[o.Padding()],
                      dilation_rate=(o.DilationHFactor(), o.DilationWFactor()), activation=activation(o, kind),
                      name=f"{block}_{'dwconv' if depthwise else 'conv'}_{k}")
            if depthwise:
                cin = env[ins[0]].shape[-1]
                layer = L.DepthwiseConv2D(w.shape[1:3], depth_multiplier=w.shape[3] // cin, **kw)
                kernel = w[0].reshape(w.shape[1], w.shape[2], cin, w.shape[3] // cin)
            else:
                layer = L.Conv2D(w.shape[0], w.shape[1:3], **kw)
                kernel = w.transpose(1, 2, 3, 0)                     # TFLite OHWI -> Keras HWIO
            env[out] = layer(env[ins[0]])
            if pretrained:
                layer.set_weights([kernel, b])
        elif kind == "ADD":
            if activation(options(op, fb.AddOptions), kind) is not None:
                raise ModelError(f"{path.name}: op {i} is an ADD with a fused activation, not supported.")
            env[out] = L.Add(name=f"{block}_add")([env[ins[0]], env[ins[1]]])
        elif kind in ("AVERAGE_POOL_2D", "MEAN"):
            # the file's pool spans its whole last map (7x7 at 224 px): global pooling at any input size;
            # Keras' GlobalAveragePooling2D converts to MEAN over axes 1 and 2
            if kind == "MEAN" and sorted(interp.get_tensor(ins[1]).ravel().tolist()) != [1, 2]:
                raise ModelError(f"{path.name}: op {i} is a MEAN over axes other than height and width.")
            env[out] = L.GlobalAveragePooling2D(name="avg_pool")(env[ins[0]])
            if output == "features":
                return tf.keras.Model(image, env[out], name=name or f"{path.stem}_features")
        elif kind == "FULLY_CONNECTED":
            w, b = _weights(interp, details, ins, details[out]["shape"][-1])
            layer = L.Dense(w.shape[0], activation=activation(options(op, fb.FullyConnectedOptions), kind),
                            name=f"{block}_dense")
            env[out] = layer(env[ins[0]])
            if pretrained:
                layer.set_weights([w.T, b])
        elif kind == "SOFTMAX":
            env[out] = L.Softmax(name="probabilities")(env[ins[0]])
        last_of_block[block] = env[out]
        if taps and all(t in last_of_block for t in taps) and block not in taps:
            return tf.keras.Model(image, [last_of_block[t] for t in taps], name=name or f"{path.stem}_taps")
    if output == "probabilities":
        return tf.keras.Model(image, env[graph.Outputs(0)], name=name or path.stem)
    if taps and all(t in last_of_block for t in taps):
        return tf.keras.Model(image, [last_of_block[t] for t in taps], name=name or f"{path.stem}_taps")
    missing = [t for t in taps if t not in last_of_block]
    raise ModelError(f"{path.name}: {'blocks ' + ', '.join(missing) + ' not found' if missing else 'no pooling op'}"
                     f" (blocks: {', '.join(dict.fromkeys(last_of_block))}).")
