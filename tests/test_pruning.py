"""Lesson 4: pruning for XNNPACK (course_lib.pruning) and the sparse-inference check (course_lib.sparsity_check).

Real tfmot, real TFLite converter, real flatbuffers. Models are tiny (32 px inputs) to keep the converter
runs short; the whole MobileNetV2 is only built and pruned (a truncated one, 3 blocks, is also converted and
checked), the check is exercised on small graphs that have (or lack) each structural property.
"""
from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
tfmot = pytest.importorskip("tensorflow_model_optimization")

from course_lib import pruning, sparsity_check  # noqa: E402
from course_lib.conversion import TFLiteConversion, convert  # noqa: E402
from course_lib.exceptions import ModelError  # noqa: E402


def tiny_net(first_padding: str = "valid", extra=None, dw_stride: int = 1):
    """Input -> [PAD] -> 3x3/2 conv -> 1x1 -> depthwise 3x3 -> 1x1 (+extra) -> GAP(keepdims) -> 1x1 logits."""
    L = tf.keras.layers
    inp = tf.keras.Input((32, 32, 3))
    x = L.ZeroPadding2D(1)(inp) if first_padding == "valid" else inp
    x = L.Conv2D(16, 3, strides=2, padding=first_padding, activation="relu")(x)
    x = L.Conv2D(32, 1, activation="relu")(x)
    x = L.DepthwiseConv2D(3, strides=dw_stride, padding="same", activation="relu")(x)
    if extra is not None:
        x = extra(x)
    x = L.Conv2D(32, 1, activation="relu")(x)
    x = L.GlobalAveragePooling2D(keepdims=True)(x)
    x = L.Conv2D(2, 1)(x)
    return tf.keras.Model(inp, L.Flatten()(x))


def zero_1x1(model, fraction: float):
    """Zero the smallest `fraction` of every 1x1 conv kernel (what magnitude pruning leaves behind)."""
    for layer in model.layers:
        if isinstance(layer, tf.keras.layers.Conv2D) and layer.kernel_size == (1, 1) \
                and not isinstance(layer, tf.keras.layers.DepthwiseConv2D):
            w, b = layer.get_weights()
            w[np.abs(w) <= np.quantile(np.abs(w), fraction)] = 0
            layer.set_weights([w, b])
    return model


# ---------------------------------------------------------------------------------- loader + policy
def test_keras_mobilenetv2_is_rejected_with_the_policy_reason():
    base = tf.keras.applications.MobileNetV2(input_shape=(32, 32, 3), alpha=0.35, include_top=False, weights=None)
    with pytest.raises(ModelError, match=r"PruneForLatencyOnXNNPack rejects.*Conv2D 3x3.*padding='valid'"):
        pruning.check_prunable(base)


def test_xnnpack_mobilenet_is_accepted_with_symmetric_pads():
    model = pruning.xnnpack_mobilenet_v2(32, alpha=0.35, classes=3)
    pads = [l.padding for l in model.layers if isinstance(l, tf.keras.layers.ZeroPadding2D)]
    assert pads and all(p == ((1, 1), (1, 1)) for p in pads)
    assert model.get_layer("Conv1").padding == "valid"
    assert model.get_layer("gap").keepdims is True
    assert model.output_shape == (None, 3)
    prunable = pruning.check_prunable(model)
    assert "block_1_expand" in prunable and "Conv1" not in prunable


def test_unsupported_layer_is_named():
    model = tiny_net(extra=tf.keras.layers.MaxPooling2D(2, name="sneaky_pool"))
    with pytest.raises(ModelError, match="sneaky_pool"):
        pruning.check_prunable(model)


def test_other_alphas_have_no_offline_weights(monkeypatch):
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    with pytest.raises(ModelError, match="only\\s+alpha=1.0"):
        pruning.xnnpack_mobilenet_v2(96, alpha=0.5, weights="imagenet")


# ---------------------------------------------------------------------------------- schedule
def test_three_step_schedule_is_explicit():
    plan = pruning.ThreeStepSchedule(steps_per_epoch=10, pretrain_epochs=2, prune_epochs=3, finetune_epochs=1,
                                     initial_sparsity=0.2, final_sparsity=0.8)
    c = plan.curves()
    assert len(c["step"]) == 60
    assert set(c["learning_rate"][:20]) == {plan.pretrain_lr}
    assert set(c["learning_rate"][20:50]) == {plan.prune_lr} and set(c["learning_rate"][50:]) == {plan.finetune_lr}
    s = c["target_sparsity"]
    assert np.all(s[:20] == 0) and np.all(np.diff(s) >= 0)
    assert s[20] == pytest.approx(0.2, abs=1e-4) and s[49] == pytest.approx(0.8, abs=1e-4) and np.all(s[50:] == s[49])
    assert plan.learning_rate(2) == plan.prune_lr and plan.learning_rate(3) == plan.finetune_lr
    with pytest.raises(ModelError):
        pruning.ThreeStepSchedule(steps_per_epoch=10, initial_sparsity=0.9, final_sparsity=0.5)


