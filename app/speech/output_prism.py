"""The Windows and macOS screen-reader output: NVDA, JAWS, VoiceOver and others through Prism.

Prism (PyPI ``prismatoid``, MPL-2.0, abi3 wheels for Windows x64 and macOS
arm64, Python 3.10+) wraps each screen reader's own API: NVDA's controller
client, JAWS's API, VoiceOver, ZDSR, ... . ``output()`` sends speech *and*
braille; ``stop()`` silences the screen reader. Prism has no queue per
utterance and no priorities, so this adapter keeps its own: one utterance at
a time, the next sent when the screen reader stops speaking (where Prism can
tell) or after an estimate of its length, so a cancelled job's sentences are
dropped before they are ever sent and the playing one is stopped.

Why Prism (compared in 2026-12): accessible_output2 0.17 (MIT) last released
in 2022, pure Python around bundled 32/64-bit DLLs, Windows-first;
cytolk (a Tolk wrapper, Windows only) has no distribution pip could install
for current Pythons; Prism is maintained (0.18.3, 2026), MPL-2.0, and
ships abi3 wheels (cp310-abi3: Python 3.10-3.14) for Windows x64 and macOS
arm64 covering NVDA, JAWS, VoiceOver, ZDSR, ZoomText and more, with braille.
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from .base import Owner, Priority, Speaker, drop_queued

log = logging.getLogger(__name__)

#: Prism backends that are screen readers (not plain system voices), best first.
SCREEN_READERS = ("NVDA", "JAWS", "VOICE_OVER", "ZDSR", "ZOOM_TEXT", "SYSTEM_ACCESS", "SENSE_READER",
                  "PC_TALKER", "BOY_PC_READER", "WINDOW_EYES")
#: Characters per second used to guess when an utterance ends if the screen reader cannot say.
CHARS_PER_SECOND = 16.0
POLL_S = 0.02


class ScreenReaderUnavailable(Exception):
    """No screen reader Prism can reach is running; ``reason`` is one plain sentence."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class _Item:
    text: str
    priority: Priority
    owner: Owner | None


def _feature(backend: Any, name: str) -> bool:
    try:
        return bool(getattr(backend.features, name))
    except Exception:  # noqa: BLE001
        return False


class PrismSpeaker(Speaker):
    """Speaks (and brailles) through the running screen reader."""

    def __init__(self, *, module: Any = None, chars_per_second: float = CHARS_PER_SECOND) -> None:
        super().__init__()
        try:
            prism = module or importlib.import_module("prism")
        except ImportError as exc:
            raise ScreenReaderUnavailable("The screen reader bridge (prismatoid) is not installed.") from exc
        self._context = prism.Context()
        self._backend = self._pick(prism)
        self._reader = str(self._backend.name)
        self._braille = _feature(self._backend, "supports_output")
        self._knows_speaking = _feature(self._backend, "supports_is_speaking")
        self._cps = chars_per_second
        self._cond = threading.Condition()
        self._queues: dict[Priority, deque[_Item]] = {p: deque() for p in Priority}
        self._current: _Item | None = None
        self._cut = threading.Event()
        self._pending = 0
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="iris-screen-reader", daemon=True)
        self._thread.start()

    def _pick(self, prism: Any) -> Any:
        for name in SCREEN_READERS:
            backend_id = getattr(prism.BackendId, name, None)
            if backend_id is None:
                continue
            try:
                if not self._context.exists(backend_id):
                    continue
                backend = self._context.acquire(backend_id)
            except Exception as exc:  # noqa: BLE001 - not running / not installed
                log.info("prism backend %s unavailable: %r", name, exc)
                continue
            if _feature(backend, "is_supported_at_runtime"):
                return backend
        raise ScreenReaderUnavailable("No screen reader that Iris can speak through is running.")

    @property
    def name(self) -> str:  # type: ignore[override]
        return self._reader

    # ------------------------------------------------------------- API
    def speak(self, text: str, *, interrupt: bool = False, priority: Priority = Priority.NORMAL,
              owner: Owner | None = None) -> None:
        text = (text or "").strip()
        if not text:
            return
        if interrupt:
            self.stop()
        if owner is not None:
            self._watch(owner)
        with self._cond:
            if self._closed or (owner is not None and owner.cancelled):
                return
            self._queues[priority].append(_Item(text, priority, owner))
            self._pending += 1
            current = self._current
            cut = priority is Priority.NOW and current is not None and current.priority < Priority.NOW
            self._cond.notify_all()
        if cut:
            self._silence(current)

    def cancel_owner(self, owner: Owner) -> None:
        with self._cond:
            dropped = drop_queued(self._queues.values(), owner)
            self._pending -= len(dropped)
            current = self._current if self._current is not None and self._current.owner is owner else None
            self._cond.notify_all()
        self._silence(current)
        for text in dropped:
            self._emit("cancelled", text)

    def stop(self) -> None:
        with self._cond:
            dropped = drop_queued(self._queues.values())
            self._pending -= len(dropped)
            current = self._current
            self._cond.notify_all()
        self._silence(current)
        for text in dropped:
            self._emit("cancelled", text)

    def wait(self, timeout: float | None = None) -> bool:
        with self._cond:
            if not self._cond.wait_for(lambda: self._pending <= 0, timeout):
                return False
        return True

    @property
    def is_speaking(self) -> bool:
        with self._cond:
            return self._pending > 0

    def close(self) -> None:
        self.stop()
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=2)

    # ---------------------------------------------------------- worker
    def _silence(self, item: _Item | None) -> None:
        """Stop the screen reader if ``item`` is still the one it is saying (never the next one)."""
        if item is None:
            return
        with self._cond:
            if self._current is not item:
                return
            self._cut.set()
            try:
                self._backend.stop()
            except Exception:  # noqa: BLE001
                log.exception("screen reader stop failed")

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._closed and not any(self._queues.values()):
                    self._cond.wait()
                if self._closed:
                    return
                item = next(q for _p, q in sorted(self._queues.items(), reverse=True) if q).popleft()
                self._current = item
                self._cut.clear()
            try:
                self._say(item)
            except Exception:  # noqa: BLE001 - never let the worker die
                log.exception("screen reader output failed")
                self._emit("error", item.text)
            finally:
                with self._cond:
                    self._current = None
                    self._pending -= 1
                    self._cond.notify_all()

    def _say(self, item: _Item) -> None:
        if item.owner is not None and item.owner.cancelled:
            self._emit("cancelled", item.text)
            return
        self._emit("started", item.text)
        if self._braille:
            self._backend.output(item.text, False)  # speech and braille
        else:
            self._backend.speak(item.text, False)
        self._emit("audio", item.text)
        deadline = time.monotonic() + max(0.3, len(item.text) / self._cps)
        time.sleep(POLL_S)
        while not self._cut.is_set():
            if self._knows_speaking:
                try:
                    if not self._backend.speaking:
                        break
                except Exception:  # noqa: BLE001 - fall back to the estimate
                    self._knows_speaking = False
            elif time.monotonic() >= deadline:
                break
            self._cut.wait(POLL_S)
        self._emit("finished", item.text)
