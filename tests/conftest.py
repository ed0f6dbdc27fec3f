"""Shared fixtures: real resources from the user's cache, throw-away caches, tiny notebooks."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from course_lib.resources import registry
from course_lib.paths import cache_dir

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def temp_cache(tmp_path, monkeypatch) -> Path:
    """An empty COURSE_CACHE whose pip/apt downloads are copied from the real cache (no re-download)."""
    real = cache_dir()
    registry.fetch("neon-treecrowns")           # makes sure the real cache holds the deepforest wheel
    cache = tmp_path / "cache"
    (cache / "_downloads").mkdir(parents=True)
    for f in (real / "_downloads").iterdir():
        (cache / "_downloads" / f.name).symlink_to(f)
    monkeypatch.setenv("COURSE_CACHE", str(cache))
    return cache


@pytest.fixture
def course_copy(tmp_path, monkeypatch) -> Path:
    """A copy of the course's datasets/ and ci/ under COURSE_ROOT, to edit without touching the repo."""
    root = tmp_path / "course"
    for d in ("datasets", "ci"):
        shutil.copytree(ROOT / d, root / d)
    monkeypatch.setenv("COURSE_ROOT", str(root))
    registry._load.cache_clear()
    yield root
    registry._load.cache_clear()


@pytest.fixture(scope="session")
def course_run(tmp_path_factory):
    """`course run` (smoke profile, offline) once per session: (process, build folder, seconds).

    tests/test_main_run.py checks it; tests/test_certify.py issues certificates from its exam gradebook.
    Two notebooks at a time, as `course run` does by default: 1,007 s here against about 1,200 s one at a
    time (the notebook step 229 s against 410 s; no notebook slower than 56 s either way)."""
    build = tmp_path_factory.mktemp("build")
    env = dict(os.environ, COURSE_BUILD=str(build), COURSE_OFFLINE="1")
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "course_lib.cli.main", "run", "--jobs", "2"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600)
    print(proc.stdout[-6000:], proc.stderr[-3000:])
    return proc, build, time.monotonic() - t0
