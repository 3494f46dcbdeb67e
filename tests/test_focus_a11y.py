"""``iris describe --focused`` and "what changed" against a real AT-SPI bus under Xvfb.

A small real Qt app (tests/a11y_app.py: a named and an unnamed image button)
runs in a private session (tests/a11y_bus.py: dbus-daemon, at-spi-bus-launcher,
at-spi2-registryd), as on a desktop where Orca runs. The crop is checked
against Qt's own geometry of the button (mapToGlobal), and the engine (a
counting MockEngine) must receive the button's role, name and application.
"""

from __future__ import annotations

import json
import select
import subprocess
import sys

import pytest

from app import cli, compose
from app.capture.changes import CELL, MARGIN, ChangeTracker
from app.capture.focused import FOCUS_MARGIN
from app.capture.screen import ScreenCapture
from app.errors import ExitCode
from app.looking import what_changed
from app.speech.base import SilentSpeaker
from tests.a11y_bus import a11y_session  # noqa: F401 - a fixture
from tests.conftest import REPO
from tests.mock_engine import MockEngine

pytestmark = pytest.mark.xvfb

ICON_COLOURS = {"named": (0xC0, 0x30, 0x30), "unnamed": (0x30, 0x30, 0xC0)}


class Probe:
    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc

    def read(self, timeout: float = 20.0) -> dict:
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            raise AssertionError("the probe app did not answer")
        return json.loads(self.proc.stdout.readline())

    def command(self, text: str) -> dict:
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()
        return self.read()


@pytest.fixture(scope="module")
def probe(a11y_session):  # noqa: F811 - the fixture imported above
    proc = subprocess.Popen([sys.executable, "-m", "tests.a11y_app"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env=a11y_session.full_env(), cwd=REPO)
    try:
        app = Probe(proc)
        app.read()
        yield app
    finally:
        proc.stdin.close()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def desktop(a11y_session, monkeypatch):  # noqa: F811
    """This test process talks to the private display and buses."""
    a11y_session.apply(monkeypatch)
    return a11y_session


@pytest.fixture
def engine(monkeypatch):
    """build_core with a counting MockEngine and no voice."""
    mock = MockEngine("A small blue square icon.")
    real_build = compose.build_core

    def build_core(**kwargs):
        return real_build(settings=kwargs["settings"], notifier=kwargs["notifier"], speaker=SilentSpeaker(),
                          engine=mock if kwargs.get("with_engine", True) else None, ocr=None,
                          with_engine=False, with_ocr=False)

    monkeypatch.setattr(compose, "build_core", build_core)
    return mock


@pytest.mark.parametrize("which", ["named", "unnamed"])
def test_describe_focused_crops_the_buttons_rectangle_and_passes_role_and_name(which, probe, desktop, engine, capsys):
    geometry = probe.command(f"focus {which}")
    assert geometry["focus"] == which
    code = cli.main(["describe", "--focused", "--json", "--no-speak"])
    captured = capsys.readouterr()
    assert code == ExitCode.OK, captured.err
    data = json.loads(captured.out)
    button = geometry[which]
    m = FOCUS_MARGIN
    expected = {"x": button["x"] - m, "y": button["y"] - m,
                "width": button["width"] + 2 * m, "height": button["height"] + 2 * m}
    assert data["region"] == expected
    name = "Save drawing" if which == "named" else ""
    assert data["element"] == {"role": "push button", "name": name, "application": "IrisA11yProbe"}
    [conversation] = engine.calls
    picture = conversation.image
    assert picture.size == (expected["width"], expected["height"])
    # The button's own icon is in the middle of the crop: it is this button, not a neighbour.
    centre = picture.getpixel((picture.width // 2, picture.height // 2))
    assert max(abs(a - b) for a, b in zip(centre, ICON_COLOURS[which])) < 12
    prompt = conversation.turns[0].text
    assert "push button" in prompt and "IrisA11yProbe" in prompt
    assert ("Save drawing" in prompt) == (which == "named")


def test_the_session_bus_lookup_finds_the_accessibility_bus_too(probe, desktop, monkeypatch):
    from app.a11y.atspi import AtspiFocus

    monkeypatch.delenv("AT_SPI_BUS_ADDRESS")  # as on a desktop: ask org.a11y.Bus on the session bus
    geometry = probe.command("focus named")
    element = AtspiFocus().focused()
    button = geometry["named"]
    assert (element.rect.x, element.rect.y, element.rect.width, element.rect.height) == (
        button["x"], button["y"], button["width"], button["height"])
    assert AtspiFocus().active_window() is not None


@pytest.mark.parametrize("state", ["focus none", "hide"])
def test_no_focus_is_one_sentence_and_exit_4_without_the_model(state, probe, desktop, engine, capsys):
    probe.command(state)
    try:
        code = cli.main(["describe", "--focused", "--no-speak"])
    finally:
        probe.command("show")
    captured = capsys.readouterr()
    assert code == ExitCode.CAPTURE_FAILED == 4
    lines = [line for line in captured.err.splitlines() if line.startswith("iris: ")]
    assert len(lines) == 1 and "Traceback" not in captured.err
    assert engine.calls == [] and engine.load_count == 0


def test_what_changed_skips_the_model_when_nothing_changed_and_crops_a_new_window(probe, desktop):
    from app.compose import build_core
    from app.notifier import Notifier
    from app.settings import Settings

    mock = MockEngine("Something.")
    core = build_core(settings=Settings.load(), notifier=Notifier(), speaker=SilentSpeaker(), engine=mock,
                      ocr=None, with_engine=False, with_ocr=False)
    tracker = ChangeTracker()
    try:
        probe.command("hide")

        def look():
            source = ScreenCapture()
            image = source.grab()
            return what_changed(core.assistant, tracker, source.label, image, source.label,
                                origin=(source.last_area["left"], source.last_area["top"]), speak=False)

        first = look()  # the first picture: described whole (here: the empty desktop, said to be blank)
        assert first.kind in ("describe", "blank")
        asked = len(mock.calls)
        same = look()
        assert same.kind == "unchanged" and len(mock.calls) == asked  # the engine was not asked
        window = probe.command("show")["window"]
        changed = look()
        assert changed.kind == "changed" and len(mock.calls) == asked + 1
        region = changed.region
        # The crop holds the whole new window, and at most a cell plus the margin more on each side.
        slack = CELL + MARGIN
        assert window["x"] - slack <= region["x"] <= window["x"]
        assert window["y"] - slack <= region["y"] <= window["y"]
        assert window["x"] + window["width"] <= region["x"] + region["width"] <= window["x"] + window["width"] + slack
        assert window["y"] + window["height"] <= region["y"] + region["height"] <= (
            window["y"] + window["height"] + slack)
        assert mock.calls[-1].image.size == (region["width"], region["height"])
    finally:
        core.close()
