"""Focus, regions, zoom and "what changed", without a display: parsing, comparison, adapters faked at their boundary.

The real AT-SPI path runs in tests/test_focus_a11y.py (Xvfb and a private
accessibility bus). The Windows (UI Automation) and macOS (AX) adapters were
not run on a real system here: these tests fake their libraries at the import
boundary, with the calls and values those libraries document.
"""

from __future__ import annotations

import json
import sys
import types
from types import SimpleNamespace

import pytest
from PIL import Image, ImageDraw

from app import cli, compose
from app.a11y import focus_provider
from app.a11y.base import FocusedElement, NoFocusError, Rect
from app.capture import focused as focused_mod
from app.capture.changes import CELL, MARGIN, ChangeTracker, compare
from app.capture.focused import FocusedControlCapture, FocusedMonitorCapture, monitor_for
from app.capture.region import PART_NAMES, parse_region, zoom_box
from app.errors import BadInputError, ExitCode
from app.looking import part_name, what_changed
from app.notifier import Notifier
from app.settings import Settings
from app.speech.base import SilentSpeaker
from tests.mock_engine import MockEngine

DESKTOP = Rect(0, 0, 1280, 800)


# ------------------------------------------------------------------ regions
@pytest.mark.parametrize("text,expected", [
    ("10,20,300,200", Rect(10, 20, 300, 200)),
    (" 0, 0, 1280, 800 ", Rect(0, 0, 1280, 800)),
])
def test_good_regions_parse(text, expected):
    assert parse_region(text, DESKTOP) == expected


@pytest.mark.parametrize("text", [
    "", "10,20,300", "a,b,c,d", "10,20,300,200,5", "1.5,2,3,4",  # not four whole numbers
    "10,20,0,200", "10,20,300,-5",  # no size
    "-10,20,300,200", "10,-1,300,200",  # negative position
    "1200,700,300,200", "2000,2000,10,10", "0,0,1281,800",  # off the screen, wholly or partly
])
def test_bad_regions_are_refused(text):
    with pytest.raises(BadInputError):
        parse_region(text, DESKTOP)


def test_negative_positions_are_fine_when_a_monitor_is_there():
    left_monitor_desktop = Rect(-1920, 0, 3200, 1080)
    assert parse_region("-1900,10,100,100", left_monitor_desktop) == Rect(-1900, 10, 100, 100)


@pytest.fixture
def fake_screen(monkeypatch):
    """A 1280x800 screen for the CLI: records the regions grabbed; the engine is a MockEngine."""
    state = SimpleNamespace(regions=[], engine=MockEngine("A chart."))
    screen = Image.new("RGB", (DESKTOP.width, DESKTOP.height), "white")
    ImageDraw.Draw(screen).rectangle((100, 100, 400, 300), fill="navy")

    class FakeScreen:
        label = "the screen"
        is_screen = True

        def __init__(self, monitor=None, region=None):
            self.region = region
            self.last_area = None

        def grab(self):
            state.regions.append(self.region)
            if self.region is None:
                return screen.copy()
            x, y, w, h = self.region
            return screen.crop((x, y, x + w, y + h))

    real_build = compose.build_core

    def build_core(**kwargs):
        return real_build(settings=kwargs["settings"], notifier=kwargs["notifier"], speaker=SilentSpeaker(),
                          engine=state.engine, ocr=None, with_engine=False, with_ocr=False)

    import app.capture.screen as screen_mod

    monkeypatch.setattr(screen_mod, "ScreenCapture", FakeScreen)
    monkeypatch.setattr(focused_mod, "desktop_rect", lambda: DESKTOP)
    monkeypatch.setattr(compose, "build_core", build_core)
    return state


def test_describe_screen_region_crops_and_reports_the_region(fake_screen, capsys):
    code = cli.main(["describe", "--screen", "--region", "50,50,300,200", "--json", "--no-speak"])
    out = capsys.readouterr().out
    assert code == 0
    assert json.loads(out)["region"] == {"x": 50, "y": 50, "width": 300, "height": 200}
    assert fake_screen.regions == [(50, 50, 300, 200)]
    assert fake_screen.engine.calls[0].image.size == (300, 200)


