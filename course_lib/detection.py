"""Train, evaluate, export and look at Model Maker EfficientDet-Lite detectors (lesson 2).

    bb = backbone("efficientdet/lite0/feature-vector")    # Hub handle online, kit-built stand-in offline
    spec = make_spec(bb, epochs=50, batch_size=8)           # object_detector.EfficientDetSpec underneath
    model = train(train_data, spec, validation_data=val)    # object_detector.create, timed
    table = export_variants(model, test_data, "export")     # int8 / float16 / float32: AP, AP50, KB
    plot_detections("export/model_int8.tflite", test, score_threshold=0.3)

The notebook calls Model Maker itself; these helpers are the plumbing around it (and what ``bench/`` uses).
"""
from __future__ import annotations

import contextlib
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from .boxes import Detection
from .exceptions import ModelError

__all__ = ["Backbone", "backbone", "make_spec", "train", "evaluate", "lean_saving", "export_variants", "detect_tflite",
           "threshold_table", "plot_detections", "VARIANTS", "STANDIN_HANDLE"]

VARIANTS = ("int8", "float16", "float32")
STANDIN_HANDLE = "efficientdet/lite0/feature-vector"


def _say(msg: str) -> None:
    print(f"[detection] {msg}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Backbone:
    """What ``EfficientDetSpec(uri=..., var_freeze_expr=...)`` needs for one backbone module."""

    uri: str
    var_freeze_expr: str | None        # None: Model Maker's default pattern (the real Hub module's names)
    description: str


def backbone(handle: str = STANDIN_HANDLE, offline: bool | None = None) -> Backbone:
    """Resolve a backbone handle. Offline, the kit's ImageNet MobileNetV2 stand-in, with its freeze pattern."""
    from .resources.handles import resolve_handle
    from .resources.standins import MOBILENETV2_VARIABLES

    r = resolve_handle(handle, offline=offline)
    kit = r.standin is not None or (r.spec is not None and r.spec.resource is not None)
    if r.spec is not None and r.spec.output != "detection_features":
        raise ModelError(f"{handle!r} outputs {r.spec.output!r}; EfficientDetSpec needs a module returning "
                         "(cls_feats, box_feats) for levels 3-7, e.g. 'efficientdet/lite0/feature-vector'.")
    return Backbone(r.target, MOBILENETV2_VARIABLES if kit else None, r.describe())


def make_spec(bb: Backbone, epochs: int = 50, batch_size: int = 8, model_dir: str | Path | None = None,
              max_detections: int = 100, max_instances: int = 100, learning_rate: float | None = None,
              scale_jitter: tuple[float, float] = (0.8, 1.25), model_name: str = "efficientdet-lite0",
              nms_iou: float | None = None, **hparams):
    """``object_detector.EfficientDetSpec`` with the settings the tree tiles need.

    ``max_detections``: boxes the TFLite model keeps (Model Maker's default 25 is too few for tiles with
    40 trees). ``learning_rate`` is Model Maker's, for batch 64 (it is scaled by ``batch_size / 64``).
    ``scale_jitter``: the random rescaling range of training images (``jitter_min``/``jitter_max``). Model
    Maker's default, 0.1-2.0, shrinks a 320-px tile to as little as 32 px, where a 38-px crown is 4 px; on
    the tree tiles 0.8-1.25 raised held-out AP50 after 60 epochs from 0.21 to 0.35.
    ``nms_iou``: the hard-NMS IoU threshold of the exported TFLite model (None: Model Maker's 0.5); choose it
    with :func:`sweep_nms_iou` on tiles held out from training. Other ``hparams`` override the spec's, an
    explicit ``lr_warmup_init`` included (default ``learning_rate / 10``; Model Maker's Keras trainer scales
    ``learning_rate`` by ``batch_size / 64`` but not ``lr_warmup_init``).
    """
    from tflite_model_maker import object_detector

    hp = {"max_instances_per_image": max_instances, "jitter_min": scale_jitter[0], "jitter_max": scale_jitter[1],
          **hparams}
    if learning_rate is not None:
        hp["learning_rate"] = learning_rate
        hp.setdefault("lr_warmup_init", learning_rate / 10)
    if nms_iou is not None:
        _check_iou(nms_iou)
        hp["nms_configs"] = {"iou_thresh": nms_iou}
    kw = {} if bb.var_freeze_expr is None else {"var_freeze_expr": bb.var_freeze_expr}
    return object_detector.EfficientDetSpec(model_name=model_name, uri=bb.uri, hparams=hp, epochs=epochs,
                                            batch_size=batch_size, tflite_max_detections=max_detections,
                                            model_dir=str(model_dir) if model_dir else None, **kw)


def train(train_data, spec, validation_data=None, epochs: int | None = None, batch_size: int | None = None,
          train_whole_model: bool = False):
    """``object_detector.create``, with a line before and after (epochs, seconds, seconds per epoch)."""
    from tflite_model_maker import object_detector

    epochs = epochs or spec.config.num_epochs
    batch_size = batch_size or spec.config.batch_size
    if len(train_data) < batch_size:
        raise ModelError(f"{len(train_data)} training images but batch_size {batch_size}: Model Maker drops the "
                         "incomplete batch, so nothing would train. Use a smaller batch_size or more images.")
    _say(f"training {epochs} epoch(s) on {len(train_data)} images, batch {batch_size}, "
         f"{'whole model' if train_whole_model else 'backbone frozen'} ...")
    t = time.time()
    model = object_detector.create(train_data, model_spec=spec, validation_data=validation_data, epochs=epochs,
                                   batch_size=batch_size, train_whole_model=train_whole_model)
    s = time.time() - t
    _say(f"trained in {s:.0f} s ({s / epochs:.1f} s/epoch, the first includes tracing)")
    model.train_seconds = s
    return model


def evaluate(model, data, batch_size: int | None = None, nms: str | None = None) -> dict[str, float]:
    """Keras COCO metrics (``model.evaluate``) as plain floats.

    ``nms``: None keeps the spec's NMS (Model Maker's default is Gaussian soft-NMS); ``"hard"`` uses hard NMS
    at the spec's IoU threshold (0.5 unless ``nms_configs.iou_thresh`` is set), what the exported TFLite
    model's ``TFLite_Detection_PostProcess`` op does, so the Keras and TFLite figures differ only by the
    conversion (and quantization).
    """
    if nms not in (None, "hard", "gaussian"):
        raise ValueError(f"nms={nms!r}: use None (the spec's own), 'hard' (as the TFLite model) or 'gaussian'.")
    nms_configs = model.model_spec.config.nms_configs
    saved = nms_configs.as_dict()
    if nms is not None:
        # the TFLite export uses the spec's IoU threshold, 0.5 when unset (postprocess.tflite_nms_implements_signature)
        hard = {"iou_thresh": saved["iou_thresh"] or 0.5} if nms == "hard" else {}
        nms_configs.update({"method": nms, **hard})
    _say(f"evaluating the Keras model on {len(data)} images ({nms_configs['method']} NMS) ...")
    try:
        return {k: float(v) for k, v in model.evaluate(data, batch_size=batch_size).items()}
    finally:
        nms_configs.update(saved)


def _check_iou(iou: float) -> None:
    if not 0.0 < iou < 1.0:
        raise ValueError(f"NMS IoU threshold {iou!r}: use a value between 0 and 1 (Model Maker's default is 0.5).")


def set_nms_iou(model, iou: float) -> None:
    """Set the hard-NMS IoU threshold that ``evaluate(..., nms="hard")`` and the TFLite export use."""
    _check_iou(iou)
    model.model_spec.config.nms_configs.update({"iou_thresh": float(iou)})


def sweep_nms_iou(model, data, thresholds: Sequence[float] = (0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6)):
    """AP and AP50 of the Keras model under hard NMS (as the TFLite model) at each IoU threshold, as a table.

    Run it on tiles held out from training (``tiling.hold_out_rows``), not on the test tiles, then
    :func:`set_nms_iou` the best before exporting. Crowns touch, so the best threshold depends on how much
    neighbouring crowns' boxes overlap. The spec's own threshold is restored afterwards.
    """
    import pandas as pd

    for t in thresholds:
        _check_iou(t)
    nms_configs = model.model_spec.config.nms_configs
    saved = nms_configs.as_dict()
    rows = []
    try:
        for t in thresholds:
            nms_configs.update({"iou_thresh": float(t)})
            m = evaluate(model, data, nms="hard")
            rows.append({"iou": float(t), "AP": m["AP"], "AP50": m["AP50"]})
    finally:
        nms_configs.update(saved)
    return pd.DataFrame(rows)


def tflite_nms_options(tflite_path: str | Path) -> dict:
    """The settings of the ``TFLite_Detection_PostProcess`` op in an exported detector (``nms_iou_threshold``,
    ``max_detections``, ``nms_score_threshold``, ...), read from the file itself."""
    from flatbuffers import flexbuffers

    from .edgetpu.graph import TFLiteGraph      # the kit's one flatbuffer reader

    path = Path(tflite_path)
    graph = TFLiteGraph(path)
    for op in graph.ops:
        if graph.opname(op)[2] == "TFLite_Detection_PostProcess":
            return dict(flexbuffers.Loads(bytes(op.customOptions)))
    raise ModelError(f"{path}: no TFLite_Detection_PostProcess op; is this a Model Maker detector?")


@contextlib.contextmanager
def lean_saving():
    """Within it, ``model.export`` skips the Keras per-layer traces in the SavedModel it writes on the way to
    TFLite (``save_traces=False``, as ``model.save(save_traces=False)`` does).

    Model Maker exports a detector by saving a SavedModel and loading it into the TFLite converter. Keras adds
    a traced call function for every layer (only used to reload it as Keras); with pure-Python protobuf that
    makes the round trip ~5x slower. The converter only uses the serving signature, so the .tflite file is
    the same.
    """
    try:
        from keras.src.saving.legacy.saved_model import utils
    except ImportError:  # other Keras 2 layouts
        try:
            from keras.saving.legacy.saved_model import utils
        except ImportError:
            utils = None
    if utils is None or not hasattr(utils, "keras_option_scope"):
        yield
        return
    with utils.keras_option_scope(save_traces=False):
        yield


def export_variants(model, data, export_dir: str | Path, variants: Sequence[str] = VARIANTS,
                    representative_data=None, quantization_steps: int | None = None, keras: bool = True):
    """Export each variant (``model_<variant>.tflite``, with metadata), run ``evaluate_tflite`` on ``data``
    and return a table of AP, AP50 and size (plus the Keras model's AP/AP50 when ``keras``).

    int8 is Model Maker's default (int8 weights and activations, uint8 input, float NMS output), calibrated
    on ``representative_data`` (default: the training data) for ``quantization_steps`` batches.
    """
    import pandas as pd
    from tflite_model_maker.config import ExportFormat, QuantizationConfig

    bad = [v for v in variants if v not in VARIANTS]
    if bad:
        raise ValueError(f"unknown export variants {bad}; choose from {list(VARIANTS)}.")
    export_dir = Path(export_dir)
    export_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    if keras:
        for nms, name in ((None, "Keras (float32)"), ("hard", "Keras, hard NMS (as TFLite)")):
            m = evaluate(model, data, nms=nms)
            rows.append({"model": name, "AP": m["AP"], "AP50": m["AP50"], "KB": None, "export s": None})
    for v in variants:
        if v == "int8":
            rep = representative_data if representative_data is not None else model.representative_data
            config = model.model_spec.get_default_quantization_config(rep)
            if quantization_steps:
                config.quantization_steps = quantization_steps
        else:
            config = QuantizationConfig.for_float16() if v == "float16" else None
        name = f"model_{v}.tflite"
        _say(f"exporting {name} ..." + (" (int8: calibration)" if v == "int8" else ""))
        t = time.time()
        with lean_saving():
            model.export(export_dir=str(export_dir), tflite_filename=name, quantization_config=config,
                         export_format=[ExportFormat.TFLITE])
        secs = time.time() - t
        _say(f"{name}: {(export_dir / name).stat().st_size / 1024:.0f} KB in {secs:.0f} s; evaluating ...")
        m = model.evaluate_tflite(str(export_dir / name), data)
        rows.append({"model": f"TFLite {v}", "AP": float(m["AP"]), "AP50": float(m["AP50"]),
                     "KB": round((export_dir / name).stat().st_size / 1024, 1), "export s": round(secs, 1)})
    df = pd.DataFrame(rows, columns=["model", "AP", "AP50", "KB", "export s"])
    df[["AP", "AP50"]] = df[["AP", "AP50"]].round(4)
    return df


def detect_tflite(tflite_path: str | Path, images: Sequence[str | Path], score_threshold: float = 0.3,
                  max_results: int = 100) -> list[list[Detection]]:
    """Run an exported detector (with metadata) on image files with the TFLite Task Library."""
    from tflite_support.task import core, processor, vision

    options = vision.ObjectDetectorOptions(
        base_options=core.BaseOptions(file_name=str(tflite_path), num_threads=2),
        detection_options=processor.DetectionOptions(max_results=max_results, score_threshold=score_threshold))
    try:
        detector = vision.ObjectDetector.create_from_options(options)
    except (RuntimeError, ValueError) as e:
        raise ModelError(f"{tflite_path}: cannot load it as a detector with metadata ({e}). Export it with "
                         "model.export(..., export_format=[ExportFormat.TFLITE]) (metadata is on by default).") from e
    out = []
    for path in images:
        result = detector.detect(vision.TensorImage.create_from_file(str(path)))
        out.append([Detection(d.bounding_box.origin_x, d.bounding_box.origin_y,
                              d.bounding_box.origin_x + d.bounding_box.width,
                              d.bounding_box.origin_y + d.bounding_box.height, d.categories[0].score,
                              d.categories[0].category_name, d.categories[0].index) for d in result.detections])
    return out


def threshold_table(tflite_path: str | Path, data, thresholds: Sequence[float] = (0.3, 0.5),
                    iou_threshold: float = 0.5):
    """Detections, precision and recall of an exported detector on ``data`` (a ``DetectionData``) at each score
    threshold: a box counts as found when a detection at or above the threshold overlaps it by ``iou_threshold``."""
    import numpy as np
    import pandas as pd

    from .boxes import precision_recall

    found = detect_tflite(tflite_path, [e.image for e in data.examples], score_threshold=min(thresholds))
    truths = [np.array([[b.xmin, b.ymin, b.xmax, b.ymax] for b in e.boxes], float).reshape(-1, 4)
              for e in data.examples]
    rows = []
    for t in sorted(thresholds):
        kept = [[d for d in ds if d.score >= t] for ds in found]
        precision, recall = precision_recall(kept, truths, iou_threshold)
        rows.append({"score_threshold": t, "detections": sum(map(len, kept)), "crowns": sum(map(len, truths)),
                     "precision": round(precision, 3), "recall": round(recall, 3)})
    return pd.DataFrame(rows)


def plot_detections(tflite_path: str | Path, data, score_threshold: float = 0.3, n: int = 8, cols: int = 4):
    """Ground truth (green) vs predictions (red, with scores) on a grid of ``data``'s first ``n`` images."""
    import matplotlib.patches as patches
    import matplotlib.pyplot as plt

    from .images import open_rgb

    examples = data.examples[:n]
    preds = detect_tflite(tflite_path, [e.image for e in examples], score_threshold)
    rows = -(-len(examples) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.4 * rows), squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    for ax, e, dets in zip(axes.flat, examples, preds):
        ax.imshow(open_rgb(e.image))
        for b in e.boxes:
            ax.add_patch(patches.Rectangle((b.xmin, b.ymin), b.width, b.height, fill=False, ec="lime", lw=1))
        for d in dets:
            ax.add_patch(patches.Rectangle((d.xmin, d.ymin), d.xmax - d.xmin, d.ymax - d.ymin, fill=False,
                                           ec="red", lw=1, ls="--"))
        ax.set_title(f"{e.stem[-14:]}\n{len(e.boxes)} true, {len(dets)} found", fontsize=8)
    fig.suptitle(f"{Path(tflite_path).name}: ground truth (green) vs predictions >= {score_threshold} (red)",
                 fontsize=9)
    fig.tight_layout()
    return fig
