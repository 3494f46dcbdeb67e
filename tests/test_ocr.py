"""TextReader: real tesseract on rendered text (spaces, order, threads), the engine chain, reading-order logic."""

from __future__ import annotations

import re
import threading
import time

import pytest
from PIL import Image, ImageDraw

from app.errors import ModelMissingError
from app.ocr import TextBox, TextReader, group_lines, keep_words, reading_order
from app.ocr.tesseract import TesseractEngine

try:
    from tests import make_images as mi
except ImportError:  # tests/ is not a package: pytest put it on sys.path
    import make_images as mi

THREE_LINES = ["The quick brown fox jumps", "over the lazy dog near", "seven green bottles today"]


@pytest.fixture(scope="module")
def reader() -> TextReader:
    engine = TesseractEngine()
    if not engine.available():
        pytest.skip(engine.reason)
    reader = TextReader(engines=[engine], language="en")
    reader.load()
    return reader


def test_loads_lazily():
    reader = TextReader()
    assert not reader.is_loaded  # constructing it costs nothing


def test_three_lines_in_order_with_their_spaces(reader):
    assert reader.read_lines(mi.text_image(THREE_LINES)) == THREE_LINES


def test_dark_mode_and_small_text(reader):
    image = mi.text_image(THREE_LINES, font_size=13, fg=(220, 220, 220), bg=(30, 30, 35), spacing=1.6)
    assert reader.read_lines(image) == THREE_LINES


