"""Each OCR engine at its boundary: the platform OCRs (faked: they cannot run on Linux), PP-OCR (faked module
shapes of both rapidocr generations), the tesseract program (real), preparing screenshots, languages."""

from __future__ import annotations

import asyncio
import shutil
import sys
import types

import numpy as np
import pytest
from PIL import Image, ImageDraw

from app.errors import ModelMissingError
from app.ocr import TextReader
from app.ocr.languages import resolve, system_language, tesseract_codes
from app.ocr.platform import MacOcrEngine, WindowsOcrEngine
from app.ocr.ppocr import PPOcrEngine
from app.ocr.prep import normalise
from app.ocr.tesseract import TesseractCliEngine

try:
    from tests import make_images as mi
except ImportError:
    import make_images as mi


def install(monkeypatch, name: str, **attrs) -> types.ModuleType:
    module = types.ModuleType(name)
    for key, value in attrs.items():
        setattr(module, key, value)
    monkeypatch.setitem(sys.modules, name, module)
    return module


# ------------------------------------------------------------------ Windows.Media.Ocr (faked WinRT projection)


class FakeWinRT:
    """The parts of winrt.windows.* that WindowsOcrEngine uses; records what it was handed."""

    def __init__(self, monkeypatch, installed=("en-US", "de-DE")) -> None:
        self.installed = installed
        self.bitmaps: list[dict] = []
        self.languages: list[str] = []
        fake = self

        class Language:
            def __init__(self, tag: str) -> None:
                self.language_tag = tag

        class Rect:
            def __init__(self, x, y, width, height):
                self.x, self.y, self.width, self.height = x, y, width, height

        class Engine:
            def __init__(self, tag: str) -> None:
                self.tag = tag

            def recognize_async(self, bitmap):
                async def run():
                    fake.bitmaps.append(bitmap)
                    words = [types.SimpleNamespace(text="Speichern", bounding_rect=Rect(10, 20, 80, 14)),
                             types.SimpleNamespace(text="fehlgeschlagen", bounding_rect=Rect(96, 20, 120, 14))]
                    return types.SimpleNamespace(lines=[types.SimpleNamespace(words=words)])
                return run()

        class OcrEngine:
            available_recognizer_languages = [Language(t) for t in installed]

            @staticmethod
            def is_language_supported(language):
                return any(t.split("-")[0] == language.language_tag.split("-")[0] for t in fake.installed)

            @staticmethod
            def try_create_from_language(language):
                fake.languages.append(language.language_tag)
                return Engine(language.language_tag)

            @staticmethod
            def try_create_from_user_profile_languages():
                fake.languages.append("user-profile")
                return Engine("user-profile")

        class DataWriter:
            def __init__(self) -> None:
                self.data = b""

            def write_bytes(self, values):
                self.data += bytes(values)

            def detach_buffer(self):
                return self.data

        class SoftwareBitmap:
            @staticmethod
            def create_copy_from_buffer(buffer, pixel_format, width, height, alpha):
                return {"buffer": buffer, "format": pixel_format, "width": width, "height": height}

        install(monkeypatch, "winrt")
        install(monkeypatch, "winrt.windows")
        install(monkeypatch, "winrt.windows.media")
        install(monkeypatch, "winrt.windows.media.ocr", OcrEngine=OcrEngine)
        install(monkeypatch, "winrt.windows.globalization", Language=Language)
        install(monkeypatch, "winrt.windows.graphics")
        install(monkeypatch, "winrt.windows.graphics.imaging", SoftwareBitmap=SoftwareBitmap,
                BitmapPixelFormat=types.SimpleNamespace(RGBA8="RGBA8"),
                BitmapAlphaMode=types.SimpleNamespace(PREMULTIPLIED="PREMULTIPLIED"))
        install(monkeypatch, "winrt.windows.storage")
        install(monkeypatch, "winrt.windows.storage.streams", DataWriter=DataWriter)
        monkeypatch.setattr(sys, "platform", "win32")


def test_windows_ocr_reads_words_in_the_chosen_language(monkeypatch):
    fake = FakeWinRT(monkeypatch)
    engine = WindowsOcrEngine()
    assert engine.available() and engine.reason == ""
    image = Image.new("RGB", (320, 60), "white")
    reader = TextReader(engines=[engine], language="de")
    assert reader.read_lines(image) == ["Speichern fehlgeschlagen"]
    assert reader.engine_name == "windows"
    assert fake.languages == ["de"]
    bitmap = fake.bitmaps[0]
    assert (bitmap["width"], bitmap["height"], bitmap["format"]) == (320, 60, "RGBA8")
    assert len(bitmap["buffer"]) == 320 * 60 * 4 and bitmap["buffer"][:4] == bytes([255, 255, 255, 255])


