"""Checking metadata against what the kit knows to be right, and the two pipelines against each other."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from .common import MetadataError, interpreter_for, label_list, rgb_array
from .normalization import Normalization
from .reading import summarize
from .detector_outputs import detector_output_problems
from ..boxes import Detection, iou
from .running import classify_interpreter, classify_task, detect_interpreter, detect_task


# ---------------------------------------------------------------------------------------- checking
def check_metadata(model, kind: str, expected_norm: Normalization | None = None,
                   expected_labels: Sequence[str] | None = None) -> list[str]:
    """Static checks of ``model``'s metadata: one message per problem (empty list: none found)."""
    if kind not in ("classifier", "detector"):
        raise ValueError("kind must be 'classifier' or 'detector'")
    writer = "image_classifier" if kind == "classifier" else "object_detector"
    s = summarize(model)
    if not s.has_metadata:
        return [f"{s.model} has no TFLite metadata: the Task Library cannot know its normalisation or labels. "
                f"Write it with metadata_writers.{writer}.MetadataWriter.create_for_inference(...)."]
    problems = []
    if kind == "detector":
        problems += detector_output_problems(model)
    inp = s.inputs[0]
    if expected_norm is not None and inp.dtype == "float32":
        if inp.norm is None:
            problems.append(f"{s.model}: the input has no normalisation in its metadata; the model expects "
                            f"{expected_norm}. Pass input_norm_mean/input_norm_std to the writer.")
        elif not inp.norm.close_to(expected_norm):
            problems.append(f"{s.model}: wrong normalisation: the metadata says {inp.norm}, but the model expects "
                            f"{expected_norm}. Rewrite the metadata with input_norm_mean={list(expected_norm.mean)}, "
                            f"input_norm_std={list(expected_norm.std)}.")
    with_labels = [i for i, t in enumerate(s.outputs) if t.labels_file]
    out_index = 0 if kind == "classifier" else (with_labels[0] if with_labels else
                                                next((i for i, t in enumerate(s.outputs) if t.name == "category"), 0))
    labels = s.labels(out_index)
    if labels is None:
        problems.append(f"{s.model}: no label file is attached to output {out_index} "
                        f"({s.outputs[out_index].name!r}), so results carry class indices, not names. Pass "
                        "label_file_paths=[<labels.txt>] to the writer.")
    else:
        if kind == "classifier":
            n = int(np.prod(s.outputs[0].shape[1:]))
            if len(labels) != n:
                problems.append(f"{s.model}: the label file {s.outputs[0].labels_file} has {len(labels)} lines but "
                                f"the output has {n} classes; write one label per output, in output order.")
        if expected_labels is not None and list(labels) != list(expected_labels):
            exp = list(expected_labels)
            if len(labels) > 1 and labels[1:] == exp[:len(labels) - 1]:
                hint = (f"they are shifted by one (the file starts with {labels[0]!r}: a background entry the "
                        "model does not output?)")
            elif labels == exp[1:] or labels[:-1] == exp[1:len(labels)]:
                hint = f"they are shifted by one (the first expected label {exp[0]!r} is missing)"
            else:
                hint = f"first difference at line {next(i for i, (a, b) in enumerate(zip(labels + [''], exp + [''])) if a != b) + 1}"
            problems.append(f"{s.model}: labels {labels[:6]} do not match the expected {exp[:6]}: {hint}.")
    return problems


@dataclass
class Agreement:
    """Task Library vs the kit's interpreter pipeline on the same images."""

    kind: str
    images: int
    top1_agreement: float                  # images whose top-1 label (ties allowed) or top detection agrees
    max_score_diff: float
    mean_iou: float | None = None
    min_iou: float | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def raise_for_problems(self) -> None:
        if self.problems:
            raise MetadataError("\n".join(self.problems))

    def __str__(self) -> str:
        s = (f"{self.kind}: {self.images} images, top-1 agreement {100 * self.top1_agreement:.1f} %, "
             f"max score difference {self.max_score_diff:.4f}")
        if self.mean_iou is not None:
            s += f", box IoU mean {self.mean_iou:.3f} / min {self.min_iou:.3f}"
        return s + ("" if self.ok else "\n  PROBLEMS:\n  - " + "\n  - ".join(self.problems))


