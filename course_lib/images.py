"""Reading images safely: a corrupt or non-image file is an error that names it."""
from __future__ import annotations

from pathlib import Path

from .exceptions import DataError

__all__ = ["open_rgb"]


def open_rgb(path: str | Path):
    """Open ``path`` as an RGB ``PIL.Image`` (fully decoded), or raise :class:`DataError`."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    Image.MAX_IMAGE_PIXELS = None  # the aerial tiles are large but trusted
    try:
        with Image.open(path) as im:
            im.load()
            return im.convert("RGB")
    except FileNotFoundError as e:
        raise DataError(f"{path}: no such image file.") from e
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise DataError(f"{path}: not a readable image ({e}). Remove or replace the file.") from e
