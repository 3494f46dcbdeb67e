"""The real Iris window (MockEngine in place of the model), driven as a user would, for tests/test_orca.py.

Run as a process inside a private AT-SPI session with Orca running: it builds
``IrisApp`` exactly as ``iris`` does (speech output chosen by detection), opens
a picture whose answer has four sentences, opens a second one 1.2 s later
(superseding the first), and prints one JSON line per step.
"""

from __future__ import annotations

import json
import os
import sys
import time

os.environ["QT_QPA_PLATFORM"] = "xcb"
os.environ.setdefault("QT_LINUX_ACCESSIBILITY_ALWAYS_ON", "1")

from PySide6.QtCore import QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

import app.engine.loading as loading  # noqa: E402
from tests.mock_engine import MockEngine  # noqa: E402

OLD = "Old one. Old two. Old three. Old four. Old five. Old six. Old seven. Old eight."
NEW = "The photo shows a cat asleep on a sofa. A red blanket lies beside it."


def main() -> int:
    first, second = sys.argv[1], sys.argv[2]
    loading.create_engine = lambda *a, **k: MockEngine(
        lambda conv: OLD if conv.source_label == os.path.basename(first) else NEW, token_delay=0.05)
    from app.gui.app import IrisApp

    qapp = QApplication(["iris"])
    qapp.setApplicationName("Iris")
    iris = IrisApp(qapp, start_hotkeys=False)
    iris.show()

    def say(**data: object) -> None:
        print(json.dumps(data), flush=True)

    def request_1() -> None:
        say(step="output", kind=type(iris.core.speaker.output).__name__, name=iris.core.speaker.name)
        iris.window.conversation.setFocus()
        say(step="request", n=1, at=time.time())
        iris.controller.open_images([first])

    def request_2() -> None:
        say(step="request", n=2, at=time.time())
        iris.controller.open_images([second])

    def finish() -> None:
        say(step="end", title=iris.window.windowTitle())
        iris.quit()

    QTimer.singleShot(3000, request_1)
    QTimer.singleShot(4200, request_2)
    QTimer.singleShot(9000, finish)
    return qapp.exec()


if __name__ == "__main__":
    sys.exit(main())
