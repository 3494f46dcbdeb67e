"""WAV helpers: read and measure files, append utterances into one file, play a file.

The WAV sink is how ``--wav out.wav`` works: each utterance is synthesized to
its own temporary file and its frames are appended to one output file, whose
header is patched after every append so the file is valid at every moment.
The player runs an external command we can kill at once (``stop()`` must be
instant) and whose exit status tells us the audio device could not be opened.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Sequence

from .base import BackendError


class SinkError(BackendError):
    """The output WAV file cannot be written: another engine would not help."""


@dataclass(frozen=True)
class WavFormat:
    channels: int = 1
    sample_width: int = 2  # bytes per sample
    rate: int = 22050


def read_wav(path: str | os.PathLike[str]) -> tuple[WavFormat, bytes]:
    """Format and raw frames of a PCM WAV file; raises BackendError if it is not one."""
    try:
        with wave.open(str(path), "rb") as reader:
            fmt = WavFormat(reader.getnchannels(), reader.getsampwidth(), reader.getframerate())
            frames = reader.readframes(reader.getnframes())
    except (OSError, EOFError, wave.Error) as exc:
        raise BackendError("The speech engine did not produce any sound.", detail=f"{path}: {exc}") from exc
    return fmt, frames


def wav_duration(path: str | os.PathLike[str]) -> float:
    """Seconds of audio in a WAV file."""
    with wave.open(str(path), "rb") as reader:
        return reader.getnframes() / float(reader.getframerate())


def write_wav(path: str | os.PathLike[str], frames: bytes, fmt: WavFormat = WavFormat()) -> None:
    with wave.open(str(path), "wb") as writer:
        writer.setnchannels(fmt.channels)
        writer.setsampwidth(fmt.sample_width)
        writer.setframerate(fmt.rate)
        writer.writeframes(frames)


def write_silence(path: str | os.PathLike[str], seconds: float, fmt: WavFormat = WavFormat()) -> None:
    frames = int(round(seconds * fmt.rate))
    write_wav(path, b"\0" * frames * fmt.channels * fmt.sample_width, fmt)


def convert_frames(frames: bytes, src: WavFormat, dst: WavFormat) -> bytes:
    """Convert PCM frames between formats (engines differ; the output file has one)."""
    if src == dst or not frames:
        return frames if src == dst else b""
    import numpy as np  # only when engines disagree on the format

    dtypes = {1: np.uint8, 2: np.int16, 4: np.int32}
    if src.sample_width not in dtypes or dst.sample_width not in dtypes:
        raise BackendError("The speech engine produced sound in a format Iris cannot use.",
                           detail=f"sample width {src.sample_width} -> {dst.sample_width}")
    usable = len(frames) - len(frames) % (src.channels * src.sample_width)
    data = np.frombuffer(frames[:usable], dtype=dtypes[src.sample_width]).astype(np.float64)
    if src.sample_width == 1:
        data = (data - 128.0) / 128.0
    else:
        data = data / float(2 ** (8 * src.sample_width - 1))
    data = data.reshape(-1, src.channels).mean(axis=1)  # mono mix
    if src.rate != dst.rate and len(data) > 1:
        count = max(1, int(round(len(data) * dst.rate / src.rate)))
        positions = np.linspace(0, len(data) - 1, count)
        data = np.interp(positions, np.arange(len(data)), data)
    data = np.repeat(data[:, None], dst.channels, axis=1).reshape(-1)
    data = np.clip(data, -1.0, 1.0)
    if dst.sample_width == 1:
        out = np.round(data * 127.0 + 128.0).astype(np.uint8)
    else:
        scale = float(2 ** (8 * dst.sample_width - 1) - 1)
        out = np.round(data * scale).astype(dtypes[dst.sample_width])
    return out.astype(out.dtype.newbyteorder("<")).tobytes()


class WavSink:
    """Appends utterances, in order, to one WAV file that stays valid after each append."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.format: WavFormat | None = None
        self.frames_written = 0
        self._file: IO[bytes] | None = None
        self._writer: wave.Wave_write | None = None
        self._lock = threading.Lock()

    def append_file(self, path: str | os.PathLike[str]) -> float:
        """Append one utterance's WAV file; returns the seconds added."""
        fmt, frames = read_wav(path)
        return self.append(frames, fmt)

    def append(self, frames: bytes, fmt: WavFormat) -> float:
        with self._lock:
            if self._writer is None:
                self._open(fmt)
            assert self.format is not None and self._writer is not None and self._file is not None
            frames = convert_frames(frames, fmt, self.format)
            try:
                self._writer.writeframes(frames)  # patches the header: the file is valid now
                self._file.flush()
            except OSError as exc:
                raise SinkError(
                    f"Iris could not write the sound file {self.path.name}: {exc.strerror or exc}.",
                    detail=str(exc),
                ) from exc
            added = len(frames) // (self.format.channels * self.format.sample_width)
            self.frames_written += added
            return added / float(self.format.rate)

    def _open(self, fmt: WavFormat) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "wb")
        except OSError as exc:
            raise SinkError(
                f"Iris could not write the sound file {self.path.name}: {exc.strerror or exc}.",
                detail=str(exc),
            ) from exc
        self._writer = wave.open(self._file, "wb")
        self._writer.setnchannels(fmt.channels)
        self._writer.setsampwidth(fmt.sample_width)
        self._writer.setframerate(fmt.rate)
        self.format = fmt

    @property
    def duration(self) -> float:
        return 0.0 if self.format is None else self.frames_written / float(self.format.rate)

    def flush(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.flush()
                try:
                    os.fsync(self._file.fileno())
                except OSError:
                    pass

    def close(self) -> None:
        with self._lock:
            writer, self._writer = self._writer, None
            handle, self._file = self._file, None
        if writer is not None:
            writer.close()  # wave does not close a file object it was given
        if handle is not None:
            handle.close()


# Players whose exit status is non-zero when the audio device cannot be opened.
# (ffplay is left out on purpose: it exits 0 even when nothing could be played.)
_PLAYERS: tuple[tuple[str, ...], ...] = (
    ("paplay",),
    ("pw-play",),
    ("aplay", "-q"),
    ("play", "-q"),
)


def kill_quietly(proc: subprocess.Popen[bytes] | None) -> None:
    """Kill a child process that may already have ended (used by every stop)."""
    if proc is not None and proc.poll() is None:
        try:
            proc.kill()
        except OSError:
            pass


def find_player() -> list[str] | None:
    """The command (without the file name) that plays a WAV file here, or None."""
    if sys.platform == "darwin" and shutil.which("afplay"):
        return ["afplay"]
    for candidate in _PLAYERS:
        exe = shutil.which(candidate[0])
        if exe:
            return [exe, *candidate[1:]]
    return None


class Player:
    """Plays WAV files with an external command; ``interrupt`` kills it at once."""

    def __init__(self, command: Sequence[str] | None = None) -> None:
        found = list(command) if command else find_player()
        if not found:
            raise BackendError("Iris found no program to play sound (such as paplay or aplay).")
        self.command = found
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    def probe(self, workdir: Path) -> None:
        """Play a few milliseconds of silence: raises BackendError if the device cannot be opened."""
        path = workdir / "probe.wav"
        write_silence(path, 0.05)
        try:
            self.play(path, threading.Event(), timeout=10)
        finally:
            path.unlink(missing_ok=True)

    def play(self, path: str | os.PathLike[str], cancel: threading.Event, *, timeout: float | None = None) -> None:
        """Play one file, blocking; returns early (without error) once ``cancel`` is set."""
        with self._lock:
            if cancel.is_set():
                return
            try:
                self._proc = subprocess.Popen(
                    [*self.command, str(path)],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                )
            except OSError as exc:
                raise BackendError("Iris could not start its sound player.", detail=str(exc)) from exc
            proc = self._proc
        try:
            _, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise BackendError("The sound player stopped responding.") from None
        finally:
            with self._lock:
                self._proc = None
        if proc.returncode != 0 and not cancel.is_set():
            detail = err.decode("utf-8", "replace").strip()[-300:]
            raise BackendError(
                "Iris could not play sound: the audio device could not be opened.",
                detail=f"{self.command[0]} exited {proc.returncode}: {detail}",
            )

    def interrupt(self) -> None:
        with self._lock:
            proc = self._proc
        kill_quietly(proc)
