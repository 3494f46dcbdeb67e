"""The speaker that drives backends (Iris's own voice): one queue, one worker thread, a fallback chain.

Utterances are spoken one at a time on a single worker thread (the thread that
owns the backend, as SAPI5 and NSSS require), by priority: NOW before NEXT
before NORMAL, in order within each; a NOW utterance interrupts lower speech,
which is spoken again afterwards. ``stop()`` sets the running utterance's
cancel token, kills its process and drops the queue, and returns at once;
``cancel_owner(job)`` does the same for one job's utterances only. Like NVDA's synthDriverHandler, if a backend fails to start or
dies mid-utterance the speaker moves to the next one (ultimately silence),
re-speaks the interrupted part with it and tells the user ONCE through
``on_message``; nothing ever raises into the caller. With ``wav_path`` every
utterance is synthesized to a temporary WAV whose frames are appended, in
order, to that one file.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
from collections import deque
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Sequence, Union

from .base import BackendError, Owner, Priority, Speaker, SpeechBackend, VoiceSettings, drop_queued
from .chunker import split_for_speech
from .wav import SinkError, WavSink

log = logging.getLogger(__name__)

BackendFactory = Callable[[], SpeechBackend]
BackendSpec = Union[SpeechBackend, BackendFactory]

UTTERANCE_CHARS = 400  # longest text handed to a backend in one call
DEFAULT_VOICE = VoiceSettings()


@dataclass
class _Item:
    text: str
    priority: Priority
    owner: Owner | None


class EngineSpeaker(Speaker):
    """Speaks through the first backend of ``backends`` that works."""

    def __init__(
        self,
        backends: Sequence[BackendSpec],
        *,
        voice: VoiceSettings = DEFAULT_VOICE,
        wav_path: str | Path | None = None,
        on_message: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__()
        self._candidates = list(backends)
        self._backend: SpeechBackend | None = None
        self._voice = voice
        self._sink = WavSink(wav_path) if wav_path is not None else None
        self._on_message = on_message
        self._reported: set[str] = set()
        self._voices: list[tuple[str, str]] = []
        self._tmpdir: Path | None = None
        self._count = 0
        self._cond = threading.Condition()
        self._queues: dict[Priority, deque[_Item]] = {p: deque() for p in Priority}
        self._pending = 0  # queued + the one being spoken
        self._cancel: threading.Event | None = None
        self._current: _Item | None = None
        self._requeue = False  # the running item was interrupted by NOW speech: say it again
        self._closed = False
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="iris-speech", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------- public API
    @property
    def name(self) -> str:  # type: ignore[override]
        backend = self._backend
        return backend.name if backend is not None else "silent"

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Block until a backend has started (or all failed); tests and start-up use it."""
        return self._ready.wait(timeout)

    def speak(self, text: str, *, interrupt: bool = False, priority: Priority = Priority.NORMAL,
              owner: Owner | None = None) -> None:
        text = (text or "").strip()
        if not text:
            return
        own_thread = threading.current_thread() is self._thread
        if interrupt and not own_thread:
            self.stop()
        if owner is not None:
            self._watch(owner)
        target: tuple[threading.Event | None, SpeechBackend | None] = (None, None)
        with self._cond:
            if self._closed or (owner is not None and owner.cancelled):
                return
            item = _Item(text, priority, owner)
            if own_thread:
                # Our own notices (a fallback report) go first and never cut off the answer.
                self._queues[max(priority, Priority.NEXT)].appendleft(item)
            else:
                self._queues[priority].append(item)
            self._pending += 1
            current = self._current
            if priority is Priority.NOW and current is not None and current.priority < Priority.NOW:
                self._requeue = True
                target = (self._cancel, self._backend)
            self._cond.notify_all()
        self._interrupt(*target)

    def cancel_owner(self, owner: Owner) -> None:
        with self._cond:
            dropped = drop_queued(self._queues.values(), owner)
            self._pending -= len(dropped)
            target: tuple[threading.Event | None, SpeechBackend | None] = (None, None)
            if self._current is not None and self._current.owner is owner:
                self._requeue = False
                target = (self._cancel, self._backend)  # taken now: the next utterance must not be cut
            self._cond.notify_all()
        self._interrupt(*target)
        for text in dropped:
            self._emit("cancelled", text)

    def stop(self) -> None:
        with self._cond:
            dropped = drop_queued(self._queues.values())
            self._pending -= len(dropped)
            self._requeue = False
            cancel, backend = self._cancel, self._backend
            self._cond.notify_all()
        self._interrupt(cancel, backend)
        for text in dropped:
            self._emit("cancelled", text)

    def _interrupt(self, cancel: threading.Event | None, backend: SpeechBackend | None) -> None:
        """Cut the utterance whose cancel event this is, unless the worker has moved on (any thread).

        Checked and done under the lock the worker takes to start an utterance, so the
        next utterance is never cut by mistake; ``interrupt()`` returns at once by contract.
        """
        if cancel is None:
            return
        with self._cond:
            cancel.set()
            if backend is None or self._cancel is not cancel:
                return
            try:
                backend.interrupt()
            except Exception:
                log.exception("speech interrupt failed")

    def wait(self, timeout: float | None = None) -> bool:
        with self._cond:
            if not self._cond.wait_for(lambda: self._pending <= 0, timeout):
                return False
        if self._sink is not None:
            self._sink.flush()
        return True

    def configure(self, *, rate: int | None = None, volume: float | None = None, voice: str | None = None) -> None:
        changes: dict[str, Any] = {}
        if rate is not None:
            changes["rate"] = max(40, min(int(rate), 900))
        if volume is not None:
            changes["volume"] = max(0.0, min(float(volume), 1.0))
        if voice is not None:
            changes["voice"] = str(voice)
        with self._cond:
            self._voice = replace(self._voice, **changes)  # read before each utterance

    @property
    def voice_settings(self) -> VoiceSettings:
        return self._voice

    def voices(self) -> list[tuple[str, str]]:
        return list(self._voices)

    @property
    def is_speaking(self) -> bool:
        with self._cond:
            return self._pending > 0

    def close(self) -> None:
        with self._cond:
            if self._closed:
                return
            self._closed = True
        self.stop()
        with self._cond:
            self._cond.notify_all()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=5)
        if self._sink is not None:
            self._sink.close()

    # ---------------------------------------------------------------- worker
    def _run(self) -> None:
        try:
            self._start_next(reason=None)
        finally:
            self._ready.set()
        while True:
            with self._cond:
                while not self._closed and not any(self._queues.values()):
                    self._cond.wait()
                if self._closed:
                    break
                item = next(q for p, q in sorted(self._queues.items(), reverse=True) if q).popleft()
                if item.owner is not None and item.owner.cancelled:
                    self._pending -= 1
                    self._cond.notify_all()
                    continue
                cancel = self._cancel = threading.Event()
                self._current, self._requeue = item, False
            try:
                self._utter(item.text, cancel)
            except Exception:  # never let the worker die
                log.exception("speech worker error")
            finally:
                with self._cond:
                    self._cancel = None
                    self._current = None
                    if self._requeue and not self._closed:
                        self._queues[item.priority].appendleft(item)  # said again after the NOW speech
                    else:
                        self._pending -= 1
                    self._requeue = False
                    self._cond.notify_all()
        self._drop_backend()
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)

    def _utter(self, text: str, cancel: threading.Event) -> None:
        self._emit("started", text)
        parts = split_for_speech(text, UTTERANCE_CHARS)
        done = 0  # parts already spoken or written: a fallback resumes after them
        audio_sent = False

        def on_audio() -> None:
            nonlocal audio_sent
            if not audio_sent:
                audio_sent = True
                self._emit("audio", text)

        try:
            while done < len(parts) and not cancel.is_set():
                backend = self._backend
                if backend is None:
                    break
                try:
                    self._speak_part(backend, parts[done], cancel, on_audio)
                    done += 1
                except Exception as exc:
                    if cancel.is_set():
                        break
                    log.info("speech backend %s failed: %r", backend.name, getattr(exc, "detail", None) or exc)
                    self._emit("error", text)
                    if isinstance(exc, SinkError):
                        self._drop_backend()
                        self._report(f"{exc.reason} No sound file will be written.")
                    else:
                        self._drop_backend()
                        self._start_next(reason=_reason(exc, backend))
            if self._backend is None and not cancel.is_set():
                on_audio()  # silence is "ready" at once, as with SilentSpeaker
        finally:
            self._emit("finished", text)

    def _speak_part(self, backend: SpeechBackend, part: str, cancel: threading.Event,
                    on_audio: Callable[[], None]) -> None:
        voice = self._voice
        if self._sink is None:
            backend.play(part, voice, cancel, on_audio)
            return
        if self._tmpdir is None:
            self._tmpdir = Path(tempfile.mkdtemp(prefix="iris-wav-"))
        self._count += 1
        path = self._tmpdir / f"part-{self._count}.wav"
        try:
            backend.synthesize(part, path, voice, cancel)
            if cancel.is_set():
                return
            self._sink.append_file(path)  # flushed: the frames are in the file now
            on_audio()
        finally:
            path.unlink(missing_ok=True)

    def _start_next(self, reason: str | None) -> None:
        """Start the next candidate that works; report what happened once."""
        first_reason = reason
        while self._candidates:
            spec = self._candidates.pop(0)
            backend: SpeechBackend | None = None
            try:
                backend = spec() if not isinstance(spec, SpeechBackend) else spec
                backend.start(device=self._sink is None)
            except Exception as exc:
                log.info("speech backend failed to start: %r", getattr(exc, "detail", None) or exc)
                first_reason = first_reason or _reason(exc, None)
                if backend is not None:
                    try:
                        backend.close()
                    except Exception:
                        pass
                continue
            self._backend = backend
            self._voices = _safe_voices(backend)
            if first_reason:
                self._report(f"{first_reason} Iris is using the {backend.name} voice instead.")
            return
        self._backend = None
        if first_reason:
            if self._sink is not None:
                self._report(f"{first_reason} No sound file will be written.")
            else:
                self._report(f"{first_reason} Speech is off; answers are still shown as text.")

    def _drop_backend(self) -> None:
        backend, self._backend = self._backend, None
        if backend is not None:
            try:
                backend.close()
            except Exception:
                log.exception("speech backend close failed")

    def _report(self, sentence: str) -> None:
        if sentence in self._reported or self._on_message is None:
            return
        self._reported.add(sentence)
        try:
            self._on_message(sentence)
        except Exception:
            log.exception("speech on_message failed")


def _reason(exc: BaseException, backend: SpeechBackend | None) -> str:
    if isinstance(exc, BackendError):
        return exc.reason
    if backend is not None:
        return f"The {backend.name} voice stopped working."
    return "A speech engine could not start."


def _safe_voices(backend: SpeechBackend) -> list[tuple[str, str]]:
    try:
        return list(backend.voices())
    except Exception:
        return []
