"""Fixtures for the desktop app: the real window and controller over a core with test doubles.

The engine is :class:`tests.mock_engine.MockEngine` (or the tiny real model in one
test), speech is :class:`SilentSpeaker` (it records what it was asked to say),
OCR and capture are small fakes, so the widgets are real and everything else is
fast and deterministic. The app is built through :class:`app.gui.app.IrisApp`,
exactly as ``iris`` builds it, minus global hotkeys (tests/gui/test_hotkeys_xvfb.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from app.capture.base import CaptureSource
from app.errors import CaptureError
from tests.conftest import IMAGES_DIR


class FakeOCR:
    """Counts calls and returns fixed lines (the real OCR is tested in tests/test_ocr.py)."""

    def __init__(self, lines: tuple[str, ...] = ("Invoice 42", "Total 17 euros")) -> None:
        self.lines = list(lines)
        self.calls = 0

    def read_lines(self, image: Image.Image) -> list[str]:
        self.calls += 1
        return list(self.lines)


class FakeCapture(CaptureSource):
    """A 'screen' that hands over a real photo and counts grabs; can be made to fail."""

    def __init__(self, image: Image.Image, label: str = "the screen") -> None:
        self.image = image
        self.label = label
        self.is_screen = True
        self.grabs = 0
        self.fail: str | None = None

    def grab(self) -> Image.Image:
        self.grabs += 1
        if self.fail:
            raise CaptureError(self.fail)
        return self.image.copy()


@dataclass
class Harness:
    """One running app: ``iris`` (IrisApp), its window, controller, engine, speaker, fakes."""

    iris: Any
    engine: Any
    speaker: Any
    ocr: FakeOCR
    screen: FakeCapture
    window_capture: FakeCapture
    camera_frames: list[Image.Image] = field(default_factory=list)

    @property
    def window(self):
        return self.iris.window

    @property
    def controller(self):
        return self.iris.controller

    @property
    def core(self):
        return self.iris.core

    def text(self) -> str:
        return self.window.conversation.toPlainText()

    def spoken_text(self) -> str:
        return " ".join(s for s in self.speaker.spoken if not s.startswith("<"))

    def wait_idle(self, qtbot, timeout: int = 5000) -> None:
        qtbot.waitUntil(lambda: not self.controller.busy and not self.core.runner.busy, timeout=timeout)
        qtbot.wait(20)  # let queued deliveries land


def _photo(name: str) -> Image.Image:
    path = IMAGES_DIR / name
    if not path.exists():
        pytest.skip("shared images not found beside the checkout")
    with Image.open(path) as image:
        return image.convert("RGB")


@pytest.fixture
def photo_paths() -> list[Path]:
    paths = [IMAGES_DIR / n for n in ("chelsea.png", "coffee.png", "astronaut.png")]
    if not all(p.exists() for p in paths):
        pytest.skip("shared images not found beside the checkout")
    return paths


@pytest.fixture
def make_app(qtbot, qapp):
    """``make_app(engine=None, ocr=None, settings=None, history=None) -> Harness`` with the window shown."""
    from app.compose import build_core
    from app.gui.app import IrisApp
    from app.gui.bridge import MainThreadDispatcher
    from app.notifier import Notifier
    from app.settings import Settings
    from app.speech.base import SilentSpeaker
    from tests.mock_engine import MockEngine

    built: list[Any] = []

    def make(engine=None, *, ocr=None, settings: dict | None = None, history=None, show: bool = True) -> Harness:
        dispatcher = MainThreadDispatcher()
        notifier = Notifier()
        store = Settings.load(on_message=notifier.error)
        store.update({"warm_up_on_start": False, "progress_sound": False, **(settings or {})})
        speaker = SilentSpeaker()
        engine = engine if engine is not None else MockEngine(
            lambda conv: f"An image {conv.image.width} pixels wide. Turn {len(conv.turns)}."
        )
        ocr = ocr or FakeOCR()
        core = build_core(settings=store, notifier=notifier, speaker=speaker, engine=engine, ocr=ocr,
                          deliver=dispatcher.deliver)
        screen = FakeCapture(_photo("astronaut.png"), "the screen")
        window_capture = FakeCapture(_photo("coffee.png"), "the active window")
        frames: list[Image.Image] = []

        def camera_grab(camera_id=None):
            if not frames:
                raise CaptureError("No camera was found. Connect a camera and try again.")
            return frames.pop(0)

        iris = IrisApp(
            qapp,
            core=core,
            dispatcher=dispatcher,
            history=history,
            start_hotkeys=False,
            controller_options={
                "screen_source": lambda: screen,
                "window_source": lambda: window_capture,
                "camera_grab": camera_grab,
            },
        )
        iris.window.capture_behind = False
        harness = Harness(iris, engine, speaker, ocr, screen, window_capture, frames)
        built.append(harness)
        if show:
            iris.show()
            qtbot.waitExposed(iris.window)
            qtbot.waitUntil(lambda: iris.started and iris.window.status_label.text().startswith("Iris is ready"))
        return harness

    yield make
    for harness in built:
        harness.iris.shutdown()
        qtbot.wait(10)