def test_light_text_on_a_coloured_bar_and_dark_text_below(reader):
    """A blue toolbar over a white page: both are read (the bar is light on dark)."""
    image = Image.new("RGB", (900, 300), "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, 900, 40), fill=(31, 78, 156))
    draw.text((12, 10), "File Edit View Help", fill="white", font=mi.font(16))
    draw.text((40, 120), "Phase one starts in April", fill=(30, 30, 30), font=mi.font(18))
    assert reader.read_lines(image) == ["File Edit View Help", "Phase one starts in April"]


def test_blank_image_has_no_text(reader):
    assert reader.read_lines(Image.new("RGB", (640, 480), "white")) == []
    assert reader.read_lines(Image.new("RGB", (1, 1))) == []


def test_accepts_other_modes(reader):
    image = mi.text_image(THREE_LINES[:1], size=(640, 400)).convert("L")
    assert reader.read_lines(image) == THREE_LINES[:1]


def test_sidebar_then_main_column(reader):
    """A sidebar beside a column whose lines do not line up: each block is read in turn."""
    image = Image.new("RGB", (1280, 800), "white")
    draw = ImageDraw.Draw(image)
    font = mi.font(24)
    draw.text((60, 40), "Weekly Report Summary", fill="black", font=mi.font(34))
    sidebar = ["Inbox", "Drafts", "Archive", "Spam"]
    main = ["Meeting moved to Friday", "Budget approved by finance", "Printer on floor two fixed",
            "Lunch order closes at noon"]  # ends above "Spam": the sidebar must still be read whole
    for i, word in enumerate(sidebar):
        draw.text((60, 150 + i * 70), word, fill="black", font=font)
    for i, line in enumerate(main):
        draw.text((420, 140 + i * 45), line, fill="black", font=font)
    assert reader.read_lines(image) == ["Weekly Report Summary", *sidebar, *main]


def test_form_rows_stay_together(reader):
    """Labels and values on aligned rows (a settings form) are read row by row."""
    image = Image.new("RGB", (1280, 800), "white")
    draw = ImageDraw.Draw(image)
    rows = [("Volume", "Loud"), ("Brightness", "High"), ("Language", "English"), ("Theme", "Dark")]
    for i, (label, value) in enumerate(rows):
        draw.text((60, 100 + i * 50), label, fill="black", font=mi.font(24))
        draw.text((600, 100 + i * 50), value, fill="black", font=mi.font(24))
    assert reader.read_lines(image) == [f"{label} {value}" for label, value in rows]


def test_threads_share_one_reader(reader):
    image = mi.text_image(THREE_LINES[:2], size=(640, 400))
    results: list[list[str]] = []
    threads = [threading.Thread(target=lambda: results.append(reader.read_lines(image))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(results) == 3 and all(r == THREE_LINES[:2] for r in results)


@pytest.mark.slow
def test_full_screenshot_timing(reader, capsys):
    """A 1920x1080 screenshot with 24 lines of UI text: all lines, in order; timing printed."""
    lines = [f"Item {i}: backup of folder number {i} finished" for i in range(1, 25)]
    image = mi.text_image(lines, size=(1920, 1080), font_size=15, origin=(40, 30), spacing=2.6)
    reader.read_lines(image)
    start = time.perf_counter()
    got = reader.read_lines(image)
    elapsed = time.perf_counter() - start
    with capsys.disabled():
        print(f"\n[ocr] 1920x1080, {len(lines)} lines, warm: {elapsed:.2f} s")
    assert got == lines
    assert [re.findall(r"\d+", line)[0] for line in got] == [str(i) for i in range(1, 25)]


# ------------------------------------------------------------ the engine chain (doubles at the engine seam)


class FakeEngine:
    def __init__(self, name: str, ok: bool, boxes: list[TextBox] | None = None, reason: str = "") -> None:
        self.name, self.ok, self.boxes, self._reason = name, ok, boxes or [], reason
        self.languages: list[list[str]] = []
        self.loaded = 0

    def available(self) -> bool:
        return self.ok

    @property
    def reason(self) -> str:
        return "" if self.ok else self._reason

    def load(self) -> None:
        self.loaded += 1

    def read(self, image: Image.Image, languages: list[str]) -> list[TextBox]:
        self.languages.append(languages)
        return list(self.boxes)


def box(text, left, top, right, bottom, score=0.99):
    return TextBox(text, score, left, top, right, bottom)


def test_the_first_engine_that_can_run_reads():
    words = [box("Hello", 10, 10, 60, 30), box("world", 70, 10, 130, 30)]
    missing = FakeEngine("platform", False, reason="Only on Windows.")
    ready = FakeEngine("tesseract", True, words)
    later = FakeEngine("ppocr", True, [box("no", 0, 0, 10, 10)])
    reader = TextReader(engines=[missing, ready, later], language="de")
    assert reader.read_lines(Image.new("RGB", (200, 50), "white")) == ["Hello world"]
    assert reader.engine_name == "tesseract"
    assert ready.languages == [["de", "en"]]  # the setting's language first, English after it
    assert later.languages == []


def test_the_language_setting_is_read_at_each_use():
    engine = FakeEngine("tesseract", True, [box("Hallo", 0, 0, 50, 20)])
    setting = {"ocr_language": "fr"}
    reader = TextReader(engines=[engine], language=lambda: setting["ocr_language"])
    image = Image.new("RGB", (100, 40), "white")
    reader.read_lines(image)
    setting["ocr_language"] = "es+de"
    reader.read_lines(image)
    assert engine.languages == [["fr", "en"], ["es", "de", "en"]]


def test_auto_language_follows_the_locale(monkeypatch):
    engine = FakeEngine("tesseract", True)
    monkeypatch.setenv("LC_ALL", "de_AT.UTF-8")
    reader = TextReader(engines=[engine], language="auto")
    reader.read_lines(Image.new("RGB", (100, 40), "white"))
    assert engine.languages == [["de", "en"]]


def test_no_engine_is_a_model_missing_error_saying_why():
    reader = TextReader(engines=[FakeEngine("windows", False, reason="Windows OCR exists only on Windows."),
                                 FakeEngine("tesseract", False, reason="Tesseract's language data is not installed.")])
    with pytest.raises(ModelMissingError) as info:
        reader.read_lines(Image.new("RGB", (10, 10)))
    message = info.value.message
    assert "\n" not in message and info.value.exit_code == 3
    assert "language data" in message  # the reason that helps, not "only on Windows"


def test_missing_tesseract_data_is_reported(monkeypatch, tmp_path):
    import app.ocr.tesseract as tess

    monkeypatch.setattr(tess, "TESSDATA_GUESSES", (str(tmp_path / "none"),))
    monkeypatch.setenv("TESSDATA_PREFIX", str(tmp_path))
    engine = tess.TesseractEngine()
    assert not engine.available() and "apt install tesseract-ocr" in engine.reason
    with pytest.raises(ModelMissingError):
        TextReader(engines=[engine]).read_lines(Image.new("RGB", (10, 10)))


# ------------------------------------------------------------ pure logic (no engine)


def test_group_lines_by_vertical_overlap():
    boxes = [
        box("world", 200, 12, 300, 40),
        box("Hello", 10, 10, 100, 38),
        box("second", 10, 60, 120, 88),
        box("line", 140, 58, 200, 86),
    ]
    assert [[b.text for b in line] for line in group_lines(boxes)] == [["Hello", "world"], ["second", "line"]]


def test_a_tall_icon_does_not_glue_two_lines():
    boxes = [box("!", 10, 10, 40, 60), box("First", 60, 12, 120, 30), box("line", 125, 12, 170, 30),
             box("Second", 60, 40, 130, 58), box("line", 135, 40, 180, 58)]
    texts = [" ".join(b.text for b in line) for line in group_lines(boxes)]
    assert "First line" in texts and "Second line" in texts


def test_reading_order_two_columns_with_offset_rows():
    left = [box(f"L{i}", 10, 100 + i * 70, 120, 125 + i * 70) for i in range(4)]
    right = [box(f"R{i}", 400, 90 + i * 45, 700, 115 + i * 45) for i in range(5)]
    order = [line[0].text for line in reading_order(right + left)]
    assert order == [b.text for b in left] + [b.text for b in right]


def test_reading_order_table_rows():
    cells = []
    for i in range(4):
        cells += [box(f"K{i}", 10, 100 + i * 50, 120, 125 + i * 50), box(f"V{i}", 500, 100 + i * 50, 600, 125 + i * 50)]
    assert [[b.text for b in line] for line in reading_order(cells)] == [[f"K{i}", f"V{i}"] for i in range(4)]


def test_a_sidebar_is_read_whole_even_when_the_form_beside_it_has_a_wider_gutter():
    sidebar = [box(f"Nav{i}", 10, 80 + i * 53, 90, 96 + i * 53) for i in range(6)]
    labels = [box(f"Label{i}", 300, 110 + i * 56, 420, 126 + i * 56) for i in range(5)]
    values = [box(f"Value{i}", 700, 110 + i * 56, 780, 126 + i * 56) for i in range(5)]
    order = [" ".join(b.text for b in line) for line in reading_order(values + sidebar + labels)]
    assert order == [f"Nav{i}" for i in range(6)] + [f"Label{i} Value{i}" for i in range(5)]


def test_reading_order_empty():
    assert reading_order([]) == []


def test_reading_order_heading_over_columns_of_unequal_length():
    heading = [box("Title", 10, 10, 600, 50)]
    left = [box(f"L{i}", 10, 100 + i * 70, 120, 125 + i * 70) for i in range(4)]  # runs lower
    right = [box(f"R{i}", 400, 90 + i * 45, 700, 115 + i * 45) for i in range(3)]
    order = [line[0].text for line in reading_order(left + heading + right)]
    assert order == ["Title"] + [b.text for b in left] + [b.text for b in right]


def test_doubtful_words_stay_beside_sure_ones_and_go_when_alone():
    line = [box("def", 57, 85, 80, 96, 0.9), box("total", 90, 85, 131, 96, 0.05),
            box("_price(items,", 136, 85, 238, 100, 0.05), box("tax_rate=0.19):", 250, 85, 373, 100, 0.92)]
    icon = [box("f", 321, 266, 327, 279, 0.35), box("los", 322, 282, 343, 289, 0.09), box("—,", 327, 260, 352, 265, 0.79)]
    text = [box("Iris", 380, 266, 398, 277, 0.89), box("could", 404, 266, 438, 277, 0.97)]
    kept = {b.text for b in keep_words(line + icon + text)}
    assert kept == {"def", "total", "_price(items,", "tax_rate=0.19):", "Iris", "could"}
