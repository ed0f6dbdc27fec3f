"""Cut large aerial images into fixed-size training tiles, with each box clipped to its tile.

    tiles = tile_example(example, tile=320, stride=240, out_dir=Path("tiles"))   # JPEG + VOC xml per tile
    crops = tile_array(image, boxes, tile=256, stride=192)   # in memory: [(crop, its boxes as an N x 4 array)]
    more = rotated_copies(train_set, Path("train_rot"))      # + each tile turned by 90, 180, 270 degrees

A box is kept in a tile when at least ``min_visible`` of its area lies inside it (clipped to the tile
edge); smaller slivers are dropped, so a crown cut in half is still a crown but a corner of one is not.
Tiles are JPEG because Model Maker's ``DataLoader.from_pascal_voc`` rejects PNG.

Seen from above, a forest has no "up": a tile turned by 90 degrees is another valid training tile.
Model Maker's own augmentation only mirrors left-right, so ``rotated_copies`` adds the turns (with the
mirroring, all 8 orientations are covered).
"""
from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Sequence

import numpy as np

from .annotations import Box
from .detection_data import DetectionData, Example, write_voc_xml

__all__ = ["tile_positions", "clip_boxes", "tile_example", "tile_array", "rotate_box", "rotated_copies", "tile_origin",
           "hold_out_rows"]


def tile_positions(length: int, tile: int, stride: int, cover_edge: bool = True) -> list[int]:
    """Start offsets every ``stride`` px, plus (``cover_edge``) one flush with the far edge so the whole image
    is covered."""
    if tile <= 0 or stride <= 0:
        raise ValueError(f"tile ({tile}) and stride ({stride}) must be positive.")
    if length < tile:
        raise ValueError(f"the image side ({length} px) is smaller than the tile ({tile} px); use a smaller tile.")
    pos = list(range(0, length - tile + 1, stride))
    if cover_edge and pos[-1] != length - tile:
        pos.append(length - tile)
    return pos


def clip_boxes(boxes: tuple[Box, ...] | list[Box], x0: int, y0: int, size_x: int, size_y: int,
               min_visible: float = 0.5, min_side: float = 4.0) -> list[Box]:
    """The boxes inside the window (x0, y0, size_x, size_y), clipped and shifted to window coordinates."""
    out = []
    for b in boxes:
        cx0, cy0 = max(b.xmin - x0, 0.0), max(b.ymin - y0, 0.0)
        cx1, cy1 = min(b.xmax - x0, float(size_x)), min(b.ymax - y0, float(size_y))
        if cx1 - cx0 < min_side or cy1 - cy0 < min_side:
            continue
        if (cx1 - cx0) * (cy1 - cy0) < min_visible * b.width * b.height:
            continue
        out.append(Box(b.label, cx0, cy0, cx1, cy1))
    return out


def tile_example(example: Example, tile: int, stride: int, out_dir: Path, min_visible: float = 0.5,
                 min_side: float = 4.0, keep_empty: bool = False, quality: int = 95) -> list[Example]:
    """Write the tiles of one image to ``out_dir/images/*.jpg`` and ``out_dir/annotations/*.xml``.

    Tiles without any box are skipped unless ``keep_empty``. Returns the tiles as :class:`Example`.
    """
    from .images import open_rgb

    out_dir = Path(out_dir)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    (out_dir / "annotations").mkdir(parents=True, exist_ok=True)
    image = open_rgb(example.image)
    if image.size != (example.width, example.height):
        raise ValueError(f"{example.image}: image is {image.size}, annotation says {example.width}x{example.height}.")
    written = []
    for y0 in tile_positions(example.height, tile, stride):
        for x0 in tile_positions(example.width, tile, stride):
            boxes = clip_boxes(example.boxes, x0, y0, tile, tile, min_visible, min_side)
            if not boxes and not keep_empty:
                continue
            name = f"{example.stem}_x{x0}_y{y0}"
            jpg = out_dir / "images" / f"{name}.jpg"
            image.crop((x0, y0, x0 + tile, y0 + tile)).save(jpg, quality=quality)
            xml = out_dir / "annotations" / f"{name}.xml"
            write_voc_xml(xml, jpg.name, tile, tile, boxes)
            written.append(Example(jpg, tile, tile, tuple(boxes), xml))
    return written


