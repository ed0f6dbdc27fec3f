"""Edge TPU pre-flight analyzer and compiler wrapper: real converted models, real compiler output.

The compiler itself is not installable here; the "compiler on PATH" tests put a small executable named
``edgetpu_compiler`` on PATH that replays the REAL fixture stdout/log files (../shared/fixtures/edgetpu),
so the wrapper's process handling and parsing run on real output.
"""
import os
import stat
import sys
import textwrap

import numpy as np
import pytest

from course_lib import edgetpu
from course_lib.edgetpu import DATA_TYPE, MAPPED, NOT_SUPPORTED, SUBGRAPH, UNSPECIFIED
from course_lib.exceptions import EdgeTPUCompileError, ModelError
from course_lib.paths import repo_root

FIX = repo_root().parent / "shared" / "fixtures" / "edgetpu"
pytestmark = pytest.mark.skipif(not FIX.is_dir(), reason="the shared Edge TPU fixtures are not next to the repo")


def _model(act=None, batch=1):
    import tensorflow as tf

    inp = tf.keras.Input((28, 28, 1), batch_size=batch)
    x = tf.keras.layers.Conv2D(8, 3, activation="relu")(inp)
    if act is not None:
        x = tf.keras.layers.Activation(act)(x)
    x = tf.keras.layers.Conv2D(8, 3, activation="relu")(x)
    x = tf.keras.layers.GlobalAveragePooling2D()(x)
    return tf.keras.Model(inp, tf.keras.layers.Dense(10, activation="softmax")(x))


def _convert(model, io="uint8"):
    from course_lib.quantize import convert_int8, representative_dataset

    rng = np.random.default_rng(0)
    return convert_int8(model, representative_dataset(rng.random((20, 28, 28, 1)) * 255, n=20), io_type=io)


@pytest.fixture(scope="module")
def models():
    return {"good": _convert(_model()), "float_io": _convert(_model(), io="float32"),
            "dynamic": _convert(_model(batch=None)), "gelu": _convert(_model("gelu")), "elu": _convert(_model("elu"))}


# ---- the parser on the real compiler output --------------------------------------------------------------

def test_parse_real_cocompile_stdout():
    r = edgetpu.parse_stdout((FIX / "cocompile_stdout.txt").read_text())
    assert r.compiled and r.compiler_version == "15.0.340273435" and r.milliseconds == 1770
    det, cls = r.models
    assert det.input_model == "ssdlite_mobiledet_coco_qat_postprocess.tflite"
    assert det.output_model == "ssdlite_mobiledet_coco_qat_postprocess_edgetpu.tflite"
    assert det.input_bytes == round(4.08 * 2 ** 20) and det.on_chip_bytes == round(4.89 * 2 ** 20)
    assert det.on_chip_remaining_bytes == round(2.74 * 2 ** 20) and det.off_chip_bytes == 0
    assert (det.subgraphs, det.total_ops, det.tpu_ops, det.cpu_ops) == (1, 125, 124, 1)
    assert det.log_file == "ssdlite_mobiledet_coco_qat_postprocess_edgetpu.log" and not det.fully_mapped
    # the classifier got what the detector left, and streams the rest: co-compilation in command-line order
    assert cls.on_chip_bytes == det.on_chip_remaining_bytes and cls.on_chip_remaining_bytes == 0
    assert cls.off_chip_bytes == round(584.06 * 1024)
    assert (cls.total_ops, cls.tpu_ops, cls.cpu_ops) == (72, 72, 0) and cls.fully_mapped
    assert r.model("classifier_edgetpu.tflite") is cls


def test_parse_real_operation_log():
    m = edgetpu.parse_log((FIX / "ssdlite_mobiledet_coco_qat_postprocess_edgetpu.log").read_text())
    assert m.compiler_version == "15.0.340273435" and m.output_model.endswith("_edgetpu.tflite")
    assert [(o.op, o.count) for o in m.operations] == [("DEPTHWISE_CONV_2D", 27), ("CONV_2D", 66), ("CUSTOM", 1),
                                                       ("ADD", 15), ("LOGISTIC", 1), ("CONCATENATION", 2),
                                                       ("RESHAPE", 13)]
    assert (m.total_ops, m.tpu_ops, m.cpu_ops) == (125, 124, 1)      # agrees with the stdout of the same run
    assert {o.status for o in m.operations} == {MAPPED, DATA_TYPE}
    with pytest.raises(ValueError):
        edgetpu.parse_log("Model compiled successfully in 3 ms.")


