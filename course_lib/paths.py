"""Where things live: the course checkout, the build folder, the resource cache; online or not."""
from __future__ import annotations

import os
import socket
from functools import lru_cache
from pathlib import Path

__all__ = ["repo_root", "build_dir", "cache_dir", "state_dir", "is_offline"]


def repo_root() -> Path:
    """The course checkout: ``COURSE_ROOT`` if set, else the folder above this package."""
    env = os.environ.get("COURSE_ROOT")
    if env:
        return Path(env).resolve()
    return Path(__file__).resolve().parents[1]


def build_dir() -> Path:
    """Executed notebooks, reports and graded copies go here (``COURSE_BUILD`` overrides)."""
    d = Path(os.environ.get("COURSE_BUILD", repo_root() / "build"))
    d.mkdir(parents=True, exist_ok=True)
    return d


def cache_dir() -> Path:
    """Downloaded and generated resources: ``COURSE_CACHE``, else ``~/.cache/tf-course-kit``."""
    env = os.environ.get("COURSE_CACHE")
    if env:
        d = Path(env)
    else:
        base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        d = Path(base) / "tf-course-kit"
    d.mkdir(parents=True, exist_ok=True)
    return d


def state_dir() -> Path:
    """A learner's own records (progress): ``COURSE_STATE``, else ``~/.local/share/tf-course-kit``.

    Not the cache (a learner may clear that) and not ``build/`` (rebuilt at will): it survives both.
    """
    env = os.environ.get("COURSE_STATE")
    if env:
        d = Path(env)
    else:
        base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
        d = Path(base) / "tf-course-kit"
    d.mkdir(parents=True, exist_ok=True)
    return d


@lru_cache(maxsize=1)
def _probe_online(host: str = "tfhub.dev", port: int = 443, timeout: float = 2.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def is_offline() -> bool:
    """``COURSE_OFFLINE=1`` forces offline, ``0`` forces online; otherwise probe tfhub.dev once."""
    forced = os.environ.get("COURSE_OFFLINE")
    if forced is not None and forced.strip() != "":
        return forced.strip().lower() not in ("0", "false", "no")
    return not _probe_online()