def test_windows_ocr_falls_back_to_the_users_languages(monkeypatch):
    fake = FakeWinRT(monkeypatch, installed=("en-US",))
    engine = WindowsOcrEngine()
    engine.read(Image.new("RGB", (50, 20)), ["fr", "en"])
    assert fake.languages == ["user-profile"]


def test_windows_ocr_without_languages_or_off_windows_says_why(monkeypatch):
    FakeWinRT(monkeypatch, installed=())
    engine = WindowsOcrEngine()
    assert not engine.available() and "language" in engine.reason
    monkeypatch.setattr(sys, "platform", "linux")
    assert not engine.available() and "Windows" in engine.reason


# ------------------------------------------------------------------ Apple Vision through ocrmac (faked)


def test_vision_boxes_are_turned_from_bottom_left_fractions_into_pixels(monkeypatch):
    calls = []

    class OCR:
        def __init__(self, image, recognition_level, language_preference):
            calls.append((image.size, recognition_level, language_preference))

        def recognize(self):
            # Vision: fractions of the picture, origin bottom left; one entry per line.
            return [("Second line", 0.9, (0.1, 0.2, 0.5, 0.1)), ("First line", 0.95, (0.1, 0.6, 0.4, 0.1))]

    install(monkeypatch, "ocrmac")
    install(monkeypatch, "ocrmac.ocrmac", OCR=OCR)
    sys.modules["ocrmac"].ocrmac = sys.modules["ocrmac.ocrmac"]
    monkeypatch.setattr(sys, "platform", "darwin")
    engine = MacOcrEngine()
    assert engine.available()
    reader = TextReader(engines=[engine], language="fr")
    assert reader.read_lines(Image.new("RGB", (1000, 500), "white")) == ["First line", "Second line"]
    assert calls == [((1000, 500), "accurate", ["fr-FR", "en-US"])]
    boxes = engine.read(Image.new("RGB", (1000, 500)), ["en"])
    first = next(b for b in boxes if b.text == "First line")
    assert (first.left, first.top, first.right, first.bottom) == pytest.approx((100, 150, 500, 200))


def test_vision_off_macos_says_why(monkeypatch):
    monkeypatch.setattr(sys, "platform", "linux")
    engine = MacOcrEngine()
    assert not engine.available() and "macOS" in engine.reason


# ------------------------------------------------------------------ PP-OCR (both rapidocr generations, faked)


def test_rapidocr_3_result_object(monkeypatch):
    made = []

    class RapidOCR:
        def __init__(self, params):
            made.append(params)

        def __call__(self, image):
            return types.SimpleNamespace(boxes=np.array([[[10, 10], [90, 10], [90, 30], [10, 30]]]),
                                         txts=("Invoice number 4711",), scores=(0.97,))

    install(monkeypatch, "rapidocr", RapidOCR=RapidOCR)
    engine = PPOcrEngine(threads=2)
    reader = TextReader(engines=[engine])
    assert reader.read_lines(Image.new("RGB", (100, 40))) == ["Invoice number 4711"]
    assert engine.name == "ppocr-v6" and made[0]["EngineConfig.onnxruntime.intra_op_num_threads"] == 2


def test_rapidocr_onnxruntime_tuples_and_telemetry_off(monkeypatch):
    import os

    class RapidOCR:
        def __init__(self, **kwargs):
            pass

        def __call__(self, image, return_word_box=False):
            return [([[5, 5], [60, 5], [60, 25], [5, 25]], "Hello", 0.93)], 0.1

    monkeypatch.setitem(sys.modules, "rapidocr", None)  # the newer package is absent
    install(monkeypatch, "rapidocr_onnxruntime", RapidOCR=RapidOCR)
    monkeypatch.delenv("ORT_DISABLE_TELEMETRY", raising=False)
    engine = PPOcrEngine()
    assert TextReader(engines=[engine]).read_lines(Image.new("RGB", (80, 30))) == ["Hello"]
    assert engine.name == "ppocr" and os.environ["ORT_DISABLE_TELEMETRY"] == "1"


