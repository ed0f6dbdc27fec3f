"""Object-detection data in the two formats Model Maker reads: PASCAL VOC folders and its CSV files.

    label_map = read_label_map("labels.txt")                 # or {1: "tree"}; id 0 is the background
    data = load_voc(images_dir, annotations_dir, label_map)   # validated; bad files raise AnnotationError
    data = load_voc(..., skip_invalid=True)                   # keep the valid part, print what was dropped
    train, val = split(data, (0.8, 0.2), seed=0)
    write_csv({"TRAIN": train, "VALIDATION": val}, "data.csv", images_dir)   # and load_csv back
    print(summary(data)); plot_box_sizes(data)

Every problem names its file and line (``file.xml:12: ...``, ``data.csv:7: ...``) and says how to fix it.
Model Maker's ``DataLoader.from_pascal_voc`` reads only JPEG images: ``write_voc`` converts others.
"""
from __future__ import annotations

import csv
import sys
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable, Mapping, Sequence
from xml.sax.saxutils import escape

import numpy as np

from .annotations import AnnotationError, Box, read_voc

__all__ = ["Problem", "Example", "DetectionData", "check_label_map", "read_label_map", "load_voc", "load_csv",
           "write_voc", "write_voc_xml", "write_csv", "split", "summary", "plot_box_sizes", "relabel", "CSV_SETS", "AnnotationError"]

CSV_SETS = ("TRAIN", "VALIDATION", "TEST")
_MAX_LISTED = 25


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an annotation: where (file, line) and what."""

    path: Path
    line: int | None
    message: str
    whole_file: bool = False      # True: the image is unusable; False: only one box is dropped

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}" if self.line else f"{self.path}: {self.message}"


@dataclass(frozen=True)
class Example:
    """One image with its boxes (pixel coordinates)."""

    image: Path
    width: int
    height: int
    boxes: tuple[Box, ...]
    source: Path | None = None     # the annotation file (or CSV) it came from

    @property
    def stem(self) -> str:
        return self.image.stem


@dataclass
class DetectionData:
    """Validated examples, the label map, and the problems dropped on the way (``skip_invalid=True``)."""

    examples: list[Example]
    label_map: dict[int, str]
    dropped: list[Problem] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.examples)

    @property
    def n_boxes(self) -> int:
        return sum(len(e.boxes) for e in self.examples)

    def stems(self) -> list[str]:
        """Annotation names, e.g. for ``DataLoader.from_pascal_voc(annotation_filenames=...)``."""
        return [e.source.stem if e.source and e.source.suffix == ".xml" else e.stem for e in self.examples]


# ----------------------------------------------------------------------------------------- label maps
def check_label_map(label_map: Mapping[int, str] | Sequence[str], source: str = "label map") -> dict[int, str]:
    """A ``{id: name}`` map (a list means ids 1, 2, ...). Id 0 is Model Maker's background: an error."""
    lm = {i + 1: n for i, n in enumerate(label_map)} if not isinstance(label_map, Mapping) else dict(label_map)
    if not lm:
        raise AnnotationError(f"{source}: empty label map; give at least one class, e.g. {{1: 'tree'}}.")
    if 0 in lm:
        raise AnnotationError(f"{source}: label id 0 is used for {lm[0]!r}, but Model Maker reserves 0 for the "
                              "background. Number the classes from 1.")
    dup = [n for n, c in Counter(lm.values()).items() if c > 1]
    if dup:
        raise AnnotationError(f"{source}: class names {dup} appear more than once; give each class one id.")
    return {int(k): str(v) for k, v in sorted(lm.items())}


