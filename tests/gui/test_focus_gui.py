"""The app's focus, zoom and "what changed" actions, and the capture taken at the keypress.

Built through IrisApp like tests/gui/test_main_window.py (MockEngine, SilentSpeaker,
a FakeCapture screen); the hotkey is the HotkeyManager's own signal, which is
what pynput's callback ends in.
"""

from __future__ import annotations

import time

from PIL import Image, ImageDraw

from app.a11y.base import FocusedElement, Rect
from app.capture.base import CaptureSource
from app.capture.focused import FocusedMonitorCapture
from app.capture.region import zoom_box
from app.capture.screen import ScreenCapture
from tests.mock_engine import MockEngine


def test_a_hotkey_during_a_slow_model_load_captures_at_once(make_app, qtbot):
    engine = MockEngine("A desktop.", load_delay=1.5)
    h = make_app(engine)
    grabbed: list[float] = []
    real_grab = h.screen.grab
    h.screen.grab = lambda: (grabbed.append(time.monotonic()), real_grab())[1]
    h.controller.warm_up()
    qtbot.waitUntil(lambda: h.core.runner.busy, timeout=2000)
    time.sleep(0.2)  # well inside the 1.5 s load
    assert not engine.is_loaded
    pressed = time.monotonic()
    h.iris.hotkeys.triggered.emit("describe_screen")
    qtbot.waitUntil(lambda: bool(grabbed), timeout=1000)
    assert grabbed[0] - pressed < 0.1
    assert not engine.is_loaded  # taken before the load finished
    # The picture is shown (and the window may come back) before the model is ready.
    qtbot.waitUntil(lambda: h.controller.current_image is not None, timeout=1000)
    assert not engine.is_loaded
    h.wait_idle(qtbot, timeout=8000)
    assert engine.calls and engine.calls[-1].image.size == h.screen.image.size


def test_zoom_describes_one_ninth_at_full_size_and_keeps_it_for_questions(make_app, qtbot):
    h = make_app()
    h.controller.describe_screen()
    h.wait_idle(qtbot)
    whole = h.screen.image
    h.window.actions["zoom_top_right"].trigger()
    h.wait_idle(qtbot)
    zoomed = h.engine.calls[-1].image
    w, ht = whole.size
    assert zoomed.size == (w - 2 * w // 3, ht // 3)
    assert zoomed.tobytes() == whole.crop((2 * w // 3, 0, w, ht // 3)).tobytes()  # full resolution
    assert "top right" in h.text()  # the conversation says which part
    h.controller.ask("What is written there?")
    h.wait_idle(qtbot)
    assert h.engine.calls[-1].image.size == zoomed.size  # the follow-up is about the part
    h.window.actions["zoom_centre"].trigger()  # a part of the part
    h.wait_idle(qtbot)
    inner = zoom_box(zoom_box(Rect(0, 0, w, ht), "top right"), "centre")
    assert h.engine.calls[-1].image.tobytes() == whole.crop((inner.x, inner.y, inner.right, inner.bottom)).tobytes()
    calls = len(h.engine.calls)
    h.window.actions["zoom_out"].trigger()
    h.window.actions["zoom_out"].trigger()
    assert len(h.engine.calls) == calls  # zooming out needs no model
    assert h.controller.assistant.conversation.image.size == whole.size
    h.controller.ask("And the whole screen?")
    h.wait_idle(qtbot)
    assert h.engine.calls[-1].image.size == whole.size


def test_what_changed_skips_the_model_when_nothing_changed_then_describes_the_change(make_app, qtbot):
    h = make_app()
    h.controller.describe_window()
    h.wait_idle(qtbot)
    calls = len(h.engine.calls)
    h.window.actions["what_changed"].trigger()
    h.wait_idle(qtbot)
    assert len(h.engine.calls) == calls and h.window_capture.grabs == 2  # the same window, captured again
    assert h.controller.assistant.last_answer.kind == "unchanged"
    changed = h.window_capture.image.copy()
    ImageDraw.Draw(changed).rectangle((40, 30, 139, 89), fill=(255, 0, 255))
    h.window_capture.image = changed
    h.window.actions["what_changed"].trigger()
    h.wait_idle(qtbot)
    assert len(h.engine.calls) == calls + 1
    crop = h.engine.calls[-1].image
    assert 100 <= crop.width <= 100 + 2 * 16 and 60 <= crop.height <= 60 + 2 * 16


def test_describe_focused_gives_the_model_role_name_and_application(make_app, qtbot):
    h = make_app()
    button = Image.new("RGB", (40, 40), "white")
    ImageDraw.Draw(button).ellipse((10, 10, 30, 30), fill="black")

    class FocusedFake(CaptureSource):
        label = "the focused push button"
        is_screen = True
        element = FocusedElement("push button", "", "Firefox", Rect(300, 200, 24, 24))
        region = Rect(292, 192, 40, 40)

        def grab(self):
            return button

    h.controller._focused_source = FocusedFake
    h.window.actions["describe_focused"].trigger()
    h.wait_idle(qtbot)
    conversation = h.engine.calls[-1]
    assert conversation.image.size == (40, 40)
    assert "push button" in conversation.turns[0].text and "Firefox" in conversation.turns[0].text
    assert h.controller.assistant.last_answer.element == {"role": "push button", "name": "", "application": "Firefox"}


def test_the_screen_setting_chooses_the_focused_monitor_or_all(make_app):
    h = make_app()
    controller = h.controller
    assert isinstance(controller._default_screen_source(), FocusedMonitorCapture)
    h.core.settings.set("screen_monitors", "all", save=False)
    source = controller._default_screen_source()
    assert isinstance(source, ScreenCapture) and source.monitor is None


def test_the_loading_notice_is_given_only_when_there_is_a_model_to_load(make_app, qtbot):
    from app.notifier import Level

    def working_messages(engine) -> int:
        h = make_app(engine)
        before = len(h.core.notifier.history)
        h.controller.describe_screen()
        h.wait_idle(qtbot, timeout=8000)
        return sum(1 for m in h.core.notifier.history[before:] if m.level is Level.WORKING)

    class NoModel(MockEngine):
        def model_found(self) -> bool:
            return False

    with_model = working_messages(MockEngine("A desktop.", load_delay=0.3))
    without = working_messages(NoModel("A desktop.", load_delay=0.3))
    assert with_model == without + 1
