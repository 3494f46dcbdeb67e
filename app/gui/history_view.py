"""The history panel: earlier answers as an accessible list, with Clear history.

Each row reads "time, source: first sentence", so a screen reader user can
skim with the arrow keys; Enter (or a double-click) emits ``entry_activated``
so the main window can show the full answer and its image. Call ``refresh()``
after the history changes (the panel never polls the disk).
"""

from __future__ import annotations

import time
from typing import Callable

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..history import Entry, History

EMPTY_TEXT = "No history yet. Answers appear here when history is on."
OFF_TEXT = "History is off. Turn it on in Settings to keep earlier answers and their pictures."


def entry_label(entry: Entry, *, now: float | None = None) -> str:
    """'14:05, screen: A login window with two fields.' (date added when not today)."""
    moment = time.localtime(entry.time)
    today = time.localtime(now if now is not None else time.time())
    when = time.strftime("%H:%M", moment)
    if moment[:3] != today[:3]:
        when = time.strftime("%d %b %Y, %H:%M", moment)
    source = entry.source or "image"
    summary = entry.first_sentence or "(no text)"
    if entry.question:
        return f"{when}, {source}, question {entry.question!r}: {summary}"
    return f"{when}, {source}: {summary}"


class HistoryPanel(QWidget):
    """List of history entries; ``entry_activated(Entry)`` on Enter or double-click."""

    entry_activated = Signal(object)
    cleared = Signal()

    def __init__(
        self,
        history: History,
        parent: QWidget | None = None,
        *,
        confirm: Callable[[], bool] | None = None,
    ) -> None:
        super().__init__(parent)
        self.history = history
        self._confirm = confirm or self._ask_to_clear
        self.setAccessibleName("History")

        self.heading = QLabel("&History of answers:", self)
        self.list = QListWidget(self)
        self.list.setAccessibleName("History of answers")
        self.list.setAccessibleDescription("Press Enter on an answer to open it again.")
        self.list.setSelectionMode(QListWidget.SelectionMode.SingleSelection)
        self.list.setUniformItemSizes(True)
        self.list.setWordWrap(False)
        self.heading.setBuddy(self.list)
        self.status = QLabel(self)
        self.status.setWordWrap(True)
        self.status.setAccessibleName("History status")

        self.clear_button = QPushButton("C&lear history", self)
        self.clear_button.setAccessibleName("Clear history")
        self.clear_button.setAccessibleDescription("Delete every saved answer and picture from this computer.")
        self.clear_button.clicked.connect(self.clear)

        self.list.itemDoubleClicked.connect(self._activate_item)
        self.list.installEventFilter(self)

        buttons = QHBoxLayout()
        buttons.addWidget(self.clear_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.heading)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.status)
        layout.addLayout(buttons)
        self.refresh()

    # -- data -------------------------------------------------------------
    def refresh(self) -> None:
        """Reload the list from the history, keeping the selected entry when it still exists."""
        current = self.current_entry()
        self.list.clear()
        now = time.time()
        for entry in self.history.entries():
            item = QListWidgetItem(entry_label(entry, now=now))
            item.setData(Qt.ItemDataRole.UserRole, entry)
            item.setData(Qt.ItemDataRole.AccessibleTextRole, item.text())
            item.setToolTip(entry.text[:500])
            self.list.addItem(item)
            if current is not None and entry.id == current.id:
                self.list.setCurrentItem(item)
        count = self.list.count()
        if count == 0:
            text = OFF_TEXT if not self.history.enabled else EMPTY_TEXT
        else:
            text = f"{count} answer{'s' if count != 1 else ''} saved."
            if not self.history.enabled:
                text += " History is off, so new answers are not added."
            if self.list.currentRow() < 0:
                self.list.setCurrentRow(0)
        self.status.setText(text)
        self.list.setAccessibleDescription(text if count == 0 else "Press Enter on an answer to open it again.")
        self.clear_button.setEnabled(count > 0)

    def current_entry(self) -> Entry | None:
        item = self.list.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item is not None else None

    def entries_shown(self) -> list[Entry]:
        return [self.list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.list.count())]

    # -- actions ----------------------------------------------------------
    def clear(self) -> bool:
        if self.list.count() == 0 or not self._confirm():
            return False
        ok = self.history.clear()
        self.refresh()
        self.status.setText("History cleared." if ok else "Some history files could not be deleted.")
        self.list.setFocus()
        self.cleared.emit()
        return ok

    def _ask_to_clear(self) -> bool:
        answer = QMessageBox.question(
            self,
            "Clear history",
            "Delete every saved answer and picture? This cannot be undone.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        return answer == QMessageBox.StandardButton.Yes

    def _activate_item(self, item: QListWidgetItem | None) -> None:
        if item is not None:
            self.entry_activated.emit(item.data(Qt.ItemDataRole.UserRole))

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt name
        if watched is self.list and event.type() == QEvent.Type.KeyPress:
            key_event: QKeyEvent = event  # type: ignore[assignment]
            if key_event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                self._activate_item(self.list.currentItem())
                return True
        return super().eventFilter(watched, event)