def test_sizes_parse_like_the_compiler_prints_them():
    assert edgetpu.parse_size("0.00B") == 0 and edgetpu.parse_size("584.06KiB") == 598077
    assert edgetpu.parse_size("3.13MiB") == 3282043
    with pytest.raises(ValueError):
        edgetpu.parse_size("3 MB")


# ---- compiled models -------------------------------------------------------------------------------------

def test_inspect_real_compiled_classifier():
    report = edgetpu.parse_stdout((FIX / "cocompile_stdout.txt").read_text()).model("classifier.tflite")
    ins = edgetpu.inspect_compiled(FIX / "classifier_edgetpu.tflite", report)
    assert ins.edgetpu_custom_ops == 1 and ins.cpu_ops == [] and ins.ops_inside == 72
    assert ins.executable_bytes > 3_000_000
    assert ins.inputs[0].dtype == "UINT8" and ins.inputs[0].shape == (1, 224, 224, 3)
    assert ins.outputs[0].shape == (1, 2)
    pre = edgetpu.analyze(FIX / "classifier_edgetpu.tflite")
    assert pre.compiled and pre.fully_mapped and pre.ops[0].op == "edgetpu-custom-op"


def test_inspect_uncompiled_model_says_how_to_compile(models):
    with pytest.raises(ModelError, match="edgetpu_compiler"):
        edgetpu.inspect_compiled(models["good"])
    with pytest.raises(ModelError, match="not a TFLite"):
        edgetpu.analyze(b"not a model at all")


# ---- the analyzer on real converted models ---------------------------------------------------------------

def test_full_int8_batch1_model_is_fully_mapped_and_logs_in_compiler_format(models):
    r = edgetpu.analyze(models["good"])
    assert r.fully_mapped and r.partition is None and r.param_bytes > 0
    assert [o.op for o in r.ops][:3] == ["QUANTIZE", "CONV_2D", "CONV_2D"]   # uint8 -> int8 on the Edge TPU
    back = edgetpu.parse_log(r.log())             # the compiler-log parser reads the analyzer's log
    assert back.total_ops == len(r.ops) and back.tpu_ops == len(r.ops) and back.cpu_ops == 0


def test_float_io_costs_two_cpu_ops_not_the_whole_model(models):
    r = edgetpu.analyze(models["float_io"])
    first, last = r.ops[0], r.ops[-1]
    # the real compiler: a float-input QUANTIZE is "otherwise supported" but stays on the CPU, and the ops
    # after it still map (nrf20 mnist4 log, edgetpu#342; MoveNet in the corpus)
    assert first.op == "QUANTIZE" and first.status == UNSPECIFIED and "inference_input_type = tf.uint8" in first.fix
    assert all(o.mapped for o in r.ops[1:-1]) and r.subgraphs == 1
    assert last.op == "DEQUANTIZE" and last.status == DATA_TYPE and "inference_output_type" in last.fix
    assert r.partition is first and r.mapped_ops == len(r.ops) - 2 and not r.fully_mapped
    assert "inference_input_type" in r.log()


def test_dynamic_batch_maps_with_a_note(models):
    r = edgetpu.analyze(models["dynamic"])
    assert r.inputs[0].signature[0] == -1 and r.inputs[0].shape[0] == 1
    assert r.fully_mapped                                   # the compiler reads the stored shape
    assert any("dynamic shape signature" in n and "batch_size=1" in n for n in r.notes)
    assert "Note: input" in r.log()
    assert not edgetpu.analyze(models["good"]).notes


def test_a_shape_computed_at_run_time_is_noted():
    import tensorflow as tf

    from course_lib.quantize import convert_int8, representative_dataset

    inp = tf.keras.Input((6, 6, 4))                                       # dynamic batch
    x = tf.keras.layers.Conv2D(4, 3)(inp)
    out = tf.keras.layers.Lambda(lambda t: tf.reshape(t, tf.stack([tf.shape(t)[0], -1])))(x)
    data = representative_dataset(np.random.default_rng(0).random((10, 6, 6, 4)), n=10)
    r = edgetpu.analyze(convert_int8(tf.keras.Model(inp, out), data))
    assert "SHAPE" in [o.op for o in r.ops], r.log()
    assert any("computes a shape at run time" in n and "edgetpu" not in n for n in r.notes), r.notes


