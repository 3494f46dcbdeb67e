"""Real tesseract, through Iris's reader, on the committed screen corpus (benchmarks/ocr_corpus: Chromium renders).

These check what a listener notices, line by line: words keep their spaces,
no line is dropped, accents survive, table rows are read as rows, a sidebar
is not interleaved with the page beside it. The figures (recall, CER) are
the benchmark's business (benchmarks/ocr_bench.py), not these tests'.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.ocr import TextReader
from app.ocr.tesseract import TesseractEngine, find_tessdata, installed_languages

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks" / "ocr_corpus"))
import metrics  # noqa: E402

SAMPLES = {s.name: s for s in metrics.load_corpus()}


@pytest.fixture(scope="module")
def read():
    engine = TesseractEngine()
    if not engine.available():
        pytest.skip(engine.reason)
    readers: dict[str, TextReader] = {}
    cache: dict[str, list[str]] = {}

    def read(name: str) -> list[str]:
        sample = SAMPLES[name]
        if name not in cache:
            reader = readers.setdefault(sample.language, TextReader(engines=[engine], language=sample.language))
            cache[name] = reader.read_lines(sample.image())
        return cache[name]

    return read


def assert_in_order(got: list[str], expected: list[str]) -> None:
    """Each expected line is one output line, exactly, and they come in this order."""
    positions = []
    for line in expected:
        assert line in got, f"{line!r} is not one of the lines read: {got}"
        positions.append(got.index(line))
    assert positions == sorted(positions), got


def test_error_dialog_every_line_with_spaces_and_the_error_code(read):
    assert_in_order(read("error_dialog"), SAMPLES["error_dialog"].truth)


def test_mail_list_rows_are_read_as_rows(read):
    got = read("mail_list")
    assert_in_order(got, ["Anna Schmidt Quarterly budget review moved to Thursday 10:42",
                          "Priya Natarajan Re: Invoice number 4711 Yesterday"])


def test_settings_sidebar_is_not_interleaved_with_the_form(read):
    got = read("settings_page")
    assert_in_order(got, ["General", "Display", "Sound", "Notifications", "Privacy", "Updates",
                          "Night light Off", "Text size Large (125 %)", "Resolution 1920 x 1080"])


def test_dark_theme_code_and_the_terminal_error(read):
    got = read("dark_code")
    assert_in_order(got, ["4 return subtotal * (1 + tax_rate)", "Traceback (most recent call last):"])
    assert any(line.startswith("TypeError: unsupported operand type(s) for +:") for line in got)


def test_news_article_keeps_its_spaces_and_the_sidebar_comes_after_it(read):
    got = read("news_article")
    assert_in_order(got, ["The council voted 31 to 8 on Tuesday to add three bus routes",
                          "in Northfield.", "Most read", "Heat wave expected this weekend"])


def test_grey_small_print(read):
    assert_in_order(read("small_print"), SAMPLES["small_print"].truth[1:])


def test_ten_pixel_status_bar(read):
    assert read("status_bar")[-1] == "Ln 42, Col 7 UTF-8 Spaces: 4 Python 3.11 Saved 2 minutes ago"


def test_spreadsheet_rows_with_their_one_digit_cells(read):
    assert_in_order(read("spreadsheet"), ["Item Qty Unit price Total", "Desk lamp 2 19.99 39.98",
                                          "Office chair 1 149.00 149.00", "Monitor stand 3 24.90 74.70"])


@pytest.mark.parametrize("name", ["form_de", "form_fr", "form_es"])
def test_forms_in_other_languages_keep_their_accents(read, name):
    code = {"form_de": "deu", "form_fr": "fra", "form_es": "spa"}[name]
    if code not in installed_languages(find_tessdata()):
        pytest.skip(f"tesseract-ocr-{code} is not installed")
    truth = SAMPLES[name].truth
    got = read(name)
    lines_with_accents = [line for line in truth if any(ord(ch) > 127 for ch in line) and "2.º" not in line]
    assert_in_order(got, lines_with_accents)


def test_blue_toolbar_white_text(read):
    got = read("blue_toolbar")
    assert metrics.words(got[:1]) == "File Edit View Insert Format Tools Help".split()  # a stray quote mark may stick
    assert_in_order(got[1:], SAMPLES["blue_toolbar"].truth[1:])


# ------------------------------------------------------------------ the real command, in a new process


def run_iris(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, LC_ALL="C.UTF-8", LANG="C.UTF-8")  # 'auto' language: English here
    return subprocess.run([sys.executable, "-m", "app", *args], cwd=Path(__file__).resolve().parents[1],
                          capture_output=True, text=True, timeout=300, env=env, stdin=subprocess.DEVNULL)


def test_iris_read_json_says_which_engine_read(read):
    result = run_iris("read", str(SAMPLES["error_dialog"].path), "--json", "--no-speak")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout.splitlines()[-1])
    assert data["kind"] == "read" and data["engine"] == data["model"] == "tesseract"
    assert data["text"].splitlines() == SAMPLES["error_dialog"].truth


def test_describe_a_photo_without_a_model_reads_its_text_and_says_how_to_get_one(read):
    result = run_iris("describe", str(SAMPLES["small_print"].path), "--json", "--no-speak")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout.splitlines()[-1])
    assert data["kind"] == "ocr-fallback" and data["engine"] == "tesseract"
    assert "iris models download" in data["notice"]
    assert "Pay now" in data["text"].splitlines()
    assert "iris models download" in result.stderr and "Traceback" not in result.stderr
