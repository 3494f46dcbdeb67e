"""Read the tensors of a GGUF file into numpy arrays (pure Python + numpy, no llama_cpp).

Why: the hybrid vision path (:mod:`app.engine.torch_vision`) runs an mmproj's
vision encoder in torch, from the same file llama.cpp would use, so a GGUF
model stays two files. Only the types vision files are published in are read:
F32, F16, BF16 and Q8_0 (dequantized); anything else is a clear error.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from .gguf_files import _damaged, _read, _string, read_counts, read_keys

#: ggml type ids (ggml.h) this reader understands.
F32, F16, Q8_0, BF16 = 0, 1, 8, 30
_Q8_0_BLOCK = 32  # values per Q8_0 block: one f16 scale + 32 int8
_DEFAULT_ALIGNMENT = 32


@dataclass(frozen=True)
class TensorInfo:
    name: str
    #: numpy order (slowest dimension first): GGUF lists ``ne`` fastest first, so this is it reversed.
    shape: tuple[int, ...]
    ggml_type: int
    offset: int  # from the start of the file

    @property
    def count(self) -> int:
        total = 1
        for size in self.shape:
            total *= size
        return total


def read_tensor_table(path: Path) -> tuple[dict[str, Any], dict[str, TensorInfo]]:
    """The key/value header (small arrays included) and every tensor's place in the file."""
    meta: dict[str, Any] = {}
    infos: list[tuple[str, tuple[int, ...], int, int]] = []
    try:
        with Path(path).open("rb") as fh:
            n_tensors, n_kv = read_counts(fh, path)
            meta.update(read_keys(fh, n_kv))
            for _ in range(n_tensors):
                infos.append(_tensor_info(fh))
            alignment = int(meta.get("general.alignment") or _DEFAULT_ALIGNMENT)
            start = -(-fh.tell() // alignment) * alignment
    except OSError as exc:
        raise _damaged(path, repr(exc)) from None
    except (struct.error, UnicodeDecodeError, ValueError) as exc:
        raise _damaged(path, f"unreadable tensor table: {exc}") from None
    table = {name: TensorInfo(name, shape, kind, start + offset) for name, shape, kind, offset in infos}
    return meta, table


def _tensor_info(fh: BinaryIO) -> tuple[str, tuple[int, ...], int, int]:
    name = _string(fh)
    (n_dims,) = struct.unpack("<I", _read(fh, 4))
    if n_dims > 8:
        raise ValueError(f"a tensor with {n_dims} dimensions")
    ne = struct.unpack(f"<{n_dims}Q", _read(fh, 8 * n_dims))
    kind, offset = struct.unpack("<IQ", _read(fh, 12))
    return name, tuple(reversed(ne)), kind, offset


def load_tensor(path: Path, info: TensorInfo) -> Any:
    """One tensor as a numpy array: float32 (F32, F16, Q8_0) or raw bfloat16 bits as int16 (BF16)."""
    import numpy as np

    if info.ggml_type == F32:
        data = np.fromfile(path, dtype="<f4", count=info.count, offset=info.offset)
    elif info.ggml_type == F16:
        data = np.fromfile(path, dtype="<f2", count=info.count, offset=info.offset).astype(np.float32)
    elif info.ggml_type == BF16:
        data = np.fromfile(path, dtype="<i2", count=info.count, offset=info.offset)
    elif info.ggml_type == Q8_0:
        if info.shape[-1] % _Q8_0_BLOCK:
            raise ValueError(f"{info.name}: rows of {info.shape[-1]} are not whole Q8_0 blocks")
        blocks = info.count // _Q8_0_BLOCK
        raw = np.fromfile(path, dtype=np.uint8, count=blocks * (2 + _Q8_0_BLOCK), offset=info.offset)
        raw = raw.reshape(blocks, 2 + _Q8_0_BLOCK)
        scale = raw[:, :2].copy().view("<f2").astype(np.float32)
        data = raw[:, 2:].copy().view(np.int8).astype(np.float32) * scale
    else:
        raise ValueError(f"{info.name}: ggml type {info.ggml_type} is not read by Iris")
    if data.size != info.count:
        raise ValueError(f"{info.name}: the file ends inside the tensor")
    return data.reshape(info.shape)
