"""Build the speech output from settings: the user's screen reader, Iris's own voice, both, or text only.

``speech_output`` chooses: ``auto`` (the running screen reader if the platform
says one runs, else Iris's own voice), ``screen-reader``, ``iris-voice``,
``both``, ``text-only``. Screen-reader outputs are tried in order (Linux:
speech-dispatcher, then the GUI's Qt announcements; Windows and macOS: Prism,
then Qt announcements); when none works Iris falls back to its own voice and
says so once. Iris's own voice is, like NVDA's synthDriverHandler, the chosen
engine, then the others in the default order, then silence; its backends
start on the speaker's worker, so building it returns at once and never raises.
"""

from __future__ import annotations

import logging
import sys
import weakref
from pathlib import Path
from typing import Any, Callable, Sequence

from .base import SilentSpeaker, Speaker, SpeechBackend, VoiceSettings

log = logging.getLogger(__name__)

OUTPUT_CHOICES = ("auto", "screen-reader", "iris-voice", "both", "text-only")

#: Makes one screen-reader output; raises (any exception with an optional ``reason``) when unavailable.
OutputFactory = Callable[[], Speaker]

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
    on_info: Callable[[str], None] | None = None,
    screen_readers: Sequence[OutputFactory] | None = None,
    detect: Callable[[], bool | None] | None = None,
) -> Speaker:
    """The speech output for these settings (a :class:`app.settings.Settings` or any mapping).

    ``enabled=False`` gives a SilentSpeaker. ``wav_path`` writes every utterance,
    in order, into that file with Iris's own voice (finalized on
    ``wait()``/``close()``); asking for a file overrides ``speech_engine:
    silent``. ``screen_readers`` are extra screen-reader outputs after the
    platform's own (the GUI adds Qt announcements); ``detect`` says whether a
    screen reader runs (default: :func:`app.a11y.screen_reader.screen_reader_running`).
    A screen-reader choice is told once through ``on_info``, a fallback through ``on_message``.
    """
    if not enabled:
        return SilentSpeaker()
    if wav_path is not None:
        return create_voice(settings, wav_path=wav_path, on_message=on_message)
    choice = str(_setting(settings, "speech_output", "auto"))
    if choice == "text-only":
        return TextOnly()
    if choice == "iris-voice":
        return create_voice(settings, on_message=on_message)
    if choice == "auto":
        running = (detect or _detect)()
        if not running:
            return create_voice(settings, on_message=on_message)
    chain = list(platform_screen_readers(spawn=choice != "auto", settings=settings, on_message=on_message))
    chain += list(screen_readers or ())
    reader, reason = _first_working(chain)
    if reader is None:
        voice = create_voice(settings, on_message=on_message)
        _say(on_message, f"{reason} Iris is using its own voice instead.")
        return voice
    if choice == "both":
        from .router import FanOutSpeaker

        _say(on_info, f"Iris speaks through {reader.name} and with its own voice.")
        return FanOutSpeaker([reader, create_voice(settings, on_message=on_message)])
    _say(on_info, f"Iris speaks through your screen reader ({reader.name}).")
    return reader


class TextOnly(SilentSpeaker):
    """``speech_output: text-only``: answers and messages are shown, never spoken."""

    name = "text-only"


def create_voice(
    settings: Any,
    *,
    wav_path: str | Path | None = None,
    on_message: Callable[[str], None] | None = None,
) -> Speaker:
    """Iris's own voice (``speech_engine``: pyttsx3 -> espeak-ng -> silent), following rate/volume/voice."""
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


def platform_screen_readers(
    *, spawn: bool, settings: Any = None, on_message: Callable[[str], None] | None = None,
    platform: str | None = None,
) -> list[OutputFactory]:
    """This platform's own screen-reader outputs, best first."""
    platform = platform or sys.platform
    if platform.startswith("win") or platform == "darwin":
        def prism() -> Speaker:
            from .output_prism import PrismSpeaker

            return PrismSpeaker()

        return [prism]

    def speechd() -> Speaker:
        from .output_speechd import SpeechDispatcherSpeaker

        return SpeechDispatcherSpeaker(
            spawn=spawn, on_message=on_message,
            fallback=lambda: create_voice(settings, on_message=on_message),
        )

    return [speechd]


def _first_working(chain: Sequence[OutputFactory]) -> tuple[Speaker | None, str]:
    reason = "No screen reader output could be reached."
    for make in chain:
        try:
            return make(), ""
        except Exception as exc:  # noqa: BLE001 - each plugin says why in one sentence, or we do
            log.info("screen reader output unavailable: %r", exc)
            found = getattr(exc, "reason", None)
            if isinstance(found, str) and found and reason.startswith("No screen reader output"):
                reason = found
    return None, reason


def _detect() -> bool | None:
    from ..a11y.screen_reader import screen_reader_running

    return screen_reader_running()


def _say(callback: Callable[[str], None] | None, sentence: str) -> None:
    if callback is not None:
        try:
            callback(sentence)
        except Exception:
            log.exception("could not announce the speech output")


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
