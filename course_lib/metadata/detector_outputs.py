"""The four outputs of a detector (boxes, classes, scores, count): which is which, and what is wrong."""
from __future__ import annotations

import numpy as np

from .common import interpreter_for, model_name, output_array
from .reading import metadata_json, strip_metadata


_ROLE_NAMES = {"boxes": "location", "classes": "category", "scores": "score", "count": "number of detections"}


def detector_roles(model) -> list[str]:
    """The role of each output (boxes, classes, scores, count) from its shape and values on a grey image."""
    it = interpreter_for(strip_metadata(model))
    outs = it.get_output_details()
    d = it.get_input_details()[0]
    it.set_tensor(d["index"], np.full(d["shape"], 128 if d["dtype"] == np.uint8 else 0, dtype=d["dtype"]))
    it.invoke()
    roles = []
    for o in outs:
        shape, v = tuple(o["shape"]), output_array(it, o)
        if len(shape) == 3 and shape[-1] == 4:
            roles.append("boxes")
        elif len(shape) == 1:
            roles.append("count")
        else:
            roles.append("classes" if np.all(np.mod(v, 1) == 0) else "scores")
    if sorted(roles) != ["boxes", "classes", "count", "scores"]:        # ambiguous: assume the op's port order
        return ["boxes", "classes", "scores", "count"][:len(outs)]
    return roles


def detector_output_problems(model) -> list[str]:
    it = interpreter_for(model)
    shapes = [[int(x) for x in d["shape"]] for d in it.get_output_details()]
    if len(shapes) != 4:
        return [f"{model_name(model)} has {len(shapes)} outputs {shapes}; a Task Library detector needs 4: boxes "
                "[1, N, 4], classes [1, N], scores [1, N], count [1] (export with TFLite_Detection_PostProcess)."]
    meta = metadata_json(model)
    if meta is None:
        return []
    roles = detector_roles(model)
    names = [m.get("name", "") for m in (meta.get("subgraph_metadata") or [{}])[0].get("output_tensor_metadata", [])]
    wrong = [f"output {i} holds {r} {s} but its metadata calls it {n!r}"
             for i, (r, s, n) in enumerate(zip(roles, shapes, names)) if _ROLE_NAMES[r] != n]
    if not wrong:
        return []
    return [f"{model_name(model)}: the detector's outputs are not in the order its metadata describes: "
            + "; ".join(wrong) + ". The Task Library finds boxes, classes and scores by these metadata names, "
            "so it would read the wrong tensors. Rewrite the metadata with "
            "object_detector.MetadataWriter.create_for_inference on the model as exported (it matches "
            "outputs to the post-processing op's ports), or re-export so the outputs come straight from "
            "TFLite_Detection_PostProcess."]
