"""The one channel for user-facing messages: every status or error is shown and spoken.

Modelled on qutebrowser's ``utils/message.py``: code anywhere calls
``notifier.info/working/done/error``; display sinks (the CLI's stderr, the
GUI's status bar) and the speaker receive it. Messages sent before any display
sink is attached are buffered and replayed when the first one attaches, so
nothing said during start-up is lost. Likewise, messages posted before a
speaker exists (settings load first) are spoken when the speaker is set.

Messages never cut each other off: an error is spoken with priority NEXT
(after the sentence playing now, before queued speech, in order with other
errors), everything else with NORMAL priority, queued behind the answer. So
four messages in a row are all heard, in order; only a newer job's cancel or
Stop silences them.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from enum import Enum
from typing import Callable, Protocol

from .speech.base import Priority

log = logging.getLogger(__name__)


class Level(str, Enum):
    INFO = "info"
    WORKING = "working"
    DONE = "done"
    ERROR = "error"


@dataclass(frozen=True)
class Message:
    level: Level
    text: str
    speak: bool = True


#: How each level is spoken (NVDA's speech priorities).
PRIORITY = {Level.INFO: Priority.NORMAL, Level.WORKING: Priority.NORMAL, Level.DONE: Priority.NORMAL,
            Level.ERROR: Priority.NEXT}


class _SpeakerLike(Protocol):
    def speak(self, text: str, *, priority: Priority = Priority.NORMAL) -> None: ...


Sink = Callable[[Message], None]


class Notifier:
    def __init__(self, speaker: _SpeakerLike | None = None, *, buffer_limit: int = 100):
        self._speaker = speaker
        self._sinks: list[Sink] = []
        self._buffer: list[Message] = []
        self._unspoken: list[Message] = []
        self._buffer_limit = buffer_limit
        self._lock = threading.Lock()
        self.history: list[Message] = []

    def set_speaker(self, speaker: _SpeakerLike | None) -> None:
        """Use ``speaker`` from now on; it first says what was posted before it existed."""
        with self._lock:
            self._speaker = speaker
            pending, self._unspoken = (self._unspoken, []) if speaker is not None else ([], self._unspoken)
        if speaker is None:
            return
        for message in pending:
            self._speak(speaker, message)

    def add_sink(self, sink: Sink) -> None:
        """Attach a display; the first one receives everything buffered so far."""
        with self._lock:
            self._sinks.append(sink)
            pending, self._buffer = self._buffer, []
        for message in pending:
            self._deliver(sink, message)

    def remove_sink(self, sink: Sink) -> None:
        with self._lock:
            if sink in self._sinks:
                self._sinks.remove(sink)

    def post(self, message: Message) -> None:
        with self._lock:
            self.history.append(message)
            del self.history[:-200]
            sinks = list(self._sinks)
            if not sinks:
                self._buffer.append(message)
                del self._buffer[: -self._buffer_limit]
            speaker = self._speaker
            if message.speak and speaker is None:
                self._unspoken.append(message)
                del self._unspoken[: -self._buffer_limit]
        for sink in sinks:
            self._deliver(sink, message)
        if message.speak and speaker is not None:
            self._speak(speaker, message)

    @staticmethod
    def _speak(speaker: _SpeakerLike, message: Message) -> None:
        try:
            speaker.speak(message.text, priority=PRIORITY[message.level])
        except Exception:  # a broken speaker must never break messaging
            log.exception("speaker failed while announcing a message")

    @staticmethod
    def _deliver(sink: Sink, message: Message) -> None:
        try:
            sink(message)
        except Exception:
            log.exception("message sink failed")

    def info(self, text: str, *, speak: bool = True) -> None:
        self.post(Message(Level.INFO, text, speak))

    def working(self, text: str, *, speak: bool = True) -> None:
        self.post(Message(Level.WORKING, text, speak))

    def done(self, text: str, *, speak: bool = True) -> None:
        self.post(Message(Level.DONE, text, speak))

    def error(self, text: str, *, speak: bool = True) -> None:
        self.post(Message(Level.ERROR, text, speak))
