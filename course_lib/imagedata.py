"""Image classification data: a folder of class subfolders (or a registered data set) as tf.data splits.

    data = load_image_folder("tree-patches", image_size=160)
    data.train, data.val, data.test          # batched (image, label) datasets, values in [0, 1]

Every file is checked before training: a corrupt or non-image file is reported by name and skipped.
A folder with ``train/`` and ``test/`` subfolders keeps that split (e.g. held out by image) and
takes the validation split from ``train/``; otherwise train/val/test are cut with a fixed seed.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .exceptions import DataError
from .images import open_rgb

__all__ = ["ImageFolderData", "scan_folder", "load_image_folder", "augmentation", "collect"]

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif"}


@dataclass
class ImageFolderData:
    train: object                      # tf.data.Dataset of (images, labels) batches
    val: object
    test: object
    class_names: list[str]
    image_size: int
    counts: dict[str, int]             # images per split
    skipped: list[tuple[str, str]] = field(default_factory=list)   # (file, reason)

    def summary(self) -> str:
        s = (f"{len(self.class_names)} classes {self.class_names}; images: " +
             ", ".join(f"{k} {v}" for k, v in self.counts.items()) + f"; size {self.image_size}px")
        if self.skipped:
            s += f"; skipped {len(self.skipped)} unreadable file(s)"
        return s


def scan_folder(folder: str | Path, class_names: list[str] | None = None
                ) -> tuple[list[Path], np.ndarray, list[str], list[tuple[str, str]]]:
    """Files and integer labels of a folder of class subfolders; unreadable files are skipped and listed."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder} is not a folder. Pass a folder with one subfolder per class, "
                        "or a registered data set name (`course data list`).")
    names = class_names or sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(names) < 2:
        raise DataError(f"{folder} has {len(names)} class subfolder(s); a classifier needs at least 2.")
    files, labels, skipped = [], [], []
    for k, name in enumerate(names):
        for p in sorted((folder / name).iterdir()):
            if p.name.startswith("."):
                continue
            if p.suffix.lower() not in IMAGE_SUFFIXES:
                skipped.append((str(p), "not an image file type"))
                continue
            try:
                open_rgb(p)
            except DataError as e:
                skipped.append((str(p), str(e).split(": ", 1)[-1]))
                continue
            files.append(p)
            labels.append(k)
    for f, why in skipped:
        print(f"[course data] skipped {f}: {why}", file=sys.stderr)
    if not files:
        raise DataError(f"{folder}: no readable image in {names}.")
    return files, np.array(labels, dtype=np.int32), names, skipped


def _dataset(files: list[Path], labels: np.ndarray, size: int, value_range: tuple[float, float],
             batch_size: int, shuffle: bool, seed: int):
    import tensorflow as tf

    lo, hi = value_range

    def load(path, label):
        img = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
        img = tf.image.resize(tf.cast(img, tf.float32), (size, size))
        return img / 255.0 * (hi - lo) + lo, label

    ds = tf.data.Dataset.from_tensor_slices(([str(f) for f in files], labels))
    ds = ds.map(load, num_parallel_calls=tf.data.AUTOTUNE).cache()
    if shuffle:
        ds = ds.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def _split(n: int, fractions: tuple[float, ...], rng: np.random.Generator) -> list[np.ndarray]:
    order = rng.permutation(n)
    cuts = np.cumsum([int(round(f * n)) for f in fractions])
    return np.split(order, cuts)


def load_image_folder(source: str | Path, image_size: int, value_range: tuple[float, float] = (0.0, 1.0),
                      val_fraction: float = 0.2, test_fraction: float = 0.2, batch_size: int = 32,
                      seed: int = 0, limit_per_class: int | None = None) -> ImageFolderData:
    """Train/val/test datasets resized to ``image_size`` and scaled to ``value_range``.

    ``source`` is a folder or a registered data set. ``limit_per_class`` keeps at most that many
    training images per class (and a proportional share of the test set): for quick runs.
    """
    from .resources import registry

    folder = Path(source)
    if not folder.exists() and str(source) in registry.names():
        folder = registry.fetch(str(source))
    rng = np.random.default_rng(seed)
    presplit = (folder / "train").is_dir() and (folder / "test").is_dir()
    files, labels, names, skipped = scan_folder(folder / "train" if presplit else folder)
    if presplit:
        t_files, t_labels, _, t_skipped = scan_folder(folder / "test", names)
        skipped += t_skipped
        val_idx, train_idx = _split(len(files), (val_fraction,), rng)
        parts = {"train": (files, labels, train_idx), "val": (files, labels, val_idx),
                 "test": (t_files, t_labels, np.arange(len(t_files)))}
    else:
        test_idx, val_idx, train_idx = _split(len(files), (test_fraction, val_fraction), rng)
        parts = {"train": (files, labels, train_idx), "val": (files, labels, val_idx),
                 "test": (files, labels, test_idx)}
    if limit_per_class:
        share = {"train": limit_per_class, "val": max(4, limit_per_class // 4), "test": max(8, limit_per_class // 2)}
        for k, (f, lab, idx) in parts.items():
            keep = np.concatenate([idx[lab[idx] == c][: share[k]] for c in range(len(names))])
            parts[k] = (f, lab, np.sort(keep))
    ds = {k: _dataset([f[i] for i in idx], lab[idx], image_size, value_range, batch_size, k == "train", seed)
          for k, (f, lab, idx) in parts.items()}
    counts = {k: int(len(idx)) for k, (_, _, idx) in parts.items()}
    return ImageFolderData(ds["train"], ds["val"], ds["test"], names, image_size, counts, skipped)


def augmentation(flip: bool = True, rotation: float = 0.1, zoom: float = 0.1, contrast: float = 0.0,
                 brightness: float = 0.0, value_range: tuple[float, float] = (0.0, 1.0), seed: int = 0):
    """Random flips, rotations, zooms (and contrast/brightness) as Keras preprocessing layers.

    They are active only in training. ``brightness`` is a fraction of ``value_range`` (the range the
    model's inputs are scaled to); colour changes help a model trained on some aerial tiles cope with
    the different light of another.
    """
    import tensorflow as tf

    layers = []
    if flip:
        layers.append(tf.keras.layers.RandomFlip("horizontal_and_vertical", seed=seed))
    if rotation:
        layers.append(tf.keras.layers.RandomRotation(rotation, seed=seed))
    if zoom:
        layers.append(tf.keras.layers.RandomZoom(zoom, seed=seed))
    if contrast:
        if value_range[0] < 0:
            # Keras clips RandomContrast's output to [0, 255]: negative inputs would be cut off
            raise DataError(f"contrast augmentation needs inputs in a range >= 0, not {value_range}: "
                            "apply it before scaling, or use brightness only.")
        layers.append(tf.keras.layers.RandomContrast(contrast, seed=seed))
    if brightness:
        layers.append(tf.keras.layers.RandomBrightness(brightness, value_range=value_range, seed=seed))
    return tf.keras.Sequential(layers, name="augmentation")


def collect(dataset, model=None, limit: int | None = None):
    """``(images, labels, probabilities or None)`` as numpy arrays from a batched dataset."""
    images, labels, probs = [], [], []
    for x, y in dataset:
        images.append(x.numpy())
        labels.append(y.numpy())
        if model is not None:
            probs.append(model.predict_on_batch(x))
        if limit and sum(len(b) for b in labels) >= limit:
            break
    images, labels = np.concatenate(images)[:limit], np.concatenate(labels)[:limit]
    return images, labels, (np.concatenate(probs)[:limit] if model is not None else None)

