"""A tiny real Qt window that speaks through :class:`app.gui.announcer.QtAnnouncer` (run as a process).

``python -m tests.announce_app`` inside a private AT-SPI session (tests/a11y_bus.py):
once the window is up it announces a polite sentence, an assertive one (an
error), and one whose job was cancelled before the main thread got to it
(which must never reach the screen reader), then prints "done" and quits.
"""

from __future__ import annotations

import os
import sys

os.environ["QT_QPA_PLATFORM"] = "xcb"
os.environ.setdefault("QT_LINUX_ACCESSIBILITY_ALWAYS_ON", "1")

from PySide6.QtCore import QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication, QLabel  # noqa: E402

from app.engine.base import CancelToken  # noqa: E402
from app.gui.announcer import QtAnnouncer  # noqa: E402
from app.speech.base import Priority  # noqa: E402


def main() -> int:
    app = QApplication(sys.argv)
    window = QLabel("Iris")
    window.setWindowTitle("Iris")
    window.show()
    announcer = QtAnnouncer(lambda: window, lambda fn: QTimer.singleShot(0, fn))

    def speak() -> None:
        announcer.speak("The answer, first sentence.")
        announcer.speak("The camera is not available.", priority=Priority.NEXT)
        stale = CancelToken()
        announcer.speak("A superseded sentence.", owner=stale)
        stale.cancel()  # before the main thread posts it
        QTimer.singleShot(500, finish)

    def finish() -> None:
        print("done", flush=True)
        app.quit()

    QTimer.singleShot(1000, speak)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
