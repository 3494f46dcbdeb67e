"""First-run model dialog: threaded download, announced (throttled) progress, cancel, failure."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from app.errors import CancelledError
from app.gui.model_dialog import ModelSetupDialog, format_size, recommendation_reason
from app.notifier import Level, Notifier

# The offscreen platform plugin warns whenever a window with a layout is shown.
pytestmark = pytest.mark.qt_log_ignore(r"This plugin does not support propagateSizeHints")


@dataclass
class Entry:  # the shape of app.catalogue.ModelEntry
    name: str = "smolvlm-256m"
    hub_id: str = "HuggingFaceTB/SmolVLM-256M-Instruct"
    revision: str = "abc123"
    licence: str = "Apache-2.0"
    size_mb: float = 1020
    min_vram_gb: float = 0
    description: str = "Small and fast."
    default_for: tuple = ("cpu",)


@pytest.fixture
def notifier():
    notes = Notifier()
    notes.messages = []
    notes.add_sink(notes.messages.append)
    return notes


def _infos(notifier):
    return [m for m in notifier.messages if m.level is Level.INFO]


def _errors(notifier):
    return [m for m in notifier.messages if m.level is Level.ERROR]


def test_shows_name_size_licence_and_reason(qtbot, notifier):
    dialog = ModelSetupDialog(Entry(), download=lambda *a: None, notifier=notifier)
    qtbot.addWidget(dialog)
    text = dialog.details.text()
    assert "smolvlm-256m" in text and "1.0 GB" in text and "Apache-2.0" in text
    assert recommendation_reason(Entry()) in text
    dialog.show()
    qtbot.waitUntil(lambda: dialog.download_button.hasFocus())
    for widget in (dialog.download_button, dialog.later_button, dialog.cancel_button, dialog.progress_bar):
        assert widget.accessibleName()


def test_sizes_and_reasons():
    assert format_size(540) == "540 MB" and format_size(1500) == "1.5 GB" and format_size(None) == "unknown size"
    assert recommendation_reason(Entry(default_for=("cuda",), min_vram_gb=4)) != recommendation_reason(Entry())


def test_download_reports_progress_and_accepts(qtbot, notifier, tmp_path):
    total = 50_000_000
    calls = {"thread": None, "progress_calls": 0}

    def download(entry, progress, cancel):
        calls["thread"] = threading.current_thread()
        for done in range(0, total + 1, 250_000):  # 201 progress calls, many per percent
            if cancel.cancelled:
                raise CancelledError()
            progress(done, total)
            calls["progress_calls"] += 1
            time.sleep(0.0005)
        return tmp_path / "model"

    dialog = ModelSetupDialog(Entry(), download=download, notifier=notifier)
    qtbot.addWidget(dialog)
    dialog.show()
    seen: list[int] = []
    dialog.progress_bar.valueChanged.connect(seen.append)
    with qtbot.waitSignal(dialog.accepted, timeout=10_000):
        qtbot.mouseClick(dialog.download_button, Qt.MouseButton.LeftButton)
        assert dialog.cancel_button.isVisible() and not dialog.download_button.isVisible()
    assert calls["thread"] is not threading.main_thread()
    assert calls["progress_calls"] == 201
    assert dialog.progress_bar.value() == 100
    assert seen == sorted(seen) and len(seen) > 5  # moved forward in steps, never back
    assert dialog.model_path == tmp_path / "model"
    infos = _infos(notifier)
    assert 5 <= len(infos) <= 11  # announced, but at most once per 10 %
    assert any(m.level is Level.DONE for m in notifier.messages)
    assert not _errors(notifier)


def test_cancel_stops_the_download(qtbot, notifier):
    started = threading.Event()
    finished = threading.Event()
    outcome = {}

    def download(entry, progress, cancel):
        try:
            progress(1_000_000, 100_000_000)
            started.set()
            t0 = time.monotonic()
            if cancel.wait(10):
                outcome["stopped_after"] = time.monotonic() - t0
                raise CancelledError()
            outcome["ran_out"] = True
            return Path("/nowhere")
        finally:
            finished.set()

    dialog = ModelSetupDialog(Entry(), download=download, notifier=notifier)
    qtbot.addWidget(dialog)
    dialog.show()
    accepted: list[bool] = []
    dialog.accepted.connect(lambda: accepted.append(True))
    dialog.download_button.click()
    assert started.wait(5)
    qtbot.waitUntil(lambda: dialog.progress_bar.value() == 1)
    dialog.cancel_button.click()
    assert finished.wait(5)
    qtbot.waitUntil(lambda: not dialog.downloading, timeout=5000)
    assert "ran_out" not in outcome and outcome["stopped_after"] < 1.0
    assert not accepted and dialog.model_path is None
    assert dialog.download_button.isVisible() and dialog.isVisible()
    assert not _errors(notifier)


def test_escape_while_downloading_cancels_then_closes(qtbot, notifier):
    started = threading.Event()

    def download(entry, progress, cancel):
        started.set()
        cancel.wait(10)
        raise CancelledError()

    dialog = ModelSetupDialog(Entry(), download=download, notifier=notifier)
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.download_button.click()
    assert started.wait(5)
    with qtbot.waitSignal(dialog.rejected, timeout=5000):
        qtbot.keyClick(dialog, Qt.Key.Key_Escape)
        assert dialog.isVisible()  # stays until the worker has really stopped
    assert not dialog.downloading


def test_failure_is_one_sentence_shown_and_announced(qtbot, notifier):
    def download(entry, progress, cancel):
        progress(10, 100)
        raise OSError(28, "No space left on device")

    dialog = ModelSetupDialog(Entry(), download=download, notifier=notifier)
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.download_button.click()
    qtbot.waitUntil(lambda: dialog.error_message is not None, timeout=5000)
    qtbot.waitUntil(lambda: not dialog.downloading)
    sentence = dialog.error_message
    assert sentence.endswith(".") and "\n" not in sentence and "Traceback" not in sentence
    assert dialog.status.isVisible() and dialog.status.text() == sentence
    errors = _errors(notifier)
    assert [m.text for m in errors] == [sentence]
    assert dialog.result() == 0 and dialog.isVisible()
    assert dialog.download_button.isVisible()  # can try again


def test_unknown_total_uses_busy_indicator(qtbot, notifier):
    release = threading.Event()

    def download(entry, progress, cancel):
        progress(5_000_000, 0)
        release.wait(5)
        return Path("/m")

    dialog = ModelSetupDialog(Entry(size_mb=None), download=download, notifier=notifier)
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.download_button.click()
    qtbot.waitUntil(lambda: dialog.progress_bar.maximum() == 0, timeout=5000)
    release.set()
    qtbot.waitUntil(lambda: dialog.result() == 1, timeout=5000)
