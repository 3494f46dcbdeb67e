"""The pyttsx3 backend: espeak-ng (Linux), SAPI5 (Windows), NSSpeechSynthesizer (macOS).

What pyttsx3 2.99 really does, and how this module copes:

* espeak driver: ``runAndWait()`` only *starts* synthesis (libespeak-ng runs in
  its own thread) and the driver never forgets its last ``save_to_file`` target
  or text, so a later ``say()`` overwrites that file and two queued
  ``save_to_file`` calls write only the last one. We therefore never call
  ``say()`` on it: every utterance is ONE ``save_to_file`` + ``runAndWait()``,
  then we wait (with a timeout) for ``finished-utterance``. Sound goes to the
  device through :class:`app.speech.wav.Player`, which we can kill at once and
  whose exit status reveals a missing audio device (the driver's own playback
  is ``os.system("aplay ...")`` inside the espeak thread: unkillable, errors lost).
* libespeak-ng is initialised once per process with ONE global callback that the
  newest driver grabs and a collected driver clears; so every backend shares one
  process-wide Engine, one utterance at a time.
* The driver prints "Audio saved to ..." on stdout (which would corrupt
  ``iris ... --json``); its module-level ``print`` is silenced.
* ``runAndWait()`` cancels espeak if it is busy, dropping just-queued property
  changes, so we let espeak settle before each utterance.
* The driver copies its whole audio buffer for every audio block (quadratic), so
  the speaker never hands it more than a few hundred characters at once.
* SAPI5 / NSSS: ``say()`` + ``runAndWait()`` block until the utterance ends and
  talk to the device themselves; ``stop()`` purges. Their objects belong to the
  thread that made them, which is why backends run on the speaker's worker.
  These two paths cannot be exercised on Linux.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any, Callable, Sequence

from .base import BackendError, SpeechBackend, VoiceSettings, match_voice
from .wav import Player, read_wav


def _quiet(*args: Any, **kwargs: Any) -> None:
    return None


class _SharedEspeak:
    """The one pyttsx3 espeak Engine of this process (see the module docstring)."""

    lock = threading.Lock()  # creation
    utterance = threading.Lock()  # one utterance at a time, across all backends
    done = threading.Event()  # set by finished-utterance (espeak's thread) or interrupt
    engine: Any = None
    default_voice: str | None = None

    @classmethod
    def get(cls) -> Any:
        with cls.lock:
            if cls.engine is None:
                import pyttsx3
                from pyttsx3.drivers import espeak as driver_module  # loads libespeak-ng

                driver_module.print = _quiet  # type: ignore[attr-defined]
                engine = pyttsx3.Engine("espeak")
                engine.connect("finished-utterance", cls._on_finished)
                # An empty run leaves the proxy idle, so later setProperty calls reach
                # espeak at once instead of waiting in pyttsx3's queue (see _settle_espeak).
                engine.runAndWait()
                cls.default_voice = engine.getProperty("voice")
                cls.engine = engine
            return cls.engine

    @classmethod
    def _on_finished(cls, name: Any = None, completed: bool = True) -> None:
        cls.done.set()


def _settle_espeak() -> None:
    """Let libespeak-ng apply the queued rate/volume/voice before synthesis starts.

    In its asynchronous mode espeak queues parameter changes as commands, and
    ``runAndWait()`` calls ``espeak_Cancel()`` if it is still busy, which
    silently drops them: the first utterance after a rate change kept the old rate.
    """
    from pyttsx3.drivers import _espeak

    _espeak.Synchronize()


def default_driver() -> str:
    return {"win32": "sapi5", "darwin": "nsss"}.get(sys.platform, "espeak")


def _init_com() -> None:
    """SAPI5 is COM: a worker thread must join an apartment before creating the voice."""
    try:
        import pythoncom  # type: ignore[import-not-found,import-untyped,unused-ignore]

        pythoncom.CoInitialize()
    except Exception:
        try:
            import comtypes  # type: ignore[import-not-found]

            comtypes.CoInitialize()
        except Exception:
            pass


class Pyttsx3Backend(SpeechBackend):
    name = "pyttsx3"

    def __init__(self, driver: str | None = None, *, player_command: Sequence[str] | None = None) -> None:
        self.driver = driver or default_driver()
        self._player_command = player_command
        self._engine: Any = None
        self._player: Player | None = None
        self._voices: list[tuple[str, str]] = []
        self._default_voice: str | None = None
        self._workdir: Path | None = None
        self._lock = threading.Lock()
        self._active = False
        self._count = 0
        self._on_audio: Callable[[], None] | None = None
        self._error: BaseException | None = None

    # ------------------------------------------------------------------ setup
    def start(self, *, device: bool) -> None:
        try:
            import pyttsx3  # noqa: F401
        except ImportError as exc:
            raise BackendError("The pyttsx3 speech package is not installed.", detail=repr(exc)) from exc
        try:
            if self.driver == "espeak":
                self._engine = _SharedEspeak.get()
                self._default_voice = _SharedEspeak.default_voice
            else:
                if self.driver == "sapi5":
                    _init_com()
                self._engine = pyttsx3.Engine(self.driver)
                self._engine.connect("started-utterance", self._on_started)
                self._engine.connect("error", self._on_error)
                self._default_voice = self._engine.getProperty("voice")
            self._voices = [(str(v.id), str(v.name or v.id)) for v in self._engine.getProperty("voices") or []]
        except Exception as exc:  # a missing library surfaces as OSError/RuntimeError/ImportError
            raise BackendError(
                f"The {self._engine_label()} voice could not start.", detail=f"{type(exc).__name__}: {exc}"
            ) from exc
        self._workdir = Path(tempfile.mkdtemp(prefix="iris-pyttsx3-"))
        if device and self.driver == "espeak":
            self._player = Player(self._player_command)
            self._player.probe(self._workdir)

    def _engine_label(self) -> str:
        return {"espeak": "pyttsx3 (espeak-ng)", "sapi5": "Windows", "nsss": "macOS"}.get(self.driver, "pyttsx3")

    def voices(self) -> list[tuple[str, str]]:
        return list(self._voices)

    def close(self) -> None:
        self.interrupt()
        if self.driver != "espeak" and self._engine is not None:
            self._engine = None  # its owner thread is ending; the shared espeak engine lives on
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    # -------------------------------------------------------------- speaking
    def _apply(self, voice: VoiceSettings) -> None:
        """Set every property before each utterance: the espeak engine is shared."""
        engine = self._engine
        engine.setProperty("rate", int(voice.rate))
        engine.setProperty("volume", max(0.0, min(float(voice.volume), 1.0)))
        wanted = match_voice(voice.voice, self._voices) or self._default_voice
        if wanted:
            engine.setProperty("voice", wanted)

    def _begin(self, cancel: threading.Event) -> bool:
        with self._lock:
            if cancel.is_set():
                return False
            self._active = True
            self._error = None
            return True

    def _end(self) -> None:
        with self._lock:
            self._active = False

    def synthesize(self, text: str, path: Path, voice: VoiceSettings, cancel: threading.Event) -> None:
        if self.driver == "espeak":
            self._synthesize_espeak(text, path, voice, cancel)
        elif self.driver == "nsss":
            self._synthesize_native(text, path.with_suffix(".aiff"), voice, cancel)
            if not cancel.is_set():
                _aiff_to_wav(path.with_suffix(".aiff"), path)
        else:
            self._synthesize_native(text, path, voice, cancel)
        if not cancel.is_set():
            read_wav(path)  # raises BackendError when no valid WAV came out

    def _synthesize_espeak(self, text: str, path: Path, voice: VoiceSettings, cancel: threading.Event) -> None:
        engine = self._engine
        with _SharedEspeak.utterance:
            if not self._begin(cancel):
                return
            _SharedEspeak.done.clear()
            try:
                self._apply(voice)
                _settle_espeak()
                engine.save_to_file(text, str(path))
                engine.runAndWait()  # returns once synthesis has *started*
                finished = _SharedEspeak.done.wait(timeout=10 + len(text) / 20)
                if cancel.is_set() or not finished:
                    engine.stop()  # here, on the worker: cancels espeak's own thread
            finally:
                self._end()
        if not finished and not cancel.is_set():
            raise BackendError("The pyttsx3 voice stopped responding.")

    def _synthesize_native(self, text: str, path: Path, voice: VoiceSettings, cancel: threading.Event) -> None:
        if not self._begin(cancel):
            return
        try:
            self._apply(voice)
            self._engine.save_to_file(text, str(path))
            self._engine.runAndWait()
        finally:
            self._end()
        self._raise_recorded_error()

    def play(self, text: str, voice: VoiceSettings, cancel: threading.Event,
             on_audio: Callable[[], None]) -> None:
        if self.driver != "espeak":
            self._play_native(text, voice, cancel, on_audio)
            return
        assert self._player is not None and self._workdir is not None, "start(device=True) first"
        self._count += 1
        path = self._workdir / f"utterance-{self._count}.wav"
        try:
            self._synthesize_espeak(text, path, voice, cancel)
            if cancel.is_set():
                return
            read_wav(path)
            on_audio()
            self._player.play(path, cancel, timeout=30 + len(text) / 3)
        finally:
            path.unlink(missing_ok=True)

    def _play_native(self, text: str, voice: VoiceSettings, cancel: threading.Event,
                     on_audio: Callable[[], None]) -> None:
        if not self._begin(cancel):
            return
        self._on_audio = on_audio
        try:
            self._apply(voice)
            self._engine.say(text)
            self._engine.runAndWait()  # SAPI5/NSSS: blocks until finished-utterance
        finally:
            self._on_audio = None
            self._end()
        self._raise_recorded_error()

    def _on_started(self, name: Any = None) -> None:
        callback = self._on_audio
        if callback is not None:
            callback()

    def _on_error(self, name: Any = None, exception: BaseException | None = None) -> None:
        self._error = exception or RuntimeError("speech engine error")
        try:  # a failed say() leaves the driver busy forever: end the loop ourselves
            self._engine.endLoop()
        except Exception:
            pass

    def _raise_recorded_error(self) -> None:
        error = self._error
        if error is not None:
            raise BackendError(f"The {self._engine_label()} voice stopped working.", detail=repr(error))

    def interrupt(self) -> None:
        with self._lock:
            active = self._active
        if self._player is not None:
            self._player.interrupt()
        if not active:
            return
        if self.driver == "espeak":
            _SharedEspeak.done.set()  # wakes the worker, which cancels espeak on its own thread
        else:
            try:
                self._engine.stop()
            except Exception:
                pass


def _aiff_to_wav(source: Path, target: Path) -> None:
    """NSSpeechSynthesizer writes AIFF whatever the name; afconvert ships with macOS."""
    try:
        subprocess.run(["afconvert", "-f", "WAVE", "-d", "LEI16", str(source), str(target)],
                       check=True, capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        raise BackendError("The macOS voice produced sound Iris could not convert.", detail=repr(exc)) from exc
    finally:
        source.unlink(missing_ok=True)