@pytest.mark.parametrize("argv", [
    ["describe", "--screen", "--region", "0,0,0,10"],
    ["describe", "--screen", "--region", "-5,0,10,10"],
    ["describe", "--screen", "--region", "1000,700,400,400"],
    ["describe", "--screen", "--region", "nonsense"],
    ["describe", "--region", "0,0,10,10", "photo.png"],
    ["describe", "--screen", "--monitor", "1", "--region", "0,0,10,10"],
    ["describe", "--focused", "--screen"],
])
def test_bad_regions_on_the_command_line_are_one_line_and_exit_2(fake_screen, argv, capsys):
    code = cli.main([*argv, "--no-speak"])
    err = capsys.readouterr().err
    assert code == ExitCode.BAD_INPUT == 2
    assert len([line for line in err.splitlines() if line.strip()]) == 1 and err.startswith("iris: ")
    assert fake_screen.regions == [] and fake_screen.engine.calls == []


# --------------------------------------------------------------------- zoom
def test_the_zoom_grid_covers_the_picture_exactly_once():
    whole = Rect(0, 0, 1001, 502)
    covered = Image.new("L", (whole.width, whole.height), 0)
    for part in PART_NAMES:
        box = zoom_box(whole, part)
        region = covered.crop((box.x, box.y, box.right, box.bottom))
        assert region.getextrema() == (0, 0)  # no overlap
        covered.paste(255, (box.x, box.y, box.right, box.bottom))
    assert covered.getextrema() == (255, 255)
    assert zoom_box(whole, "top right") == Rect(667, 0, 334, 167)
    assert part_name(zoom_box(whole, "bottom left"), (whole.width, whole.height)) == "bottom left"


# ------------------------------------------------------------ what changed
def screen_image() -> Image.Image:
    image = Image.new("RGB", (640, 400), (236, 236, 236))
    ImageDraw.Draw(image).text((20, 20), "Inbox", fill="black")
    return image


def test_identical_pictures_are_unchanged_and_a_new_window_is_the_change():
    before = screen_image()
    assert compare(before, before.copy()).changed is False
    after = before.copy()
    ImageDraw.Draw(after).rectangle((300, 150, 499, 279), fill="white", outline="black")  # a dialog
    ImageDraw.Draw(after).point((630, 390), fill="red")  # and one pixel elsewhere
    change = compare(before, after)
    assert change.changed and len(change.areas) == 2
    box = change.box
    slack = CELL + MARGIN
    assert 300 - slack <= box.x <= 300 and 150 - slack <= box.y <= 150
    assert 500 <= box.right <= 500 + slack and 280 <= box.bottom <= 280 + slack


def test_faint_differences_do_not_count_and_a_resize_is_a_whole_change():
    before = screen_image()
    faint = before.point(lambda v: min(255, v + 3))
    assert compare(before, faint).changed is False
    resized = compare(before, before.resize((600, 400)))
    assert resized.changed and resized.resized and resized.box == Rect(0, 0, 600, 400)


def test_the_first_picture_is_said_to_be_first_and_only_the_last_one_is_kept():
    tracker = ChangeTracker()
    image = screen_image()
    assert tracker.check("the screen", image).first
    assert not tracker.check("the screen", image.copy()).changed
    assert tracker.check("monitor 2", image).first  # each screen or window separately


@pytest.fixture
def assistant():
    from app.compose import build_core

    engine = MockEngine("A dialog appeared.")
    core = build_core(settings=Settings.load(), notifier=Notifier(), speaker=SilentSpeaker(), engine=engine,
                      ocr=None, with_engine=False, with_ocr=False)
    yield core.assistant, engine
    core.close()


