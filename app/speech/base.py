"""The tiny speech interface every engine implements, plus the silent fallback."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from typing import Callable

# Events a speaker reports to listeners: ("started"|"finished"|"audio"|"error", text)
# "audio" means the utterance's audio is synthesized and ready to play (or written).
SpeechListener = Callable[[str, str], None]


class Speaker(ABC):
    """Speaks text one utterance at a time, in order, without blocking the caller."""

    name: str = "speaker"

    def __init__(self) -> None:
        self._listeners: list[SpeechListener] = []

    def add_listener(self, listener: SpeechListener) -> None:
        self._listeners.append(listener)

    def _emit(self, event: str, text: str) -> None:
        for listener in list(self._listeners):
            try:
                listener(event, text)
            except Exception:
                pass

    @abstractmethod
    def speak(self, text: str, *, interrupt: bool = False) -> None:
        """Queue text; with ``interrupt`` drop everything queued or playing first."""

    @abstractmethod
    def stop(self) -> None:
        """Silence at once and drop the queue."""

    @abstractmethod
    def wait(self, timeout: float | None = None) -> bool:
        """Block until everything queued was spoken; False on timeout."""

    def configure(self, *, rate: int | None = None, volume: float | None = None, voice: str | None = None) -> None:
        """Change rate (words per minute), volume (0..1) or voice; engines may ignore."""

    def voices(self) -> list[tuple[str, str]]:
        """(id, name) pairs of available voices."""
        return []

    @property
    def is_speaking(self) -> bool:
        return False

    def close(self) -> None:
        self.stop()


class SilentSpeaker(Speaker):
    """Says nothing, instantly; keeps a record of what it was asked to say (tests use it)."""

    name = "silent"

    def __init__(self) -> None:
        super().__init__()
        self.spoken: list[str] = []
        self._lock = threading.Lock()

    def speak(self, text: str, *, interrupt: bool = False) -> None:
        with self._lock:
            if interrupt:
                self.spoken.append("<interrupt>")
            self.spoken.append(text)
        self._emit("started", text)
        self._emit("audio", text)
        self._emit("finished", text)

    def stop(self) -> None:
        with self._lock:
            self.spoken.append("<stop>")

    def wait(self, timeout: float | None = None) -> bool:
        return True
