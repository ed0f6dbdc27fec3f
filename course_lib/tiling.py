"""Cut large aerial images into fixed-size training tiles, with each box clipped to its tile.

    tiles = tile_example(example, tile=320, stride=240, out_dir=Path("tiles"))   # JPEG + VOC xml per tile

A box is kept in a tile when at least ``min_visible`` of its area lies inside it (clipped to the tile
edge); smaller slivers are dropped, so a crown cut in half is still a crown but a corner of one is not.
Tiles are JPEG because Model Maker's ``DataLoader.from_pascal_voc`` rejects PNG.
"""
from __future__ import annotations

from pathlib import Path

from .annotations import Box
from .detection_data import Example, write_voc_xml

__all__ = ["tile_positions", "clip_boxes", "tile_example"]


def tile_positions(length: int, tile: int, stride: int) -> list[int]:
    """Start offsets every ``stride`` px, plus one flush with the far edge so the whole image is covered."""
    if tile <= 0 or stride <= 0:
        raise ValueError(f"tile ({tile}) and stride ({stride}) must be positive.")
    if length < tile:
        raise ValueError(f"the image side ({length} px) is smaller than the tile ({tile} px); use a smaller tile.")
    pos = list(range(0, length - tile + 1, stride))
    if pos[-1] != length - tile:
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