def test_rapidocr_onnxruntime_spaces_are_put_back_from_the_picture():
    """The 1.x model reads "Quarterlybudgetreview..."; the blank columns between words restore the spaces."""
    pytest.importorskip("rapidocr_onnxruntime")
    lines = ["Quarterly budget review moved to Thursday", "Your password expires in three days"]
    image = mi.text_image(lines, size=(900, 240), font_size=18)
    engine = PPOcrEngine()
    got = TextReader(engines=[engine]).read_lines(image)
    assert engine.name == "ppocr"
    found = set(" ".join(got).split())
    assert len(found & set(" ".join(lines).split())) >= 10, got  # words, not glued runs


def test_rapidocr_missing_or_broken(monkeypatch):
    monkeypatch.setitem(sys.modules, "rapidocr", None)
    monkeypatch.setitem(sys.modules, "rapidocr_onnxruntime", None)
    engine = PPOcrEngine()
    assert not engine.available() and "rapidocr" in engine.reason

    def broken(**_kwargs):
        raise FileNotFoundError("ch_PP-OCRv4_det_infer.onnx does not exist")

    install(monkeypatch, "rapidocr_onnxruntime", RapidOCR=broken)
    with pytest.raises(ModelMissingError):
        PPOcrEngine().load()


# ------------------------------------------------------------------ the tesseract program (real)


def test_tesseract_program_through_pytesseract():
    pytest.importorskip("pytesseract")
    if not shutil.which("tesseract"):
        pytest.skip("the tesseract program is not installed")
    engine = TesseractCliEngine()
    assert engine.available()
    lines = ["Quarterly budget review moved to Thursday", "Invoice number 4711"]
    reader = TextReader(engines=[engine], language="en")
    assert reader.read_lines(mi.text_image(lines, size=(900, 300), font_size=18)) == lines
    assert reader.engine_name == "tesseract-cli"


# ------------------------------------------------------------------ preparing a screenshot


def test_light_text_on_a_dark_bar_becomes_dark_text_on_white():
    image = Image.new("RGB", (400, 120), "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, 400, 30), fill=(0, 122, 204))  # a status bar
    draw.text((10, 8), "Ln 42, Col 7", fill="white", font=mi.font(12))
    draw.text((10, 70), "Body text", fill="black", font=mi.font(16))
    out = np.asarray(normalise(image, 1))
    bar, body = out[2:28], out[60:100]
    assert np.median(bar) == 255 and bar.min() < 100  # white background, dark letters
    assert np.median(body) == 255 and body.min() < 100


def test_grid_lines_go_and_bold_letters_stay():
    image = Image.new("RGB", (400, 200), "white")
    draw = ImageDraw.Draw(image)
    draw.line((0, 50, 399, 50), fill=(200, 200, 200))
    draw.line((100, 0, 100, 199), fill=(120, 120, 120))
    draw.text((20, 100), "Total", fill="black", font=mi.font(40, bold=True))
    out = np.asarray(normalise(image, 1))
    assert out[50, :90].min() == 255 and out[:45, 100].min() == 255  # rules whitened
    assert (out[100:150, 20:140] < 100).sum() > 200  # the bold word is still ink, not inverted


def test_enlarging():
    assert normalise(Image.new("RGB", (100, 50), "white"), 2).size == (200, 100)


# ------------------------------------------------------------------ languages


def test_language_setting(monkeypatch):
    monkeypatch.setenv("LC_ALL", "fr_CA.UTF-8")
    assert system_language() == "fr"
    assert resolve("auto") == ["fr", "en"]
    assert resolve("") == ["fr", "en"]
    assert resolve("de+es") == ["de", "es", "en"]
    assert resolve("en") == ["en"]
    monkeypatch.setenv("LC_ALL", "C")
    monkeypatch.delenv("LC_MESSAGES", raising=False)
    monkeypatch.setenv("LANG", "C.UTF-8")
    monkeypatch.delenv("LANGUAGE", raising=False)
    import locale

    monkeypatch.setattr(locale, "getlocale", lambda *a: ("es_ES", "UTF-8"))  # macOS: no LANG
    assert system_language() == "es"
    monkeypatch.setattr(locale, "getlocale", lambda *a: ("German_Germany", "1252"))  # Windows' names
    assert system_language() == "de"
    monkeypatch.setattr(locale, "getlocale", lambda *a: (None, None))
    assert system_language() == "en"


def test_tesseract_codes_only_installed_ones():
    assert tesseract_codes(["de", "fr", "en"], {"eng", "deu"}) == ["deu", "eng"]
    assert tesseract_codes(["chi_sim"], {"chi_sim"}) == ["chi_sim"]  # a traineddata name passes through


def test_async_helper_runs_a_coroutine():
    from app.ocr.platform import _await

    async def value():
        return 7

    assert asyncio.run(_await(value())) == 7