def verify_classifier(model, images: Sequence, norm: Normalization | None, labels: Sequence[str] | str | Path,
                      k: int = 3, score_tol: float = 0.02, min_agreement: float = 0.95) -> Agreement:
    """Check the metadata, then compare Task Library and interpreter (with ``norm``/``labels``) on ``images``."""
    labels = label_list(labels)
    problems = check_metadata(model, "classifier", norm, labels)
    if problems and not summarize(model).has_metadata:
        return Agreement("classifier", len(images), 0.0, float("nan"), problems=problems)
    task = classify_task(model, images, k)
    ref = classify_interpreter(model, images, norm, labels, k)
    agree, diff = 0, 0.0
    for t, r in zip(task, ref):
        tied = {lab for lab, score in r if score >= r[0][1] - 1e-6}     # quantised scores tie often
        agree += bool(t) and t[0][0] in tied
        tdict = dict(t)
        for lab, score in r[:1]:
            diff = max(diff, abs(tdict.get(lab, 0.0) - score))
    rate = agree / max(len(images), 1)
    if rate < min_agreement:
        problems.append(f"top-1 labels agree on only {100 * rate:.1f} % of {len(images)} images "
                        f"(need {100 * min_agreement:.0f} %): the metadata does not describe how the model was fed.")
    if diff > score_tol:
        d = interpreter_for(model).get_input_details()[0]
        resized = any(rgb_array(i).shape[:2] != tuple(d["shape"][1:3]) for i in images)
        problems.append(f"scores differ by up to {diff:.3f} (tolerance {score_tol}): check the normalisation"
                        + (" (the images are not at the model's input size, so part of the difference is the two "
                           "pipelines' resize code: compare at the input size)" if resized else "") + ".")
    return Agreement("classifier", len(images), rate, diff, problems=problems)


def verify_detector(model, images: Sequence, norm: Normalization | None, labels: Sequence[str] | str | Path,
                    top: int = 5, score_tol: float = 0.02, min_iou: float = 0.9) -> Agreement:
    """Check the metadata, then match the top ``top`` Task Library detections to the interpreter's ones."""
    labels = label_list(labels)
    problems = check_metadata(model, "detector", norm, labels)
    if problems and (not summarize(model).has_metadata or "not in the order" in problems[0]):
        return Agreement("detector", len(images), 0.0, float("nan"), problems=problems)
    task = detect_task(model, images, max_results=top)
    ref = detect_interpreter(model, images, norm, labels, max_results=100)
    ious, diff, agree, label_bad = [], 0.0, 0, 0
    for t, r in zip(task, ref):
        # the Task Library reports whole pixels (truncated): compare against truncated interpreter boxes
        r = [Detection(*(float(np.trunc(v)) for v in x.box), x.score, x.label, x.index) for x in r]
        for j, d in enumerate(t):
            overlap = iou(d.box, [x.box for x in r]) if r else np.zeros(0)
            best = r[int(np.argmax(overlap))] if r else None
            box_iou = float(overlap.max()) if r else 0.0
            ious.append(box_iou)
            if best is None:
                continue
            diff = max(diff, abs(d.score - best.score))
            label_bad += d.label != best.label
            agree += j == 0 and d.label == best.label and box_iou >= min_iou
    rate = agree / max(len(images), 1)
    mean_iou = float(np.mean(ious)) if ious else 0.0
    low = float(np.min(ious)) if ious else 0.0
    if label_bad:
        problems.append(f"{label_bad} Task Library detections carry another label than the interpreter's: "
                        "check the label file (one line per class, no background line).")
    if mean_iou < min_iou:
        problems.append(f"boxes disagree: mean IoU {mean_iou:.3f} < {min_iou} between Task Library and interpreter: "
                        "check the normalisation and the output order.")
    if diff > score_tol:
        problems.append(f"scores differ by up to {diff:.3f} (tolerance {score_tol}): check the normalisation.")
    return Agreement("detector", len(images), rate, diff, mean_iou, low, problems=problems)
