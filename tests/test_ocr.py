"""TextReader: real rapidocr on rendered text; reading order; junk filtering; thread safety."""

from __future__ import annotations

import re
import sys
import threading
import time

import pytest
from PIL import Image, ImageDraw

from app.errors import ModelMissingError
from app.ocr import TextBox, TextReader, _is_junk, group_lines, reading_order

try:
    from tests import make_images as mi
except ImportError:  # tests/ is not a package: pytest put it on sys.path
    import make_images as mi

THREE_LINES = ["The quick brown fox jumps", "over the lazy dog near", "seven green bottles today"]


@pytest.fixture(scope="module")
def reader() -> TextReader:
    pytest.importorskip("rapidocr_onnxruntime")
    reader = TextReader()
    reader.load()
    return reader


def words(lines: list[str]) -> str:
    """The text without spaces: PP-OCR sometimes drops a space between English words."""
    return "".join(" ".join(lines).lower().split())


def test_loads_lazily():
    reader = TextReader()
    assert not reader.is_loaded  # constructing it costs nothing


def test_three_lines_in_order(reader):
    lines = reader.read_lines(mi.text_image(THREE_LINES))
    assert len(lines) == 3
    for got, expected in zip(lines, THREE_LINES):
        assert words([got]) == words([expected])


def test_dark_mode_and_small_text(reader):
    image = mi.text_image(THREE_LINES, font_size=16, fg=(220, 220, 220), bg=(30, 30, 35))
    assert words(reader.read_lines(image)) == words(THREE_LINES)


def test_blank_image_has_no_text(reader):
    assert reader.read_lines(Image.new("RGB", (640, 480), "white")) == []
    assert reader.read_lines(Image.new("RGB", (1, 1))) == []


def test_accepts_other_modes(reader):
    image = mi.text_image(THREE_LINES[:1], size=(640, 400)).convert("L")
    assert words(reader.read_lines(image)) == words(THREE_LINES[:1])


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
    lines = reader.read_lines(image)
    assert words(lines) == words(["Weekly Report Summary", *sidebar, *main])


def test_form_rows_stay_together(reader):
    """Labels and values on aligned rows (a settings form) are read row by row."""
    image = Image.new("RGB", (1280, 800), "white")
    draw = ImageDraw.Draw(image)
    rows = [("Volume", "Loud"), ("Brightness", "High"), ("Language", "English"), ("Theme", "Dark")]
    for i, (label, value) in enumerate(rows):
        draw.text((60, 100 + i * 50), label, fill="black", font=mi.font(24))
        draw.text((600, 100 + i * 50), value, fill="black", font=mi.font(24))
    lines = reader.read_lines(image)
    assert [words([line]) for line in lines] == [words([label, value]) for label, value in rows]
    assert all(len(line.split()) == 2 for line in lines)  # two boxes joined, one row each


def test_threads_share_one_reader(reader):
    image = mi.text_image(THREE_LINES[:2], size=(640, 400))
    results: list[list[str]] = []
    threads = [threading.Thread(target=lambda: results.append(reader.read_lines(image))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(results) == 3
    assert all(r == results[0] for r in results) and words(results[0]) == words(THREE_LINES[:2])


@pytest.mark.slow
def test_full_screenshot_timing(reader, capsys):
    """A 1280x800 screenshot with 12 lines of UI text: all lines, in order; timing printed."""
    lines = [f"Item {i}: backup of folder number {i} finished" for i in range(1, 13)]
    image = mi.text_image(lines, size=(1280, 800), font_size=20, origin=(40, 30), spacing=2.6)
    start = time.perf_counter()
    got = reader.read_lines(image)
    elapsed = time.perf_counter() - start
    with capsys.disabled():
        print(f"\n[ocr] 1280x800, {len(lines)} lines: {elapsed:.2f} s")
    assert len(got) == len(lines)
    # PP-OCR sometimes drops the spaces of a line ("Item4:backupof..."); the numbers still show the order
    assert [re.findall(r"\d+", line)[0] for line in got] == [str(i) for i in range(1, 13)]
    assert elapsed < 60


def test_missing_package_is_a_model_missing_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "rapidocr_onnxruntime", None)  # import now fails
    reader = TextReader()
    with pytest.raises(ModelMissingError) as info:
        reader.read_lines(Image.new("RGB", (10, 10)))
    assert "\n" not in info.value.message and info.value.exit_code == 3


def test_broken_engine_is_a_model_missing_error(monkeypatch):
    fake = type(sys)("rapidocr_onnxruntime")

    def broken(**_kwargs):
        raise FileNotFoundError("ch_PP-OCRv4_det_infer.onnx does not exist")

    fake.RapidOCR = broken
    monkeypatch.setitem(sys.modules, "rapidocr_onnxruntime", fake)
    with pytest.raises(ModelMissingError):
        TextReader().load()


# ------------------------------------------------------------ pure logic (no model)


def box(text, left, top, right, bottom, score=0.99):
    return TextBox(text, score, left, top, right, bottom)


def test_group_lines_by_vertical_overlap():
    boxes = [
        box("world", 200, 12, 300, 40),
        box("Hello", 10, 10, 100, 38),
        box("second", 10, 60, 120, 88),
        box("line", 140, 58, 200, 86),
    ]
    assert [[b.text for b in line] for line in group_lines(boxes)] == [["Hello", "world"], ["second", "line"]]


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


def test_reading_order_empty():
    assert reading_order([]) == []


def test_junk_filter():
    assert _is_junk("Hello", 0.3, 0.6)  # low confidence
    assert _is_junk("|", 0.8, 0.6)  # a lone mark, not certain
    assert not _is_junk("|", 0.95, 0.6)
    assert not _is_junk("OK", 0.7, 0.6)


def test_reading_order_heading_over_columns_of_unequal_length():
    heading = [box("Title", 10, 10, 600, 50)]
    left = [box(f"L{i}", 10, 100 + i * 70, 120, 125 + i * 70) for i in range(4)]  # runs lower
    right = [box(f"R{i}", 400, 90 + i * 45, 700, 115 + i * 45) for i in range(3)]
    order = [line[0].text for line in reading_order(left + heading + right)]
    assert order == ["Title"] + [b.text for b in left] + [b.text for b in right]