def read_label_map(path: str | Path) -> dict[int, str]:
    """Read ``id name`` lines (or bare names, numbered from 1); errors name the file and line."""
    path = Path(path)
    lm: dict[int, str] = {}
    for no, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        first, _, rest = line.partition(" ")
        if first.isdigit() and rest.strip():
            i, name = int(first), rest.strip()
        elif first.lstrip("-").isdigit():
            raise AnnotationError(f"{path}:{no}: {line!r} has an id but no name; write `<id> <name>`.")
        else:
            i, name = len(lm) + 1, line
        if i == 0:
            raise AnnotationError(f"{path}:{no}: label id 0 is used for {name!r}, but Model Maker reserves 0 "
                                  "for the background. Number the classes from 1.")
        if i in lm:
            raise AnnotationError(f"{path}:{no}: id {i} is given twice ({lm[i]!r} and {name!r}).")
        lm[i] = name
    return check_label_map(lm, str(path))


# ----------------------------------------------------------------------------------------- checks
def _box_problem(b: Box, w: int, h: int, names: set[str]) -> str | None:
    if b.label not in names:
        return (f"label {b.label!r} is not in the label map {sorted(names)}; add it to the label map or fix "
                "the name.")
    if b.xmax <= b.xmin or b.ymax <= b.ymin:
        return (f"box ({b.xmin:g}, {b.ymin:g}, {b.xmax:g}, {b.ymax:g}) has zero area (needs xmin < xmax and "
                "ymin < ymax); fix the coordinates or delete the object.")
    if b.xmin < 0 or b.ymin < 0 or b.xmax > w or b.ymax > h:
        return (f"box ({b.xmin:g}, {b.ymin:g}, {b.xmax:g}, {b.ymax:g}) lies outside the {w}x{h} image; "
                "clip it to the image or fix the coordinates.")
    return None


def _image_problem(path: Path, w: int, h: int, require_jpeg: bool) -> str | None:
    from PIL import Image, UnidentifiedImageError

    if not path.is_file():
        return f"image file {path} does not exist; add it or fix <filename> / the path."
    try:
        with Image.open(path) as im:
            fmt, size = im.format, im.size
    except (UnidentifiedImageError, OSError) as e:
        return f"image {path} is not readable ({e}); replace it."
    if size != (w, h):
        return f"the annotation says {w}x{h} but image {path.name} is {size[0]}x{size[1]}; fix <size>."
    if require_jpeg and fmt != "JPEG":
        return (f"image {path.name} is {fmt}; Model Maker's from_pascal_voc reads only JPEG. Convert it "
                "(detection_data.write_voc does).")
    return None


def _line_of(path: Path, tag: str) -> int | None:
    try:
        for no, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if f"<{tag}>" in line:
                return no
    except OSError:
        pass
    return None


def _finish(examples: list[Example], problems: list[Problem], label_map: dict[int, str], what: str,
            skip_invalid: bool) -> DetectionData:
    if problems and not skip_invalid:
        listed = "\n  ".join(str(p) for p in problems[:_MAX_LISTED])
        more = f"\n  ... and {len(problems) - _MAX_LISTED} more" if len(problems) > _MAX_LISTED else ""
        raise AnnotationError(f"{len(problems)} problem(s) in {what}:\n  {listed}{more}\nFix them, or pass "
                              "skip_invalid=True to keep only the valid images and boxes.")
    if problems:
        files = sum(p.whole_file for p in problems)
        print(f"[course] {what}: dropped {files} file(s)/row(s) and {len(problems) - files} box(es):",
              file=sys.stderr)
        for p in problems[:_MAX_LISTED]:
            print(f"  dropped {p}", file=sys.stderr)
        if len(problems) > _MAX_LISTED:
            print(f"  ... and {len(problems) - _MAX_LISTED} more (see .dropped)", file=sys.stderr)
    return DetectionData(examples, label_map, problems)


