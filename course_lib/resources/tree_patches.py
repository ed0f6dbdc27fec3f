"""The ``tree-patches`` resource (96 px aerial patches, tree vs background; ``test`` is held out by image):
its label list and its one loader, used by the lessons, the resource builders, the exam and the grader."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..images import open_rgb

__all__ = ["TREEPATCH_LABELS", "load_tree_patches", "patch_files"]

TREEPATCH_LABELS = ["background", "tree"]


def patch_files(root: Path) -> list[tuple[Path, int]]:
    """``(file, label index)`` of every patch under ``root`` (``<label>/*.jpg``), labels in order, files sorted."""
    return [(f, k) for k, label in enumerate(TREEPATCH_LABELS) for f in sorted((Path(root) / label).glob("*.jpg"))]


def load_tree_patches(size: int = 96, split: str = "train", limit_per_class: int | None = None,
                      seed: int = 0, folder: str | Path | None = None, *, shuffle: bool = True,
                      dtype: str = "float32") -> tuple[np.ndarray, np.ndarray]:
    """Tree vs background patches as RGB arrays and their labels (0 background, 1 tree).

    ``dtype="float32"``: pixels in [0, 1]; ``"uint8"``: pixels 0..255 as stored. ``limit_per_class``: a random
    subset of each class (``seed``); ``shuffle=False`` keeps file order. ``folder``: the resource's folder
    (default: fetched from the registry).
    """
    from PIL import Image

    from . import registry

    root = Path(folder or registry.fetch("tree-patches")) / split
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for k, _ in enumerate(TREEPATCH_LABELS):
        files = [f for f, label in patch_files(root) if label == k]
        if limit_per_class:
            files = list(rng.permutation(files)[:limit_per_class])
        for f in files:
            im = open_rgb(f)
            if im.size != (size, size):
                im = im.resize((size, size), Image.BILINEAR)
            xs.append(np.asarray(im, dtype=np.uint8) if dtype == "uint8" else np.asarray(im, dtype=np.float32) / 255.0)
            ys.append(k)
    x, y = np.stack(xs), np.array(ys, dtype=np.int64)
    if not shuffle:
        return x, y
    order = rng.permutation(len(ys))
    return x[order], y[order]
