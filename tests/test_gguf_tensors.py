"""Reading GGUF tensors (F32, F16, BF16, Q8_0) for the torch vision encoder, on GGUF files written here."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from app.engine.gguf_files import read_metadata
from app.engine.gguf_tensors import BF16, F16, F32, Q8_0, load_tensor, read_tensor_table
from app.errors import ModelLoadError


def _string(text: str) -> bytes:
    data = text.encode()
    return struct.pack("<Q", len(data)) + data


def write_gguf(path: Path, tensors: list[tuple[str, tuple[int, ...], int, bytes]], alignment: int = 32) -> None:
    """A GGUF v3 file: a few keys (a string, a float array) and the given tensors (numpy-order shapes)."""
    kv = _string("general.architecture") + struct.pack("<I", 8) + _string("clip")
    kv += _string("clip.vision.image_mean") + struct.pack("<IIQ", 9, 6, 3) + struct.pack("<3f", 0.25, 0.5, 0.75)
    kv += _string("general.alignment") + struct.pack("<II", 4, alignment)
    header = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), 3) + kv
    infos, blobs, offset = b"", b"", 0
    for name, shape, kind, blob in tensors:
        ne = tuple(reversed(shape))
        infos += _string(name) + struct.pack("<I", len(ne)) + struct.pack(f"<{len(ne)}Q", *ne)
        infos += struct.pack("<IQ", kind, offset)
        padded = blob + b"\0" * (-len(blob) % alignment)
        blobs += padded
        offset += len(padded)
    head = header + infos
    path.write_bytes(head + b"\0" * (-len(head) % alignment) + blobs)


def q8_0_blocks(values: np.ndarray) -> tuple[bytes, np.ndarray]:
    """Quantize to Q8_0 as ggml does (per 32 values: f16 scale, int8 quants); returns the bytes and their value."""
    blocks = values.reshape(-1, 32).astype(np.float32)
    scale = (np.abs(blocks).max(axis=1) / 127.0).astype(np.float16)
    quants = np.round(blocks / np.where(scale == 0, 1, scale.astype(np.float32))[:, None]).astype(np.int8)
    raw = b"".join(s.tobytes() + q.tobytes() for s, q in zip(scale, quants))
    return raw, (quants.astype(np.float32) * scale.astype(np.float32)[:, None]).reshape(values.shape)


def test_each_type_reads_back_as_written(tmp_path):
    rng = np.random.default_rng(3)
    f32 = rng.standard_normal((3, 5)).astype(np.float32)
    f16 = rng.standard_normal((4, 2, 3)).astype(np.float16)
    bf16_values = rng.standard_normal((2, 8)).astype(np.float32)
    bf16_bits = (bf16_values.view(np.uint32) >> 16).astype(np.uint16)
    q8 = rng.standard_normal((2, 64)).astype(np.float32)
    q8_raw, q8_expected = q8_0_blocks(q8)
    path = tmp_path / "t.gguf"
    write_gguf(path, [
        ("a", f32.shape, F32, f32.tobytes()),
        ("b", f16.shape, F16, f16.tobytes()),
        ("c", bf16_values.shape, BF16, bf16_bits.tobytes()),
        ("d", q8.shape, Q8_0, q8_raw),
    ])
    meta, table = read_tensor_table(path)
    assert meta["general.architecture"] == "clip"
    assert meta["clip.vision.image_mean"] == [0.25, 0.5, 0.75]
    assert {name: info.shape for name, info in table.items()} == {"a": (3, 5), "b": (4, 2, 3), "c": (2, 8), "d": (2, 64)}
    np.testing.assert_array_equal(load_tensor(path, table["a"]), f32)
    np.testing.assert_array_equal(load_tensor(path, table["b"]), f16.astype(np.float32))
    bits = load_tensor(path, table["c"])
    restored = (bits.astype(np.uint16).astype(np.uint32) << 16).view(np.float32)
    np.testing.assert_allclose(restored, bf16_values, rtol=1e-2)
    np.testing.assert_allclose(load_tensor(path, table["d"]), q8_expected, rtol=1e-6)
    assert np.abs(load_tensor(path, table["d"]) - q8).max() < 0.05  # and close to the original


def test_small_arrays_reach_the_metadata_reader(tmp_path):
    path = tmp_path / "t.gguf"
    write_gguf(path, [("a", (2,), F32, np.ones(2, np.float32).tobytes())])
    assert read_metadata(path, keys=("clip.vision.image_mean",))["clip.vision.image_mean"] == [0.25, 0.5, 0.75]


def test_a_cut_file_or_an_unknown_type_is_an_error_not_garbage(tmp_path):
    values = np.arange(64, dtype=np.float32)
    path = tmp_path / "t.gguf"
    write_gguf(path, [("a", values.shape, F32, values.tobytes()), ("q", (32,), 12, b"\0" * 144)])
    meta, table = read_tensor_table(path)
    with pytest.raises(ValueError):
        load_tensor(path, table["q"])  # Q4_K: not a vision-file type Iris reads
    path.write_bytes(path.read_bytes()[: table["a"].offset + 100])
    with pytest.raises(ValueError):
        load_tensor(path, table["a"])
    (tmp_path / "bad.gguf").write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 1, 0) + b"\x05")
    with pytest.raises(ModelLoadError):
        read_tensor_table(tmp_path / "bad.gguf")
