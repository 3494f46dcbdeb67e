"""Check a model folder before handing it to transformers (pure Python, no torch).

transformers' own errors for a broken folder are long tracebacks about shard
indices or header sizes. Checking first lets Iris say one plain sentence: the
folder is missing, incomplete (re-download), damaged, or in an unsafe format.
Only safetensors weights are accepted: pickle checkpoints (``.bin``/``.pt``)
can run arbitrary code when loaded.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ModelLoadError, ModelMissingError

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json", "tokenizer_config.json")
PROCESSOR_FILES = ("preprocessor_config.json", "processor_config.json")
INDEX_FILE = "model.safetensors.index.json"
#: safetensors headers are small; anything claiming more is damage, not data.
MAX_HEADER_BYTES = 100 * 1024 * 1024


@dataclass
class ModelFolder:
    """What a valid model folder holds."""

    path: Path
    config: dict[str, Any]
    weights: list[Path] = field(default_factory=list)

    @property
    def model_type(self) -> str:
        return str(self.config.get("model_type") or "")

    @property
    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.weights)


def inspect_model_dir(path: Path) -> ModelFolder:
    """Return the folder's config and weight files, or raise a one-sentence error.

    ModelMissingError: no folder, no config, missing shards or processor files
    (download again). ModelLoadError: damaged files or pickle-only weights.
    """
    path = Path(path)
    name = path.name or str(path)
    if not path.is_dir():
        raise ModelMissingError(f"There is no model folder at {path}.")
    config_path = path / "config.json"
    if not config_path.is_file():
        raise ModelMissingError(
            f"The model folder {name} has no config.json, so it is incomplete; download it again."
        )
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
        if not isinstance(config, dict):
            raise ValueError("config.json is not an object")
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise ModelLoadError(
            f"The configuration file of the model {name} is damaged; download it again.", detail=repr(exc)
        ) from None

    weights = _weight_files(path, name)
    for weight in weights:
        check_safetensors(weight, model_name=name)
    if not any((path / f).is_file() for f in TOKENIZER_FILES):
        raise ModelMissingError(f"The model folder {name} has no tokenizer files, so it is incomplete; download it again.")
    if not any((path / f).is_file() for f in PROCESSOR_FILES):
        raise ModelMissingError(
            f"The model folder {name} has no image processor settings, so it is incomplete; download it again."
        )
    return ModelFolder(path=path, config=config, weights=weights)


def _weight_files(path: Path, name: str) -> list[Path]:
    index_path = path / INDEX_FILE
    if index_path.is_file():
        try:
            index = json.loads(index_path.read_text(encoding="utf-8"))
            shards = sorted(set(index["weight_map"].values()))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ModelLoadError(
                f"The weight index of the model {name} is damaged; download it again.", detail=repr(exc)
            ) from None
        missing = [s for s in shards if not (path / s).is_file()]
        if missing:
            raise ModelMissingError(
                f"The model {name} is incomplete: {len(missing)} of {len(shards)} weight files are missing; "
                "download it again.",
                detail=f"missing: {missing}",
            )
        return [path / s for s in shards]
    weights = sorted(path.glob("*.safetensors"))
    if weights:
        return weights
    pickles = [p.name for p in path.iterdir() if p.suffix.lower() in PICKLE_SUFFIXES]
    if pickles:
        raise ModelLoadError(
            f"The model {name} only has pickle weight files such as {pickles[0]}, which can run hidden code "
            "when opened, so Iris will not load them; use a copy of the model in safetensors format.",
            detail=f"pickle files: {pickles}",
        )
    raise ModelMissingError(f"The model folder {name} has no weight files, so it is incomplete; download it again.")


def check_safetensors(path: Path, *, model_name: str | None = None) -> None:
    """Raise ModelLoadError unless ``path`` has a readable header whose tensors fit the file.

    Reads only the header (a few KB), so a truncated or overwritten multi-GB
    shard is caught in milliseconds, before transformers maps it.
    """
    name = model_name or path.parent.name

    def damaged(why: str) -> ModelLoadError:
        return ModelLoadError(
            f"The weight file {path.name} of the model {name} is damaged; download the model again.",
            detail=f"{path}: {why}",
        )

    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(8)
            if len(head) < 8:
                raise damaged("shorter than the 8-byte header length")
            (header_len,) = struct.unpack("<Q", head)
            if header_len <= 0 or header_len > MAX_HEADER_BYTES or 8 + header_len > size:
                raise damaged(f"header length {header_len} does not fit a {size}-byte file")
            header = json.loads(fh.read(header_len).decode("utf-8"))
    except OSError as exc:
        raise damaged(repr(exc)) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise damaged(f"unreadable header: {exc}") from None
    if not isinstance(header, dict):
        raise damaged("header is not an object")
    data_len = size - 8 - header_len
    end = 0
    for key, info in header.items():
        if key == "__metadata__":
            continue
        try:
            start, stop = info["data_offsets"]
        except (KeyError, TypeError, ValueError):
            raise damaged(f"tensor {key} has no offsets") from None
        if not (0 <= start <= stop <= data_len):
            raise damaged(f"tensor {key} lies outside the file")
        end = max(end, stop)
    if end != data_len:
        raise damaged(f"data is {data_len} bytes but tensors need {end}")