# ----------------------------------------------------------------------------------------- VOC
def load_voc(images_dir: str | Path, annotations_dir: str | Path, label_map: Mapping[int, str] | Sequence[str],
             names: Iterable[str] | None = None, skip_invalid: bool = False,
             require_jpeg: bool = True, image_suffix: str | None = None) -> DetectionData:
    """Load and validate a PASCAL VOC folder (``<filename>`` of each xml is looked up in ``images_dir``).

    ``names``: only these annotation stems. ``image_suffix`` (e.g. ``".png"``): use ``<xml stem><suffix>``
    instead of ``<filename>`` (for data sets whose ``<filename>`` is stale). Without ``skip_invalid`` any problem raises one
    :class:`AnnotationError` listing every problem (file:line); with it, bad boxes and files are dropped.
    """
    images_dir, annotations_dir = Path(images_dir), Path(annotations_dir)
    lm = check_label_map(label_map)
    wanted = sorted(annotations_dir.glob("*.xml")) if names is None else [annotations_dir / f"{n}.xml" for n in names]
    if not wanted:
        raise AnnotationError(f"{annotations_dir}: no .xml annotation files; is this the annotations folder?")
    examples, problems = [], []
    for xml in wanted:
        try:
            ann = read_voc(xml)
        except AnnotationError as e:
            text = str(e)
            prefix = f"{xml}:"
            line, msg = None, text
            if text.startswith(prefix):
                head, _, msg = text[len(prefix):].partition(": ")
                line = int(head) if head.isdigit() else None
                msg = msg if line else text[len(prefix):].strip()
            problems.append(Problem(xml, line, msg, whole_file=True))
            continue
        image = images_dir / (xml.stem + image_suffix if image_suffix else ann.filename)
        bad = _image_problem(image, ann.width, ann.height, require_jpeg)
        if bad:
            problems.append(Problem(xml, _line_of(xml, "filename"), bad, whole_file=True))
            continue
        keep = []
        for b in ann.boxes:
            msg = _box_problem(b, ann.width, ann.height, set(lm.values()))
            if msg:
                problems.append(Problem(xml, b.line, msg))
            else:
                keep.append(b)
        examples.append(Example(image, ann.width, ann.height, tuple(keep), xml))
    return _finish(examples, problems, lm, f"VOC annotations in {annotations_dir}", skip_invalid)


def write_voc_xml(path: Path, image_name: str, width: int, height: int, boxes: Iterable[Box]) -> None:
    """Write one VOC annotation file (integer pixel coordinates, as Model Maker expects)."""
    objs = "".join(
        f"  <object>\n    <name>{escape(b.label)}</name>\n    <pose>Unspecified</pose>\n    <truncated>0</truncated>\n"
        f"    <difficult>0</difficult>\n    <bndbox>\n      <xmin>{b.xmin:.0f}</xmin>\n      <ymin>{b.ymin:.0f}</ymin>\n"
        f"      <xmax>{b.xmax:.0f}</xmax>\n      <ymax>{b.ymax:.0f}</ymax>\n    </bndbox>\n  </object>\n"
        for b in boxes)
    path.write_text(f"<annotation>\n  <filename>{escape(image_name)}</filename>\n  <size>\n    <width>{width}</width>\n"
                    f"    <height>{height}</height>\n    <depth>3</depth>\n  </size>\n{objs}</annotation>\n")


def write_voc(data: DetectionData, out_dir: str | Path) -> tuple[Path, Path]:
    """Write ``out_dir/images`` (JPEG; other formats converted) and ``out_dir/annotations``; return both."""
    from .images import open_rgb

    out_dir = Path(out_dir)
    images, annotations = out_dir / "images", out_dir / "annotations"
    images.mkdir(parents=True, exist_ok=True)
    annotations.mkdir(parents=True, exist_ok=True)
    for e in data.examples:
        name = e.stem + ".jpg"
        if e.image.suffix.lower() in (".jpg", ".jpeg"):
            (images / name).write_bytes(e.image.read_bytes())
        else:
            open_rgb(e.image).save(images / name, quality=95)
        write_voc_xml(annotations / f"{e.stem}.xml", name, e.width, e.height, e.boxes)
    (out_dir / "labels.txt").write_text("".join(f"{i} {n}\n" for i, n in data.label_map.items()))
    return images, annotations


