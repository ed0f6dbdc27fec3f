"""Test-time augmentation: average a classifier's predictions over flipped and rotated copies of each image.

    probs = tta.predict(model, images, views="d8")      # 8 views: 4 rotations x (as is, mirrored)
    acc = tta.accuracy(model, data.test, views="d8")     # on a batched (images, labels) dataset

Overhead imagery has no "up": a tree crown seen from above is still a tree crown rotated by 90 degrees or
mirrored, so averaging over those views removes some of the model's orientation noise. It costs one forward
pass per view (8x the inference time for ``"d8"``); the exported ``.tflite`` still sees one view, so report
its accuracy as measured without TTA.
"""
from __future__ import annotations

import numpy as np

__all__ = ["VIEWS", "copies", "predict", "accuracy"]

VIEWS = {"none": 1, "flip": 2, "d8": 8}


def copies(images: np.ndarray, kind: str = "d8") -> list[np.ndarray]:
    """The copies of an ``[N, H, W, C]`` batch that :func:`predict` averages over (square images for ``"d8"``)."""
    if kind not in VIEWS:
        raise ValueError(f"views {kind!r}: choose one of {sorted(VIEWS)}.")
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"expected a batch [N, H, W, C], got shape {images.shape}.")
    if kind == "d8" and images.shape[1] != images.shape[2]:
        raise ValueError(f"'d8' rotates by 90 degrees, which needs square images, not {images.shape[1:3]}; "
                         "use views='flip'.")
    out = []
    for k in range(VIEWS[kind] // 2 if kind != "none" else 1):
        r = np.rot90(images, k, axes=(1, 2))
        out += [r] if kind == "none" else [r, r[:, :, ::-1]]
    return out


def predict(model, images: np.ndarray, views: str = "d8", batch_size: int = 64) -> np.ndarray:
    """Class probabilities of ``model`` averaged over the views of ``images``."""
    return np.mean([model.predict(v, batch_size=batch_size, verbose=0) for v in copies(images, views)], axis=0)


def accuracy(model, dataset, views: str = "d8", batch_size: int = 64) -> float:
    """Accuracy of :func:`predict` on a batched ``(images, labels)`` dataset (e.g. ``data.test``)."""
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in dataset])
    probs = predict(model, np.concatenate(xs), views, batch_size)
    return float((probs.argmax(axis=1) == np.concatenate(ys)).mean())
