"""A speech double that queues and takes time, so stale speech and clobbered messages are visible.

:class:`TimedVoice` is a :class:`SpeechBackend` that "plays" each utterance
for a time proportional to its length (as a sound card does) until it is
interrupted, and keeps a timeline of what was heard: when each utterance
started, when it stopped, and whether it was cut short. Put it behind the real
:class:`EngineSpeaker` (``timed_speaker()``) so the queue, priorities and
cancellation under test are the production ones.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from app.speech.base import SpeechBackend, VoiceSettings
from app.speech.manager import EngineSpeaker


@dataclass
class Played:
    text: str
    start: float  # time.perf_counter()
    end: float | None = None
    cut: bool = False  # interrupted before its length had passed


class TimedVoice(SpeechBackend):
    """Plays each utterance for ``seconds_per_char * len(text)`` (at least ``minimum``) seconds."""

    name = "timed"

    def __init__(self, seconds_per_char: float = 0.01, minimum: float = 0.05) -> None:
        self.seconds_per_char = seconds_per_char
        self.minimum = minimum
        self.timeline: list[Played] = []
        self._lock = threading.Lock()
        self._interrupt = threading.Event()
        self.playing = threading.Event()

    def start(self, *, device: bool) -> None:
        pass

    def synthesize(self, text: str, path: Path, voice: VoiceSettings, cancel: threading.Event) -> None:
        raise AssertionError("device mode only")

    def play(self, text: str, voice: VoiceSettings, cancel: threading.Event, on_audio: Callable[[], None]) -> None:
        self._interrupt.clear()
        record = Played(text, time.perf_counter())
        with self._lock:
            self.timeline.append(record)
        on_audio()
        self.playing.set()
        deadline = record.start + max(self.minimum, len(text) * self.seconds_per_char)
        while time.perf_counter() < deadline:
            if cancel.is_set() or self._interrupt.is_set():
                record.cut = True
                break
            self._interrupt.wait(0.002)
        record.end = time.perf_counter()
        self.playing.clear()

    def interrupt(self) -> None:
        self._interrupt.set()

    # ------------------------------------------------------------ questions
    def heard(self) -> list[str]:
        """Every utterance that was at least begun, in order."""
        with self._lock:
            return [p.text for p in self.timeline]

    def begun_after(self, moment: float) -> list[str]:
        with self._lock:
            return [p.text for p in self.timeline if p.start >= moment]

    def silent_at(self, moment: float) -> float:
        """Seconds after ``moment`` until nothing that began before it was still playing (0 if none was)."""
        with self._lock:
            ends = [(p.end if p.end is not None else time.perf_counter()) for p in self.timeline
                    if p.start < moment]
        return max([0.0] + [end - moment for end in ends])


def timed_speaker(on_message: Callable[[str], None] | None = None, **kwargs: float) -> tuple[EngineSpeaker, TimedVoice]:
    voice = TimedVoice(**kwargs)
    speaker = EngineSpeaker([voice], on_message=on_message)
    assert speaker.wait_ready(5)
    return speaker, voice
