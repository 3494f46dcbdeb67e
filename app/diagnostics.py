"""What a user can send when Iris misbehaves: a diagnostic report and crash details.

:func:`report` is the text of "Help > Copy diagnostic information" and of
``iris doctor``: versions, the device, which engine, speech output and OCR are
in use, the folders, and the settings without secrets. It holds no answers,
questions, screen text or pictures. :func:`install_crash_hooks` catches an
exception that nothing else handled (main thread, worker threads, Qt slots,
which PySide6 hands to ``sys.excepthook``) exactly once: it logs it, writes the
details to ``crash.log`` in the user's log folder and says one sentence that
names that file.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import logging
import os
import platform
import shutil
import sys
import threading
import traceback
from pathlib import Path
from types import TracebackType
from typing import Any, Callable

from . import __version__, logsetup, paths

log = logging.getLogger(__name__)

CRASH_NAME = "crash.log"
CRASH_MAX_BYTES = 256_000
#: Distributions whose versions matter for support (read from metadata: nothing is imported).
DISTRIBUTIONS = ("torch", "transformers", "accelerate", "bitsandbytes", "huggingface_hub", "PySide6_Essentials",
                 "onnxruntime", "rapidocr_onnxruntime", "tesserocr", "pytesseract", "llama_cpp_python",
                 "pyttsx3", "mss", "pynput", "Pillow", "numpy", "platformdirs")
#: Settings with one of these words in their name (between underscores) are never shown.
SECRET_WORDS = frozenset({"key", "token", "secret", "password", "credential", "auth"})

Say = Callable[[str], None]


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _device() -> str:
    """The graphics card as torch sees it, without importing torch if it is not loaded yet."""
    torch = sys.modules.get("torch")
    if torch is not None:
        try:
            if torch.cuda.is_available():
                return f"CUDA {torch.version.cuda}, {torch.cuda.get_device_name(0)}"
            return "processor only (torch sees no CUDA device)"
        except Exception as exc:  # noqa: BLE001 - a broken driver is itself a finding
            return f"unknown ({type(exc).__name__})"
    if shutil.which("nvidia-smi"):
        return "NVIDIA driver present (nvidia-smi); torch not loaded yet"
    return "no NVIDIA driver found; the processor is used"


def _describe(part: Any, *names: str) -> str:
    if part is None:
        return "none"
    details = [type(part).__name__]
    for name in names:
        try:
            value = getattr(part, name, None)
            value = value() if callable(value) else value
        except Exception:  # noqa: BLE001 - a report must never fail
            value = None
        if value not in (None, ""):
            details.append(f"{name}={value}")
    return ", ".join(details)


def safe_settings(values: dict[str, Any]) -> dict[str, Any]:
    """The settings with every secret-looking value hidden."""
    return {key: ("(hidden)" if SECRET_WORDS.intersection(key.lower().split("_")) and value else value)
            for key, value in sorted(values.items())}


def problem(exc: BaseException) -> str:
    """An exception as a report line: the user's sentence, or the bug's type and text."""
    message = getattr(exc, "message", None)
    return str(message) if isinstance(message, str) else f"{type(exc).__name__}: {exc}"


def report(settings: Any = None, *, engine: Any = None, speaker: Any = None, ocr: Any = None,
           notes: list[str] | None = None) -> str:
    """The plain-text diagnostic report (one ``name: value`` per line)."""
    lines = [
        f"Iris {__version__} (package {logsetup.PACKAGE}{', app bundle' if getattr(sys, 'frozen', False) else ''})",
        f"Python {platform.python_version()} ({platform.python_implementation()}) at {sys.executable}",
        f"System: {platform.platform()} ({platform.machine()})",
        f"Display: XDG_SESSION_TYPE={os.environ.get('XDG_SESSION_TYPE', '-')}, "
        f"DISPLAY={os.environ.get('DISPLAY', '-')}, WAYLAND_DISPLAY={os.environ.get('WAYLAND_DISPLAY', '-')}",
        f"Graphics card: {_device()}",
        f"Vision engine: {_describe(engine, 'model_name', 'device', 'quantization', 'vision_encoder', 'is_loaded')}",
        f"Speech output: {_describe(getattr(speaker, 'output', speaker), 'name')}",  # through the router
        f"Text reader (OCR): {_describe(ocr, 'name')}",
        f"Log file: {logsetup.log_file() if logsetup.file_logging_active() else 'off'}",
        f"Crash details: {crash_file()}",
        f"Settings folder: {paths.config_dir()}",
        f"Models folder: {paths.models_dir()}",
        "Libraries: " + ", ".join(f"{dist} {_version(dist)}" for dist in DISTRIBUTIONS),
    ]
    lines += [f"Note: {note}" for note in notes or []]
    if settings is not None:
        values = settings.as_dict() if hasattr(settings, "as_dict") else dict(settings)
        lines.append("Settings:")
        lines += [f"  {key} = {value!r}" for key, value in safe_settings(values).items()]
    warnings = logsetup.recent_lines(logging.WARNING)[-20:]
    if warnings:
        lines.append("Recent warnings:")
        lines += [f"  {line.splitlines()[0]}" for line in warnings]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------- crashes
def crash_file() -> Path:
    return paths.log_dir() / CRASH_NAME


def record_crash(exc: BaseException, where: str = "") -> Path | None:
    """Log ``exc`` and append its traceback (with recent log lines) to crash.log; None if unwritable."""
    recent = logsetup.recent_lines(logging.INFO)[-30:]  # what led up to it (before it is logged itself)
    log.error("unhandled exception%s", f" in {where}" if where else "", exc_info=exc)
    path = crash_file()
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    stamp = datetime.datetime.now().isoformat(timespec="seconds")
    entry = (f"==== {stamp} Iris {__version__}, Python {platform.python_version()}, {platform.platform()}"
             f"{', in ' + where if where else ''}\n{text}")
    if recent:
        entry += "Recent log:\n" + "\n".join(f"  {line}" for line in recent) + "\n"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists() and path.stat().st_size > CRASH_MAX_BYTES:
            path.replace(path.with_suffix(".log.1"))  # keep one older file, never grow without bound
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(descriptor, "a", encoding="utf-8") as stream:
            stream.write(entry + "\n")
    except OSError:
        log.warning("could not write %s", path)
        return None
    return path


def crash_sentence(path: Path | None) -> str:
    if path is None:
        return "Something went wrong inside Iris, and the details could not be saved. Iris keeps working."
    return f"Something went wrong inside Iris. The details are in {path}. Iris keeps working."


class _CrashHooks:
    """The installed hooks; ``say`` is replaced when the GUI takes over from the CLI."""

    def __init__(self) -> None:
        self.say: Say | None = None
        self.seen: list[BaseException] = []  # references, so ids are not reused
        self.lock = threading.Lock()
        self.previous_sys = sys.excepthook
        self.previous_thread = threading.excepthook

    def handle(self, exc: BaseException, where: str) -> None:
        with self.lock:
            if any(exc is old for old in self.seen):
                return
            self.seen = [*self.seen[-19:], exc]
        try:
            path = record_crash(exc, where)
            if self.say is not None:
                self.say(crash_sentence(path))
        except Exception:  # noqa: BLE001 - the hook itself must never raise
            pass

    def sys_hook(self, kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if issubclass(kind, (KeyboardInterrupt, SystemExit)):
            self.previous_sys(kind, exc, tb)
            return
        self.handle(exc, "the main thread")

    def thread_hook(self, args: threading.ExceptHookArgs) -> None:
        if args.exc_value is None or issubclass(args.exc_type, SystemExit):
            return
        name = args.thread.name if args.thread is not None else "a worker"
        self.handle(args.exc_value, f"thread {name}")


_hooks: _CrashHooks | None = None


def install_crash_hooks(say: Say | None) -> None:
    """Catch unhandled exceptions everywhere (idempotent; a later call changes who speaks)."""
    global _hooks
    if _hooks is None:
        _hooks = _CrashHooks()
        sys.excepthook = _hooks.sys_hook
        threading.excepthook = _hooks.thread_hook
    _hooks.say = say


def uninstall_crash_hooks() -> None:
    """Restore the previous hooks (tests)."""
    global _hooks
    if _hooks is not None:
        sys.excepthook = _hooks.previous_sys
        threading.excepthook = _hooks.previous_thread
        _hooks = None


def handle_unexpected(exc: BaseException, where: str = "") -> str:
    """For code that caught a bug itself (the CLI's last resort): log once, return the sentence."""
    if _hooks is not None:
        with _hooks.lock:
            if any(exc is old for old in _hooks.seen):
                return crash_sentence(crash_file())
            _hooks.seen = [*_hooks.seen[-19:], exc]
    return crash_sentence(record_crash(exc, where))
