"""QtMultimedia, loaded once with its harmless start-up noise filtered out.

On a machine without PipeWire, PulseAudio or a GPU, the multimedia backend logs
Qt *warnings* that say only "this optional thing is absent" (no PipeWire
library, no PulseAudio server, no RHI for video conversion, no audio device
for a sound effect). They are not errors for Iris, which then simply plays no
sound; left alone they would spam stderr (read aloud by some screen readers)
and fail tests that treat Qt warnings as failures. :func:`quiet_backend`
drops exactly those messages, only while the backend is being touched, and
forwards every other message to the handler that was installed before.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from contextlib import contextmanager
from typing import Iterator

from PySide6.QtCore import QtMsgType, qInstallMessageHandler

log = logging.getLogger(__name__)

# Narrow on purpose: each pattern is one known "optional component missing" notice.
_NOISE = re.compile(
    r"pipewire"
    r"|PulseAudioService: pa_context_connect\(\) failed"
    r"|No RHI backend\. Using CPU conversion"
    r"|QSoundEffect: playback of this format is not supported on the selected audio device"
)


@contextmanager
def quiet_backend() -> Iterator[None]:
    """Drop the backend's known start-up notices; pass everything else on."""
    previous = None

    def handler(mode: QtMsgType, context, message: str) -> None:
        if _NOISE.search(message):
            log.debug("qt multimedia: %s", message)
            return
        if previous is not None:
            previous(mode, context, message)
        elif mode != QtMsgType.QtDebugMsg:
            sys.stderr.write(message + "\n")

    previous = qInstallMessageHandler(handler)
    try:
        yield
    finally:
        qInstallMessageHandler(previous)


os.environ.setdefault("QT_MEDIA_BACKEND", "ffmpeg")
with quiet_backend():
    from PySide6 import QtMultimedia  # noqa: E402  (loads the backend plugin)

_audio_available: bool | None = None


def audio_output_available(*, refresh: bool = False) -> bool:
    """True when the system has at least one audio output device (cached)."""
    global _audio_available
    if _audio_available is None or refresh:
        with quiet_backend():
            _audio_available = bool(QtMultimedia.QMediaDevices.audioOutputs())
    return _audio_available


def video_inputs() -> list:
    """The system's cameras as QCameraDevice objects."""
    with quiet_backend():
        return list(QtMultimedia.QMediaDevices.videoInputs())


__all__ = ["QtMultimedia", "quiet_backend", "audio_output_available", "video_inputs"]
