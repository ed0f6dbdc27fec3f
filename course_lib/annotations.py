"""PASCAL VOC annotation files: read one, with errors that name the file and the line."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .exceptions import DataError

__all__ = ["Box", "VocAnnotation", "AnnotationError", "read_voc"]


class AnnotationError(DataError):
    """A malformed or inconsistent annotation file."""


@dataclass(frozen=True)
class Box:
    label: str
    xmin: float
    ymin: float
    xmax: float
    ymax: float
    line: int | None = None  # source line of the <object> element

    @property
    def width(self) -> float:
        return self.xmax - self.xmin

    @property
    def height(self) -> float:
        return self.ymax - self.ymin


@dataclass(frozen=True)
class VocAnnotation:
    path: Path
    filename: str
    width: int
    height: int
    boxes: tuple[Box, ...]


def read_voc(path: str | Path) -> VocAnnotation:
    """Parse one VOC ``.xml``; a malformed file raises :class:`AnnotationError` naming file and line."""
    from lxml import etree

    path = Path(path)
    try:
        root = etree.parse(str(path)).getroot()
    except OSError as e:
        raise AnnotationError(f"{path}: cannot read the annotation file ({e}).") from e
    except etree.XMLSyntaxError as e:
        raise AnnotationError(f"{path}:{e.lineno}: malformed XML: {e.msg}. Fix or remove this file.") from e

    def text(el, tag: str) -> str:
        node = el.find(tag)
        if node is None or node.text is None or not node.text.strip():
            raise AnnotationError(f"{path}:{el.sourceline}: <{el.tag}> has no <{tag}>.")
        return node.text.strip()

    def number(el, tag: str) -> float:
        raw = text(el, tag)
        try:
            return float(raw)
        except ValueError:
            raise AnnotationError(f"{path}:{el.find(tag).sourceline}: <{tag}> is {raw!r}, not a number.") from None

    size = root.find("size")
    if size is None:
        raise AnnotationError(f"{path}:{root.sourceline}: no <size> element (width/height of the image).")
    boxes = []
    for obj in root.findall("object"):
        bnd = obj.find("bndbox")
        if bnd is None:
            raise AnnotationError(f"{path}:{obj.sourceline}: <object> has no <bndbox>.")
        boxes.append(Box(text(obj, "name"), number(bnd, "xmin"), number(bnd, "ymin"),
                         number(bnd, "xmax"), number(bnd, "ymax"), obj.sourceline))
    return VocAnnotation(path, text(root, "filename"), int(number(size, "width")),
                         int(number(size, "height")), tuple(boxes))
