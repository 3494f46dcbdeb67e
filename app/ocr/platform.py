"""The operating system's own OCR: Windows.Media.Ocr (what NVDA uses) and Apple's Vision (through ocrmac).

Both are fast, offline and know the user's languages; neither runs on Linux,
so here they are tested with the platform library faked at its boundary
(tests/test_ocr_engines.py), never for real.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from PIL import Image

from ..errors import InternalError
from .base import EngineState, TextBox


class WindowsOcrEngine(EngineState):
    """Windows 10/11's OCR through the PyWinRT projection (winrt-Windows.Media.Ocr)."""

    name = "windows"

    def __init__(self) -> None:
        self._reason = ""
        self._engines: dict[str, Any] = {}

    def available(self) -> bool:
        if sys.platform != "win32":
            self._reason = "Windows OCR exists only on Windows."
            return False
        try:
            from winrt.windows.media.ocr import OcrEngine

            if not list(OcrEngine.available_recognizer_languages):
                self._reason = "No Windows OCR language is installed (Settings, Time and language, Language)."
                return False
        except Exception:  # noqa: BLE001 - ImportError, or a broken projection
            self._reason = "The winrt-Windows.Media.Ocr package is not installed."
            return False
        self._reason = ""
        return True

    def load(self) -> None:
        self._engine_for(["en"])

    def _engine_for(self, languages: list[str]) -> Any:
        from winrt.windows.globalization import Language
        from winrt.windows.media.ocr import OcrEngine

        key = languages[0] if languages else ""
        if key not in self._engines:
            engine = None
            if key and OcrEngine.is_language_supported(Language(key)):
                engine = OcrEngine.try_create_from_language(Language(key))
            self._engines[key] = engine or OcrEngine.try_create_from_user_profile_languages()
        return self._engines[key]

    def read(self, image: Image.Image, languages: list[str]) -> list[TextBox]:
        from winrt.windows.graphics.imaging import BitmapAlphaMode, BitmapPixelFormat, SoftwareBitmap
        from winrt.windows.storage.streams import DataWriter

        engine = self._engine_for(languages)
        rgba = image.convert("RGBA")
        writer = DataWriter()
        writer.write_bytes(list(rgba.tobytes()))
        bitmap = SoftwareBitmap.create_copy_from_buffer(
            writer.detach_buffer(), BitmapPixelFormat.RGBA8, rgba.width, rgba.height, BitmapAlphaMode.PREMULTIPLIED
        )
        try:
            result = asyncio.run(_await(engine.recognize_async(bitmap)))
        except Exception as exc:  # noqa: BLE001 - a WinRT error
            raise InternalError("Iris could not read the text in the picture.", detail=repr(exc)) from None
        boxes = []
        for line in result.lines:
            for word in line.words:
                rect = word.bounding_rect
                boxes.append(TextBox(word.text, 1.0, rect.x, rect.y, rect.x + rect.width, rect.y + rect.height))
        return boxes


async def _await(operation: Any) -> Any:
    return await operation


#: ISO 639-1 -> the BCP 47 tags Vision expects.
VISION_TAGS = {"en": "en-US", "de": "de-DE", "fr": "fr-FR", "es": "es-ES", "it": "it-IT", "pt": "pt-BR",
               "nl": "nl-NL", "sv": "sv-SE", "da": "da-DK", "no": "no-NO", "fi": "fi-FI", "pl": "pl-PL",
               "cs": "cs-CZ", "ro": "ro-RO", "tr": "tr-TR", "ru": "ru-RU", "uk": "uk-UA", "ja": "ja-JP",
               "zh": "zh-Hans", "ko": "ko-KR", "vi": "vi-VT"}


class MacOcrEngine(EngineState):
    """Apple's Vision text recogniser (macOS 10.15+), through the ocrmac package."""

    name = "vision"

    def __init__(self) -> None:
        self._reason = ""

    def available(self) -> bool:
        if sys.platform != "darwin":
            self._reason = "Apple's Vision OCR exists only on macOS."
            return False
        try:
            from ocrmac import ocrmac  # noqa: F401
        except Exception:  # noqa: BLE001 - ImportError, or pyobjc missing a framework
            self._reason = "The ocrmac package is not installed."
            return False
        self._reason = ""
        return True

    def load(self) -> None:
        pass

    def read(self, image: Image.Image, languages: list[str]) -> list[TextBox]:
        from ocrmac import ocrmac

        tags = [VISION_TAGS.get(code, code) for code in languages]
        try:
            found = ocrmac.OCR(image.convert("RGB"), recognition_level="accurate",
                               language_preference=tags).recognize()
        except Exception as exc:  # noqa: BLE001 - a Vision/pyobjc error
            raise InternalError("Iris could not read the text in the picture.", detail=repr(exc)) from None
        width, height = image.size
        boxes = []
        for text, confidence, (x, y, w, h) in found:
            # Vision's boxes are fractions of the picture, measured from the bottom left.
            top = (1.0 - y - h) * height
            boxes.append(TextBox(str(text), float(confidence), x * width, top, (x + w) * width, top + h * height))
        return boxes
