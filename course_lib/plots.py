"""Figures for classification lessons: training curves, confusion matrix, a gallery of predictions."""
from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["image_grid", "training_curves", "confusion_matrix", "plot_confusion_matrix", "prediction_gallery", "size_table"]


def image_grid(images: np.ndarray, titles: Sequence[str], cols: int = 8, value_range=(0.0, 1.0)):
    """A grid of images with a title each."""
    import matplotlib.pyplot as plt

    rows = int(np.ceil(len(images) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 1.8 * rows), squeeze=False)
    lo, hi = value_range
    for ax in axes.flat:
        ax.set_axis_off()
    for ax, img, title in zip(axes.flat, images, titles):
        ax.imshow(np.clip((img - lo) / (hi - lo), 0, 1))
        ax.set_title(title, fontsize=8)
    fig.tight_layout()
    return fig


def training_curves(*histories, labels: Sequence[str] | None = None):
    """Loss and accuracy per epoch for one or more ``History`` objects (e.g. frozen, then fine-tuned),
    drawn one after the other with a marker where each phase starts."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    start = 0
    for k, h in enumerate(histories):
        hist = h.history
        epochs = np.arange(start + 1, start + 1 + len(hist["loss"]))
        for ax, metric in zip(axes, ("loss", "accuracy")):
            ax.plot(epochs, hist[metric], "o-", color=f"C{2 * k}", label=f"train ({labels[k] if labels else k})")
            if f"val_{metric}" in hist:
                ax.plot(epochs, hist[f"val_{metric}"], "s--", color=f"C{2 * k + 1}",
                        label=f"val ({labels[k] if labels else k})")
            if start:
                ax.axvline(start + 0.5, color="grey", lw=0.8)
        start += len(hist["loss"])
    for ax, metric in zip(axes, ("loss", "accuracy")):
        ax.set_xlabel("epoch"); ax.set_title(metric); ax.grid(alpha=0.3); ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    m = np.zeros((n_classes, n_classes), dtype=int)
    np.add.at(m, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return m


def plot_confusion_matrix(y_true, y_pred, class_names: Sequence[str], title: str = "confusion matrix"):
    import matplotlib.pyplot as plt

    m = confusion_matrix(y_true, y_pred, len(class_names))
    fig, ax = plt.subplots(figsize=(1.2 * len(class_names) + 2.5, 1.2 * len(class_names) + 1.8))
    ax.imshow(m, cmap="Blues")
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            ax.text(j, i, m[i, j], ha="center", va="center", color="white" if m[i, j] > m.max() / 2 else "black")
    ax.set_xticks(range(len(class_names)), class_names, rotation=30)
    ax.set_yticks(range(len(class_names)), class_names)
    ax.set_xlabel("predicted"); ax.set_ylabel("true")
    ax.set_title(f"{title} (accuracy {np.trace(m) / max(m.sum(), 1):.3f})")
    fig.tight_layout()
    return fig


def prediction_gallery(images: np.ndarray, y_true, probs: np.ndarray, class_names: Sequence[str],
                       n: int = 16, mistakes_first: bool = True, value_range=(0.0, 1.0)):
    """A grid of images with predicted label and confidence; mistakes framed in red and shown first."""
    import matplotlib.pyplot as plt

    y_true = np.asarray(y_true)
    y_pred = probs.argmax(1)
    order = np.argsort(y_pred == y_true, kind="stable") if mistakes_first else np.arange(len(y_true))
    order = order[:n]
    cols = min(8, len(order))
    rows = int(np.ceil(len(order) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 1.9 * rows), squeeze=False)
    lo, hi = value_range
    for ax in axes.flat:
        ax.set_axis_off()
    for ax, i in zip(axes.flat, order):
        ax.imshow(np.clip((images[i] - lo) / (hi - lo), 0, 1))
        ok = y_pred[i] == y_true[i]
        ax.set_title(f"{class_names[y_pred[i]]} {probs[i].max():.2f}" + ("" if ok else f"\n(true {class_names[y_true[i]]})"),
                     fontsize=7, color="black" if ok else "red")
        if not ok:
            ax.set_axis_on(); ax.set_xticks([]); ax.set_yticks([])
            for s in ax.spines.values():
                s.set_color("red"); s.set_linewidth(2.5)
    fig.suptitle(f"{int((y_pred[order] != y_true[order]).sum())} mistakes shown in red", fontsize=9)
    fig.tight_layout()
    return fig


def size_table(rows) -> "object":
    """A pandas table of exported models: size in KB, ratio to float32, accuracy."""
    import pandas as pd

    df = pd.DataFrame([{"variant": r.variant, "KB": round(r.bytes / 1024, 1), "accuracy": round(r.accuracy, 4)}
                       for r in rows])
    f32 = df.loc[df.variant == "float32", "KB"]
    if len(f32):
        df["size vs float32"] = (df.KB / float(f32.iloc[0])).round(2)
    return df