def test_what_changed_answers_without_the_engine_when_nothing_changed(assistant):
    helper, engine = assistant
    tracker = ChangeTracker()
    image = screen_image()
    what_changed(helper, tracker, "the screen", image, "the screen", speak=False)
    asked = len(engine.calls)
    assert asked == 1  # the first picture is described whole
    answer = what_changed(helper, tracker, "the screen", image.copy(), "the screen", speak=False)
    assert answer.kind == "unchanged" and len(engine.calls) == asked and engine.load_count == 1
    changed = image.copy()
    ImageDraw.Draw(changed).rectangle((400, 300, 480, 340), fill="blue")
    answer = what_changed(helper, tracker, "the screen", changed, "the screen", origin=(1000, 0), speak=False)
    assert answer.kind == "changed" and len(engine.calls) == asked + 1
    assert answer.region["x"] >= 1000 + 400 - CELL - MARGIN and answer.region["x"] <= 1400
    assert engine.calls[-1].image.size == (answer.region["width"], answer.region["height"])


# ------------------------------------------------------------ the focused control
class FakeProvider:
    def __init__(self, element=None, error=None):
        self.element, self.error = element, error

    def focused(self):
        if self.error:
            raise self.error
        return self.element

    def active_window(self):
        return self.element.window if self.element else None


def test_focused_capture_grows_the_rectangle_by_the_margin_and_clips_to_the_desktop(monkeypatch):
    grabbed = []

    class FakeScreen:
        def __init__(self, monitor=None, region=None):
            grabbed.append(region)

        def grab(self):
            return Image.new("RGB", grabbed[-1][2:], "white")

    monkeypatch.setattr(focused_mod, "ScreenCapture", FakeScreen)
    monkeypatch.setattr(focused_mod, "desktop_rect", lambda: DESKTOP)
    element = FocusedElement("push button", "", "Firefox", Rect(2, 100, 24, 24))
    source = FocusedControlCapture(FakeProvider(element), margin=8)
    source.grab()
    assert source.region == Rect(0, 92, 34, 40) and grabbed == [(0, 92, 34, 40)]  # clipped at the left edge
    gone = FocusedElement("push button", "", "Firefox", Rect(5000, 100, 24, 24))
    with pytest.raises(NoFocusError):
        FocusedControlCapture(FakeProvider(gone)).grab()
    with pytest.raises(NoFocusError):
        FocusedControlCapture(FakeProvider(FocusedElement("text", "", "", None))).grab()


def test_an_unreachable_accessibility_bus_is_a_no_focus_sentence(monkeypatch):
    from app.a11y.atspi import AtspiFocus

    monkeypatch.setenv("AT_SPI_BUS_ADDRESS", "unix:path=/nonexistent/iris-test-bus")
    with pytest.raises(NoFocusError) as caught:
        AtspiFocus().focused()
    assert caught.value.exit_code == ExitCode.CAPTURE_FAILED
    assert AtspiFocus().active_window() is None


def test_the_element_is_spoken_with_or_without_a_name():
    assert FocusedElement("push button", "", "Firefox", None).spoken() == "a push button with no name in Firefox"
    assert FocusedElement("image", "Logo", "", None).spoken() == 'an image named "Logo"'


# ---------------------------------------------------------------- monitors
MONITORS = [{"left": 0, "top": 0, "width": 1920, "height": 1080},
            {"left": 1920, "top": 0, "width": 2560, "height": 1440}]


def test_the_monitor_holding_most_of_the_focused_window_is_chosen(monkeypatch):
    assert monitor_for(Rect(1800, 100, 800, 600), MONITORS) == 2
    assert monitor_for(Rect(100, 100, 800, 600), MONITORS) == 1
    assert monitor_for(None, MONITORS) is None
    assert monitor_for(Rect(100, 100, 800, 600), MONITORS[:1]) is None  # one monitor: the whole screen
    chosen = []

    class FakeScreen:
        def __init__(self, monitor=None, region=None):
            chosen.append(monitor)
            self.label = f"monitor {monitor}" if monitor else "the screen"
            self.last_area = MONITORS[monitor - 1] if monitor else None

        def grab(self):
            return Image.new("RGB", (8, 8))

    monkeypatch.setattr(focused_mod, "ScreenCapture", FakeScreen)
    monkeypatch.setattr(focused_mod, "list_monitors", lambda: MONITORS)
    source = FocusedMonitorCapture(lambda: Rect(2000, 50, 500, 500))
    source.grab()
    assert chosen == [2] and source.label == "monitor 2" and source.last_area == MONITORS[1]


