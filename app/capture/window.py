"""Capture the focused window only.

The window's rectangle comes from the platform: xdotool or python-xlib on X11,
user32/dwmapi through ctypes on Windows. Where it cannot be found (macOS, a
bare X server, Wayland) the whole screen is captured instead and ``label``
says so, so the user is never told "the window" about a full-screen picture.
"""

from __future__ import annotations

import shutil
import subprocess
import sys

from PIL import Image

from ..errors import CaptureError
from .base import CaptureSource
from .screen import ScreenCapture, virtual_desktop

Rect = tuple[int, int, int, int]  # (left, top, width, height), absolute desktop pixels

WINDOW_LABEL = "the active window"
SCREEN_LABEL = "the screen"


class ActiveWindowCapture(CaptureSource):
    """Grab the rectangle of the focused window, or the whole screen if unknown."""

    is_screen = True
    label = WINDOW_LABEL

    def __init__(self) -> None:
        #: The rectangle used by the last grab, or None when it fell back to the screen.
        self.last_rect: Rect | None = None
        #: Where the last picture was taken, in virtual-desktop pixels (as ScreenCapture.last_area).
        self.last_area: dict[str, int] | None = None

    def grab(self) -> Image.Image:
        rect = active_window_rect()
        if rect is not None:
            try:
                rect = _clip_to_desktop(rect)
            except CaptureError:
                rect = None
        self.last_rect = rect
        if rect is None:
            self.label = SCREEN_LABEL
            screen = ScreenCapture()
        else:
            self.label = WINDOW_LABEL
            desktop = virtual_desktop()
            left, top, width, height = rect
            # ScreenCapture regions are relative to the virtual desktop's origin.
            screen = ScreenCapture(region=(left - desktop["left"], top - desktop["top"], width, height))
        image = screen.grab()
        self.last_area = screen.last_area
        return image


def _clip_to_desktop(rect: Rect) -> Rect | None:
    desktop = virtual_desktop()
    left, top, width, height = rect
    right = min(left + width, desktop["left"] + desktop["width"])
    bottom = min(top + height, desktop["top"] + desktop["height"])
    left, top = max(left, desktop["left"]), max(top, desktop["top"])
    if right - left < 2 or bottom - top < 2:
        return None
    # A "window" covering the whole desktop is the root window (no window manager): no news.
    if (left, top, right - left, bottom - top) == (
        desktop["left"], desktop["top"], desktop["width"], desktop["height"]
    ):
        return None
    return (left, top, right - left, bottom - top)


def active_window_rect() -> Rect | None:
    """The focused window's rectangle, or None if the platform cannot say."""
    if sys.platform.startswith("win"):
        return _windows_rect()
    if sys.platform == "darwin":
        return None  # would need pyobjc/Quartz; the whole screen is captured instead
    return _xdotool_rect() or _xlib_rect()


# ------------------------------------------------------------------ X11


def _xdotool_rect() -> Rect | None:
    exe = shutil.which("xdotool")
    if exe is None:
        return None
    for query in ("getactivewindow", "getwindowfocus"):
        try:
            result = subprocess.run(
                [exe, query, "getwindowgeometry", "--shell"],
                capture_output=True, text=True, timeout=3, check=False,
            )
        except (OSError, subprocess.SubprocessError):
            return None
        if result.returncode == 0:
            rect = parse_xdotool_shell(result.stdout)
            if rect is not None:
                return rect
    return None


def parse_xdotool_shell(text: str) -> Rect | None:
    """Parse ``xdotool getwindowgeometry --shell`` (X=, Y=, WIDTH=, HEIGHT= lines)."""
    values: dict[str, int] = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key in ("X", "Y", "WIDTH", "HEIGHT"):
            try:
                values[key] = int(value)
            except ValueError:
                return None
    if len(values) != 4 or values["WIDTH"] <= 0 or values["HEIGHT"] <= 0:
        return None
    return (values["X"], values["Y"], values["WIDTH"], values["HEIGHT"])


def _xlib_rect() -> Rect | None:
    try:
        from Xlib import X  # type: ignore[import-not-found, import-untyped]
        from Xlib import display as xdisplay
    except ImportError:
        return None
    try:
        disp = xdisplay.Display()
    except Exception:  # noqa: BLE001 - no display, bad auth
        return None
    try:
        root = disp.screen().root
        window = None
        prop = root.get_full_property(disp.intern_atom("_NET_ACTIVE_WINDOW"), X.AnyPropertyType)
        if prop is not None and len(prop.value) and prop.value[0]:
            window = disp.create_resource_object("window", int(prop.value[0]))
        if window is None:
            focus = disp.get_input_focus().focus
            if isinstance(focus, int) or focus == root:
                return None
            window = focus
        geometry = window.get_geometry()
        origin = window.translate_coords(root, 0, 0)
        return (-origin.x, -origin.y, geometry.width, geometry.height)
    except Exception:  # noqa: BLE001 - windows vanish between calls
        return None
    finally:
        disp.close()


# ------------------------------------------------------------------ Windows


def _windows_rect() -> Rect | None:  # pragma: no cover - exercised on Windows only
    import ctypes
    from ctypes import wintypes

    user32 = ctypes.windll.user32  # type: ignore[attr-defined]
    # Physical pixels, to match mss: make this thread per-monitor DPI aware while we ask.
    previous = None
    set_ctx = getattr(user32, "SetThreadDpiAwarenessContext", None)
    if set_ctx is not None:
        set_ctx.restype = ctypes.c_void_p
        set_ctx.argtypes = [ctypes.c_void_p]
        previous = set_ctx(ctypes.c_void_p(-4))  # DPI_AWARENESS_CONTEXT_PER_MONITOR_AWARE_V2
    try:
        hwnd = user32.GetForegroundWindow()
        if not hwnd or user32.IsIconic(hwnd):
            return None
        rect = wintypes.RECT()
        # The visible frame, without the invisible resize borders of Windows 10+.
        try:
            dwm = ctypes.windll.dwmapi  # type: ignore[attr-defined]
            ok = dwm.DwmGetWindowAttribute(
                wintypes.HWND(hwnd), ctypes.c_uint(9), ctypes.byref(rect), ctypes.sizeof(rect)
            ) == 0  # DWMWA_EXTENDED_FRAME_BOUNDS
        except (AttributeError, OSError):
            ok = False
        if not ok and not user32.GetWindowRect(wintypes.HWND(hwnd), ctypes.byref(rect)):
            return None
        width, height = rect.right - rect.left, rect.bottom - rect.top
        if width <= 0 or height <= 0:
            return None
        return (rect.left, rect.top, width, height)
    finally:
        if set_ctx is not None and previous:
            set_ctx(ctypes.c_void_p(previous))
