"""Thread-safe hand-over to the Qt main thread, and the status-bar sink of the notifier.

The job runner and the hotkey listener call back from their own threads; widgets
may only be touched on the main thread. :class:`MainThreadDispatcher` carries a
callable across through a queued signal, which is safe from any thread (a
``QTimer.singleShot`` from a plain Python thread is not: that thread has no
event loop).
"""

from __future__ import annotations

import logging
from typing import Callable

from PySide6.QtCore import QObject, Qt, Signal, Slot

from ..notifier import Level, Message

log = logging.getLogger(__name__)


class MainThreadDispatcher(QObject):
    """Runs callables on the thread this object lives in (the Qt main thread)."""

    _posted = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._closed = False
        self._posted.connect(self._run, Qt.ConnectionType.QueuedConnection)

    def deliver(self, fn: Callable[[], None]) -> None:
        """Queue ``fn`` for the main thread; safe to call from any thread, never blocks."""
        if self._closed:
            return
        try:
            self._posted.emit(fn)
        except RuntimeError:  # the C++ object is gone: the app is shutting down
            self._closed = True

    def close(self) -> None:
        """Drop anything posted from now on (used at shutdown)."""
        self._closed = True

    @Slot(object)
    def _run(self, fn: Callable[[], None]) -> None:
        if self._closed:
            return
        try:
            fn()
        except Exception:  # a failing callback must not take the event loop down
            log.exception("callback posted to the main thread failed")


class StatusSink:
    """A notifier sink that shows each message in a status bar (the notifier itself speaks).

    ``show`` receives (level, text) on the main thread; it may be called from any thread.
    """

    def __init__(self, deliver: Callable[[Callable[[], None]], None], show: Callable[[Level, str], None]) -> None:
        self._deliver = deliver  # MainThreadDispatcher.deliver
        self._show = show

    def __call__(self, message: Message) -> None:
        level, text = message.level, message.text
        self._deliver(lambda: self._show(level, text))
