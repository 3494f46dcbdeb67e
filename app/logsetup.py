"""Where Iris's log records go: a small memory ring always, a rotating file when the user asks.

Nothing reaches standard error unless ``--debug``/``IRIS_DEBUG`` is set: a
screen reader would read every line aloud. Instead the root logger gets a ring
of recent records (for "Copy diagnostic information" and crash reports) and,
with the setting ``log_to_file``, a rotating file in the user's log folder.
Python warnings are routed through logging too (``captureWarnings``), so they
land in the same places instead of on stderr. Iris's own modules never log
answer text, questions, screen text or image data; third-party libraries are
recorded from WARNING up only, so their debug chatter cannot leak any either.
"""

from __future__ import annotations

import collections
import logging
import logging.handlers
import os
import sys
import threading
from pathlib import Path

from . import paths

#: The top-level package: ``app`` in a checkout, ``iris_assistant`` when installed.
PACKAGE = __name__.split(".")[0]
LOG_NAME = "iris.log"
MAX_BYTES = 1_000_000
BACKUPS = 3
FORMAT = "%(asctime)s %(levelname)s %(name)s [%(threadName)s]: %(message)s"

_lock = threading.Lock()
_installed: list[logging.Handler] = []
_debug = False


class _OwnOrWarning(logging.Filter):
    """Iris's records from INFO up; everyone else's (libraries, warnings) from WARNING up."""

    def filter(self, record: logging.LogRecord) -> bool:
        own = record.name == PACKAGE or record.name.startswith(PACKAGE + ".")
        return record.levelno >= (logging.INFO if own else logging.WARNING)


class RecentRecords(logging.Handler):
    """The last ``capacity`` formatted records, in memory only."""

    def __init__(self, capacity: int = 200) -> None:
        super().__init__(logging.INFO)
        self.records: collections.deque[tuple[int, str]] = collections.deque(maxlen=capacity)
        self.setFormatter(logging.Formatter(FORMAT))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.records.append((record.levelno, self.format(record)))
        except Exception:  # noqa: BLE001 - logging must never raise
            self.handleError(record)


_recent = RecentRecords()
_recent.addFilter(_OwnOrWarning())


def log_file() -> Path:
    return paths.log_dir() / LOG_NAME


def recent_lines(minimum: int = logging.INFO) -> list[str]:
    """Recent records at ``minimum`` level or above, oldest first."""
    return [line for level, line in list(_recent.records) if level >= minimum]


def _file_handler() -> logging.handlers.RotatingFileHandler:
    path = log_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.chmod(path.parent, 0o700)
    except OSError:
        pass
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8")
    try:
        os.chmod(path, 0o600)
    except OSError:
        pass
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(_OwnOrWarning())
    return handler


def configure_logging(*, debug: bool | None = None, to_file: bool = False) -> Path | None:
    """(Re)configure the root logger; returns the log file when one is being written.

    Safe to call again (the GUI does when the setting changes): only the handlers
    this function added are replaced. A log folder that cannot be created means
    no file, never a failure. ``debug=None`` keeps the previous choice.
    """
    global _debug
    root = logging.getLogger()
    with _lock:
        debug = _debug = _debug if debug is None else debug
        previous = list(_installed)
        for handler in _installed:
            root.removeHandler(handler)
            if handler is not _recent:
                handler.close()
        _installed.clear()
        wanted: list[logging.Handler] = [_recent]
        written: Path | None = None
        if to_file:
            try:
                handler = _file_handler()
                fresh = not any(isinstance(h, logging.handlers.RotatingFileHandler) for h in previous)
                if fresh and handler.stream is not None:
                    # Turned on now: what this run logged before the settings were read goes first.
                    for _level, line in list(_recent.records):
                        handler.stream.write(line + "\n")
                    handler.flush()
                wanted.append(handler)
                written = log_file()
            except OSError as exc:
                _recent.records.append((logging.WARNING, f"could not open the log file {log_file()}: {exc}"))
        if debug:
            stream = logging.StreamHandler(sys.stderr)
            stream.setFormatter(logging.Formatter(FORMAT))
            wanted.append(stream)
        for handler in wanted:
            root.addHandler(handler)
        _installed.extend(wanted)
        root.setLevel(logging.DEBUG if debug else logging.INFO)
        logging.captureWarnings(True)
    return written


def file_logging_active() -> bool:
    return any(isinstance(h, logging.handlers.RotatingFileHandler) for h in _installed)


def shutdown_logging() -> None:
    """Detach and close Iris's handlers (at exit, and between tests): the file is flushed and closed."""
    root = logging.getLogger()
    with _lock:
        for handler in _installed:
            root.removeHandler(handler)
            if handler is not _recent:
                handler.close()
        _installed.clear()
        _recent.records.clear()
        logging.captureWarnings(False)