# ----------------------------------------------------------------------------------------- CSV
def write_csv(sets: Mapping[str, DetectionData], path: str | Path, images_dir: str | Path | None = None) -> Path:
    """Write Model Maker's CSV (``SET,image,label,x_min,y_min,,,x_max,y_max,,``, coordinates in [0, 1]).

    Image paths are written relative to ``images_dir`` when given (pass the same to ``from_csv``).
    """
    path = Path(path)
    bad = [s for s in sets if s not in CSV_SETS]
    if bad:
        raise AnnotationError(f"CSV set names {bad} are not allowed; use {list(CSV_SETS)}.")
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        for set_name, data in sets.items():
            for e in data.examples:
                img = str(e.image.relative_to(images_dir)) if images_dir else str(e.image)
                for b in e.boxes:
                    w.writerow([set_name, img, b.label, f"{b.xmin / e.width:.6f}", f"{b.ymin / e.height:.6f}", "", "",
                                f"{b.xmax / e.width:.6f}", f"{b.ymax / e.height:.6f}", "", ""])
    return path


def load_csv(path: str | Path, label_map: Mapping[int, str] | Sequence[str] | None = None,
             images_dir: str | Path | None = None, skip_invalid: bool = False,
             require_jpeg: bool = True) -> dict[str, DetectionData]:
    """Load and validate a Model Maker CSV file; returns ``{"TRAIN": ..., "VALIDATION": ..., "TEST": ...}``
    (sets that occur). ``label_map`` None: the labels found, in order of first appearance."""
    from PIL import Image

    path = Path(path)
    root = Path(images_dir) if images_dir else None
    rows, problems = [], []
    try:
        text = path.read_text()
    except OSError as e:
        raise AnnotationError(f"{path}: cannot read the CSV file ({e}).") from e
    for no, row in enumerate(csv.reader(text.splitlines()), 1):
        if not row or not "".join(row).strip():
            continue
        if len(row) not in (9, 11):
            problems.append(Problem(path, no, f"{len(row)} columns; a row is SET,image,label,x_min,y_min,,,x_max,"
                                              "y_max,, (11 columns).", whole_file=True))
            continue
        set_name = row[0].strip().upper() or "TRAIN"
        if set_name not in CSV_SETS:
            problems.append(Problem(path, no, f"set {row[0]!r} is not one of {list(CSV_SETS)}.", whole_file=True))
            continue
        try:
            x0, y0, x1, y1 = (float(row[k]) for k in (3, 4, 7, 8))
        except ValueError:
            problems.append(Problem(path, no, f"coordinates {[row[k] for k in (3, 4, 7, 8)]} are not numbers "
                                              "(x_min, y_min in columns 4-5, x_max, y_max in columns 8-9).",
                                    whole_file=True))
            continue
        rows.append((no, set_name, row[1].strip(), row[2].strip(), x0, y0, x1, y1))
    lm = check_label_map(label_map if label_map is not None else list(dict.fromkeys(r[3] for r in rows)), str(path))
    names = set(lm.values())
    sizes: dict[str, tuple[int, int] | str] = {}
    grouped: dict[str, dict[str, list[Box]]] = {}
    for no, set_name, img, label, x0, y0, x1, y1 in rows:
        image = root / img if root else Path(img)
        if img not in sizes:
            try:
                with Image.open(image) as im:
                    sizes[img] = im.size if (im.format == "JPEG" or not require_jpeg) else \
                        f"image {image.name} is {im.format}; Model Maker reads only JPEG. Convert it."
            except OSError:
                sizes[img] = f"image file {image} does not exist or is unreadable; add it or fix the path."
        if isinstance(sizes[img], str):
            problems.append(Problem(path, no, sizes[img], whole_file=True))
            continue
        if not all(0.0 <= v <= 1.0 for v in (x0, y0, x1, y1)):
            problems.append(Problem(path, no, f"box ({x0:g}, {y0:g}, {x1:g}, {y1:g}) lies outside the image: "
                                              "CSV coordinates are fractions of the image size, in [0, 1]."))
            continue
        w, h = sizes[img]
        box = Box(label, x0 * w, y0 * h, x1 * w, y1 * h, no)
        msg = _box_problem(box, w, h, names)
        if msg:
            problems.append(Problem(path, no, msg))
            continue
        grouped.setdefault(set_name, {}).setdefault(img, []).append(box)
    out = {}
    for set_name, images in grouped.items():
        exs = [Example(root / img if root else Path(img), *sizes[img], tuple(bs), path)  # type: ignore[misc]
               for img, bs in images.items()]
        out[set_name] = DetectionData(exs, lm)
    result = _finish([], problems, lm, f"CSV file {path}", skip_invalid)
    for d in out.values():
        d.dropped = result.dropped
    return out


