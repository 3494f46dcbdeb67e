"""Where the controller's pictures come from by default; tests pass their own.

Each source is imported only when it is first used, so opening the window
does not load the capture, focus or camera code.
"""

from __future__ import annotations

from PIL import Image

from ..capture.base import CaptureSource


def screen_source() -> CaptureSource:
    """Every monitor."""
    from ..capture.screen import ScreenCapture

    return ScreenCapture()


def focused_monitor_source() -> CaptureSource:
    """The monitor that holds the focused window."""
    from ..capture.focused import FocusedMonitorCapture

    return FocusedMonitorCapture()


def focused_source() -> CaptureSource:
    """The focused control, with a small margin."""
    from ..capture.focused import FocusedControlCapture

    return FocusedControlCapture()


def window_source() -> CaptureSource:
    """The active window."""
    from ..capture.window import ActiveWindowCapture

    return ActiveWindowCapture()


def camera_grab(camera_id: str | None = None) -> Image.Image:
    """One frame from the camera (QtMultimedia)."""
    from .camera import grab_camera_frame

    return grab_camera_frame(camera_id)
