"""The supported models, read from ``models/catalogue.json``.

The catalogue names the models Iris knows how to download and recommend: one
default for a graphics card and one for a processor. Reading it is cheap (no
torch) so the CLI can list models instantly.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, fields
from pathlib import Path

from . import paths
from .errors import BadInputError, InternalError

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


FIELDS = tuple(f.name for f in fields(ModelEntry))


def _entry(raw: object, where: Path) -> ModelEntry:
    if not isinstance(raw, dict):
        raise ValueError("an entry is not an object")
    missing = [name for name in FIELDS if name not in raw]
    if missing:
        raise ValueError(f"entry {raw.get('name', '?')!r} lacks {', '.join(missing)}")
    entry = ModelEntry(**{name: raw[name] for name in FIELDS})
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