# ----------------------------------------------------------------------------------------- split, summary
def split(data: DetectionData, fractions: Sequence[float] = (0.8, 0.2), seed: int = 0) -> list[DetectionData]:
    """Split by image (shuffled with ``seed``) into parts of the given fractions (each part gets >= 1 image)."""
    if abs(sum(fractions) - 1.0) > 1e-6 or any(f <= 0 for f in fractions):
        raise ValueError(f"fractions {list(fractions)} must be positive and add up to 1.")
    if len(data) < len(fractions):
        raise AnnotationError(f"cannot split {len(data)} image(s) into {len(fractions)} parts; add images.")
    order = np.random.default_rng(seed).permutation(len(data))
    cuts = np.round(np.cumsum(fractions)[:-1] * len(data)).astype(int)
    cuts = np.clip(cuts, np.arange(1, len(fractions)), len(data) - np.arange(len(fractions) - 1, 0, -1))
    return [DetectionData([data.examples[i] for i in part], data.label_map)
            for part in np.split(order, cuts)]


def summary(data: DetectionData) -> dict:
    """Images, boxes per class, boxes per image and box sizes (px) of a data set."""
    sides = np.array([np.sqrt(b.width * b.height) for e in data.examples for b in e.boxes]) if data.n_boxes else np.zeros(1)
    per_image = [len(e.boxes) for e in data.examples]
    counts = Counter(b.label for e in data.examples for b in e.boxes)
    return {"images": len(data), "boxes": data.n_boxes,
            "boxes per class": {n: counts.get(n, 0) for n in data.label_map.values()},
            "boxes per image (min/median/max)": (min(per_image, default=0), float(np.median(per_image or [0])),
                                                 max(per_image, default=0)),
            "box side px (min/median/max)": (round(float(sides.min()), 1), round(float(np.median(sides)), 1),
                                             round(float(sides.max()), 1)),
            "dropped": len(data.dropped)}


def plot_box_sizes(data: DetectionData | Mapping[str, DetectionData], bins: int = 30):
    """Histogram of box sizes (sqrt of the area, px), one colour per data set."""
    import matplotlib.pyplot as plt

    sets = {"data": data} if isinstance(data, DetectionData) else dict(data)
    fig, ax = plt.subplots(figsize=(6, 3.2))
    for name, d in sets.items():
        sides = [np.sqrt(b.width * b.height) for e in d.examples for b in e.boxes]
        ax.hist(sides, bins=bins, alpha=0.6, label=f"{name} ({len(sides)} boxes)")
    ax.set_xlabel("box size: sqrt(area) in px"); ax.set_ylabel("boxes"); ax.legend(fontsize=8); ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def relabel(data: DetectionData, mapping: Mapping[str, str]) -> DetectionData:
    """Rename classes (e.g. ``{"Tree": "tree"}``) in every box."""
    return DetectionData([replace(e, boxes=tuple(replace(b, label=mapping.get(b.label, b.label)) for b in e.boxes))
                          for e in data.examples], data.label_map, list(data.dropped))
