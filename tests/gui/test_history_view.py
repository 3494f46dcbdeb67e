"""History panel: an accessible list of earlier answers, activation by Enter, and Clear history."""

from __future__ import annotations

import pytest
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtGui import QAccessible
from PySide6.QtWidgets import QWidget

from app.gui.history_view import HistoryPanel, entry_label
from app.history import Entry, History

pytestmark = pytest.mark.qt_log_ignore(r"This plugin does not support propagateSizeHints")


@pytest.fixture
def history(tmp_path):
    store = History(tmp_path / "h", enabled=True, limit=10)
    store.add(Image.new("RGB", (8, 8), "red"), "A red square. It is small.", source="file")
    store.add(Image.new("RGB", (8, 8), "blue"), "A login window. Two fields.", source="screen",
              question="What is this?")
    return store


def test_lists_entries_newest_first_with_time_source_and_first_sentence(qtbot, history):
    panel = HistoryPanel(history)
    qtbot.addWidget(panel)
    assert panel.list.count() == 2
    texts = [panel.list.item(i).text() for i in range(2)]
    assert "screen" in texts[0] and "A login window." in texts[0] and "Two fields" not in texts[0]
    assert "file" in texts[1] and "A red square." in texts[1]
    assert [e.id for e in panel.entries_shown()] == [e.id for e in history.entries()]
    assert panel.list.currentRow() == 0


def test_enter_and_double_click_activate(qtbot, history):
    panel = HistoryPanel(history)
    qtbot.addWidget(panel)
    panel.show()
    got = []
    panel.entry_activated.connect(got.append)
    panel.list.setFocus()
    panel.list.setCurrentRow(1)
    qtbot.keyClick(panel.list, Qt.Key.Key_Return)
    assert [e.text for e in got] == ["A red square. It is small."]
    rect = panel.list.visualItemRect(panel.list.item(0))
    # QTest's double-click needs the press/release before it, as a real mouse sends.
    qtbot.mouseClick(panel.list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(panel.list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert [e.source for e in got] == ["file", "screen"]


def test_clear_history_button(qtbot, history):
    answers = iter([False, True])
    panel = HistoryPanel(history, confirm=lambda: next(answers))
    qtbot.addWidget(panel)
    assert panel.clear_button.accessibleName() and panel.clear_button.isEnabled()
    panel.clear_button.click()  # the user said no
    assert panel.list.count() == 2 and len(history.entries()) == 2
    panel.clear_button.click()
    assert panel.list.count() == 0 and history.entries() == []
    assert list(history.directory.glob("*.png")) == []
    assert not panel.clear_button.isEnabled()
    assert panel.status.text()


def test_empty_and_off_states_are_stated(qtbot, tmp_path):
    off = HistoryPanel(History(tmp_path / "a", enabled=False, limit=5))
    on = HistoryPanel(History(tmp_path / "b", enabled=True, limit=5))
    for panel in (off, on):
        qtbot.addWidget(panel)
        assert panel.list.count() == 0 and panel.status.text()
    assert off.status.text() != on.status.text()


def test_refresh_shows_new_entries(qtbot, history):
    panel = HistoryPanel(history)
    qtbot.addWidget(panel)
    history.add(None, "Camera answer.", source="camera")
    assert panel.list.count() == 2
    panel.refresh()
    assert panel.list.count() == 3 and "camera" in panel.list.item(0).text()


def test_label_includes_question_and_date_when_not_today():
    entry = Entry("x", 0.0, "screen", "Answer. More.", question="Where?")
    same_day = entry_label(entry, now=0.0)
    assert "Where?" in same_day and "Answer." in same_day and "More" not in same_day
    assert len(entry_label(entry, now=400 * 86400.0)) > len(same_day)  # the date is added


def test_focusable_widgets_are_named(qtbot, history):
    panel = HistoryPanel(history)
    qtbot.addWidget(panel)
    panel.show()
    for widget in panel.findChildren(QWidget):
        if widget.focusPolicy() & Qt.FocusPolicy.TabFocus:
            iface = QAccessible.queryAccessibleInterface(widget)
            assert iface.text(QAccessible.Text.Name).strip(), type(widget).__name__
