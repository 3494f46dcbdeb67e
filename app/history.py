"""History of earlier descriptions and their images, kept only if the user wants it.

Privacy first: nothing touches the disk while history is off; when it is on, the
folder is owner-only (0o700), every file is owner-only (0o600), the JSON index
is written atomically (the old one survives a crash or a full disk), and
``clear()`` removes every image. A corrupt index is set aside and replaced;
failures are reported in one sentence through ``on_message``, never raised.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import secrets
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from PIL import Image

from . import paths
from .atomic import write_bytes_atomic, write_text_atomic

log = logging.getLogger(__name__)

INDEX_NAME = "index.json"
INDEX_VERSION = 1
DIR_MODE = 0o700
FILE_MODE = 0o600
_SENTENCE_END = re.compile(r"(?<=[.!?])\s")
_ID_OK = re.compile(r"^[0-9A-Za-z_-]{1,64}$")


@dataclass(frozen=True)
class Entry:
    """One remembered answer; ``image`` is the PNG's file name inside the history folder."""

    id: str
    time: float  # seconds since the epoch
    source: str
    text: str
    question: str | None = None
    image: str | None = None

    @property
    def first_sentence(self) -> str:
        """A short summary for lists: the answer's first sentence, at most 160 characters."""
        text = " ".join(self.text.split())
        first = _SENTENCE_END.split(text, maxsplit=1)[0] if text else ""
        return first if len(first) <= 160 else first[:159].rstrip() + "…"

    @classmethod
    def from_json(cls, raw: object) -> "Entry":
        if not isinstance(raw, dict):
            raise ValueError("entry is not an object")
        entry = cls(
            id=str(raw["id"]),
            time=float(raw["time"]),
            source=str(raw.get("source", "")),
            text=str(raw.get("text", "")),
            question=None if raw.get("question") is None else str(raw["question"]),
            image=None if raw.get("image") is None else str(raw["image"]),
        )
        # Never follow a path out of the history folder, whatever the index says.
        if not _ID_OK.match(entry.id) or (entry.image is not None and entry.image != f"{entry.id}.png"):
            raise ValueError("entry has an unsafe id or image name")
        return entry


