"""Rebuild the sample submissions of an assignment after its source changed: ``python ci/rebuild_samples.py a0_warmup``.

A sample notebook is the release (``nbgrader generate_assignment``: locked cells with the release's checksums)
with one learner's answers in it. This script releases the current source in a scratch course and rebuilds each
``assignments/samples/<assignment>/<sample>/<notebook>.ipynb`` from it:

* every nbgrader cell that is not an answer (instructions, tests, locked code) comes from the new release, with its
  new checksum, so a changed task text or test reaches every sample;
* every answer cell keeps the sample's own source and outputs (its metadata from the release);
* an answer cell that is new in the source (a "why" question graded by hand) gets the source's model answer, except
  in the ``blank`` sample, which keeps the release's stub;
* cells without nbgrader metadata keep the sample's own text, matched by position.

It prints each cell it changed per notebook and fails (changing nothing) where a sample's cells do not match the
release's (a cell added or deleted on purpose, as a tamper sample might): rebuild those by hand.
"""
from __future__ import annotations

import copy
import sys
import tempfile
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from course_lib.grading.nbgrader_chain import prepare_course, release  # noqa: E402


def _gid(cell) -> str | None:
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def _answer(cell) -> bool:
    return bool(cell.metadata.get("nbgrader", {}).get("solution"))


def rebuild(old, new_release, source, blank: bool) -> tuple[object, list[str]]:
    """The sample ``old`` rebuilt on ``new_release``; the grade ids (or positions) of the cells that changed."""
    by_id = {_gid(c): c for c in old.cells if _gid(c)}
    model = {_gid(c): c for c in source.cells if _gid(c)}
    plain_old = [c for c in old.cells if not _gid(c)]
    plain_new = [c for c in new_release.cells if not _gid(c)]
    extra = sorted(set(by_id) - {_gid(c) for c in new_release.cells})
    if extra or len(plain_old) != len(plain_new):
        raise ValueError(f"cells not in the release {extra}, or {len(plain_old)} plain cells against "
                         f"{len(plain_new)}: rebuild this sample by hand")
    out, changed, k = copy.deepcopy(new_release), [], 0
    for i, cell in enumerate(new_release.cells):
        gid = _gid(cell)
        if gid is None:
            out.cells[i] = copy.deepcopy(plain_old[k])
            k += 1
            continue
        if _answer(cell) and gid in by_id:
            kept = copy.deepcopy(by_id[gid])
            kept.metadata["nbgrader"] = copy.deepcopy(cell.metadata["nbgrader"])
            out.cells[i] = kept
        elif _answer(cell) and not blank:                 # a new written answer: the model answer
            out.cells[i].source = model[gid].source
        was = by_id.get(gid)
        if was is None or was.source != out.cells[i].source or \
                was.metadata.get("nbgrader") != out.cells[i].metadata.get("nbgrader"):
            changed.append(gid + ("" if was is not None else " (new)"))
    out.metadata = copy.deepcopy(old.metadata)
    return out, changed


def main(assignment: str) -> None:
    with tempfile.TemporaryDirectory(prefix="rebuild-samples-") as tmp:
        course = prepare_course(Path(tmp) / "course")
        released = release(course, assignment)
        samples = ROOT / "assignments" / "samples" / assignment
        for nb_path in sorted(released.glob("*.ipynb")):
            new = nbformat.read(nb_path, as_version=4)
            source = nbformat.read(ROOT / "assignments" / "source" / assignment / nb_path.name, as_version=4)
            for sample in sorted(p for p in samples.iterdir() if p.is_dir()):
                target = sample / nb_path.name
                if not target.is_file():
                    print(f"{sample.name}/{nb_path.name}: not in this sample (kept so)")
                    continue
                old = nbformat.read(target, as_version=4)
                rebuilt, changed = rebuild(old, new, source, blank=sample.name == "blank")
                if changed:
                    nbformat.write(rebuilt, str(target))
                print(f"{sample.name}/{nb_path.name}: {', '.join(changed) or 'unchanged'}")


if __name__ == "__main__":
    for name in sys.argv[1:] or sys.exit(__doc__):
        main(name)