# ---------------------------------------------------------------------------------- pruning + measuring
def test_prune_once_prunes_only_1x1_convs_and_leaves_the_original():
    model = pruning.xnnpack_mobilenet_v2(32, alpha=0.35, classes=2)
    before = model.get_layer("block_1_expand").kernel.numpy().copy()
    rows = {r.layer: r for r in pruning.layer_sparsity(pruning.prune_once(model, 0.8))}
    assert rows["block_1_expand"].sparsity == pytest.approx(0.8, abs=0.01)
    assert rows["Conv1"].sparsity == 0 and rows["block_1_depthwise"].sparsity == 0
    np.testing.assert_array_equal(model.get_layer("block_1_expand").kernel.numpy(), before)

    everything = {r.layer: r for r in pruning.layer_sparsity(pruning.prune_once(model, 0.8, policy=False))}
    assert everything["Conv1"].sparsity == pytest.approx(0.8, abs=0.02)


def test_layer_sparsity_refuses_an_unstripped_model():
    pruned = tfmot.sparsity.keras.prune_low_magnitude(tiny_net())
    with pytest.raises(ModelError, match="strip_pruning"):
        pruning.layer_sparsity(pruned)


# ---------------------------------------------------------------------------------- the flatbuffer check
@pytest.fixture(scope="module")
def sparse_tiny():
    """(sparse float16, dense float32, the Keras model, dense float16): 80 % of each 1x1 kernel zero."""
    model = zero_1x1(tiny_net(), 0.8)
    return (convert(model, TFLiteConversion.float16(sparse=True)), convert(model, TFLiteConversion.float32()), model,
            convert(model, TFLiteConversion.float16()))


def test_sparse_float16_model_is_eligible(sparse_tiny):
    report = sparsity_check.check_sparse_inference(sparse_tiny[0])
    assert report.eligible, report.explain()
    assert len(report.inside) == 2
    assert report.conv1x1_sparsity == pytest.approx(0.8, abs=0.02)
    # the zeros are counted from the sparse storage, exactly like the dense model's
    dense = sparsity_check.check_sparse_inference(sparse_tiny[1])
    assert dense.conv1x1_sparsity == pytest.approx(report.conv1x1_sparsity, abs=1e-6)


def test_without_experimental_sparsity_densify_fails(sparse_tiny):
    report = sparsity_check.check_sparse_inference(sparse_tiny[1])
    assert [c.name for c in report.failures] == ["densify"]
    assert "EXPERIMENTAL_SPARSITY" in report.condition("densify").detail
    assert "CONV_2D" in report.condition("densify").where


def test_sparse_size_estimate_matches_the_converter(sparse_tiny):
    sparse16, _, model, dense16 = sparse_tiny
    assert len(sparse16) < len(dense16)
    assert pruning.sparse_size_estimate(model, len(dense16)) == pytest.approx(len(sparse16), rel=0.02)
    assert pruning.sparse_size_estimate(tiny_net(), len(dense16)) == len(dense16)     # no zeros: stored dense


def test_pruning_cost_judges_against_the_full_run():
    control = {"validation": 0.86, "test (new image)": 0.85}
    def verdicts(pruned, sparsity, reduced=()):
        return [line.split(": ")[-1].split(",")[0] for line in
                pruning.pruning_cost(pruned, control, sparsity, reduced).splitlines()]
    assert verdicts({"validation": 0.80, "test (new image)": 0.70}, 0.9) == ["as expected"] * 2
    assert verdicts({"validation": 0.90, "test (new image)": 0.90}, 0.9) == ["not as expected"] * 2   # gain at 90 %?
    assert verdicts({"validation": 0.90, "test (new image)": 0.84}, 0.6) == ["as expected"] * 2
    assert verdicts({"validation": 0.85, "test (new image)": 0.60}, 0.75) == ["as expected", "not as expected"]
    reduced = pruning.pruning_cost({"validation": 0.5, "test (new image)": 0.5}, control, 0.75, ["blocks"])
    assert "expected" not in reduced and "blocks" in reduced and "-0.360" in reduced


def test_same_padded_entry_and_strided_same_depthwise_fail():
    model = zero_1x1(tiny_net(first_padding="same", dw_stride=2), 0.8)
    report = sparsity_check.check_sparse_inference(convert(model, TFLiteConversion.float32(sparse=True)))
    failed = {c.name for c in report.failures}
    assert "start" in failed and "PAD 1 + VALID" in report.condition("start").detail
    assert report.condition("start").where.startswith("op ")


def test_too_few_zeros_fail_sparsity():
    report = sparsity_check.check_sparse_inference(convert(zero_1x1(tiny_net(), 0.5), TFLiteConversion.float32(sparse=True)))
    assert "sparsity" in {c.name for c in report.failures}
    assert "2/3" in report.condition("sparsity").detail


