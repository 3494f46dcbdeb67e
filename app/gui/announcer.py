"""Speech as accessibility announcements: Qt's QAccessibleAnnouncementEvent (Qt 6.8 and later).

A screen reader that reads announcements (Orca 45 and later on Linux, VoiceOver
on macOS) speaks them in its own voice and shows them in braille. Workers call
``speak`` from any thread; the event is posted on the Qt main thread, and an
utterance whose job was cancelled before it got there is never announced.
An announcement cannot be taken back once posted: Stop and a newer request
only stop what has not been announced yet (the screen reader's own stop key
silences the rest). NVDA ignores UI Automation notifications from
applications in the background, so on Windows this output comes after NVDA's
own (Prism) and is not used by a hotkey-driven Iris there.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

from PySide6.QtCore import QObject

from ..speech.base import Owner, Priority, Speaker

log = logging.getLogger(__name__)

Deliver = Callable[[Callable[[], None]], None]


class AnnouncementUnavailable(Exception):
    reason = "This version of Qt cannot send announcements to the screen reader."


def announcements_supported() -> bool:
    try:
        from PySide6.QtGui import QAccessibleAnnouncementEvent  # noqa: F401
    except ImportError:
        return False
    return True


class QtAnnouncer(Speaker):
    """Posts each utterance as an announcement from ``target`` (the main window)."""

    name = "screen reader announcements"

    def __init__(self, target: Callable[[], QObject | None], deliver: Deliver) -> None:
        if not announcements_supported():
            raise AnnouncementUnavailable(AnnouncementUnavailable.reason)
        super().__init__()
        self._target = target
        self._deliver = deliver
        self.announced: list[str] = []  # what reached Qt (diagnostics and tests)

    def speak(self, text: str, *, interrupt: bool = False, priority: Priority = Priority.NORMAL,
              owner: Owner | None = None) -> None:
        text = (text or "").strip()
        if not text or (owner is not None and owner.cancelled):
            return
        self._emit("started", text)

        def post() -> None:
            if owner is not None and owner.cancelled:
                self._emit("cancelled", text)
                return
            try:
                self._announce(text, assertive=priority > Priority.NORMAL or interrupt)
            except Exception:  # noqa: BLE001 - an announcement must never break the app
                log.exception("announcement failed")
                self._emit("error", text)
                return
            self._emit("audio", text)
            self._emit("finished", text)

        self._deliver(post)

    def _announce(self, text: str, *, assertive: bool) -> None:
        from PySide6.QtGui import QAccessible, QAccessibleAnnouncementEvent

        target = self._target()
        if target is None:
            return
        event: Any = QAccessibleAnnouncementEvent(target, text)
        if assertive:
            event.setPoliteness(QAccessible.AnnouncementPoliteness.Assertive)
        QAccessible.updateAccessibility(event)
        self.announced.append(text)

    def stop(self) -> None:
        """Nothing already announced can be recalled; queued posts check their owner."""

    def wait(self, timeout: float | None = None) -> bool:
        return True
