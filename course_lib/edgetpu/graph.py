"""Read a ``.tflite`` flatbuffer with TensorFlow's own schema: ops, tensors, constants, producers.

No interpreter and no compiler are needed (``tensorflow.lite.tools.flatbuffer_utils``).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..exceptions import ModelError

__all__ = ["TensorInfo", "TFLiteGraph", "EDGETPU_CUSTOM_OP"]

EDGETPU_CUSTOM_OP = "edgetpu-custom-op"


@dataclass(frozen=True)
class TensorInfo:
    """One tensor: name, type, stored shape, shape signature (-1 where dynamic), quantization."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    signature: tuple[int, ...]
    scale: float | None
    zero_point: int | None
    constant: bool
    nbytes: int

    @property
    def dynamic(self) -> bool:
        return any(d < 0 for d in self.signature)

    @property
    def elements(self) -> int:
        return int(np.prod(self.shape)) if self.shape else 1


def _enum_names(enum_cls) -> dict[int, str]:
    return {v: k for k, v in vars(enum_cls).items() if not k.startswith("_") and isinstance(v, int)}


class TFLiteGraph:
    """The parts of a ``.tflite`` the Edge TPU rules need: its first subgraph, ops, tensors, buffers."""

    def __init__(self, model: str | Path | bytes):
        from tensorflow.lite.python import schema_py_generated as schema
        from tensorflow.lite.tools import flatbuffer_utils

        if isinstance(model, (str, Path)):
            path = Path(model)
            if not path.is_file():
                raise ModelError(f"{path}: no such model file; convert one with tf.lite.TFLiteConverter first.")
            self.name, data = path.name, path.read_bytes()
        else:
            self.name, data = "model.tflite", bytes(model)
        if len(data) < 8 or data[4:8] != b"TFL3":
            raise ModelError(f"{self.name}: not a TFLite flatbuffer (no TFL3 identifier); pass a .tflite file.")
        self.size = len(data)
        self.schema = schema
        self.m = flatbuffer_utils.convert_bytearray_to_object(bytearray(data))
        self.op_names = _enum_names(schema.BuiltinOperator)
        self.type_names = _enum_names(schema.TensorType)
        if not self.m.subgraphs:
            raise ModelError(f"{self.name}: the model has no subgraph.")
        self.sg = self.m.subgraphs[0]
        self.ops = list(self.sg.operators or [])
        self._tensors: dict[int, TensorInfo] = {}
        self.producer: dict[int, int] = {i: k for k, op in enumerate(self.ops) for i in op.outputs if i >= 0}

    def opname(self, op) -> tuple[str, int, str]:
        """``(builtin name, version, custom code)`` of an operator."""
        code = self.m.operatorCodes[op.opcodeIndex]
        builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
        custom = code.customCode.decode() if isinstance(code.customCode, bytes) else (code.customCode or "")
        return self.op_names.get(builtin, str(builtin)), code.version, custom

    def buffer(self, t) -> np.ndarray | None:
        data = self.m.buffers[t.buffer].data if 0 <= t.buffer < len(self.m.buffers) else None
        return None if data is None or len(data) == 0 else np.asarray(data, dtype=np.uint8)

    def tensor(self, i: int) -> TensorInfo:
        if i not in self._tensors:
            t = self.sg.tensors[i]
            shape = tuple(int(d) for d in (t.shape if t.shape is not None else ()))
            sig = tuple(int(d) for d in t.shapeSignature) if t.shapeSignature is not None else shape
            q = t.quantization
            scale = float(q.scale[0]) if q is not None and q.scale is not None and len(q.scale) else None
            zp = int(q.zeroPoint[0]) if q is not None and q.zeroPoint is not None and len(q.zeroPoint) else None
            buf = self.buffer(t)
            name = t.name.decode() if isinstance(t.name, bytes) else str(t.name)
            self._tensors[i] = TensorInfo(name, self.type_names.get(t.type, str(t.type)), shape, sig, scale, zp,
                                          buf is not None, 0 if buf is None else int(buf.size))
        return self._tensors[i]

    def const_ints(self, i: int) -> np.ndarray | None:
        """The values of a constant INT32/INT64 tensor (axes, paddings, strides), or None."""
        t = self.sg.tensors[i]
        buf = self.buffer(t)
        kind = self.type_names.get(t.type)
        if buf is None or kind not in ("INT32", "INT64"):
            return None
        return buf.view(np.int32 if kind == "INT32" else np.int64)

    def const_any(self, i: int) -> bool:
        """True if the constant tensor ``i`` holds any non-zero byte."""
        buf = self.buffer(self.sg.tensors[i])
        return buf is not None and bool(np.any(buf))

    def inputs(self, k: int) -> list[int]:
        return [i for i in self.ops[k].inputs if i >= 0]

    def outputs(self, k: int) -> list[int]:
        return [i for i in self.ops[k].outputs if i >= 0]

    def producers(self, k: int) -> list[int]:
        """The ops whose outputs op ``k`` reads (constants and graph inputs have none)."""
        return sorted({self.producer[i] for i in self.inputs(k) if i in self.producer})

    @property
    def graph_inputs(self) -> set[int]:
        return set(int(i) for i in self.sg.inputs)

    @property
    def graph_outputs(self) -> set[int]:
        return set(int(i) for i in self.sg.outputs)
