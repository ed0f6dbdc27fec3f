"""Hidden data of the model-quality spec: built on the instructor's side, never readable by student code.

A spec entry's ``data`` is either a path to an ``.npz`` (relative to the course) or
``{builder: NAME, args: {...}}``: a function registered here with :func:`hidden_data` that returns arrays
(see :mod:`.metrics` for the keys metrics read). A builder that reads part of a registered resource names
it in ``withholds`` (``"<resource>/<folder>"``): the engine denies that folder to submissions, and the
registry leaves it unverified in their kernels (:func:`course_lib.resources.registry.withheld`).
Built arrays are cached as ``.npz`` under
``<build>/hidden/`` (a folder the grading engine denies to submissions), keyed by builder, arguments and the builder's version.
More builders register from the modules in ``PLUGINS``.
"""
from __future__ import annotations

import hashlib
import importlib
import io
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ...exceptions import GradingError
from ...paths import build_dir

__all__ = ["BUILDERS", "PLUGINS", "hidden_data", "hidden_dir", "resolve", "withholds", "tree_patches",
           "image_folder_split"]

BUILDERS: dict[str, Callable[..., dict[str, np.ndarray]]] = {}
WITHHOLDS: dict[str, Callable[..., list[str]]] = {}
VERSIONS: dict[str, int] = {}
PLUGINS: list[str] = ["course_lib.exam.quality", "course_lib.grading.plugins.detection"]   # modules that register more builders


def hidden_data(name: str, withholds: Callable[..., list[str]] | None = None, version: int = 1):
    """Register ``f(**args) -> dict[str, np.ndarray]`` as the hidden-data builder ``name``.

    ``withholds(**args)``: the ``"<resource>/<folder>"`` parts of registered resources the data comes from.
    ``version``: raise it when the builder's arrays change, so that caches built before are not used.
    """
    def deco(fn):
        BUILDERS[name] = fn
        VERSIONS[name] = version
        WITHHOLDS[name] = withholds or (lambda **_: [])
        return fn
    return deco


def _plugins() -> None:
    for mod in PLUGINS:
        importlib.import_module(mod)


def withholds(data: str | dict) -> list[str]:
    """The resource folders a spec's ``data`` is built from (none for an ``.npz`` path)."""
    if isinstance(data, str):
        return []
    _plugins()
    return list(WITHHOLDS.get(data.get("builder"), lambda **_: [])(**(data.get("args") or {})))


def hidden_dir() -> Path:
    return build_dir() / "hidden"


def resolve(data: str | dict, course: Path) -> Path:
    """The ``.npz`` file of a spec's ``data``, building (and caching) it when it names a builder."""
    if isinstance(data, str):
        p = Path(data) if Path(data).is_absolute() else course / data
        if not p.is_file():
            raise GradingError(f"the hidden data {p} of the model-quality spec does not exist.")
        return p
    _plugins()
    name, args = data.get("builder"), data.get("args") or {}
    if name not in BUILDERS:
        raise GradingError(f"the model-quality spec names the hidden-data builder {name!r}; "
                           f"known: {sorted(BUILDERS)} (course_lib/grading/engine/hidden_data.py).")
    key_of = [name, args] + ([VERSIONS[name]] if VERSIONS[name] != 1 else [])   # version 1: the keys of before
    key = hashlib.sha256(json.dumps(key_of, sort_keys=True).encode()).hexdigest()[:16]
    out = hidden_dir() / f"{name}-{key}.npz"
    if not out.is_file():
        arrays = BUILDERS[name](**args)
        out.parent.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        tmp = out.with_suffix(".tmp")
        tmp.write_bytes(buf.getvalue())
        tmp.replace(out)
    return out


# tree-patches-clean-train/test is a byte copy of tree-patches/test: withheld with it
@hidden_data("tree_patches", withholds=lambda split="test": [f"tree-patches/{split}"]
             + (["tree-patches-clean-train/test"] if split == "test" else []))
def tree_patches(split: str = "test") -> dict[str, np.ndarray]:
    """The ``tree-patches`` split as ``images`` (uint8, 96 px, file order) and ``y`` (0 background, 1 tree)."""
    from ...resources.tree_patches import load_tree_patches

    x, y = load_tree_patches(96, split, shuffle=False, dtype="uint8")
    return {"images": x, "y": y}


@hidden_data("image_folder_split")
def image_folder_split(resource: str, folder: str, validation_split: float, seed: int,
                       image_size: int = 96) -> dict[str, np.ndarray]:
    """The validation subset of a registered image folder, the same files that
    ``image_dataset_from_directory(..., validation_split=, subset="validation", seed=)`` gives a notebook,
    as ``images`` (uint8, ``image_size`` px) and ``y`` (the class index, folders in alphabetical order).
    Public data: ``course check`` measures a learner's model on it (a grading.yaml entry's ``public``)."""
    import tensorflow as tf

    from ...resources import registry

    ds = tf.keras.utils.image_dataset_from_directory(
        registry.fetch(resource) / folder, validation_split=validation_split, subset="validation", seed=seed,
        image_size=(image_size, image_size), batch_size=64, label_mode="int", color_mode="rgb", shuffle=True)
    xs, ys = zip(*((x.numpy(), y.numpy()) for x, y in ds))
    return {"images": np.clip(np.round(np.concatenate(xs)), 0, 255).astype("uint8"), "y": np.concatenate(ys)}
