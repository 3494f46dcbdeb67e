"""TextReader: the first OCR engine that can run here, shared between threads, lines in reading order.

The chain is chosen in the composition root (:func:`default_engines`):
the platform's own OCR on Windows and macOS, then tesseract (in-process, then
the program), then PP-OCR. An engine that cannot run says why in one sentence;
when none can, reading raises :class:`ModelMissingError` with the first reason.
"""

from __future__ import annotations

import threading
import time
from typing import Callable

from PIL import Image

from ..errors import ModelMissingError
from .base import OcrEngine, TextBox
from .languages import resolve
from .layout import join_line, keep_words, reading_order


def default_engines(threads: int | None = None) -> list[OcrEngine]:
    """Iris's OCR chain, best first (measured: benchmarks/ocr_bench.py)."""
    from .platform import MacOcrEngine, WindowsOcrEngine
    from .ppocr import PPOcrEngine
    from .tesseract import TesseractCliEngine, TesseractEngine

    return [WindowsOcrEngine(), MacOcrEngine(), TesseractEngine(threads), TesseractCliEngine(), PPOcrEngine(threads)]


class TextReader:
    """``read_lines(image)`` -> the text lines in reading order (lazy, thread-safe)."""

    def __init__(
        self,
        min_score: float = 0.5,
        threads: int | None = None,
        *,
        engines: list[OcrEngine] | None = None,
        language: str | Callable[[], str] = "auto",
    ) -> None:
        self.min_score = min_score
        self._candidates = engines if engines is not None else default_engines(threads)
        self._language = language
        self._engine: OcrEngine | None = None
        self._lock = threading.Lock()
        #: Seconds the last read took (load time excluded).
        self.last_seconds: float = 0.0

    @property
    def is_loaded(self) -> bool:
        return self._engine is not None

    @property
    def engine_name(self) -> str:
        """The engine that reads (chosen on first use): "tesseract", "windows", "vision", "ppocr" ..."""
        with self._lock:
            return self._choose().name

    @property
    def name(self) -> str:
        """For reports: the engine and languages, or why there is none (never raises)."""
        try:
            return f"{self.engine_name} ({'+'.join(self.languages)})"
        except ModelMissingError as exc:
            return f"none: {exc.message}"

    @property
    def languages(self) -> list[str]:
        setting = self._language() if callable(self._language) else self._language
        return resolve(setting)

    def load(self) -> None:
        """Choose and load the engine now (otherwise the first read does it)."""
        with self._lock:
            self._choose().load()

    def _choose(self) -> OcrEngine:
        if self._engine is not None:
            return self._engine
        reasons = []
        for engine in self._candidates:
            if engine.available():
                self._engine = engine
                return engine
            reasons.append(engine.reason)
        useful = [r for r in reasons if r and "exists only on" not in r] or reasons or ["no OCR engine is configured."]
        raise ModelMissingError("Text reading is not available: " + useful[0][0].lower() + useful[0][1:],
                                detail=" | ".join(reasons))

    def read_boxes(self, image: Image.Image) -> list[TextBox]:
        """Every confident word with its box, in no particular order."""
        if image.mode != "RGB":
            image = image.convert("RGB")
        languages = self.languages
        with self._lock:
            engine = self._choose()
            start = time.perf_counter()
            try:
                boxes = engine.read(image, languages)
            finally:
                self.last_seconds = time.perf_counter() - start
        out = []
        for box in boxes:
            text = " ".join(box.text.split())
            if text:
                out.append(box if text == box.text else TextBox(text, box.score, box.left, box.top, box.right, box.bottom))
        return keep_words(out, self.min_score)

    def read_lines(self, image: Image.Image) -> list[str]:
        """The text of ``image`` as lines in reading order; [] when there is none."""
        if image.width < 2 or image.height < 2:
            return []
        return [join_line(line) for line in reading_order(self.read_boxes(image))]

    def read_text(self, image: Image.Image) -> str:
        return "\n".join(self.read_lines(image))
