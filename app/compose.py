"""The composition root: builds the core once and hands dependencies down.

Both faces (CLI and GUI) call :func:`build_core`; tests pass doubles for any
part (engine, speaker, OCR, settings) instead of patching module globals.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from .engine.base import VisionEngine
from .jobs import Deliver, JobRunner, _call_now
from .notifier import Notifier
from .pipeline import Assistant
from .settings import Settings
from .speech.base import Speaker
from .speech.factory import OutputFactory
from .speech.router import SpeechRouter


@dataclass
class Core:
    settings: Settings
    notifier: Notifier
    speaker: Speaker
    engine: VisionEngine | None
    ocr: Any
    assistant: Assistant
    runner: JobRunner

    def close(self) -> None:
        if self.engine is not None and not self.engine.is_loaded:
            try:
                self.engine.unload()  # abandons a load in progress, so quitting does not wait for it
            except Exception:
                pass
        self.runner.close()
        try:
            self.speaker.close()
        except Exception:
            pass
        if self.engine is not None:
            try:
                self.engine.unload()
            except Exception:
                pass


def build_core(
    *,
    settings: Settings | None = None,
    notifier: Notifier | None = None,
    speaker: Speaker | None = None,
    engine: VisionEngine | None = None,
    ocr: Any | None = None,
    model: str | None = None,
    device: str | None = None,
    wav_path: Path | None = None,
    server: str | None = None,
    speak: bool = True,
    deliver: Deliver = _call_now,
    with_ocr: bool = True,
    with_engine: bool = True,
    screen_readers: Sequence[OutputFactory] = (),
) -> Core:
    """Build the core; ``with_engine=False`` / ``with_ocr=False`` leave those parts out
    (``iris read`` and ``iris speak`` need no vision model and must not import torch).
    ``screen_readers``: extra screen-reader speech outputs (the GUI's Qt announcements).
    ``Core.speaker`` is a :class:`SpeechRouter`: its output can be swapped while Iris runs."""
    notifier = notifier or Notifier()
    if settings is None:
        settings = Settings.load(on_message=notifier.error)
    if speaker is None:
        from .speech.factory import create_speaker

        speaker = create_speaker(settings, wav_path=wav_path, enabled=speak, on_message=notifier.error,
                                 on_info=notifier.info, screen_readers=screen_readers)
    if not isinstance(speaker, SpeechRouter):
        speaker = SpeechRouter(speaker)
    notifier.set_speaker(speaker)
    if engine is None and with_engine:
        from .engine.loading import create_engine

        engine = create_engine(
            model=model or settings["model"],
            device=device or settings["device"],
            settings=settings,
            server=server,
            server_model=model,
            notify=notifier.info,
        )
    if ocr is None and with_ocr:
        from .ocr import TextReader, default_engines

        # The OCR chain (platform OCR, tesseract, PP-OCR) and its language setting, read at each use.
        ocr = TextReader(engines=default_engines(), language=lambda: settings["ocr_language"])
    assistant = Assistant(engine=engine, speaker=speaker, notifier=notifier, settings=settings, ocr=ocr)
    runner = JobRunner(deliver)
    return Core(settings, notifier, speaker, engine, ocr, assistant, runner)
