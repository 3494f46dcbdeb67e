"""The first-run download dialog shows every line of its text on a plain X display (no window manager).

Word-wrapped labels only know their height for a given width; a dialog sized from its
first size hint used to cut the details and a long failure sentence off mid-line. Run in
a real Xvfb with the xcb platform, as a user without a desktop would see it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.xvfb import start_xvfb

pytestmark = pytest.mark.xvfb

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import json, sys
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from app.catalogue import default_entry
from app.gui.model_dialog import ModelSetupDialog
from app.notifier import Notifier

app = QApplication(sys.argv)
dialog = ModelSetupDialog(default_entry("cpu"), download=lambda *a: None, notifier=Notifier())
dialog.show()
results = []

def measure(stage):
    labels = [label for label in (dialog.intro, dialog.details, dialog.status) if label.isVisible()]
    results.append({"stage": stage, "labels": [
        {"height": label.height(), "needed": label.heightForWidth(label.width()),
         "bottom": label.geometry().bottom(), "inside": dialog.contentsRect().bottom()} for label in labels]})

def fail():
    dialog._on_failed("Iris could not reach the model hub to download smolvlm-256m. Check the internet "
                      "connection, or download the files on another computer and start Iris with "
                      "--model /path/to/that/folder.")

QTimer.singleShot(600, lambda: measure("offer"))
QTimer.singleShot(700, fail)
QTimer.singleShot(1300, lambda: measure("failed"))
QTimer.singleShot(1400, app.quit)
app.exec()
print(json.dumps(results))
"""


def test_every_line_of_the_dialog_text_is_visible(tmp_path):
    server = start_xvfb(1024, 768)
    if server is None:
        pytest.skip("Xvfb is not installed")
    try:
        env = dict(os.environ, DISPLAY=server.name, QT_QPA_PLATFORM="xcb", IRIS_HOME=str(tmp_path))
        done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=60)
    finally:
        server.close()
    assert done.returncode == 0, done.stderr
    stages = json.loads(done.stdout.strip().splitlines()[-1])
    assert [s["stage"] for s in stages] == ["offer", "failed"]
    assert len(stages[1]["labels"]) == 3  # the failure sentence is shown too
    for stage in stages:
        for label in stage["labels"]:
            assert label["height"] >= label["needed"] > 0, stage
            assert label["bottom"] <= label["inside"], stage