# ------------------------------------------------ Windows and macOS adapters (faked)
def test_ui_automation_adapter_reads_the_focused_control(monkeypatch):
    bounds = SimpleNamespace(left=100, top=200, right=140, bottom=224)
    top = SimpleNamespace(Name="Inbox - Thunderbird", BoundingRectangle=SimpleNamespace(left=0, top=0, right=800,
                                                                                          bottom=600))
    control = SimpleNamespace(ControlTypeName="CheckBoxControl", Name="", BoundingRectangle=bounds,
                              GetTopLevelControl=lambda: top)
    fake = types.ModuleType("uiautomation")
    fake.GetFocusedControl = lambda: control
    fake.GetForegroundControl = lambda: top
    monkeypatch.setitem(sys.modules, "uiautomation", fake)
    provider = focus_provider("win32")
    element = provider.focused()
    assert (element.role, element.name, element.application) == ("check box", "", "Inbox - Thunderbird")
    assert element.rect == Rect(100, 200, 40, 24) and provider.active_window() == Rect(0, 0, 800, 600)
    fake.GetFocusedControl = lambda: None
    with pytest.raises(NoFocusError):
        provider.focused()


def test_ax_adapter_reads_the_focused_element_in_pixels(monkeypatch):
    fake = types.ModuleType("ApplicationServices")
    for name in ("kAXFocusedApplicationAttribute", "kAXFocusedUIElementAttribute", "kAXRoleAttribute",
                 "kAXRoleDescriptionAttribute", "kAXTitleAttribute", "kAXDescriptionAttribute",
                 "kAXPositionAttribute", "kAXSizeAttribute", "kAXFocusedWindowAttribute",
                 "kAXValueCGPointType", "kAXValueCGSizeType"):
        setattr(fake, name, name)
    point = SimpleNamespace(x=50.0, y=60.0)
    size = SimpleNamespace(width=20.0, height=10.0)
    attributes = {
        ("system", "kAXFocusedApplicationAttribute"): "app",
        ("app", "kAXFocusedUIElementAttribute"): "button",
        ("app", "kAXTitleAttribute"): "Safari",
        ("app", "kAXFocusedWindowAttribute"): "window",
        ("button", "kAXRoleDescriptionAttribute"): "button",
        ("button", "kAXPositionAttribute"): ("pos", point),
        ("button", "kAXSizeAttribute"): ("size", size),
        ("window", "kAXPositionAttribute"): ("pos", SimpleNamespace(x=0.0, y=0.0)),
        ("window", "kAXSizeAttribute"): ("size", SimpleNamespace(width=800.0, height=600.0)),
    }
    fake.AXUIElementCreateSystemWide = lambda: "system"
    fake.AXUIElementCopyAttributeValue = lambda element, name, _none: (
        (0, attributes[(element, name)]) if (element, name) in attributes else (-25212, None))
    fake.AXValueGetValue = lambda value, kind, _none: (True, value[1])
    monkeypatch.setitem(sys.modules, "ApplicationServices", fake)
    from app.a11y.ax import AxFocus

    element = AxFocus(scale=2.0).focused()  # a Retina display: points -> pixels
    assert (element.role, element.name, element.application) == ("button", "", "Safari")
    assert element.rect == Rect(100, 120, 40, 20) and element.window == Rect(0, 0, 1600, 1200)
    fake.AXUIElementCopyAttributeValue = lambda element, name, _none: (-25211, None)  # no permission
    with pytest.raises(NoFocusError):
        AxFocus().focused()
