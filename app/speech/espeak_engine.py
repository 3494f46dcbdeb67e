"""The espeak-ng command-line backend: one process per utterance, killed to stop.

Text goes in on stdin (no argument-length limit, no option injection from text
that starts with "-"). To a WAV file: ``espeak-ng -w``. To the sound device:
synthesize to a temporary WAV and play it with a player whose exit status
reveals a missing audio device (espeak-ng's own playback exits 0 even then),
or, where no player exists (Windows), let espeak-ng play and read its stderr.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Callable, Sequence

from .base import BackendError, SpeechBackend, VoiceSettings, match_voice
from .wav import Player, kill_quietly, read_wav

_NO_WINDOW = getattr(subprocess, "CREATE_NO_WINDOW", 0) if sys.platform == "win32" else 0


def find_espeak() -> str | None:
    return shutil.which("espeak-ng") or shutil.which("espeak")


def parse_voices(listing: str) -> list[tuple[str, str]]:
    """(file id, readable name) pairs from ``espeak-ng --voices``; ids work with ``-v``."""
    voices = []
    for line in listing.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 5:
            voices.append((parts[4].lower(), parts[3].replace("_", " ")))
    return voices


class EspeakNgBackend(SpeechBackend):
    name = "espeak-ng"

    def __init__(self, executable: str | None = None, *, player_command: Sequence[str] | None = None) -> None:
        self._executable = executable
        self._player_command = player_command
        self._exe: str | None = None
        self._player: Player | None = None
        self._voices: list[tuple[str, str]] = []
        self._workdir: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._count = 0

    # ------------------------------------------------------------------ setup
    def start(self, *, device: bool) -> None:
        exe = self._executable or find_espeak()
        if not exe:
            raise BackendError("The espeak-ng speech program is not installed.")
        try:
            version = subprocess.run([exe, "--version"], capture_output=True, timeout=10, creationflags=_NO_WINDOW)
            listing = subprocess.run([exe, "--voices"], capture_output=True, timeout=10, creationflags=_NO_WINDOW)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise BackendError("The espeak-ng speech program could not be started.", detail=repr(exc)) from exc
        if version.returncode != 0:
            raise BackendError("The espeak-ng speech program could not be started.",
                               detail=version.stderr.decode("utf-8", "replace")[-300:])
        self._exe = exe
        self._voices = parse_voices(listing.stdout.decode("utf-8", "replace"))
        self._workdir = Path(tempfile.mkdtemp(prefix="iris-espeak-"))
        if device:
            try:
                self._player = Player(self._player_command)
            except BackendError:
                self._player = None  # espeak-ng plays by itself
            if self._player is not None:
                self._player.probe(self._workdir)

    def voices(self) -> list[tuple[str, str]]:
        return list(self._voices)

    def close(self) -> None:
        self.interrupt()
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    # -------------------------------------------------------------- speaking
    def _args(self, voice: VoiceSettings) -> list[str]:
        assert self._exe is not None, "start() first"
        rate = max(80, min(int(voice.rate), 900))
        amplitude = int(round(max(0.0, min(float(voice.volume), 1.0)) * 100))
        args = [self._exe, "--stdin", "-b", "1", "-s", str(rate), "-a", str(amplitude)]
        voice_id = match_voice(voice.voice, self._voices)
        if voice_id:  # an unknown voice would make espeak-ng refuse to speak at all
            args += ["-v", voice_id]
        return args

    def _run(self, args: list[str], text: str, cancel: threading.Event, timeout: float,
             on_started: Callable[[], None] | None = None) -> str:
        """Run one espeak-ng process; returns its stderr. Killed by ``interrupt``."""
        with self._lock:
            if cancel.is_set():
                return ""
            try:
                proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE, creationflags=_NO_WINDOW)
            except OSError as exc:
                raise BackendError("The espeak-ng speech program could not be started.", detail=repr(exc)) from exc
            self._proc = proc
        try:
            if on_started is not None:
                on_started()
            try:
                _, err = proc.communicate(text.encode("utf-8"), timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()
                raise BackendError("The espeak-ng voice stopped responding.") from None
            except (BrokenPipeError, OSError):  # killed while we were writing
                proc.wait()
                err = b""
        finally:
            with self._lock:
                self._proc = None
        stderr = err.decode("utf-8", "replace").strip()
        if proc.returncode != 0 and not cancel.is_set():
            raise BackendError("The espeak-ng voice stopped working.",
                               detail=f"exit {proc.returncode}: {stderr[-300:]}")
        return stderr

    def synthesize(self, text: str, path: Path, voice: VoiceSettings, cancel: threading.Event) -> None:
        self._run([*self._args(voice), "-w", str(path)], text, cancel, timeout=15 + len(text) / 20)
        if not cancel.is_set():
            read_wav(path)  # raises BackendError when no valid WAV came out

    def play(self, text: str, voice: VoiceSettings, cancel: threading.Event,
             on_audio: Callable[[], None]) -> None:
        if self._player is None:
            stderr = self._run(self._args(voice), text, cancel, timeout=30 + len(text) / 3, on_started=on_audio)
            if stderr and "error" in stderr.lower() and not cancel.is_set():
                raise BackendError("Iris could not play sound: the audio device could not be opened.",
                                   detail=stderr[-300:])
            return
        assert self._workdir is not None
        self._count += 1
        path = self._workdir / f"utterance-{self._count}.wav"
        try:
            self.synthesize(text, path, voice, cancel)
            if cancel.is_set():
                return
            on_audio()
            self._player.play(path, cancel, timeout=30 + len(text) / 3)
        finally:
            path.unlink(missing_ok=True)

    def interrupt(self) -> None:
        with self._lock:
            proc = self._proc
        kill_quietly(proc)
        if self._player is not None:
            self._player.interrupt()