def test_not_a_tflite_file(tmp_path):
    bad = tmp_path / "model.tflite"
    bad.write_bytes(b"not a flatbuffer")
    with pytest.raises(ModelError, match="TFL3"):
        sparsity_check.check_sparse_inference(bad)


# ---------------------------------------------------------------------------------- truncated model (smoke / a4)
def test_truncated_mobilenet_is_accepted_and_eligible_after_pruning():
    model = pruning.xnnpack_mobilenet_v2(32, alpha=0.35, classes=2, blocks=3, bn_momentum=0.9)
    names = {l.name for l in model.layers}
    assert "block_2_add" in names and "block_3_expand" not in names and "Conv_1" not in names
    assert model.name == "mobilenetv2_0.35_32_3blocks_xnnpack"
    assert all(l.momentum == 0.9 for l in model.layers if isinstance(l, tf.keras.layers.BatchNormalization))
    assert set(pruning.check_prunable(model)) == {"expanded_conv_project", "block_1_expand", "block_1_project",
                                                  "block_2_expand", "block_2_project", "logits"}
    report = sparsity_check.check_sparse_inference(convert(pruning.prune_once(model, 0.8), TFLiteConversion.float16(sparse=True)))
    assert report.eligible, report.explain()
    assert len(report.inside) == 5 and report.conv1x1_sparsity == pytest.approx(0.8, abs=0.01)


def test_block_count_is_checked():
    with pytest.raises(ModelError, match="17 inverted-residual blocks"):
        pruning.xnnpack_mobilenet_v2(32, blocks=18)
    full = pruning.xnnpack_mobilenet_v2(32, alpha=0.35, blocks=None)
    assert "Conv_1" in {l.name for l in full.layers}
    assert full.get_layer("bn_Conv1").momentum == 0.999   # Keras' default unless bn_momentum is given


def test_pruning_summaries_are_read_back(tmp_path):
    sk = tfmot.sparsity.keras
    model = tiny_net()
    schedule = sk.PolynomialDecay(0.2, 0.8, begin_step=0, end_step=4, frequency=1)
    pruned = sk.prune_low_magnitude(model, pruning_schedule=schedule, pruning_policy=sk.PruneForLatencyOnXNNPack())
    pruned.compile("adam", tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y = np.random.default_rng(0).random((16, 32, 32, 3), np.float32), np.arange(16) % 2
    pruned.fit(x, y, batch_size=4, epochs=3, verbose=0,
               callbacks=[sk.UpdatePruningStep(), sk.PruningSummaries(log_dir=str(tmp_path / "logs"))])
    logged = pruning.read_pruning_summaries(tmp_path / "logs")
    one_by_one = [l.name for l in model.layers if isinstance(l, tf.keras.layers.Conv2D) and l.kernel_size == (1, 1)]
    assert sorted(logged) == sorted(one_by_one)
    steps, values = logged[one_by_one[0]]
    assert list(steps) == [0, 4, 8]                      # logged at the start of each epoch
    assert values[0] == 0 and values[-1] == pytest.approx(0.8, abs=0.02) and np.all(np.diff(values) >= 0)
    with pytest.raises(ModelError, match="PruningSummaries"):
        pruning.read_pruning_summaries(tmp_path / "nothing")


@pytest.mark.parametrize("machine,flags,expected,needle", [
    ("aarch64", None, True, "NEON"),
    ("x86_64", {"sse4_2", "avx", "avx2"}, False, "AVX"),
    ("x86_64", {"sse4_2"}, True, "SSE"),
])
def test_host_sparse_kernels(machine, flags, expected, needle):
    ok, why = sparsity_check.host_sparse_kernels(machine, flags)
    assert ok is expected and needle in why


def test_dense_model_generator_writes_a_prunable_model(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, n in (("train", 6), ("test", 3)):
        for k, label in enumerate(pruning.TREEPATCH_LABELS):
            d = tmp_path / "patches" / split / label
            d.mkdir(parents=True)
            for i in range(n):
                pixels = rng.integers(0, 120, (40, 40, 3)) + 100 * k      # trees brighter: learnable
                Image.fromarray(pixels.astype(np.uint8)).save(d / f"{i}.jpg")
    out = tmp_path / "out"
    out.mkdir()
    pruning.treepatch_dense_model(out, {"tree-patches": tmp_path / "patches"}, input_size=32, blocks=2, epochs=1)
    info = __import__("json").loads((out / "metrics.json").read_text())
    assert info["input_size"] == 32 and info["blocks"] == 2 and (info["train"], info["test"]) == (12, 6)
    assert 0 <= info["test_accuracy"] <= 1
    loaded = tf.keras.models.load_model(out / "model.h5")
    assert loaded.input_shape == (None, 32, 32, 3) and loaded.output_shape == (None, 2)
    assert all(l.trainable for l in loaded.layers)
    assert "block_1_expand" in pruning.check_prunable(loaded)        # the .h5 round trip keeps the structure
    assert info["dense_fp16_bytes"] == len(convert(loaded, TFLiteConversion.float16()))
