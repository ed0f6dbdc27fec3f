"""Data sets the kit builds from registered real data (see ``generator:`` in the manifest)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..annotations import read_voc
from ..images import open_rgb

__all__ = ["tree_patches", "tree_patches_clean_train", "tree_crown_tiles"]


def _square(cx: float, cy: float, side: float, w: int, h: int) -> tuple[int, int, int, int] | None:
    """A ``side``-px square centred on (cx, cy), shifted to lie inside the image (None if too big)."""
    s = int(round(side))
    if s > w or s > h:
        return None
    x0 = min(max(int(round(cx - s / 2)), 0), w - s)
    y0 = min(max(int(round(cy - s / 2)), 0), h - s)
    return x0, y0, x0 + s, y0 + s


def tree_patches(out: Path, inputs: dict[str, Path], patch_size: int = 96, test_image: str = "",
                 seed: int = 0, context: float = 1.2, min_side: int = 8, max_cover: float = 0.2) -> None:
    """Cut tree-crown and background patches from the NEON tiles into ``{train,test}/{tree,background}``.

    Tree patch: a square of ``context`` x the crown's larger side around its box. Background patch:
    a square of a crown-like size placed at random where boxes cover at most ``max_cover`` of it.
    One background per tree, per image, so classes are balanced. The ``test_image`` goes to ``test/``.
    """
    src = inputs["neon-treecrowns"]
    rng = np.random.default_rng(seed)
    for xml in sorted(src.glob("*.xml")):
        ann = read_voc(xml)
        split = "test" if ann.filename == test_image or xml.stem == Path(test_image).stem else "train"
        image = open_rgb(src / (xml.stem + ".png"))
        w, h = image.size
        cover = np.zeros((h + 1, w + 1), dtype=np.int64)   # integral image of box coverage
        mask = np.zeros((h, w), dtype=np.uint8)
        sides = []
        n_tree = 0
        for k, b in enumerate(ann.boxes):
            mask[int(b.ymin):int(b.ymax), int(b.xmin):int(b.xmax)] = 1
            side = max(b.width, b.height) * context
            if max(b.width, b.height) < min_side:
                continue
            sq = _square((b.xmin + b.xmax) / 2, (b.ymin + b.ymax) / 2, side, w, h)
            if sq is None:
                continue
            sides.append(side)
            _save(image.crop(sq), out / split / "tree" / f"{xml.stem}_{k:04d}.jpg", patch_size)
            n_tree += 1
        cover[1:, 1:] = mask.cumsum(0).cumsum(1)
        made, tries = 0, 0
        while made < n_tree and tries < n_tree * 200:
            tries += 1
            side = float(rng.choice(sides))
            sq = _square(rng.uniform(0, w), rng.uniform(0, h), side, w, h)
            if sq is None:
                continue
            x0, y0, x1, y1 = sq
            covered = cover[y1, x1] - cover[y0, x1] - cover[y1, x0] + cover[y0, x0]
            if covered > max_cover * (x1 - x0) * (y1 - y0):
                continue
            _save(image.crop(sq), out / split / "background" / f"{xml.stem}_bg{made:04d}.jpg", patch_size)
            made += 1


def tree_patches_clean_train(out: Path, inputs: dict[str, Path], patch_size: int = 96, test_image: str = "",
                             seed: int = 0) -> None:
    """``tree-patches`` with cleaner training labels: ``train/`` is cut again with background patches that
    touch no annotated crown (``max_cover=0``; ``tree-patches`` allows 20 %), ``test/`` is copied unchanged
    from ``inputs["tree-patches"]``, so held-out figures on the two data sets are comparable.

    A background patch allowed 20 % crown cover can show part of an annotated crown (and, like any
    background, an unannotated one): labels that contradict the tree patches, which a classifier learns as noise.
    """
    import shutil
    import tempfile

    test = inputs["tree-patches"] / "test"
    if not test.is_dir():
        raise FileNotFoundError(f"{test} is missing: fetch 'tree-patches' first (course data fetch tree-patches).")
    with tempfile.TemporaryDirectory() as tmp:
        tree_patches(Path(tmp), {"neon-treecrowns": inputs["neon-treecrowns"]}, patch_size, test_image, seed,
                     max_cover=0.0)
        shutil.copytree(Path(tmp) / "train", out / "train")
    shutil.copytree(test, out / "test")


def _save(patch, path: Path, size: int) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    patch.resize((size, size), Image.BICUBIC).save(path, quality=95)


def tree_crown_tiles(out: Path, inputs: dict[str, Path], tile: int = 320, stride: int = 240,
                     test_image: str = "2019_YELL_2_541000_4977000_image_crop", test_stride: int = 320,
                     whole_below: int = 400, min_visible: float = 0.5) -> None:
    """Detection tiles (JPEG + VOC xml, one class ``tree``) from the NEON images, held out by image.

    ``train/``: tiles every ``stride`` px of every image except ``test_image`` (images of at most
    ``whole_below`` px a side are kept whole, as JPEG; Model Maker resizes them); tiles without a tree are
    skipped. ``test/``: a grid over ``test_image`` (every ``test_stride`` px, plus the far edge), empty
    tiles kept. Boxes are clipped to their tile (kept when >= ``min_visible`` of the crown is inside).
    Dead/Alive/Tree labels all become ``tree``. Writes ``labels.txt`` and ``summary.json``.
    """
    import json

    from ..detection_data import DetectionData, load_voc, relabel, summary, write_voc
    from ..tiling import tile_example

    src = inputs["neon-treecrowns"]
    names = sorted({b.label for x in src.glob("*.xml") for b in read_voc(x).boxes})
    raw = relabel(load_voc(src, src, names, require_jpeg=False, image_suffix=".png"), {n: "tree" for n in names})
    label_map = {1: "tree"}
    parts: dict[str, list] = {"train": [], "test": []}
    for e in raw.examples:
        if e.stem == Path(test_image).stem:
            parts["test"] += tile_example(e, tile, test_stride, out / "test", min_visible, keep_empty=True)
        elif max(e.width, e.height) <= whole_below:
            write_voc(DetectionData([e], label_map), out / "train")
            parts["train"].append(e)
        else:
            parts["train"] += tile_example(e, tile, stride, out / "train", min_visible)
    for split in ("train", "test"):
        (out / split / "labels.txt").unlink(missing_ok=True)
    (out / "labels.txt").write_text("1 tree\n")
    (out / "summary.json").write_text(json.dumps(
        {split: summary(DetectionData(exs, label_map)) for split, exs in parts.items()}, indent=1) + "\n")
