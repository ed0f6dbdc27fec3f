"""Boxes and detections: the one ``Detection``, IoU, COCO AP, precision and recall.

    d = Detection(10, 20, 50, 60, score=0.9, label="tree")     # pixel xmin, ymin, xmax, ymax
    iou(d.box, truth_boxes)                                     # IoU with each of an (N, 4) array
    coco_ap([(truth_boxes, truth_labels)], [as_arrays(dets)])   # {"AP": ..., "AP50": ...} (pycocotools)
    precision_recall([dets], [truth_boxes])                      # greedy matching at IoU 0.5

A basic module like ``annotations``: the lessons (detection, metadata, cascade) and the grader (lesson 2's
``ap50`` metric) measure boxes with the same code.
"""
from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from typing import Sequence

import numpy as np

__all__ = ["Detection", "iou", "as_arrays", "coco_ap", "precision_recall"]


@dataclass(frozen=True)
class Detection:
    """One detected box in pixels of the image it was found in, its score and (where known) its class."""

    xmin: float
    ymin: float
    xmax: float
    ymax: float
    score: float
    label: str = ""
    index: int = -1          # class index; -1: a one-class detector that names none

    @property
    def box(self) -> tuple[float, float, float, float]:
        return (self.xmin, self.ymin, self.xmax, self.ymax)


def iou(box: Sequence[float], boxes) -> np.ndarray:
    """IoU of ``box`` (xmin, ymin, xmax, ymax) with each row of ``boxes`` (N x 4); 0 where the union is empty."""
    b = np.asarray(box, dtype=np.float64)
    bs = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    ix = np.clip(np.minimum(b[2], bs[:, 2]) - np.maximum(b[0], bs[:, 0]), 0, None)
    iy = np.clip(np.minimum(b[3], bs[:, 3]) - np.maximum(b[1], bs[:, 1]), 0, None)
    inter = ix * iy
    union = (b[2] - b[0]) * (b[3] - b[1]) + (bs[:, 2] - bs[:, 0]) * (bs[:, 3] - bs[:, 1]) - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def as_arrays(dets: Sequence[Detection], label: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(boxes N x 4, scores, classes)`` of detections, as :func:`coco_ap` takes them (``label`` where a
    detection has no class index)."""
    return (np.array([d.box for d in dets], np.float64).reshape(-1, 4), np.array([d.score for d in dets]),
            np.array([d.index if d.index >= 0 else label for d in dets], int))


def coco_ap(truth: Sequence[tuple[np.ndarray, np.ndarray]],
            detections: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> dict[str, float]:
    """COCO ``AP`` (IoU 0.5:0.95) and ``AP50`` with pycocotools over all images (an image without detections
    counts its boxes as missed; a detection where there is no box is a false positive).

    ``truth``: per image ``(boxes, labels)``; ``detections``: per image ``(boxes, scores, labels)``; pixel
    ``xmin, ymin, xmax, ymax``; 100 detections per image count."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    if len(truth) != len(detections):
        raise ValueError(f"{len(truth)} images of ground truth but {len(detections)} of detections.")
    anns, dets = [], []
    for i, ((gb, gl), (db, ds, dc)) in enumerate(zip(truth, detections)):
        for b, c in zip(gb, gl):
            w, h = float(b[2] - b[0]), float(b[3] - b[1])
            anns.append({"id": len(anns) + 1, "image_id": i, "category_id": int(c), "iscrowd": 0,
                         "bbox": [float(b[0]), float(b[1]), w, h], "area": w * h})
        dets += [{"image_id": i, "category_id": int(c), "score": float(s),
                  "bbox": [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])]}
                 for b, s, c in zip(db, ds, dc)]
    if not anns or not dets:
        return {"AP": 0.0, "AP50": 0.0}
    cats = sorted({a["category_id"] for a in anns} | {d["category_id"] for d in dets})
    with contextlib.redirect_stdout(io.StringIO()):       # pycocotools prints its tables
        gt = COCO()
        gt.dataset = {"images": [{"id": i} for i in range(len(truth))], "annotations": anns,
                      "categories": [{"id": c} for c in cats]}
        gt.createIndex()
        ev = COCOeval(gt, gt.loadRes(dets), iouType="bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return {"AP": max(float(ev.stats[0]), 0.0), "AP50": max(float(ev.stats[1]), 0.0)}


def precision_recall(dets: Sequence[Sequence[Detection]], truths: Sequence[np.ndarray],
                     iou_threshold: float = 0.5) -> tuple[float, float]:
    """Precision and recall of all detections over all images: each detection, best score first, hits the
    unmatched true box it overlaps most if that IoU reaches ``iou_threshold``."""
    hits = n_dets = 0
    for ds, ts in zip(dets, truths):
        used = np.zeros(len(ts), bool)
        for d in sorted(ds, key=lambda d: -d.score):
            n_dets += 1
            overlap = iou(d.box, ts) if len(ts) else np.zeros(0)
            k = int(np.argmax(overlap)) if len(overlap) else -1
            if k >= 0 and overlap[k] >= iou_threshold and not used[k]:
                used[k] = True
                hits += 1
    n_true = sum(len(t) for t in truths)
    return (hits / n_dets if n_dets else 0.0), (hits / n_true if n_true else 0.0)
