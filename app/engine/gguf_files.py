"""Find and check GGUF model files for the llama.cpp engine (pure Python, no llama_cpp).

A llama.cpp vision model is two files: the text model (``*.gguf``) and the
vision encoder + projector (``mmproj*.gguf``). Reading their headers first lets
Iris say one plain sentence for a missing, damaged or text-only model instead
of a C++ abort, and tells the engine how many image tokens a tile costs.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Iterator

from ..errors import ModelLoadError, ModelMissingError

MAGIC = b"GGUF"
#: Value types of the GGUF key/value header (gguf.h).
_SCALARS: dict[int, str] = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9
#: Headers are small; a count beyond this is damage, not data.
_MAX_COUNT = 50_000_000
#: Numeric arrays up to this length are read (an image's mean and std); longer ones are skipped.
_SMALL_ARRAY = 64


@dataclass(frozen=True)
class GgufPair:
    """A text model and its vision projector."""

    model: Path
    mmproj: Path

    @property
    def name(self) -> str:
        return self.model.stem


def is_gguf_request(model: str) -> bool:
    """True when ``--model`` names a .gguf file or a folder holding one (cheap: no reading)."""
    path = Path(model).expanduser()
    if path.suffix.lower() == ".gguf":
        return True
    return path.is_dir() and any(p.suffix.lower() == ".gguf" for p in path.iterdir())


def find_pair(path: Path) -> GgufPair:
    """The text model and mmproj for a .gguf file (mmproj beside it) or a folder holding both."""
    path = Path(path).expanduser()
    if path.is_dir():
        folder, models = path, sorted(p for p in path.glob("*.gguf") if not _is_mmproj(p))
        if not models:
            raise ModelMissingError(f"The folder {path.name} has no GGUF text model file.")
        model = models[0]
    else:
        if not path.is_file():
            raise ModelMissingError(f"There is no model file at {path}.")
        if _is_mmproj(path):
            raise BadMmproj(path)
        folder, model = path.parent, path
    projectors = sorted(p for p in folder.glob("*.gguf") if _is_mmproj(p))
    if not projectors:
        raise ModelMissingError(
            f"The model {model.name} has no vision file beside it: put its mmproj .gguf file in the same folder."
        )
    stem = model.stem.lower()
    projectors.sort(key=lambda p: (stem.split("-")[0] not in p.name.lower(), p.name))
    return GgufPair(model=model, mmproj=projectors[0])


def _is_mmproj(path: Path) -> bool:
    return "mmproj" in path.name.lower()


class BadMmproj(ModelLoadError):
    def __init__(self, path: Path) -> None:
        super().__init__(f"{path.name} is a vision file (mmproj); choose the text model file beside it instead.")


def read_metadata(path: Path, *, keys: tuple[str, ...] | None = None) -> dict[str, Any]:
    """The key/value header of a GGUF file (arrays are skipped), or ModelLoadError if it is not one.

    With ``keys`` reading stops once all of them were seen.
    """
    wanted = set(keys) if keys else None
    found: dict[str, Any] = {}
    try:
        with Path(path).open("rb") as fh:
            _tensors, n_kv = read_counts(fh, path)
            for key, value in read_keys(fh, n_kv):
                if wanted is None or key in wanted:
                    found[key] = value
                    if wanted is not None and wanted <= found.keys():
                        break
    except OSError as exc:
        raise _damaged(path, repr(exc)) from None
    except (struct.error, UnicodeDecodeError, ValueError) as exc:
        raise _damaged(path, f"unreadable header: {exc}") from None
    return found


def read_counts(fh: BinaryIO, path: Path) -> tuple[int, int]:
    """Check the magic and version at the start of a GGUF file; its tensor and key counts."""
    if fh.read(4) != MAGIC:
        raise _damaged(path, "no GGUF magic")
    (version,) = struct.unpack("<I", _read(fh, 4))
    if version < 2:
        raise _damaged(path, f"GGUF version {version} is too old")
    n_tensors, n_kv = struct.unpack("<QQ", _read(fh, 16))
    if n_kv > _MAX_COUNT or n_tensors > _MAX_COUNT:
        raise _damaged(path, f"{n_tensors} tensors, {n_kv} keys")
    return int(n_tensors), int(n_kv)


def read_keys(fh: BinaryIO, count: int) -> Iterator[tuple[str, Any]]:
    """The header's key/value pairs, in order (large arrays as None)."""
    for _ in range(count):
        key = _string(fh)
        (kind,) = struct.unpack("<I", _read(fh, 4))
        yield key, _value(fh, kind)


