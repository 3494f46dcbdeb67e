"""Build the speaker from settings: pyttsx3 -> espeak-ng -> silent, or a WAV sink.

Like NVDA's synthDriverHandler: the chosen engine is tried first, then the
others in the default order, then silence. Nothing here touches an engine on
the caller's thread: backends start on the speaker's worker, so this returns
at once and never raises.
"""

from __future__ import annotations

import weakref
from pathlib import Path
from typing import Any, Callable

from .base import SilentSpeaker, Speaker, SpeechBackend, VoiceSettings

DEFAULT_ORDER = ("pyttsx3", "espeak-ng")


def _pyttsx3() -> SpeechBackend:
    from .pyttsx3_engine import Pyttsx3Backend

    return Pyttsx3Backend()


def _espeak() -> SpeechBackend:
    from .espeak_engine import EspeakNgBackend

    return EspeakNgBackend()


BACKENDS: dict[str, Callable[[], SpeechBackend]] = {"pyttsx3": _pyttsx3, "espeak-ng": _espeak}


def engine_chain(choice: str) -> list[str]:
    """Names to try, in order, for a ``speech_engine`` setting ("auto", "pyttsx3", ...)."""
    if choice == "silent":
        return []
    first = [choice] if choice in BACKENDS else []
    return first + [name for name in DEFAULT_ORDER if name not in first]


def _setting(settings: Any, key: str, default: Any) -> Any:
    try:
        value = settings[key]
    except (KeyError, TypeError, IndexError):
        return default
    return default if value is None else value


def voice_settings(settings: Any) -> VoiceSettings:
    return VoiceSettings(
        rate=int(_setting(settings, "rate", VoiceSettings.rate)),
        volume=float(_setting(settings, "volume", VoiceSettings.volume)),
        voice=str(_setting(settings, "voice", VoiceSettings.voice)),
    )


def create_speaker(
    settings: Any,
    *,
    wav_path: str | Path | None = None,
    enabled: bool = True,
    on_message: Callable[[str], None] | None = None,
) -> Speaker:
    """The speaker for these settings (a :class:`app.settings.Settings` or any mapping).

    ``enabled=False`` gives a SilentSpeaker. ``wav_path`` writes every utterance,
    in order, into that file (finalized on ``wait()``/``close()``); asking for a
    file overrides ``speech_engine: silent``. Later changes to rate, volume and
    voice in a Settings object apply from the next utterance.
    """
    if not enabled:
        return SilentSpeaker()
    choice = str(_setting(settings, "speech_engine", "auto"))
    if wav_path is not None and choice == "silent":
        choice = "auto"
    names = engine_chain(choice)
    if not names:
        return SilentSpeaker()
    from .manager import EngineSpeaker

    speaker = EngineSpeaker(
        [BACKENDS[name] for name in names],
        voice=voice_settings(settings),
        wav_path=wav_path,
        on_message=on_message,
    )
    _follow_settings(settings, speaker)
    return speaker


def _follow_settings(settings: Any, speaker: Speaker) -> None:
    """Forward rate/volume/voice changes; a weak reference lets a closed speaker go."""
    subscribe = getattr(settings, "subscribe", None)
    if subscribe is None:
        return
    ref = weakref.ref(speaker)

    def on_change(key: str, value: Any) -> None:
        target = ref()
        if target is not None and key in ("rate", "volume", "voice"):
            target.configure(**{key: value})

    subscribe(on_change)
