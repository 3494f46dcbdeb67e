"""Take the README screenshot of the main window, under Xvfb.

    xvfb-run -s '-screen 0 1280x800x24' python installers/screenshot.py [OUT.png]

The window is the real one; the answers come from the scripted demo engine
(:class:`tests.mock_engine.MockEngine`), because the screenshot shows the
interface, not a model's quality. It describes a real photo from
``../shared/images`` (or a drawn stand-in), asks one follow-up question and
saves ``resources/screenshot-main-window.png``.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("IRIS_HOME", tempfile.mkdtemp(prefix="iris-screenshot-"))

DESCRIPTION = (
    "A tabby cat sits facing the camera and looks straight at you. Its fur is striped grey, "
    "brown and black, with white whiskers and a pale chin. The background is a plain, light wall."
)
FOLLOW_UP = "What colour are its eyes?"
FOLLOW_UP_ANSWER = "Its eyes are yellow with a hint of green, and the pupils are narrow slits."


def _photo(tmp: Path) -> Path:
    shared = REPO.parent / "shared" / "images" / "chelsea.png"
    if shared.exists():
        return shared
    from PIL import Image, ImageDraw

    path = tmp / "sample.png"
    image = Image.new("RGB", (480, 320), "white")
    ImageDraw.Draw(image).ellipse((140, 60, 340, 260), fill=(120, 110, 100))
    image.save(path)
    return path


def _answer(conversation) -> str:
    asked = [t.text for t in conversation.turns if t.role == "user"]
    return FOLLOW_UP_ANSWER if len(asked) > 1 else DESCRIPTION


def _wait(qapp, until, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not until() and time.monotonic() < deadline:
        qapp.processEvents()
        time.sleep(0.01)
    qapp.processEvents()


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else REPO / "resources" / "screenshot-main-window.png"
    from PySide6.QtWidgets import QApplication

    qapp = QApplication(["iris"])
    from app.compose import build_core
    from app.gui.app import IrisApp
    from app.gui.bridge import MainThreadDispatcher
    from app.speech.base import SilentSpeaker
    from tests.mock_engine import MockEngine

    dispatcher = MainThreadDispatcher()
    core = build_core(engine=MockEngine(_answer, token_delay=0.002), speaker=SilentSpeaker(), ocr=None,
                      deliver=dispatcher.deliver, with_ocr=False)
    core.settings.update({"warm_up_on_start": False, "progress_sound": False})
    iris = IrisApp(qapp, core=core, dispatcher=dispatcher, start_hotkeys=False)
    window = iris.window
    window.resize(1040, 680)
    iris.show()
    _wait(qapp, lambda: iris.started)
    with tempfile.TemporaryDirectory() as tmp:
        iris.controller.open_images([_photo(Path(tmp))])
        _wait(qapp, lambda: core.assistant.last_answer is not None and not iris.controller.busy)
    window.question.setText(FOLLOW_UP)
    window.ask()
    _wait(qapp, lambda: not iris.controller.busy and FOLLOW_UP_ANSWER in window.conversation.toPlainText())
    window.question.setFocus()
    _wait(qapp, lambda: False, timeout=0.3)
    out.parent.mkdir(parents=True, exist_ok=True)
    ok = window.grab().save(str(out))
    iris.shutdown()
    if not ok:
        print(f"could not write {out}", file=sys.stderr)
        return 1
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