def test_unsupported_op_mid_graph_blocks_what_depends_on_it(models):
    r = edgetpu.analyze(models["gelu"])
    cut = r.partition
    assert cut.op == "GELU" and cut.status == NOT_SUPPORTED and cut.fix      # it blocks ops: a fix is shown
    assert all(o.mapped for o in r.ops[:cut.index])
    assert all(o.status == SUBGRAPH and not o.fix for o in r.ops[cut.index + 1:])
    several = edgetpu.analyze(models["gelu"], multiple_subgraphs=True)     # edgetpu_compiler -a
    assert [o.op for o in several.ops if not o.mapped] == ["GELU"] and several.subgraphs == 2
    assert {o.subgraph for o in several.ops[cut.index + 1:]} == {1}


def test_subgraph_modes_say_what_dash_a_moves(models):
    """Lesson 5's Try check: -a maps the ops after a mid-graph GELU again; a model that maps whole gains nothing."""
    modes = edgetpu.analyze_subgraph_modes(models["gelu"])
    assert modes.as_expected and (modes.default.subgraphs, modes.several.subgraphs) == (1, 2)
    text = modes.explain()
    assert "as expected" in text and f"cut at #{modes.default.partition.index} GELU" in text
    whole = edgetpu.analyze_subgraph_modes(models["good"])
    assert not whole.as_expected and "every op can map" in whole.explain()


def test_float_island_left_by_the_converter(models):
    r = edgetpu.analyze(models["elu"])
    assert [o.op for o in r.ops[1:4]] == ["CONV_2D", "DEQUANTIZE", "ELU"]
    assert r.partition.op == "DEQUANTIZE" and r.partition.status == DATA_TYPE and "ReLU" in r.partition.fix


def test_per_op_rows_name_the_output_tensor_and_shape(models):
    r = edgetpu.analyze(models["good"])
    last = r.ops[-1]
    assert last.output == r.outputs[0].name and last.shape == r.outputs[0].shape and last.placement == "Edge TPU"
    data = r.to_dict()
    assert data["compiler_version"] == "16.0.384591198" and data["tpu_ops"] == len(r.ops)
    assert data["ops"][0]["op"] == "QUANTIZE" and data["ops"][0]["placement"] == "Edge TPU"
    assert f"{last.index:>4} {last.op}" in r.log()


def test_compiler_version_15_does_not_map_transpose():
    import tensorflow as tf

    inp = tf.keras.Input((8, 6, 4), batch_size=1)
    x = tf.keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inp)
    x = tf.keras.layers.Lambda(lambda t: tf.transpose(t, [0, 2, 1, 3]))(x)
    out = tf.keras.layers.Conv2D(4, 3, padding="same")(x)
    from course_lib.quantize import convert_int8, representative_dataset

    data = representative_dataset(np.random.default_rng(0).random((10, 8, 6, 4)) * 255, n=10)
    tfl = convert_int8(tf.keras.Model(inp, out), data)
    v16, v15 = edgetpu.analyze(tfl), edgetpu.analyze(tfl, compiler_version="15")
    assert "TRANSPOSE" in [o.op for o in v16.ops] and v16.fully_mapped
    t15 = next(o for o in v15.ops if o.op == "TRANSPOSE")
    assert t15.status == NOT_SUPPORTED and "compiler 15" in t15.reason
    assert all(o.status == SUBGRAPH for o in v15.ops[t15.index + 1:-1])
    with pytest.raises(ValueError, match="15, 16"):
        edgetpu.analyze(tfl, compiler_version=14)


def test_dilation_counts_only_along_axes_the_kernel_spans():
    import tensorflow as tf

    from course_lib.quantize import convert_int8, representative_dataset

    def convert(kernel):
        inp = tf.keras.Input((16, 16, 4), batch_size=1)
        out = tf.keras.layers.Conv2D(4, kernel, dilation_rate=(2, 1), padding="same")(inp)
        data = representative_dataset(np.random.default_rng(0).random((10, 16, 16, 4)), n=10)
        return edgetpu.analyze(convert_int8(tf.keras.Model(inp, out), data))

    wide = convert((3, 1))          # 3 tall, 1 wide: the x dilation means nothing
    square = convert((3, 3))
    assert wide.fully_mapped, wide.log()
    conv = next(o for o in square.ops if o.op == "CONV_2D")
    assert conv.status == UNSPECIFIED and "dilation" in conv.reason, square.log()


