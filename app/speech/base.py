"""The tiny speech interface every output implements, plus the silent fallback.

Every utterance has a :class:`Priority` (as NVDA's speech priorities) and may
have an *owner*: the job's cancel token. When the owner is cancelled (a newer
request, Stop, a superseding hotkey) every output drops what that owner
queued and silences what it is playing, at once; nothing else is cut.
"""

from __future__ import annotations

import threading
import weakref
from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Any, Callable, Iterable, MutableSequence, Protocol

# Events a speaker reports to listeners: ("started"|"audio"|"finished"|"error"|"cancelled", text).
# "audio" means the utterance's audio is ready (synthesized, written, or handed to the screen
# reader and begun); "cancelled" means it was dropped from the queue without being spoken.
SpeechListener = Callable[[str, str], None]


class Priority(IntEnum):
    """When an utterance is spoken (NVDA's SpeechPriority)."""

    NORMAL = 0  # after everything already queued (answers, status)
    NEXT = 1  # after what is playing now, before queued NORMAL speech (errors)
    NOW = 2  # at once; interrupted lower-priority speech is spoken again afterwards


class Owner(Protocol):
    """What an utterance belongs to: a job's :class:`app.engine.base.CancelToken`."""

    @property
    def cancelled(self) -> bool: ...

    def on_cancel(self, callback: Callable[[], None]) -> None: ...


class Queued(Protocol):
    """An utterance waiting in an output's queue."""

    @property
    def text(self) -> str: ...

    @property
    def owner(self) -> Owner | None: ...


def drop_queued(queues: Iterable[MutableSequence[Any]], owner: Owner | None = None) -> list[str]:
    """Remove ``owner``'s queued utterances (every one when ``owner`` is None); their texts, in order.

    The outputs with queues of their own (Iris's voice, Prism) share this so a
    superseded job's speech is dropped the same way everywhere.
    """
    dropped: list[str] = []
    for queue in queues:
        items: list[Queued] = list(queue)
        dropped += [item.text for item in items if owner is None or item.owner is owner]
        queue.clear()
        queue.extend(item for item in items if owner is not None and item.owner is not owner)
    return dropped


class Speaker(ABC):
    """Speaks text one utterance at a time, in priority order, without blocking the caller."""

    name: str = "speaker"

    def __init__(self) -> None:
        self._listeners: list[SpeechListener] = []
        self._watched: "weakref.WeakSet[object]" = weakref.WeakSet()
        self._watch_lock = threading.Lock()

    def add_listener(self, listener: SpeechListener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: SpeechListener) -> None:
        """Stop reporting to ``listener``; unknown listeners are ignored."""
        try:
            self._listeners.remove(listener)
        except ValueError:
            pass

    def _emit(self, event: str, text: str) -> None:
        for listener in list(self._listeners):
            try:
                listener(event, text)
            except Exception:
                pass

    def _watch(self, owner: Owner) -> None:
        """Make ``owner``'s cancellation silence what it queued here (once per owner)."""
        with self._watch_lock:
            if owner in self._watched:
                return
            self._watched.add(owner)
        ref = weakref.ref(self)

        def on_cancel() -> None:
            speaker = ref()
            if speaker is not None:
                speaker.cancel_owner(owner)

        owner.on_cancel(on_cancel)

    @abstractmethod
    def speak(self, text: str, *, interrupt: bool = False, priority: Priority = Priority.NORMAL,
              owner: Owner | None = None) -> None:
        """Queue text by ``priority``; ``owner`` cancelled drops it; ``interrupt`` stops everything first."""

    def cancel_owner(self, owner: Owner) -> None:
        """Drop what ``owner`` queued and silence it if it is playing (any thread, returns at once)."""

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
        self.priorities: list[Priority] = []  # one per entry of ``spoken`` that is text
        self._lock = threading.Lock()

    def speak(self, text: str, *, interrupt: bool = False, priority: Priority = Priority.NORMAL,
              owner: Owner | None = None) -> None:
        with self._lock:
            if owner is not None and owner.cancelled:
                return
            if interrupt:
                self.spoken.append("<interrupt>")
            self.spoken.append(text)
            self.priorities.append(priority)
        self._emit("started", text)
        self._emit("audio", text)
        self._emit("finished", text)

    def stop(self) -> None:
        with self._lock:
            self.spoken.append("<stop>")

    def wait(self, timeout: float | None = None) -> bool:
        return True


# --------------------------------------------------------------------------
# Backends: *how* one utterance is synthesized. A speaker (app.speech.manager)
# owns the queue and the worker thread; a backend only turns one text into
# sound, blocking, either on the sound device or in a WAV file.


@dataclass(frozen=True)
class VoiceSettings:
    """What the user chose; read before every utterance, so changes need no restart."""

    rate: int = 190  # words per minute
    volume: float = 1.0  # 0..1
    voice: str = ""  # id or name; empty means the engine's default


class BackendError(Exception):
    """A backend could not start or failed mid-utterance; ``reason`` is one plain sentence."""

    def __init__(self, reason: str, *, detail: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail  # for logs only


class SpeechBackend(ABC):
    """Synthesizes ONE utterance at a time, blocking.

    Every method except :meth:`interrupt` is called from the speaker's single
    worker thread (SAPI5 and NSSpeechSynthesizer objects belong to the thread
    that created them). :meth:`interrupt` may be called from any thread and must
    make the running call return at once. Failures raise :class:`BackendError`;
    a call that returns after ``cancel`` was set is simply discarded.
    """

    name: str = "backend"

    @abstractmethod
    def start(self, *, device: bool) -> None:
        """Open the engine; with ``device``, also check the sound device can be opened."""

    @abstractmethod
    def synthesize(self, text: str, path: Path, voice: VoiceSettings, cancel: threading.Event) -> None:
        """Write the utterance to ``path`` as a PCM WAV file."""

    @abstractmethod
    def play(
        self, text: str, voice: VoiceSettings, cancel: threading.Event, on_audio: Callable[[], None]
    ) -> None:
        """Speak the utterance on the sound device; call ``on_audio`` once its audio is ready."""

    @abstractmethod
    def interrupt(self) -> None:
        """Silence the running call at once (any thread)."""

    def voices(self) -> list[tuple[str, str]]:
        """(id, name) pairs; ids are what ``VoiceSettings.voice`` accepts."""
        return []

    def close(self) -> None:
        """Release the engine; the backend is not used again."""


def match_voice(wanted: str, voices: list[tuple[str, str]]) -> str | None:
    """The id of the voice whose id or name matches ``wanted`` (case-insensitive), or None."""
    wanted = (wanted or "").strip().lower()
    if not wanted:
        return None
    for voice_id, _name in voices:
        if wanted == voice_id.lower():
            return voice_id
    for voice_id, name in voices:
        if wanted == name.lower():
            return voice_id
    return None
