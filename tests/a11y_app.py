"""A small real Qt app for the AT-SPI tests: one named and one unnamed image button.

Run as a separate process (``python -m tests.a11y_app``) inside a private
session from ``tests/a11y_bus.py``. It reads one command per line on stdin:
``focus named``, ``focus unnamed``, ``focus none`` (clears the focus: the
window stays active, no control is focused), ``hide``, ``show``; after each it prints one JSON line with the toolkit's own
global geometry of both buttons and the window, so the test can compare the
crop with Qt's idea of where the button is.
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("QT_LINUX_ACCESSIBILITY_ALWAYS_ON", "1")
os.environ["QT_QPA_PLATFORM"] = "xcb"

from PySide6.QtCore import QPoint, QSocketNotifier, QTimer  # noqa: E402
from PySide6.QtGui import QColor, QIcon, QPixmap  # noqa: E402
from PySide6.QtWidgets import QApplication, QHBoxLayout, QLabel, QToolButton, QWidget  # noqa: E402


def _icon(color: str) -> QIcon:
    pix = QPixmap(32, 32)
    pix.fill(QColor(color))
    return QIcon(pix)


def _rect(widget: QWidget) -> dict[str, int]:
    top_left = widget.mapToGlobal(QPoint(0, 0))
    return {"x": top_left.x(), "y": top_left.y(), "width": widget.width(), "height": widget.height()}


def main() -> int:
    app = QApplication(sys.argv)
    app.setApplicationName("IrisA11yProbe")
    window = QWidget()
    window.setWindowTitle("Iris probe")
    layout = QHBoxLayout(window)
    label = QLabel("Probe")
    named = QToolButton()
    named.setIcon(_icon("#c03030"))
    named.setAccessibleName("Save drawing")
    unnamed = QToolButton()  # an image button with no text and no accessible name
    unnamed.setIcon(_icon("#3030c0"))
    for widget in (label, named, unnamed):
        layout.addWidget(widget)
    window.move(200, 150)
    window.resize(300, 120)
    window.show()
    window.activateWindow()
    widgets = {"named": named, "unnamed": unnamed}

    def report(command: str) -> None:
        app.processEvents()
        data = {"command": command, "named": _rect(named), "unnamed": _rect(unnamed), "window": _rect(window),
                "focus": next((k for k, w in widgets.items() if w.hasFocus()), None)}
        print(json.dumps(data), flush=True)

    def on_line() -> None:
        line = sys.stdin.readline()
        if not line:
            app.quit()
            return
        parts = line.split()
        if parts[:1] == ["focus"] and len(parts) == 2:
            window.activateWindow()
            if parts[1] in widgets:
                widgets[parts[1]].setFocus()
            else:
                focused = app.focusWidget()
                if focused is not None:
                    focused.clearFocus()
        elif parts[:1] == ["hide"]:
            window.hide()
        elif parts[:1] == ["show"]:
            window.show()
            window.activateWindow()
        # Give the window manager-less X server and the AT-SPI bridge a moment to settle.
        QTimer.singleShot(300, lambda: report(line.strip()))

    notifier = QSocketNotifier(sys.stdin.fileno(), QSocketNotifier.Type.Read)
    notifier.activated.connect(on_line)
    QTimer.singleShot(500, lambda: report("ready"))
    return app.exec()


if __name__ == "__main__":
    raise SystemExit(main())