def tile_array(image: np.ndarray, boxes: np.ndarray, tile: int, stride: int, cover_edge: bool = True,
               keep: str = "visible", min_visible: float = 0.5, min_side: float = 4.0
               ) -> list[tuple[np.ndarray, np.ndarray]]:
    """Tiles of an image held in memory: ``[(crop, boxes)]`` with each tile's boxes (pixel xmin, ymin, xmax,
    ymax, N x 4) clipped and shifted to the tile, at :func:`tile_positions` (``cover_edge`` as there).

    ``keep="visible"``: the boxes :func:`clip_boxes` keeps (``min_visible`` of the area inside, sides of at
    least ``min_side``), as :func:`tile_example` writes them; ``keep="centre"``: the boxes whose centre lies
    inside the tile, clipped to it (the kit's tree detector trains on these).
    """
    if keep not in ("visible", "centre"):
        raise ValueError(f"keep={keep!r}: use 'visible' or 'centre'.")
    h, w = image.shape[:2]
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    out = []
    for y0 in tile_positions(h, tile, stride, cover_edge):
        for x0 in tile_positions(w, tile, stride, cover_edge):
            if keep == "centre":
                cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
                inside = (cx >= x0) & (cx < x0 + tile) & (cy >= y0) & (cy < y0 + tile)
                b = np.clip(boxes[inside] - [x0, y0, x0, y0], 0, tile)
            else:
                kept = clip_boxes([Box("", *row) for row in boxes.tolist()], x0, y0, tile, tile, min_visible, min_side)
                b = np.array([[k.xmin, k.ymin, k.xmax, k.ymax] for k in kept], np.float32).reshape(-1, 4)
            out.append((image[y0:y0 + tile, x0:x0 + tile], b))
    return out


def rotate_box(box: Box, width: int, height: int, quarter_turns: int) -> Box:
    """``box`` in a ``width`` x ``height`` image turned counter-clockwise by ``quarter_turns`` x 90 degrees."""
    for _ in range(quarter_turns % 4):
        # counter-clockwise: the point (x, y) goes to (y, width - x) in the turned (height x width) image
        box = replace(box, xmin=box.ymin, ymin=width - box.xmax, xmax=box.ymax, ymax=width - box.xmin)
        width, height = height, width
    return box


def rotated_copies(data: DetectionData, out_dir: str | Path, quarter_turns: Sequence[int] = (1, 2, 3),
                   quality: int = 95) -> DetectionData:
    """Write each image of ``data`` turned counter-clockwise by each of ``quarter_turns`` x 90 degrees (JPEG +
    VOC xml in ``out_dir/images`` and ``out_dir/annotations``, names ending ``_rot90`` etc.), with its boxes
    turned too. Returns the copies; load them with ``DataLoader.from_pascal_voc`` beside the originals, or
    ``write_voc`` the originals into the same folder and load once.
    """
    from PIL import Image

    from .images import open_rgb

    bad = [k for k in quarter_turns if k % 4 == 0]
    if bad:
        raise ValueError(f"quarter_turns {list(quarter_turns)}: 0 (or a multiple of 4) would copy the image "
                         "unturned; use 1, 2 and/or 3.")
    out_dir = Path(out_dir)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    (out_dir / "annotations").mkdir(parents=True, exist_ok=True)
    turn = {1: Image.Transpose.ROTATE_90, 2: Image.Transpose.ROTATE_180, 3: Image.Transpose.ROTATE_270}
    written = []
    for e in data.examples:
        image = open_rgb(e.image)
        for k in quarter_turns:
            k %= 4
            w, h = (e.height, e.width) if k % 2 else (e.width, e.height)
            boxes = tuple(rotate_box(b, e.width, e.height, k) for b in e.boxes)
            name = f"{e.stem}_rot{90 * k}"
            jpg = out_dir / "images" / f"{name}.jpg"
            image.transpose(turn[k]).save(jpg, quality=quality)
            xml = out_dir / "annotations" / f"{name}.xml"
            write_voc_xml(xml, jpg.name, w, h, boxes)
            written.append(Example(jpg, w, h, boxes, xml))
    return DetectionData(written, dict(data.label_map))


_ORIGIN = re.compile(r"^(?P<image>.+)_x(?P<x>\d+)_y(?P<y>\d+)$")


def tile_origin(stem: str) -> tuple[str, int, int] | None:
    """``(image, x0, y0)`` of a tile named as ``tile_example`` names them (``<image>_x<x0>_y<y0>``), else None."""
    m = _ORIGIN.match(stem)
    return (m["image"], int(m["x"]), int(m["y"])) if m else None


def hold_out_rows(data: DetectionData, y_min: int, image: str | None = None) -> tuple[DetectionData, DetectionData]:
    """Split tiles by position into ``(train, validation)`` with no pixel in both.

    Tiles of ``image`` (default: any tiled image) whose top edge is at ``y_min`` or below go to validation;
    tiles that reach into that band from above (overlapping tiles, stride < tile) are left out of both; the
    rest, and images that were not tiled, stay in train. For choosing settings on data the model never saw.
    """
    train, val = [], []
    for e in data.examples:
        origin = tile_origin(e.stem)
        if origin is None or (image is not None and origin[0] != image):
            train.append(e)
        elif origin[2] >= y_min:
            val.append(e)
        elif origin[2] + e.height <= y_min:      # tiles reaching into the band go to neither set
            train.append(e)
    if not val:
        raise ValueError(f"no tile starts at y >= {y_min}; pick a smaller y_min (tile names: <image>_x<x0>_y<y0>).")
    return DetectionData(train, data.label_map), DetectionData(val, data.label_map)
