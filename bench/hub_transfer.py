"""Lesson 1 benchmark: transfer learning on the tree-crown patches, offline, side by side.

    .venv/bin/python bench/hub_transfer.py [--epochs 6] [--fine-tune-epochs 16] [--unfreeze-top 100] [--colour 0.3]
                                           [--data tree-patches-clean-train | tree-patches]
                                           [--handle efficientnet/lite0/feature-vector --unfreeze-top 30]

Prints test accuracy (held-out tile; both data sets share the same 558 test patches) of:
  ours, frozen      the handle's registered ImageNet stand-in (MobileNetV2 by default), frozen, + augmentation
                    (flip, rotation, zoom, contrast, brightness) + dense head
  ours, fine-tuned  the same after fine-tuning the top layers (BatchNorm kept in inference mode) with a
                    cosine-decaying learning rate, as notebook 01 does
  + TTA (8 views)   the same model, probabilities averaged over the 8 flips/quarter turns of each patch
  untrained         the same head on the same architecture with random weights (the baseline)
  Model Maker       tflite_model_maker.image_classifier on the same backbone (uri) and data, twice: with its
                    default augmentation (a random crop keeping 8-100 % of the patch, plus a left-right flip)
                    and with ``use_augmentation=False``; the crop can cut the crown out of a tree patch
and the size and interpreter accuracy of each exported TFLite variant, plus wall times.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("COURSE_OFFLINE", "1")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--fine-tune-epochs", type=int, default=16)
    ap.add_argument("--unfreeze-top", type=int, default=100)
    ap.add_argument("--colour", type=float, default=0.3)
    ap.add_argument("--baseline-epochs", type=int, default=6)
    ap.add_argument("--model-maker-epochs", type=int, default=6)
    ap.add_argument("--handle", default="mobilenet_v2_100_224/feature_vector",
                    help="feature-vector handle; offline its stand-in (efficientnet/lite0/feature-vector: the int8 "
                         "ImageNet EfficientNet-Lite0 rebuilt in float; 49 weighted layers, so unfreeze ~30)")
    ap.add_argument("--data", default="tree-patches-clean-train",
                    help="registered data set (notebook 01's default; tree-patches has noisier training backgrounds)")
    args = ap.parse_args()

    import tensorflow as tf

    from course_lib import export, tta
    from course_lib.resources import registry
    from course_lib.hub import build_classifier, feature_extractor, fine_tune, train
    from course_lib.imagedata import augmentation, load_image_folder

    tf.keras.utils.set_random_seed(0)
    rows, times = [], {}
    layer, info = feature_extractor(args.handle)
    data = load_image_folder(args.data, info.image_size, info.value_range)
    print(info.describe(), "|", args.data, "|", data.summary(), flush=True)

    t = time.time()
    augment = dict(rotation=0.25, zoom=0.15, contrast=args.colour, brightness=args.colour / 2,
                   value_range=info.value_range)
    model = build_classifier(layer, info, len(data.class_names), augment=augmentation(**augment))
    train(model, data.train, data.val, args.epochs, desc="head")
    rows.append(("ours, frozen", model.evaluate(data.test, verbose=0)[1]))
    rows.append(("ours, frozen + TTA (8 views)", tta.accuracy(model, data.test, "d8")))
    times["frozen"] = time.time() - t
    t = time.time()
    fine_tune(model, layer, args.unfreeze_top, 1e-4, decay_steps=len(data.train) * args.fine_tune_epochs)
    train(model, data.train, data.val, args.fine_tune_epochs, patience=args.fine_tune_epochs, desc="fine-tune")
    rows.append(("ours, fine-tuned", model.evaluate(data.test, verbose=0)[1]))
    rows.append(("ours, fine-tuned + TTA (8 views)", tta.accuracy(model, data.test, "d8")))
    times["fine-tune"] = time.time() - t

    with tempfile.TemporaryDirectory() as tmp:
        t = time.time()
        exported = export.export_all(model, tmp, data.test, representative=data.train)
        times["export"] = time.time() - t

        # baseline: same architecture and head, random weights
        t = time.time()
        if "efficientnetlite0" in (info.standin or ""):
            from course_lib.tflite_float import keras_from_tflite

            lite0 = registry.fetch("efficientnet-lite0-int8") / "efficientnet_lite0.tflite"
            tf.saved_model.save(keras_from_tflite(lite0, info.image_size, pretrained=False), f"{tmp}/random")
        else:
            base = tf.keras.applications.MobileNetV2(input_shape=(info.image_size,) * 2 + (3,), weights=None,
                                                     include_top=False, pooling="avg")
            inp = tf.keras.Input((info.image_size, info.image_size, 3))
            tf.saved_model.save(tf.keras.Model(inp, base(tf.keras.layers.Rescaling(2.0, -1.0)(inp))), f"{tmp}/random")
        from course_lib.resources.handles import ResolvedHandle
        from course_lib.hub import check_feature_vector
        import tensorflow_hub as hub

        rnd = hub.KerasLayer(f"{tmp}/random", trainable=False)
        rinfo = check_feature_vector(rnd, ResolvedHandle(f"{tmp}/random", f"{tmp}/random", None), info.image_size)
        baseline = build_classifier(rnd, rinfo, len(data.class_names), augment=augmentation(**augment))
        train(baseline, data.train, data.val, args.baseline_epochs, desc="untrained backbone")
        rows.append(("untrained backbone, frozen", baseline.evaluate(data.test, verbose=0)[1]))
        times["baseline"] = time.time() - t

    # Model Maker on the same backbone (uri) and the same train/test folders
    t = time.time()
    from tflite_model_maker import image_classifier
    from tflite_model_maker.image_classifier import DataLoader

    folder = registry.fetch(args.data)
    train_val = DataLoader.from_folder(str(folder / "train"))
    mm_train, mm_val = train_val.split(0.8)
    mm_test = DataLoader.from_folder(str(folder / "test"))
    spec = image_classifier.ModelSpec(uri=info.target, input_image_shape=[info.image_size, info.image_size],
                                      name=f"kit_{info.standin or 'backbone'}")
    for use_augmentation in (True, False):
        tf.keras.utils.set_random_seed(0)
        mm = image_classifier.create(mm_train, model_spec=spec, validation_data=mm_val,
                                     epochs=args.model_maker_epochs, batch_size=32, use_augmentation=use_augmentation)
        rows.append((f"Model Maker image_classifier, use_augmentation={use_augmentation}", mm.evaluate(mm_test)[1]))
    times["model maker (both)"] = time.time() - t

    print("\n| model | test accuracy (558 held-out patches) |\n|---|---:|")
    for name, acc in rows:
        print(f"| {name} | {acc:.4f} |")
    print("\n| TFLite variant | KB | accuracy (tf.lite.Interpreter) |\n|---|---:|---:|")
    for r in exported:
        print(f"| {r.variant} | {r.bytes / 1024:.0f} | {r.accuracy:.4f} |")
    print("\nseconds: " + ", ".join(f"{k} {v:.0f}" for k, v in times.items()))


if __name__ == "__main__":
    main()
