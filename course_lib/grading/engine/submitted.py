"""Submitted models: the file a learner handed in, taken out before their notebook is re-run, then graded.

A quality entry of ``assignments/grading.yaml`` with ``source: submitted`` grades the model file that came
with the submission (what the learner trained, at whatever budget), not the one the grading re-run writes::

    a2_object_detection:
      - model: [a2_model_int8.tflite]
        source: submitted           # or rerun (the default): grade what the re-run notebook saves
        max_mb: 20                  # a larger file is refused (default 100)
        rerun_parameters: {epochs: 1, n_train: 4}   # the re-run only proves the code: seconds, not an hour
        audit_tolerance: 0.05       # `course grade --audit K`: re-trained vs submitted may differ this much

The engine (in the worker, before the kernel starts) takes the file's bytes from the submission, checks them
(:func:`take`: a regular file, not empty, not over ``max_mb``, the format its name says) and keeps them where
the kernel cannot reach; the re-run cannot overwrite what is graded. The file's sha256 goes into the row and
the CSV. :func:`inject_parameters` adds a cell after the notebook's ``parameters`` cell, as papermill does,
so the learner's own parameters are kept in the notebook but the grading run uses the small ones.
"""
from __future__ import annotations

import hashlib
import json
import stat
from dataclasses import dataclass
from pathlib import Path

__all__ = ["SubmittedModel", "take", "special_files", "rerun_parameters", "inject_parameters", "FORMATS"]

# name ending -> (what it is, a check of its first bytes)
FORMATS = {
    ".tflite": ("a TFLite flatbuffer", lambda head: head[4:8] == b"TFL3"),
    ".keras": ("a Keras v3 zip archive", lambda head: head[:4] == b"PK\x03\x04"),
    ".h5": ("an HDF5 file", lambda head: head[:8] == b"\x89HDF\r\n\x1a\n"),
}


@dataclass
class SubmittedModel:
    """What :func:`take` found: ``files`` (relative path -> bytes) when usable, else ``problem``."""

    name: str
    files: dict[str, bytes]
    sha256: str = ""
    size: int = 0
    problem: str = ""

    def write(self, dest: Path) -> Path:
        """Write the model under ``dest`` (a file, or a SavedModel folder); returns its path."""
        for rel, data in self.files.items():
            p = dest / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)
        return dest / self.name


def special_files(folder: Path) -> dict[str, str]:
    """Entries of a submission that are not plain files or folders (``read_files`` skips them): relative path
    -> what it is (a symbolic link and its target, a FIFO, a socket, a device)."""
    out = {}
    for p in sorted(folder.rglob("*")):
        mode = p.lstat().st_mode
        rel = str(p.relative_to(folder))
        if stat.S_ISLNK(mode):
            out[rel] = f"a symbolic link (to {p.readlink()})"
        elif stat.S_ISFIFO(mode):
            out[rel] = "a FIFO"
        elif stat.S_ISSOCK(mode):
            out[rel] = "a socket"
        elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            out[rel] = "a device file"
    return out


def _digest(files: dict[str, bytes]) -> str:
    if len(files) == 1:
        return hashlib.sha256(next(iter(files.values()))).hexdigest()
    h = hashlib.sha256()                          # a folder: names and contents, in order
    for rel in sorted(files):
        h.update(rel.encode() + b"\0" + hashlib.sha256(files[rel]).digest())
    return h.hexdigest()


def take(names: list[str], files: dict[str, bytes], special: dict[str, str], max_mb: float = 100) -> SubmittedModel:
    """The first of ``names`` in the submission's ``files``, checked; ``problem`` says why it cannot be graded."""
    for name in names:
        if name in special:
            return SubmittedModel(name, {}, problem=f"{name} is {special[name]}, not a regular file: not graded")
        inside = {rel: data for rel, data in files.items() if rel.startswith(name + "/")}
        if name in files:
            found = {name: files[name]}
        elif inside:
            found = inside
        else:
            continue
        size = sum(len(d) for d in found.values())
        m = SubmittedModel(name, found, sha256=_digest(found), size=size)
        fmt = FORMATS.get(Path(name).suffix)
        if size == 0:
            m.problem = f"{name} is empty"
        elif size > max_mb * 2 ** 20:
            m.problem = f"{name} is {size / 2 ** 20:.1f} MB, over the {max_mb:g} MB limit"
        elif name in files and fmt and not fmt[1](files[name][:16]):
            m.problem = f"{name} is not {fmt[0]} (its first bytes do not match): truncated or another format"
        elif inside and f"{name}/saved_model.pb" not in inside:
            m.problem = f"{name}/ has no saved_model.pb: not a SavedModel folder"
        linked = sorted(rel for rel in special if rel.startswith(name + "/"))
        if linked and not m.problem:
            m.problem = f"{name}/ holds {linked[0]}, {special[linked[0]]}: not graded"
        if m.problem:
            m.files = {}
        return m
    return SubmittedModel(names[0], {}, problem=f"no {' or '.join(names)} was submitted with the notebook")


def rerun_parameters(entries: list[dict] | None) -> dict:
    """The grading run's parameter overrides, merged over the assignment's quality entries."""
    out: dict = {}
    for e in entries or []:
        for k, v in (e.get("rerun_parameters") or {}).items():
            if k in out and out[k] != v:
                from ...exceptions import GradingError

                raise GradingError(f"grading.yaml: rerun_parameters give {k} twice ({out[k]!r} and {v!r}).")
            out[k] = v
    return out


def inject_parameters(nb: dict, params: dict) -> bool:
    """Insert a cell assigning ``params`` after the cell tagged ``parameters`` (papermill's convention);
    False if the notebook has no such cell (then nothing changes)."""
    if not params:
        return False
    for k, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            lines = ["# Parameters of the grading run (assignments/grading.yaml: rerun_parameters): your submitted",
                     "# model is graded; this run only checks that the code works.\n"]
            lines += [f"{name} = {json.dumps(value) if isinstance(value, str) else repr(value)}"
                      for name, value in params.items()]
            nb["cells"].insert(k + 1, {"cell_type": "code", "execution_count": None, "outputs": [],
                                       "metadata": {"tags": ["injected-parameters"]},
                                       "source": "\n".join(lines)})
            return True
    return False