def test_cocompile_shares_the_cache_in_command_line_order(models):
    a, b = edgetpu.analyze(models["good"]), edgetpu.analyze(models["good"])
    co = edgetpu.analyze_cocompiled([a, b], cache_bytes=a.param_bytes + 100)
    assert co.on_chip == [a.param_bytes, 100] and co.off_chip == [0, b.param_bytes - 100]
    assert co.remaining == [100, 0] and "on-chip" in co.table()


# ---- the compiler wrapper --------------------------------------------------------------------------------

def _fake_compiler(bin_dir, rc=0, stderr=""):
    """An executable `edgetpu_compiler` that records its argv and replays the real fixture output."""
    script = bin_dir / "edgetpu_compiler"
    script.write_text(textwrap.dedent(f"""\
        #!{sys.executable}
        import shutil, sys
        from pathlib import Path
        fix = Path({str(FIX)!r})
        args = sys.argv[1:]
        Path({str(bin_dir / 'argv.txt')!r}).write_text("\\n".join(args))
        if {rc}:
            sys.stderr.write({stderr!r}); sys.exit({rc})
        out = Path(args[args.index("-o") + 1])
        shutil.copy(fix / "ssdlite_mobiledet_coco_qat_postprocess_edgetpu.log", out)
        (out / "ssdlite_mobiledet_coco_qat_postprocess_edgetpu.tflite").write_bytes(b"x")
        shutil.copy(fix / "classifier_edgetpu.tflite", out)
        sys.stdout.write((fix / "cocompile_stdout.txt").read_text())
        """))
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


@pytest.fixture
def inputs(tmp_path, models):
    det = tmp_path / "ssdlite_mobiledet_coco_qat_postprocess.tflite"
    cls = tmp_path / "classifier.tflite"
    det.write_bytes(models["good"])
    cls.write_bytes(models["good"])
    return [det, cls]


def test_compiler_on_path_is_run_and_its_real_output_parsed(tmp_path, monkeypatch, inputs):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _fake_compiler(bin_dir)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    out = tmp_path / "compiled"
    r = edgetpu.compile_models(inputs, out_dir=out, min_runtime_version=13, num_segments=2, multiple_subgraphs=True,
                               intermediate_tensors=["a", "b"], timeout_sec=60, verbose=False)
    argv = (bin_dir / "argv.txt").read_text().splitlines()
    assert argv[:4] == ["-o", str(out), "-t", "60"]
    assert {"-s", "-a"} <= set(argv) and argv[argv.index("-m") + 1] == "13" and argv[argv.index("-n") + 1] == "2"
    assert argv[argv.index("-i") + 1] == "a,b" and argv[-2:] == [str(p) for p in inputs]
    assert r.compiled and r.preflight is None and len(r.models) == 2
    det = r.models[0]
    assert det.cpu_ops == 1 and [o.op for o in det.operations if not o.mapped] == ["CUSTOM"]   # from the .log
    ins = edgetpu.inspect_compiled(out / r.models[1].output_model, r.models[1])
    assert ins.ops_inside == 72


def test_compiler_failure_is_an_error_with_its_output(tmp_path, monkeypatch, inputs):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _fake_compiler(bin_dir, rc=1, stderr="ERROR: Didn't find op for builtin opcode 'CONV_2D' version '6'\n")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(EdgeTPUCompileError, match="(?s)CONV_2D' version '6'.*older TensorFlow"):
        edgetpu.compile_models(inputs, out_dir=tmp_path / "o", verbose=False)


def test_without_the_compiler_say_so_and_return_the_preflight(tmp_path, monkeypatch, capsys, inputs):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert edgetpu.find_compiler() is None
    r = edgetpu.compile_models(inputs, out_dir=tmp_path / "o")
    assert not r.compiled and not r.models
    assert "apt-get install edgetpu-compiler" in capsys.readouterr().out
    assert [m.fully_mapped for m in r.preflight.models] == [True, True]
    assert r.preflight.on_chip[0] == r.preflight.models[0].param_bytes
    with pytest.raises(EdgeTPUCompileError, match="no such model"):
        edgetpu.compile_models([tmp_path / "missing.tflite"])
