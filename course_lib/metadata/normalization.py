"""Input normalisation: ``input = (pixel - mean) / std``, and where to find the right one."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .common import MetadataError


# ------------------------------------------------------------------------------------- normalisation
@dataclass(frozen=True)
class Normalization:
    """``input = (pixel - mean) / std`` for pixels in [0, 255]; ``source`` says where the values came from."""

    mean: tuple[float, ...]
    std: tuple[float, ...]
    source: str = ""

    @classmethod
    def for_value_range(cls, lo: float, hi: float, source: str = "") -> "Normalization":
        """The mean/std that map pixels 0..255 onto [lo, hi]."""
        std = 255.0 / (hi - lo)
        return cls((-lo * std,), (std,), source or f"value range [{lo:g}, {hi:g}]")

    @property
    def value_range(self) -> tuple[float, float]:
        return ((0 - self.mean[0]) / self.std[0], (255 - self.mean[0]) / self.std[0])

    def apply(self, pixels: np.ndarray) -> np.ndarray:
        return (pixels.astype(np.float32) - np.float32(self.mean)) / np.float32(self.std)

    def close_to(self, other: "Normalization", rtol: float = 1e-3) -> bool:
        a, b = np.array(self.value_range), np.array(other.value_range)
        return bool(np.allclose(a, b, rtol=rtol, atol=rtol * max(1.0, float(np.abs(b).max()))))

    def __str__(self) -> str:
        lo, hi = self.value_range
        return (f"mean {list(self.mean)}, std {list(self.std)} (pixels 0..255 -> [{lo:g}, {hi:g}])"
                + (f" from {self.source}" if self.source else ""))


# Keras layers that change the pixel range inside the model, and layers that leave it alone.
_SPATIAL = ("Resizing", "CenterCrop", "RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation",
            "RandomCrop", "RandomContrast", "InputLayer", "Cropping2D")
# Backbones by Keras model-name prefix -> the input range they expect (keras.applications conventions).
_KNOWN_BACKBONES = {"mobilenetv2": (-1.0, 1.0), "mobilenetv3": (0.0, 255.0), "mobilenet": (-1.0, 1.0),
                    "efficientnetv2": (0.0, 255.0), "efficientnet": (0.0, 255.0), "inception": (-1.0, 1.0),
                    "xception": (-1.0, 1.0), "nasnet": (-1.0, 1.0)}


def _handle_range(handle: str) -> tuple[tuple[float, float], str] | None:
    from ..resources import registry

    target = str(handle).rstrip("/")
    for h in registry.handles().values():
        if target in {h.name, h.handle, h.kaggle} or (h.kaggle and target.endswith(h.kaggle)):
            return tuple(h.value_range), f"registered handle {h.name!r}"
        res = h.resource or h.offline
        if res and Path(target).resolve().is_relative_to(registry.get(res).path.resolve()):
            spec = registry.get_handle(res) if res in registry.handles() else h
            return tuple(spec.value_range), f"registered resource {res!r}"
    return None


def normalization_for(source: Any) -> Normalization:
    """Derive mean/std instead of asking for them.

    ``source``: a Keras model (its leading ``Rescaling`` layers plus a known backbone: a registered
    ``hub.KerasLayer`` handle or a ``keras.applications`` family), a registered handle name/URL, or a
    value range ``(lo, hi)``. Unknown models raise :class:`MetadataError` saying what to pass instead.
    """
    if isinstance(source, (tuple, list)) and len(source) == 2:
        return Normalization.for_value_range(float(source[0]), float(source[1]))
    if isinstance(source, str):
        found = _handle_range(source)
        if found is None:
            raise MetadataError(f"Handle {source!r} is not in datasets/manifest.yaml, so its input range is unknown. "
                                "Pass value_range=(lo, hi) from the model's documentation.")
        return Normalization.for_value_range(*found[0], source=found[1])
    return _from_keras(source)


def _from_keras(model) -> Normalization:
    a, b, seen = 1.0, 0.0, []
    for layer in model.layers:
        kind = type(layer).__name__
        if kind in _SPATIAL:
            continue
        if kind == "Rescaling":
            scale, offset = float(np.mean(layer.scale)), float(np.mean(layer.offset))
            a, b = a * scale, b * scale + offset
            seen.append(f"{layer.name} (x*{scale:g}{offset:+g})")
            continue
        rng, what = None, None
        if kind == "KerasLayer":
            found = _handle_range(getattr(layer, "_handle", ""))
            if found:
                rng, what = found
        else:
            for prefix, r in _KNOWN_BACKBONES.items():
                if layer.name.lower().startswith(prefix):
                    rng, what = r, f"keras.applications {prefix} convention"
                    break
        if rng is None and seen:      # the model rescales raw pixels itself
            rng, what = (b, 255 * a + b), "the model's own rescaling of raw pixels"
        if rng is None:
            raise MetadataError(
                f"Cannot tell which pixel range {model.name!r} expects: its first layer {layer.name!r} ({kind}) "
                "is not a registered backbone and no Rescaling layer precedes it. Pass the range you fed it in "
                "training, e.g. normalization_for((0, 1)) if you divided pixels by 255.")
        lo, hi = rng
        std = 255.0 * a / (hi - lo)
        mean = (b - lo) * 255.0 / (hi - lo)
        return Normalization((round(mean, 6),), (round(std, 6),),
                             f"{model.name}: {' -> '.join(seen + [f'{layer.name} expects [{lo:g}, {hi:g}] ({what})'])}")
    raise MetadataError(f"{model.name!r} has no layer after its preprocessing; pass a value range instead.")
