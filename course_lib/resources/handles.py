"""Resolve a model handle to what ``hub.KerasLayer`` loads: a Hub URL online, a local SavedModel offline.

Accepted handles: a registered name (``mobilenet_v2_100_224/feature_vector``), a tfhub.dev URL or a
Kaggle Models handle that the registry knows, any tfhub.dev/Kaggle URL when online, or a local
SavedModel folder. Offline, a registered handle resolves to its kit-built stand-in and says so.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from . import registry
from ..exceptions import ModelError, ResourceUnavailable
from ..paths import cache_dir, is_offline

__all__ = ["ResolvedHandle", "resolve_handle"]


@dataclass(frozen=True)
class ResolvedHandle:
    requested: str
    target: str                        # what to pass to hub.KerasLayer / hub.load
    spec: registry.Handle | None       # input size, value range, output kind (None: unknown local model)
    standin: str | None = None         # the stand-in resource used in place of the requested handle

    def describe(self) -> str:
        if self.standin:
            return f"{self.requested} -> offline stand-in {self.standin!r} ({self.target})"
        return f"{self.requested} -> {self.target}"


def _is_remote(handle: str) -> bool:
    return handle.startswith(("http://", "https://")) or handle.count("/") >= 3 and not Path(handle).exists()


def _find_spec(handle: str) -> registry.Handle | None:
    hs = registry.handles()
    if handle in hs:
        return hs[handle]
    for h in hs.values():
        if handle.rstrip("/") in {x for x in (h.handle, h.kaggle) if x} or (
                h.kaggle and handle.rstrip("/").endswith(h.kaggle)):
            return h
    return None


def _local(spec: registry.Handle) -> str:
    return str(registry.fetch(spec.resource) / "savedmodel")  # type: ignore[arg-type]


def resolve_handle(handle: str, offline: bool | None = None) -> ResolvedHandle:
    """Resolve ``handle``; see the module docstring. Unknown offline handles fail with the fix."""
    os.environ.setdefault("TFHUB_CACHE_DIR", str(cache_dir() / "tfhub"))
    offline = is_offline() if offline is None else offline
    path = Path(handle).expanduser()
    if path.exists():
        if not (path / "saved_model.pb").is_file():
            raise ModelError(f"{path} is not a TF2 SavedModel folder (no saved_model.pb). "
                             "Save one with tf.saved_model.save(model, path).")
        return ResolvedHandle(handle, str(path), _find_spec(handle))
    spec = _find_spec(handle)
    if spec is None and not _is_remote(handle):
        known = ", ".join(sorted(registry.handles()))
        raise ModelError(f"Unknown model handle {handle!r}: not a local SavedModel and not registered. "
                         f"Registered handles: {known}.")
    if spec is not None and spec.resource:            # a registered local model (e.g. a stand-in itself)
        return ResolvedHandle(handle, _local(spec), spec)
    if not offline:
        return ResolvedHandle(handle, spec.handle if spec and handle in registry.handles() else handle, spec)
    if spec is None or not spec.offline:
        raise ResourceUnavailable(
            f"{handle!r} must be downloaded from TF Hub / Kaggle, and this machine is offline. "
            "Connect to the internet (tensorflow_hub caches it in TFHUB_CACHE_DIR), or pass a registered "
            "handle that has an offline stand-in, or a local SavedModel folder.")
    standin = registry.get_handle(spec.offline)
    print(f"[course] offline: using the kit-built stand-in {spec.offline!r} for {handle!r} "
          f"(input {standin.input_size}px, values in {list(standin.value_range)})", file=sys.stderr)
    return ResolvedHandle(handle, _local(standin), standin, standin=spec.offline)
