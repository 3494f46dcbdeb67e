"""The supported models, read from ``models/catalogue.json``.

The catalogue names the models Iris knows how to download and recommend: one
default for a graphics card and one for a processor, transformers folders and
GGUF pairs for the llama.cpp engine, and the order in which ``auto`` prefers
the installed ones (:func:`auto_choice`). Reading it is cheap (no torch) so the
CLI can list models instantly.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable

from . import paths
from .errors import BadInputError, InternalError, ModelMissingError

DEVICES = ("cuda", "cpu")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")


@dataclass(frozen=True)
class ModelEntry:
    name: str
    hub_id: str
    revision: str
    licence: str
    size_mb: int
    min_vram_gb: float
    prompt_style: str
    default_for: str | None
    description: str
    #: "transformers" (a safetensors folder) or "gguf" (text model + mmproj, for llama.cpp).
    format: str = "transformers"
    #: For GGUF entries: exactly the files to fetch, text model first, then the mmproj.
    files: tuple[str, ...] = field(default=())
    quantization: str = ""
    #: Memory needed while answering, in MB; auto skips models that would not fit.
    ram_mb: int = 0

    @property
    def engine(self) -> str:
        return "llama.cpp" if self.format == "gguf" else "transformers"


REQUIRED = ("name", "hub_id", "revision", "licence", "size_mb", "min_vram_gb", "prompt_style", "default_for", "description")
FIELDS = tuple(f.name for f in fields(ModelEntry))
FORMATS = ("transformers", "gguf")


def _entry(raw: object, where: Path) -> ModelEntry:
    if not isinstance(raw, dict):
        raise ValueError("an entry is not an object")
    missing = [name for name in REQUIRED if name not in raw]
    if missing:
        raise ValueError(f"entry {raw.get('name', '?')!r} lacks {', '.join(missing)}")
    values = {name: raw[name] for name in FIELDS if name in raw}
    values["files"] = tuple(values.get("files") or ())
    entry = ModelEntry(**values)
    if entry.format not in FORMATS:
        raise ValueError(f"{entry.name}: format must be transformers or gguf")
    if entry.format == "gguf" and (len(entry.files) != 2 or not all(f.endswith(".gguf") for f in entry.files)
                                   or "mmproj" not in entry.files[1].lower()):
        raise ValueError(f"{entry.name}: a gguf entry lists its text model and then its mmproj file")
    if not entry.name or not re.fullmatch(r"[a-z0-9][a-z0-9._-]*", entry.name):
        raise ValueError(f"bad model name {entry.name!r}")
    if "/" not in entry.hub_id:
        raise ValueError(f"{entry.name}: hub_id must be owner/name")
    if not _COMMIT.match(entry.revision):
        raise ValueError(f"{entry.name}: revision must be a 40-character commit hash")
    if entry.default_for not in (None, *DEVICES):
        raise ValueError(f"{entry.name}: default_for must be cuda, cpu or null")
    return entry


def load_catalogue(path: Path | None = None) -> list[ModelEntry]:
    """All entries, validated; a broken catalogue is an internal error (it ships with Iris)."""
    path = path or paths.catalogue_path()
    if not path.is_file():
        # Not damaged: absent (a broken install). Exit code 3, like any missing model.
        raise ModelMissingError("The list of supported models that came with Iris is missing. Reinstall Iris.",
                                detail=str(path))
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        entries = [_entry(raw, path) for raw in data["models"]]
        names = [e.name for e in entries]
        if len(set(names)) != len(names):
            raise ValueError("duplicate model names")
        for device in DEVICES:
            if sum(e.default_for == device for e in entries) != 1:
                raise ValueError(f"there must be exactly one default for {device}")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InternalError("The list of supported models that came with Iris is damaged.", detail=f"{path}: {exc}") from None
    return entries


def auto_order(device: str, path: Path | None = None) -> list[str]:
    """Model names in the order ``auto`` prefers them on ``device`` (the catalogue's "auto" lists)."""
    device = "cuda" if device.startswith("cuda") else "cpu"
    path = path or paths.catalogue_path()
    try:
        order = json.loads(path.read_text(encoding="utf-8")).get("auto", {}).get(device, [])
    except (OSError, ValueError, AttributeError):
        order = []
    names = [e.name for e in load_catalogue(path)]
    return [n for n in order if n in names] + [n for n in names if n not in order]


@dataclass(frozen=True)
class AutoChoice:
    entry: ModelEntry | None
    reason: str


def auto_choice(
    device: str,
    installed: Callable[[ModelEntry], Any],
    *,
    llama_available: bool,
    free_mb: int | None,
    path: Path | None = None,
) -> AutoChoice:
    """What ``auto`` uses on ``device``: the first installed model, in the catalogue's order, that
    this computer can run (its engine is installed and it fits in the free memory), and why.

    The CPU order comes from measurement (benchmarks/README.md): a 2B-class model through
    llama.cpp at 4 bits decodes faster than speech, through transformers it does not.
    """
    device = "cuda" if device.startswith("cuda") else "cpu"
    skipped: list[str] = []
    for name in auto_order(device, path):
        entry = find_entry(name, path)
        if entry is None or not installed(entry):
            continue
        if entry.format == "gguf" and not llama_available:
            skipped.append(f"{entry.name} needs the llama.cpp engine")
            continue
        if device == "cpu" and free_mb is not None and entry.ram_mb and entry.ram_mb > free_mb:
            skipped.append(f"{entry.name} needs {entry.ram_mb} MB but {free_mb} MB are free")
            continue
        why = f"the first installed model in the {'graphics card' if device == 'cuda' else 'processor'} order"
        why += f" ({entry.engine})"
        if skipped:
            why += "; skipped: " + "; ".join(skipped)
        return AutoChoice(entry, why)
    default = default_entry(device, path)
    why = "no usable model is installed" + ("; skipped: " + "; ".join(skipped) if skipped else "")
    return AutoChoice(None, f"{why}; download one with: iris models download {default.name}")


def free_memory_mb() -> int | None:
    """Available memory in MB (Linux /proc/meminfo, else sysconf), or None when unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    import os

    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2**20)
    except (ValueError, OSError, AttributeError):
        return None


def find_entry(name: str, path: Path | None = None) -> ModelEntry | None:
    """The entry called ``name`` (or whose hub id is ``name``), case-insensitively."""
    wanted = name.strip().lower()
    for entry in load_catalogue(path):
        if entry.name == wanted or entry.hub_id.lower() == wanted:
            return entry
    return None


def require_entry(name: str, path: Path | None = None) -> ModelEntry:
    entry = find_entry(name, path)
    if entry is None:
        known = ", ".join(e.name for e in load_catalogue(path))
        raise BadInputError(f"There is no model called {name!r} in the catalogue; choose one of {known}.")
    return entry


def default_entry(device: str, path: Path | None = None) -> ModelEntry:
    """The recommended model for ``device`` ("cuda" or "cpu")."""
    device = "cuda" if device.startswith("cuda") else "cpu"
    for entry in load_catalogue(path):
        if entry.default_for == device:
            return entry
    raise InternalError("The list of supported models has no default model.")  # pragma: no cover - validated