def _damaged(path: Path, why: str) -> ModelLoadError:
    return ModelLoadError(
        f"The model file {Path(path).name} is damaged or is not a GGUF file; download it again.", detail=f"{path}: {why}"
    )


def _read(fh: BinaryIO, size: int) -> bytes:
    data = fh.read(size)
    if len(data) != size:
        raise ValueError("the file ends inside its header")
    return data


def _string(fh: BinaryIO) -> str:
    (length,) = struct.unpack("<Q", _read(fh, 8))
    if length > _MAX_COUNT:
        raise ValueError(f"a {length}-byte string")
    return _read(fh, length).decode("utf-8")


def _value(fh: BinaryIO, kind: int) -> Any:
    if kind in _SCALARS:
        fmt = _SCALARS[kind]
        return struct.unpack(fmt, _read(fh, struct.calcsize(fmt)))[0]
    if kind == _STRING:
        return _string(fh)
    if kind == _ARRAY:
        item, count = struct.unpack("<IQ", _read(fh, 12))
        if count > _MAX_COUNT:
            raise ValueError(f"an array of {count} items")
        if item in _SCALARS and count <= _SMALL_ARRAY:  # image mean and std, not vocabularies
            fmt = _SCALARS[item]
            return list(struct.unpack("<" + fmt[1:] * count, _read(fh, struct.calcsize(fmt) * count)))
        if item in _SCALARS:
            fh.seek(struct.calcsize(_SCALARS[item]) * count, 1)
        else:
            for _ in range(count):
                _value(fh, item)
        return None  # large arrays (vocabularies, merges) are not needed here
    raise ValueError(f"unknown value type {kind}")


def tokens_per_image(mmproj_meta: dict[str, Any], max_edge: int, split: bool) -> int | None:
    """The image-token budget that makes llama.cpp see what the preset allows, or None for its default.

    Idefics3/SmolVLM: one tile costs (image_size / patch)^2 / scale^2 tokens; without splitting
    one tile, otherwise as many tiles as cover ``max_edge``. Qwen-VL style (dynamic size): a
    pixel budget of ``max_edge`` squared, as the transformers engine uses.
    """
    projector = str(mmproj_meta.get("clip.projector_type") or mmproj_meta.get("clip.vision.projector_type") or "")
    image_size = int(mmproj_meta.get("clip.vision.image_size") or 0)
    patch = int(mmproj_meta.get("clip.vision.patch_size") or 0)
    if not patch:
        return None
    if projector == "idefics3" and image_size:
        scale = int(mmproj_meta.get("clip.vision.projector.scale_factor") or 1)
        per_tile = (image_size // patch) ** 2 // (scale * scale)
        tiles = 1 if not split else max(1, -(-max_edge // image_size)) ** 2
        return per_tile * tiles
    if projector.startswith("qwen"):
        merge = int(mmproj_meta.get("clip.vision.spatial_merge_size") or 2)
        return max(8, (max_edge * max_edge) // ((patch * merge) ** 2))
    return None


MMPROJ_KEYS = (
    "clip.projector_type",
    "clip.vision.projector_type",
    "clip.vision.image_size",
    "clip.vision.patch_size",
    "clip.vision.projector.scale_factor",
    "clip.vision.spatial_merge_size",
    "clip.has_vision_encoder",
)
