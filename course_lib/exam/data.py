"""The certificate exam's data: what candidates train on, and the rules that cut the hidden splits.

    from course_lib import exam_data
    x, y = exam_data.tabular_train()        # float32 (n, 30), int64 0 = malignant, 1 = benign
    x, y = exam_data.fashion_train(5000)     # uint8 (n, 28, 28), int64
    x, y = exam_data.trees_train(96, 300)    # float32 (n, 96, 96, 3) in [0, 1], int64 0 = background, 1 = tree
    texts, y = exam_data.text_train()        # list of str, int64 0 = rotten, 1 = fresh
    years, values = exam_data.sunspots_train()

Candidates read only the ``cert-exam-train`` resource (built by :func:`training_splits`, which writes the
training rows alone) and the training halves of ``fashion-mnist`` and ``tree-patches``. The grader cuts the
hidden splits (:mod:`course_lib.exam.quality`) from the upstream resources with the same rules below: the
complement of each training split, so no hidden row is ever in a candidate's data. The upstream data are public
(as in the original TensorFlow certificate): the exam grades what a candidate's model does, not secrecy of data.
"""
from __future__ import annotations

import bz2
import csv
import hashlib
import io
from pathlib import Path

import numpy as np

from ..resources.tree_patches import TREEPATCH_LABELS

__all__ = ["TABULAR_HIDDEN_FRACTION", "SUNSPOTS_LAST_TRAIN_YEAR", "FASHION_LABELS", "TREE_LABELS", "TEXT_LABELS",
           "read_tabular", "read_text", "read_sunspots", "tabular_split", "text_is_hidden", "read_idx",
           "training_splits", "tabular_train", "text_train", "sunspots_train", "fashion_train", "trees_train",
           "windows"]

TABULAR_HIDDEN_FRACTION = 0.3
SUNSPOTS_LAST_TRAIN_YEAR = 1958        # the last 50 years (1959-2008) are forecast on hidden data
FASHION_LABELS = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                  "Ankle boot"]
TREE_LABELS = TREEPATCH_LABELS               # the tree-patches resource's labels
TEXT_LABELS = ["rotten", "fresh"]


# ----------------------------------------------------------------------------- upstream files and split rules
def read_tabular(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's breast_cancer.csv: a header row ``569,30,malignant,benign``, then 30 features + label."""
    rows = list(csv.reader((folder / "breast_cancer.csv").read_text().splitlines()))[1:]
    data = np.array(rows, dtype=np.float64)
    return data[:, :30].astype(np.float32), data[:, 30].astype(np.int64)


def tabular_split(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, hidden indices): a seeded permutation, the last 30 % hidden."""
    order = np.random.default_rng(seed).permutation(n)
    cut = n - int(round(n * TABULAR_HIDDEN_FRACTION))
    return np.sort(order[:cut]), np.sort(order[cut:])


def read_text(folder: Path) -> list[tuple[str, int, str]]:
    """(snippet, label 0 rotten / 1 fresh, movie) for every critic's snippet; plot summaries are dropped."""
    text = bz2.decompress((folder / "rotten_tomatoes_corpus.csv.bz2").read_bytes()).decode("utf-8")
    return [(r["text"], TEXT_LABELS.index(r["category"]), r["movie_name"])
            for r in csv.DictReader(io.StringIO(text)) if r["category"] in TEXT_LABELS]


def text_is_hidden(movie: str) -> bool:
    """Held out by movie: every snippet of about a fifth of the movies (by a hash of the name)."""
    return hashlib.sha256(movie.encode()).digest()[0] % 5 == 0


def read_sunspots(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    rows = list(csv.reader((folder / "sunspots.csv").read_text().splitlines()))[1:]
    return np.array([int(float(r[0])) for r in rows]), np.array([float(r[1]) for r in rows], dtype=np.float32)


def windows(values: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Every (``window`` consecutive values, the next value) pair of a series."""
    x = np.stack([values[i:i + window] for i in range(len(values) - window)]).astype(np.float32)
    return x, values[window:].astype(np.float32)


def read_idx(path: Path) -> np.ndarray:
    data = path.read_bytes()
    ndim = data[3]
    shape = np.frombuffer(data, ">u4", ndim, 4)
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(shape)


# ----------------------------------------------------------------------------- the candidates' resource
def training_splits(out: Path, inputs: dict[str, Path], seed: int = 0) -> None:
    """Generator of ``cert-exam-train``: the training rows of the tabular, text and sunspots sets, nothing else."""
    x, y = read_tabular(inputs["breast-cancer-wisconsin"])
    train, _ = tabular_split(len(y), seed)
    np.savez(out / "tabular_train.npz", x=x[train], y=y[train])
    with open(out / "text_train.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        for text, label, movie in read_text(inputs["rotten-tomatoes-snippets"]):
            if not text_is_hidden(movie):
                w.writerow([text, TEXT_LABELS[label]])
    years, values = read_sunspots(inputs["sunspots-yearly"])
    keep = years <= SUNSPOTS_LAST_TRAIN_YEAR
    np.savez(out / "sunspots_train.npz", years=years[keep], values=values[keep])


def _train_folder() -> Path:
    from ..resources import registry

    return registry.fetch("cert-exam-train")


def tabular_train() -> tuple[np.ndarray, np.ndarray]:
    d = np.load(_train_folder() / "tabular_train.npz")
    return d["x"], d["y"]


def text_train() -> tuple[list[str], np.ndarray]:
    with open(_train_folder() / "text_train.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [r["text"] for r in rows], np.array([TEXT_LABELS.index(r["label"]) for r in rows], dtype=np.int64)


def sunspots_train() -> tuple[np.ndarray, np.ndarray]:
    d = np.load(_train_folder() / "sunspots_train.npz")
    return d["years"], d["values"]


def fashion_train(n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The first ``n`` of Fashion-MNIST's 60,000 training images (uint8 28x28) and labels; its test set is hidden."""
    from ..resources import registry

    folder = registry.fetch("fashion-mnist")
    x = read_idx(folder / "train-images-idx3-ubyte")[:n]
    return x, read_idx(folder / "train-labels-idx1-ubyte")[:n].astype(np.int64)


def trees_train(size: int = 96, limit_per_class: int | None = None, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Tree vs background patches of ``tree-patches/train`` (the ``test`` image is hidden)."""
    from ..resources.tree_patches import load_tree_patches

    return load_tree_patches(size, "train", limit_per_class, seed)
