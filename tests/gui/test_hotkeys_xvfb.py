"""Global hotkeys: parsing and conflict checks (no display needed), then the real thing under Xvfb.

The last tests start their own Xvfb on a free display (``-displayfd``, so
parallel runs never collide), register the real pynput ``GlobalHotKeys``, press
the keys with ``xdotool`` and wait for the action to fire on the Qt thread.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

pytestmark = pytest.mark.qt_log_ignore(r"This plugin does not support (propagateSizeHints|raise)\(\)")

from app.gui.hotkeys import (
    HOTKEY_ACTIONS,
    HotkeyError,
    HotkeyManager,
    conflict_of,
    default_hotkey,
    parse_hotkey,
    plan_hotkeys,
)
from app.notifier import Level, Notifier
from app.settings import Settings, defaults
from tests.xvfb import start_xvfb


# --------------------------------------------------------------- no display
@pytest.mark.parametrize("text, expected", [
    ("<ctrl>+<alt>+<shift>+d", "<ctrl>+<alt>+<shift>+d"),
    ("Ctrl+Alt+D", "<ctrl>+<alt>+d"),
    ("shift+ctrl+F9", "<ctrl>+<shift>+<f9>"),
    ("<cmd>+<shift>+x", "<shift>+<cmd>+x"),
    ("<f8>", "<f8>"),
])
def test_parse_accepts_pynput_and_plain_forms(text, expected):
    assert parse_hotkey(text).pynput() == expected


@pytest.mark.parametrize("text", ["", "d", "shift+d", "<ctrl>+<alt>", "<ctrl>+<bogus>+d", "ctrl+a+b"])
def test_parse_rejects_unusable_hotkeys_with_a_sentence(text):
    with pytest.raises(HotkeyError) as info:
        parse_hotkey(text)
    assert str(info.value).endswith(".")


def test_the_defaults_are_valid_distinct_and_clear_of_screen_reader_gestures():
    keys = set()
    for setting, _action, _words in HOTKEY_ACTIONS:
        hotkey = parse_hotkey(default_hotkey(setting))
        assert conflict_of(hotkey) is None, setting
        keys.add(hotkey.keys)
    assert len(keys) == len(HOTKEY_ACTIONS)
    plan = plan_hotkeys(defaults())
    assert plan.problems == [] and len(plan.bindings) == len(HOTKEY_ACTIONS)


@pytest.mark.parametrize("combo", ["<ctrl>+<alt>+n", "<ctrl>+<alt>+<up>", "<insert>+d", "<caps_lock>+<f2>",
                                   "<ctrl>+<alt>+l"])
def test_known_screen_reader_and_desktop_gestures_are_flagged(combo):
    assert conflict_of(parse_hotkey(combo))


def test_a_duplicate_is_skipped_and_reported_with_the_alternative():
    values = defaults()
    values["hotkey_repeat"] = values["hotkey_describe_screen"]
    plan = plan_hotkeys(values)
    assert len(plan.bindings) == len(HOTKEY_ACTIONS) - 1
    assert "repeat_last" not in plan.bindings.values()
    assert len(plan.problems) == 1
    assert parse_hotkey(default_hotkey("hotkey_repeat")).spoken() in plan.problems[0]


def test_an_unparseable_hotkey_is_reported_and_the_others_still_register():
    values = defaults()
    values["hotkey_stop"] = "ctrl+alt+nonsense"
    plan = plan_hotkeys(values)
    assert "stop" not in plan.bindings.values() and len(plan.bindings) == len(HOTKEY_ACTIONS) - 1
    assert "nonsense" in plan.problems[0] and parse_hotkey(default_hotkey("hotkey_stop")).spoken() in plan.problems[0]


def test_a_conflicting_hotkey_still_registers_but_is_explained():
    values = defaults()
    values["hotkey_describe_screen"] = "<ctrl>+<alt>+n"
    plan = plan_hotkeys(values)
    assert "<ctrl>+<alt>+n" in plan.bindings
    assert "NVDA" in plan.problems[0]


class FakeListener:
    instances: list["FakeListener"] = []

    def __init__(self, bindings, fail=False):
        self.bindings = bindings
        self.fail = fail
        self.running = False
        FakeListener.instances.append(self)

    def start(self):
        if self.fail:
            raise OSError("no keyboard hook")
        self.running = True

    def stop(self):
        self.running = False


def test_manager_registers_fires_on_the_qt_thread_and_reregisters_on_change(qtbot):
    FakeListener.instances.clear()
    settings = Settings.load()
    notifier = Notifier()
    manager = HotkeyManager(settings, notifier, listener_factory=FakeListener)
    assert manager.start() == []
    first = FakeListener.instances[-1]
    assert set(first.bindings) == set(manager.plan.bindings)
    with qtbot.waitSignal(manager.triggered, timeout=2000) as blocker:
        import threading

        threading.Thread(target=first.bindings[parse_hotkey(settings["hotkey_stop"]).pynput()]).start()
    assert blocker.args == ["stop"]
    settings.update({"hotkey_stop": "<ctrl>+<alt>+<shift>+x", "hotkey_repeat": "<ctrl>+<alt>+<shift>+y"})
    qtbot.waitUntil(lambda: len(FakeListener.instances) == 2, timeout=2000)
    qtbot.wait(20)
    assert len(FakeListener.instances) == 2  # two changes at once: registered again once
    second = FakeListener.instances[-1]
    assert not first.running and second.running
    assert {"<ctrl>+<alt>+<shift>+x", "<ctrl>+<alt>+<shift>+y"} <= set(second.bindings)
    settings.set("hotkeys_enabled", False)
    settings.set("hotkey_stop", "<ctrl>+<alt>+<shift>+z")
    qtbot.waitUntil(lambda: not manager.running, timeout=2000)
    manager.stop()


def test_a_listener_that_cannot_start_is_reported_in_words(qtbot):
    notifier = Notifier()
    manager = HotkeyManager(Settings.load(), notifier,
                            listener_factory=lambda bindings: FakeListener(bindings, fail=True))
    problems = manager.start()
    assert len(problems) == 1 and "shortcuts in the Iris window" in problems[0]
    assert [m.text for m in notifier.history if m.level is Level.ERROR] == problems
    assert not manager.running


# ------------------------------------------------------------------- Xvfb
@pytest.fixture
def xvfb_display(monkeypatch):
    """A private Xvfb; DISPLAY points at it for this test only."""
    if not shutil.which("xdotool"):
        pytest.skip("Xvfb and xdotool are needed for the global hotkey test")
    server = start_xvfb(640, 480)
    if server is None:
        pytest.skip("Xvfb is not installed or did not start")
    try:
        monkeypatch.setenv("DISPLAY", server.name)
        monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
        yield server.name
    finally:
        server.close()


def xdotool(display: str, *keys: str) -> None:
    subprocess.run(["xdotool", "key", "--delay", "30", *keys], env={**os.environ, "DISPLAY": display},
                   check=True, timeout=10)


@pytest.mark.xvfb
def test_real_global_hotkey_fires_under_xvfb(qtbot, xvfb_display):
    settings = Settings.load()
    manager = HotkeyManager(settings, Notifier())
    try:
        assert manager.start() == [] and manager.running
        fired: list[str] = []
        manager.triggered.connect(fired.append)
        xdotool(xvfb_display, "ctrl+alt+shift+d")
        qtbot.waitUntil(lambda: fired == ["describe_screen"], timeout=5000)
        xdotool(xvfb_display, "ctrl+alt+shift+s")
        qtbot.waitUntil(lambda: fired == ["describe_screen", "stop"], timeout=5000)
        # Plain typing and the screen reader's own gestures do not fire anything.
        xdotool(xvfb_display, "d", "ctrl+alt+d", "ctrl+alt+Up")
        qtbot.wait(300)
        assert fired == ["describe_screen", "stop"]
        # A changed setting takes effect without restarting.
        settings.set("hotkey_describe_screen", "<ctrl>+<alt>+<shift>+x")
        qtbot.waitUntil(lambda: "<ctrl>+<alt>+<shift>+x" in manager.plan.bindings and manager.running, timeout=3000)
        xdotool(xvfb_display, "ctrl+alt+shift+x")
        qtbot.waitUntil(lambda: fired[-1:] == ["describe_screen"] and len(fired) == 3, timeout=5000)
    finally:
        manager.stop()


@pytest.mark.xvfb
def test_hotkey_drives_the_app_end_to_end_under_xvfb(make_app, qtbot, xvfb_display):
    from tests.mock_engine import MockEngine

    h = make_app(MockEngine(" ".join(f"Word{i}." for i in range(20)), token_delay=0.05))
    h.iris.hotkeys.start()
    try:
        assert h.iris.hotkeys.running
        xdotool(xvfb_display, "ctrl+alt+shift+d", "ctrl+alt+shift+d", "ctrl+alt+shift+d")
        qtbot.waitUntil(lambda: len(h.engine.calls) == 1, timeout=5000)
        h.wait_idle(qtbot)
        assert h.screen.grabs == 1  # three quick presses, one answer
        h.window.conversation.setFocus()
        xdotool(xvfb_display, "ctrl+alt+shift+a")
        qtbot.waitUntil(lambda: h.screen.grabs == 2 and h.window.question.hasFocus(), timeout=5000)
    finally:
        h.iris.hotkeys.stop()
