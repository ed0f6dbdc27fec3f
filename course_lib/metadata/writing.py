"""Writing classifier and detector metadata with tflite_support's writers."""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np

from .common import MetadataError, interpreter_for, label_list, model_name
from .normalization import Normalization
from .reading import strip_metadata
from .detector_outputs import detector_output_problems


# ------------------------------------------------------------------------------------------- writing
def _label_file(labels, tmp: Path) -> str:
    if isinstance(labels, (list, tuple)):
        p = tmp / "labels.txt"
        p.write_text("".join(f"{x}\n" for x in labels))
        return str(p)
    if not Path(labels).is_file():
        raise MetadataError(f"Label file {labels} does not exist: write one label per line, in output order.")
    return str(labels)


def _set_general(buf: bytes, **fields: str | None) -> bytes:
    """Set name/version/description/author/license of already-written metadata (files kept)."""
    import flatbuffers
    from tflite_support import metadata as md
    from tflite_support import metadata_schema_py_generated as fb

    fields = {k: v for k, v in fields.items() if v is not None}
    if not fields:
        return buf
    disp = md.MetadataDisplayer.with_model_buffer(buf)
    meta = fb.ModelMetadataT.InitFromObj(fb.ModelMetadata.GetRootAsModelMetadata(disp.get_metadata_buffer(), 0))
    for k, v in fields.items():
        setattr(meta, k, v)
    builder = flatbuffers.Builder(0)
    builder.Finish(meta.Pack(builder), md.MetadataPopulator.METADATA_FILE_IDENTIFIER)
    files = {n: disp.get_associated_file_buffer(n) for n in disp.get_packed_associated_file_list()}
    pop = md.MetadataPopulator.with_model_buffer(strip_metadata(buf))
    pop.load_metadata_buffer(builder.Output())
    if files:
        pop.load_associated_file_buffers(files)
    pop.populate()
    return bytes(pop.get_model_buffer())


def _write(kind: str, model, labels, out, norm: Normalization, general: dict) -> Path:
    from tflite_support.metadata_writers import image_classifier, object_detector, writer_utils

    module = {"classifier": image_classifier, "detector": object_detector}[kind]
    buf = bytearray(strip_metadata(model))
    with tempfile.TemporaryDirectory() as tmp:
        files = [] if labels is None else [_label_file(labels, Path(tmp))]
        writer = module.MetadataWriter.create_for_inference(buf, list(norm.mean), list(norm.std), files)
        result = _set_general(bytes(writer.populate()), **general)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    writer_utils.save_file(result, str(out))
    return out


def write_classifier_metadata(model, labels: Sequence[str] | str | Path | None, out: str | Path,
                              norm: Normalization, name: str | None = None, version: str | None = None,
                              description: str | None = None, author: str | None = None,
                              license: str | None = None) -> Path:
    """``image_classifier.MetadataWriter.create_for_inference`` on ``model`` (old metadata dropped).

    Refuses a label list whose length does not match the model's output (the writer itself does not check).
    """
    labels_list = label_list(labels)
    n_out = int(np.prod(interpreter_for(model).get_output_details()[0]["shape"][1:]))
    if labels_list is not None and len(labels_list) != n_out:
        raise MetadataError(f"{len(labels_list)} labels for a model with {n_out} outputs ({model_name(model)}): "
                            "the label file needs exactly one line per output class, in output order.")
    return _write("classifier", model, labels, out, norm, dict(name=name, version=version,
                  description=description, author=author, license=license))


def write_detector_metadata(model, labels: Sequence[str] | str | Path | None, out: str | Path,
                            norm: Normalization, name: str | None = None, version: str | None = None,
                            description: str | None = None, author: str | None = None,
                            license: str | None = None) -> Path:
    """``object_detector.MetadataWriter.create_for_inference``; checks each output got the right name."""
    path = _write("detector", model, labels, out, norm, dict(name=name, version=version,
                  description=description, author=author, license=license))
    problems = detector_output_problems(path)
    if problems:
        path.unlink()
        raise MetadataError(problems[0])
    return path
