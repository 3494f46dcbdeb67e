"""Capture just the focused control (with a small margin), and the monitor that holds the focused window.

The rectangle comes from the platform accessibility API (:mod:`app.a11y`),
so it is the control the screen reader is on, not whatever is under the
mouse. The element's role, name and application go to the model as context.
"""

from __future__ import annotations

from typing import Callable

from PIL import Image

from ..a11y.base import NO_RECT_SENTENCE, FocusedElement, FocusProvider, NoFocusError, Rect
from .base import CaptureSource
from .screen import ScreenCapture, list_monitors, virtual_desktop

#: Pixels kept around the control: its border and label edge help the model; more would add neighbours.
FOCUS_MARGIN = 8


def desktop_rect() -> Rect:
    d = virtual_desktop()
    return Rect(d["left"], d["top"], d["width"], d["height"])


def _default_provider() -> FocusProvider:
    from ..a11y import focus_provider

    return focus_provider()


DEFAULT_FOCUS_INSTRUCTION = (
    "Describe what the control shows and what it probably does, in one or two sentences. "
    "If it has no name, suggest one. Read any text on it exactly."
)


def focus_prompt(element: FocusedElement, instruction: str | None = None) -> str:
    """The context the model gets with the picture of the control, then what to do with it."""
    return (
        "This picture shows one control on a computer screen, the one with the keyboard focus: "
        f"the screen reader calls it {element.spoken()}.\n{instruction or DEFAULT_FOCUS_INSTRUCTION}"
    )


class FocusedControlCapture(CaptureSource):
    """Grab the focused control's rectangle; ``element`` and ``region`` say what and where."""

    is_screen = True
    label = "the focused control"

    def __init__(self, provider: FocusProvider | None = None, margin: int = FOCUS_MARGIN) -> None:
        self._provider = provider
        self.margin = margin
        self.element: FocusedElement | None = None
        self.region: Rect | None = None

    def grab(self) -> Image.Image:
        provider = self._provider or _default_provider()
        element = provider.focused()
        if element.rect is None:
            raise NoFocusError(NO_RECT_SENTENCE)
        desktop = desktop_rect()
        region = element.rect.grown(self.margin).clipped(desktop)
        if region is None:
            raise NoFocusError("The focused control is outside the screen, so Iris cannot take its picture.",
                               detail=repr(element))
        self.element, self.region = element, region
        self.label = f"the focused {element.role or 'control'}"
        # ScreenCapture regions are relative to the virtual desktop's origin.
        return ScreenCapture(region=(region.x - desktop.x, region.y - desktop.y, region.width, region.height)).grab()


def monitor_for(window: Rect | None, monitors: list[dict[str, int]]) -> int | None:
    """The 1-based monitor that holds most of ``window``; None when there is one monitor or no window."""
    if window is None or len(monitors) < 2:
        return None
    overlaps = [window.overlap(Rect(m["left"], m["top"], m["width"], m["height"])) for m in monitors]
    best = max(range(len(monitors)), key=lambda i: overlaps[i])
    return best + 1 if overlaps[best] > 0 else None


def focused_window_rect() -> Rect | None:
    """The foreground window: the window manager's answer first, then the accessibility API's."""
    from .window import active_window_rect

    rect = active_window_rect()
    if rect is not None:
        return Rect(*rect)
    try:
        return _default_provider().active_window()
    except Exception:  # noqa: BLE001 - no accessibility bus: no news
        return None


class FocusedMonitorCapture(CaptureSource):
    """The monitor that holds the focused window (the whole desktop when there is one monitor or no window)."""

    is_screen = True
    label = "the screen"

    def __init__(self, window_rect: Callable[[], Rect | None] = focused_window_rect) -> None:
        self._window_rect = window_rect
        self.monitor: int | None = None
        self.last_area: dict[str, int] | None = None

    def grab(self) -> Image.Image:
        monitors = list_monitors()
        self.monitor = monitor_for(self._window_rect() if len(monitors) > 1 else None, monitors)
        screen = ScreenCapture(monitor=self.monitor)
        self.label = screen.label
        image = screen.grab()
        self.last_area = screen.last_area
        return image
