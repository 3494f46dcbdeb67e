"""Make the benchmark's 1280x800 screenshot: a real Qt window on a real X server, grabbed by Iris.

The latency benchmark needs a screenshot that looks like what a user's screen
holds (menus, toolbar, a list, a block of text, a status bar), not a synthetic
picture. This starts Xvfb at 1280x800, shows a PySide6 mail-client-like window
filling it (platform ``xcb``, so it is really drawn on the X server), and
grabs the screen with :class:`app.capture.screen.ScreenCapture`, the same code
path as the describe-screen hotkey. The result is committed as
``benchmarks/data/screenshot-1280x800.png`` so every run uses the same pixels.

Usage: ``python benchmarks/make_screenshot.py [--out PATH]`` (needs Xvfb).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "benchmarks" / "data" / "screenshot-1280x800.png"
WIDTH, HEIGHT = 1280, 800

FOLDERS = ["Inbox (3)", "Drafts", "Sent", "Archive", "Spam", "Trash"]
MESSAGES = [
    ("Dr. Amelia Hart", "Appointment moved to Thursday", "09:42"),
    ("City Library", "Your reserved book is ready for pickup", "08:15"),
    ("Bank of the North", "Statement for March is available", "Yesterday"),
    ("Sam Okafor", "Photos from the weekend", "Yesterday"),
    ("Water Utility", "Planned maintenance on 14 April", "Mon"),
    ("Priya Raman", "Re: Budget spreadsheet", "Mon"),
    ("Online Pharmacy", "Your order has shipped", "Sun"),
]
BODY = (
    "Hello Jordan,\n\n"
    "Your appointment with Dr. Amelia Hart has been moved from Tuesday 9 April at 10:30 "
    "to Thursday 11 April at 14:15, in room 204 on the second floor.\n\n"
    "Please bring your insurance card and a list of your current medicines. "
    "If the new time does not suit you, call the clinic on 555-0142 before Wednesday noon.\n\n"
    "Kind regards,\nRiverside Medical Centre"
)


def _window_main(out: Path) -> int:
    """Run inside the X server: build the window, wait until it is drawn, grab, save."""
    from PySide6.QtCore import QTimer
    from PySide6.QtGui import QFont
    from PySide6.QtWidgets import (
        QApplication,
        QHBoxLayout,
        QLabel,
        QListWidget,
        QMainWindow,
        QPushButton,
        QSplitter,
        QStatusBar,
        QTextEdit,
        QToolBar,
        QTreeWidget,
        QTreeWidgetItem,
        QVBoxLayout,
        QWidget,
    )

    app = QApplication(["iris-screenshot"])
    app.setFont(QFont("DejaVu Sans", 10))
    window = QMainWindow()
    window.setWindowTitle("Inbox - Mail")
    menu = window.menuBar()
    for title in ("File", "Edit", "View", "Message", "Tools", "Help"):
        menu.addMenu(title)
    toolbar = QToolBar("Main")
    for label in ("Get Mail", "Write", "Reply", "Reply All", "Forward", "Delete", "Search"):
        toolbar.addWidget(QPushButton(label))
    window.addToolBar(toolbar)

    folders = QListWidget()
    folders.addItems(FOLDERS)
    folders.setCurrentRow(0)
    messages = QTreeWidget()
    messages.setHeaderLabels(["From", "Subject", "Date"])
    for sender, subject, date in MESSAGES:
        messages.addTopLevelItem(QTreeWidgetItem([sender, subject, date]))
    messages.setCurrentItem(messages.topLevelItem(0))
    messages.setColumnWidth(0, 220)
    messages.setColumnWidth(1, 520)

    preview = QWidget()
    layout = QVBoxLayout(preview)
    header = QLabel("<b>Appointment moved to Thursday</b><br>From: Dr. Amelia Hart &lt;reception@riverside.example&gt;")
    body = QTextEdit()
    body.setPlainText(BODY)
    buttons = QHBoxLayout()
    for label in ("Reply", "Add to calendar", "Mark as unread"):
        buttons.addWidget(QPushButton(label))
    buttons.addStretch(1)
    layout.addWidget(header)
    layout.addWidget(body)
    layout.addLayout(buttons)

    right = QSplitter()
    right.setOrientation(right.orientation().__class__.Vertical)
    right.addWidget(messages)
    right.addWidget(preview)
    right.setSizes([300, 420])
    main = QSplitter()
    main.addWidget(folders)
    main.addWidget(right)
    main.setSizes([200, 1080])
    window.setCentralWidget(main)
    status = QStatusBar()
    status.showMessage("3 unread messages - last checked 09:45")
    window.setStatusBar(status)
    window.setGeometry(0, 0, WIDTH, HEIGHT)
    window.show()

    result: dict[str, int] = {}

    def grab() -> None:
        sys.path.insert(0, str(REPO))
        from app.capture.screen import ScreenCapture

        image = ScreenCapture().grab()
        out.parent.mkdir(parents=True, exist_ok=True)
        image.save(out, optimize=True)
        result["size"] = image.size  # type: ignore[assignment]
        app.quit()

    QTimer.singleShot(1500, grab)  # let the X server draw every widget
    app.exec()
    print(f"saved {out} {result.get('size')}")
    return 0 if result else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--in-x", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.in_x:
        return _window_main(args.out)
    xvfb_run = shutil.which("xvfb-run")
    if xvfb_run is None:
        print("xvfb-run is needed (apt install xvfb)", file=sys.stderr)
        return 2
    env = dict(os.environ, QT_QPA_PLATFORM="xcb")
    cmd = [xvfb_run, "-a", "-s", f"-screen 0 {WIDTH}x{HEIGHT}x24", sys.executable, __file__, "--in-x",
           "--out", str(args.out)]
    started = time.perf_counter()
    done = subprocess.run(cmd, env=env, timeout=120)
    print(f"took {time.perf_counter() - started:.1f} s")
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
