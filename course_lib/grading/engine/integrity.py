"""Did grading change the code the grader runs? A snapshot of the kit and the Python environment, before and after.

The sandbox mounts both read-only, so nothing should change; this is the check that it held. The kit's
``course_lib`` files are hashed (sha256); the Python installation's import roots (stdlib, site-packages, the
user site) are fingerprinted by size, mtime and ctime of every ``.py``, ``.pth`` and native module (the ctime
of a changed file cannot be set back by a process), so a new ``sitecustomize.py``/``usercustomize.py``/``.pth``
or an edited module shows up. :func:`changed` names what differs.
"""
from __future__ import annotations

import hashlib
import os
import site
import sys
import sysconfig
from pathlib import Path

__all__ = ["snapshot", "changed"]

_SUFFIXES = (".py", ".pth", ".so", ".pyd")


def _kit() -> Path:
    return Path(__file__).resolve().parents[2]


def _roots() -> list[Path]:
    paths = {sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    paths |= set(site.getsitepackages()) | {site.getusersitepackages(), sys.prefix, sys.base_prefix}
    return sorted({Path(p).resolve() for p in paths if p and Path(p).is_dir()})


def snapshot() -> dict[str, str]:
    """path -> fingerprint of every file the grader may import."""
    out: dict[str, str] = {}
    kit = _kit()
    for p in sorted(kit.rglob("*")):
        if p.is_file() and "__pycache__" not in p.parts:
            out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
    for root in _roots():
        top_only = root in (Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve())
        for dirpath, dirnames, files in os.walk(root):
            if top_only:
                dirnames.clear()
            dirnames[:] = [d for d in dirnames if d != "__pycache__"]
            for name in files:
                if name.endswith(_SUFFIXES) or name.startswith(("sitecustomize", "usercustomize")):
                    p = os.path.join(dirpath, name)
                    if p in out:
                        continue
                    try:
                        st = os.lstat(p)
                    except OSError:
                        continue
                    out[p] = f"{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}"
    return out


def changed(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """What differs, one entry per file: ``"modified: P"``, ``"added: P"`` or ``"removed: P"``."""
    return ([f"modified: {p}" for p in sorted(before) if p in after and after[p] != before[p]]
            + [f"added: {p}" for p in sorted(set(after) - set(before))]
            + [f"removed: {p}" for p in sorted(set(before) - set(after))])
