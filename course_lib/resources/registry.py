"""The registry of real data sets and pretrained weights (``datasets/manifest.yaml``).

    >>> from course_lib import registry
    >>> registry.names()
    [...]
    >>> folder = registry.fetch("neon-treecrowns")     # cached, checksummed, offline-safe

Every file is pinned by sha256. A file that does not match is never used; a resource that cannot
be had offline fails with a message that says how to get it.

Under the grading engine, ``COURSE_WITHHELD`` (a JSON list of ``"<resource>/<folder>"``) names the parts
of cached resources that hold hidden grading data: the submission's kernel may not read them, so
``fetch`` verifies every other file and leaves those unread.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import hashlib
import importlib
import json
import shutil
import sys
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator

import yaml

from ..exceptions import ChecksumMismatch, ResourceError, ResourceUnavailable, UnknownResource
from ..paths import cache_dir, repo_root
from .sources import FETCHERS, member_spec, new_staging

__all__ = ["Resource", "Handle", "names", "get", "fetch", "status", "busy", "sha256", "handles", "get_handle",
           "manifest_path"]

COMPLETE = ".complete.json"


@dataclass(frozen=True)
class Resource:
    """One registered resource: a folder of checksummed files."""

    name: str
    kind: str
    title: str
    license: str
    citation: str
    size: int
    files: dict[str, str] = field(default_factory=dict)
    sources: list[dict[str, Any]] = field(default_factory=list)
    generator: dict[str, Any] | None = None

    @property
    def path(self) -> Path:
        return cache_dir() / self.name


@dataclass(frozen=True)
class Handle:
    """A model handle a learner can pass to ``hub.KerasLayer`` (or its offline stand-in)."""

    name: str
    output: str
    input_size: int
    value_range: tuple[float, float]
    feature_dim: int | None = None
    handle: str | None = None
    kaggle: str | None = None
    offline: str | None = None
    resource: str | None = None


def manifest_path() -> Path:
    return repo_root() / "datasets" / "manifest.yaml"


@lru_cache(maxsize=4)
def _load(path: str) -> dict[str, Any]:
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise ResourceError(f"Cannot read the registry {p}: {e}. Restore it from git (`git checkout {p.name}`).") from e
    if not isinstance(data, dict) or "resources" not in data:
        raise ResourceError(f"{p} has no `resources:` mapping; restore it from git.")
    return data


def _manifest() -> dict[str, Any]:
    return _load(str(manifest_path()))


def names() -> list[str]:
    return sorted(_manifest()["resources"])


def get(name: str) -> Resource:
    """The registered resource ``name``; an unknown name lists the known ones."""
    entries = _manifest()["resources"]
    if name not in entries:
        raise UnknownResource(name, list(entries))
    e = entries[name]
    return Resource(name=name, kind=e["kind"], title=e["title"], license=e["license"],
                    citation=" ".join(str(e["citation"]).split()), size=int(e["size"]),
                    files=dict(e.get("files") or {}), sources=list(e.get("sources") or []),
                    generator=e.get("generator"))


def handles() -> dict[str, Handle]:
    out = {}
    for name, e in (_manifest().get("handles") or {}).items():
        out[name] = Handle(name=name, output=e["output"], input_size=int(e["input_size"]),
                           value_range=tuple(e["value_range"]), feature_dim=e.get("feature_dim"),
                           handle=e.get("handle"), kaggle=e.get("kaggle"), offline=e.get("offline"),
                           resource=e.get("resource"))
    return out


def get_handle(name: str) -> Handle:
    hs = handles()
    if name not in hs:
        raise UnknownResource(name, list(hs))
    return hs[name]


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _log(msg: str) -> None:
    print(f"[course data] {msg}", file=sys.stderr, flush=True)


LOCK_REPORT_S = 30.0


def _lock_path(name: str) -> Path:
    return cache_dir() / f".{name}.lock"


def _holder(lock: Path) -> str:
    """Who took ``lock`` (``pid N (command)``, from what ``_locked`` wrote in it), or ``""``."""
    try:
        pid, _, cmd = lock.read_text().strip().partition(" ")
    except OSError:
        return ""
    if not pid.isdigit():
        return ""
    alive = Path(f"/proc/{pid}").exists() if Path("/proc").is_dir() else True
    if not alive:
        return (f"pid {pid} ({cmd}), which has exited; a process it started still holds the lock "
                f"(find it with `fuser {lock}`)")
    return f"pid {pid} ({cmd})"


@contextlib.contextmanager
def _locked(name: str) -> Iterator[None]:
    """Serialise fetches of one resource across processes (parallel notebooks share the cache).

    The holder writes its pid into the lock file; a waiter says every ``LOCK_REPORT_S`` seconds whom it
    waits for, so a stuck fetch elsewhere is never a silent hang.
    """
    lock = _lock_path(name)
    with open(lock, "a+") as f:
        waited = None
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                now = time.monotonic()
                if waited is None or now - waited >= LOCK_REPORT_S:
                    _log(f"{name}: waiting for {_holder(lock) or 'another process'} to finish fetching it")
                    waited = now
                time.sleep(0.5)
        try:
            f.seek(0)
            f.truncate()
            f.write(f"{os.getpid()} {' '.join(sys.argv)[:160]}\n")
            f.flush()
            yield
        finally:
            f.truncate(0)
            f.flush()
            fcntl.flock(f, fcntl.LOCK_UN)


def busy() -> dict[str, str]:
    """Resources some process is fetching or building now: ``{name: "pid N (command)"}``."""
    out = {}
    for name in names():
        lock = _lock_path(name)
        if not lock.is_file():
            continue
        with open(lock, "a+") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                fcntl.flock(f, fcntl.LOCK_UN)
            except BlockingIOError:
                out[name] = _holder(lock) or "another process"
    return out


def _fingerprint(res: Resource, inputs: dict[str, Path]) -> str:
    gen = res.generator or {}
    parts = {"version": gen.get("version"), "params": gen.get("params"),
             "inputs": {n: json.loads((p / COMPLETE).read_text())["files"] for n, p in inputs.items()}}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def withheld(name: str) -> list[str]:
    """The folders of resource ``name`` that the grading engine withholds from this process."""
    prefix = name + "/"
    return [w[len(prefix):].rstrip("/") + "/" for w in json.loads(os.environ.get("COURSE_WITHHELD", "[]"))
            if w.startswith(prefix)]


def _verify_folder(res: Resource, folder: Path, expected: dict[str, str], fix: str) -> None:
    skip = tuple(withheld(res.name))
    for rel, want in expected.items():
        if skip and rel.startswith(skip):
            continue
        p = folder / rel
        if not p.is_file():
            raise ResourceUnavailable(f"{p} is missing from the cached resource {res.name!r}. {fix}")
        got = sha256(p)
        if got != want:
            raise ChecksumMismatch(str(p), want, got, fix)


def _refresh_hint(name: str) -> str:
    return f"Run `course data fetch {name} --refresh` (the bad copy is moved aside, not deleted)."


def _move_aside(folder: Path) -> Path:
    dest = folder.with_name(f"{folder.name}.old-{time.strftime('%Y%m%d-%H%M%S')}")
    folder.rename(dest)
    return dest


def status(name: str) -> str:
    """``cached``, ``not cached``, ``stale`` (generator inputs changed) or ``corrupt``."""
    res = get(name)
    marker = res.path / COMPLETE
    if not marker.is_file():
        return "not cached"
    recorded = json.loads(marker.read_text())
    try:
        _verify_folder(res, res.path, recorded["files"], "")
    except ResourceError:
        return "corrupt"
    if res.generator:
        for n in res.generator.get("inputs", []):
            if status(n) != "cached":
                return "stale"
        inputs = {n: get(n).path for n in res.generator.get("inputs", [])}
        if recorded.get("fingerprint") != _fingerprint(res, inputs):
            return "stale"
    return "cached"


def _ready(res: Resource, inputs: dict[str, Path]) -> bool:
    """A complete, verified, up-to-date copy is cached. Needs no lock: a copy appears by one rename."""
    try:
        recorded = json.loads((res.path / COMPLETE).read_text())
        _verify_folder(res, res.path, res.files or recorded["files"], "")
    except (OSError, ValueError, KeyError, ResourceError):
        return False
    return not res.generator or recorded.get("fingerprint") == _fingerprint(res, inputs)


def fetch(name: str, refresh: bool = False) -> Path:
    """Return the folder holding resource ``name``, fetching or building it on first use.

    A cached copy is verified file by file on every call and returned without waiting for other
    processes; fetching or building takes the resource's lock. ``refresh=True`` moves the cached copy
    aside and fetches again.
    """
    res = get(name)
    inputs = {n: fetch(n) for n in (res.generator or {}).get("inputs", [])}
    if not refresh and _ready(res, inputs):
        return res.path
    with _locked(name):
        marker = res.path / COMPLETE
        if refresh and res.path.exists():
            _log(f"moved the old copy of {name} to {_move_aside(res.path)}")
        if marker.is_file():
            recorded = json.loads(marker.read_text())
            expected = res.files or recorded["files"]
            _verify_folder(res, res.path, expected, _refresh_hint(name))
            if not res.generator or recorded.get("fingerprint") == _fingerprint(res, inputs):
                return res.path
            _log(f"{name}: its generator or inputs changed; rebuilding")
            _move_aside(res.path)
        elif res.path.exists():  # a folder without the marker: an interrupted fetch or hand-copied files
            _log(f"{name}: found an incomplete copy, moved to {_move_aside(res.path)}")
        if res.generator:
            return _build(res, inputs)
        return _download(res)


def _finish(res: Resource, staging: Path, files: dict[str, str], origin: str, fingerprint: str | None) -> Path:
    (staging / COMPLETE).write_text(json.dumps(
        {"name": res.name, "origin": origin, "files": files, "fingerprint": fingerprint,
         "fetched": time.strftime("%Y-%m-%dT%H:%M:%S")}, indent=1))
    staging.rename(res.path)
    return res.path


def _download(res: Resource) -> Path:
    errors: list[str] = []
    mismatch: ChecksumMismatch | None = None
    downloads = cache_dir() / "_downloads"
    for source in res.sources:
        kind = source["type"]
        members = {dest: member_spec(v) for dest, v in source["members"].items()}
        staging = new_staging(cache_dir(), res.name)
        try:
            _log(f"fetching {res.name} ({res.size / 1e6:.1f} MB) from {kind} ...")
            origin = FETCHERS[kind](source, members, staging, downloads)
            _verify_folder(res, staging, res.files, "It came from " + kind + "; try another source or report it.")
            _log(f"{res.name}: {len(res.files)} files verified (sha256)")
            return _finish(res, staging, res.files, origin, None)
        except ChecksumMismatch as e:
            mismatch = e
            errors.append(f"{kind}: {e}")
        except ResourceError as e:
            errors.append(f"{kind}: {e}")
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
    if mismatch is not None:
        raise mismatch
    listing = "\n  ".join(f"{rel}  sha256 {h}" for rel, h in res.files.items())
    raise ResourceUnavailable(
        f"Cannot fetch {res.name!r}; every source failed:\n  " + "\n  ".join(errors) +
        f"\nTo fix: connect to the internet (or to a PyPI/Debian mirror) and run `course data fetch {res.name}`, "
        f"or copy these files into {res.path}/ and run it again:\n  {listing}")


def _build(res: Resource, inputs: dict[str, Path]) -> Path:
    gen = res.generator or {}
    module, _, func = gen["function"].partition(":")
    fn = getattr(importlib.import_module(module), func)
    staging = new_staging(cache_dir(), res.name)
    try:
        _log(f"building {res.name} with {gen['function']} ...")
        fn(staging, inputs, **(gen.get("params") or {}))
        files = {str(p.relative_to(staging)): sha256(p) for p in sorted(staging.rglob("*")) if p.is_file()}
        _log(f"{res.name}: built {len(files)} files")
        return _finish(res, staging, files, f"generator:{gen['function']}", _fingerprint(res, inputs))
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