class History:
    """Newest-first list of entries stored under :func:`app.paths.history_dir`."""

    def __init__(
        self,
        directory: Path | None = None,
        *,
        enabled: bool,
        limit: int,
        on_message: Callable[[str], None] | None = None,
    ) -> None:
        self.directory = Path(directory) if directory is not None else paths.history_dir()
        self.enabled = bool(enabled)
        self.limit = max(1, int(limit))
        self.on_message = on_message
        self._lock = threading.RLock()
        self._entries: list[Entry] | None = None  # oldest first; loaded lazily

    # -- settings ---------------------------------------------------------
    def set_enabled(self, enabled: bool) -> None:
        """Turning history off stops recording; what is stored stays until cleared."""
        self.enabled = bool(enabled)

    def set_limit(self, limit: int) -> None:
        with self._lock:
            self.limit = max(1, int(limit))
            entries = self._load()
            if len(entries) > self.limit:
                self._trim(entries)
                self._write_index(entries)

    # -- reading ----------------------------------------------------------
    @property
    def index_path(self) -> Path:
        return self.directory / INDEX_NAME

    def entries(self) -> list[Entry]:
        """Every stored entry, newest first."""
        with self._lock:
            return list(reversed(self._load()))

    def image_path(self, entry: Entry) -> Path | None:
        """The entry's PNG, or None when it has none or it was removed."""
        if entry.image is None:
            return None
        path = self.directory / entry.image
        return path if path.is_file() else None

    def load_image(self, entry: Entry) -> Image.Image | None:
        path = self.image_path(entry)
        if path is None:
            return None
        try:
            with Image.open(path) as image:
                rgb: Image.Image = image.convert("RGB")
                return rgb
        except (OSError, ValueError):
            return None

    # -- writing ----------------------------------------------------------
    def add(
        self, image: Image.Image | None, text: str, *, source: str, question: str | None = None
    ) -> Entry | None:
        """Remember one answer (and its image). Does nothing while history is off."""
        if not self.enabled:
            return None
        with self._lock:
            entries = self._load()
            entry_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(4)}"
            image_name = f"{entry_id}.png" if image is not None else None
            entry = Entry(entry_id, time.time(), source, text, question, image_name)
            try:
                self._ensure_dir()
                if image is not None and image_name is not None:
                    buffer = io.BytesIO()
                    image.save(buffer, format="PNG")
                    write_bytes_atomic(self.directory / image_name, buffer.getvalue(), mode=FILE_MODE)
                entries.append(entry)
                removed = self._trim(entries)
                try:
                    self._write_index(entries, raise_errors=True)
                except OSError:
                    entries.remove(entry)
                    entries[:0] = removed  # keep the in-memory list as it is on disk
                    raise
            except OSError as exc:
                if image_name is not None:
                    _unlink(self.directory / image_name)
                self._say(
                    f"Iris could not save this answer to the history: {_reason(exc)}. "
                    "The answer itself is not affected."
                )
                return None
            return entry

    def clear(self) -> bool:
        """Delete every entry and image; returns False (and reports) if something stayed."""
        with self._lock:
            self._entries = []
            if not self.directory.exists():
                return True
            failed = False
            for path in self.directory.iterdir():
                if path.name == INDEX_NAME or path.suffix == ".png" or path.name.endswith(".tmp") \
                        or path.name.startswith(f"{INDEX_NAME}.corrupt"):
                    try:
                        path.unlink()
                    except FileNotFoundError:
                        pass
                    except OSError:
                        failed = True
            if failed:
                self._say("Iris could not delete every history file; check the permissions of the history folder.")
            return not failed

    # -- internals --------------------------------------------------------
    def _say(self, text: str) -> None:
        log.warning("history: %s", text)
        if self.on_message is not None:
            try:
                self.on_message(text)
            except Exception:  # a broken display must not break history
                log.exception("history message sink failed")

    def _ensure_dir(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
        if os.name == "posix" and (self.directory.stat().st_mode & 0o777) != DIR_MODE:
            os.chmod(self.directory, DIR_MODE)

    def _load(self) -> list[Entry]:
        if self._entries is not None:
            return self._entries
        self._entries = []
        path = self.index_path
        try:
            raw_text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return self._entries
        except OSError as exc:
            self._say(f"Iris could not read the history: {_reason(exc)}.")
            return self._entries
        try:
            raw = json.loads(raw_text)
            if not isinstance(raw, dict) or not isinstance(raw.get("entries"), list):
                raise ValueError("not a history index")
            self._entries = [Entry.from_json(item) for item in raw["entries"]]
            self._entries.sort(key=lambda e: e.time)
        except (ValueError, KeyError, TypeError):
            self._entries = []
            backup = self._backup_corrupt()
            where = f" A copy was kept as {backup.name}." if backup else ""
            self._say(f"The history file could not be read, so Iris started a new history.{where}")
            self._write_index(self._entries)
        return self._entries

    def _backup_corrupt(self) -> Path | None:
        for n in range(1, 100):
            backup = self.index_path.with_name(f"{INDEX_NAME}.corrupt-{n}")
            if not backup.exists():
                try:
                    self.index_path.replace(backup)
                    if os.name == "posix":
                        os.chmod(backup, FILE_MODE)
                    return backup
                except OSError:
                    return None
        return None

    def _trim(self, entries: list[Entry]) -> list[Entry]:
        """Drop the oldest entries beyond the limit; returns them (images deleted later)."""
        excess = len(entries) - self.limit
        if excess <= 0:
            return []
        removed = entries[:excess]
        del entries[:excess]
        return removed

    def _write_index(self, entries: list[Entry], *, raise_errors: bool = False) -> None:
        payload = {"version": INDEX_VERSION, "entries": [asdict(e) for e in entries]}
        try:
            self._ensure_dir()
            write_text_atomic(
                self.index_path, json.dumps(payload, ensure_ascii=False, indent=1) + "\n", mode=FILE_MODE
            )
        except OSError as exc:
            if raise_errors:
                raise
            self._say(f"Iris could not update the history: {_reason(exc)}.")
            return
        # Images of trimmed entries are removed only once the index no longer names them.
        self._remove_orphans(entries)

    def _remove_orphans(self, entries: list[Entry]) -> None:
        """Images no entry refers to (left by a crash or a trim) are private data: remove them."""
        keep = {e.image for e in entries if e.image}
        try:
            names = [p for p in self.directory.iterdir() if p.suffix == ".png" and p.name not in keep]
        except OSError:
            return
        for path in names:
            _unlink(path)


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.warning("could not delete %s: %s", path.name, exc)


def _reason(exc: OSError) -> str:
    """A short human reason for a file error (no path: it may be long and is in the log)."""
    import errno

    if exc.errno == errno.ENOSPC:
        return "the disk is full"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "the folder cannot be written to"
    return (exc.strerror or str(exc)).rstrip(".").lower()
