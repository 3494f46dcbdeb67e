"""Screen capture with mss: the whole desktop, one monitor, or a rectangle.

An mss object is bound to the thread that made it (X11 connections, Windows
device contexts), so a fresh one is made for every grab: captures happen on
the job worker thread, not where the source was constructed.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from PIL import Image

from ..errors import CaptureError
from .base import CaptureSource

Region = tuple[int, int, int, int]  # (left, top, width, height)


def _open_mss() -> Any:
    """A new mss instance, or CaptureError with the reason in plain words."""
    try:
        import mss
    except ImportError as exc:  # pragma: no cover - mss is a hard dependency
        raise CaptureError("Screen capture is not available: the mss package is missing.", detail=repr(exc)) from None
    factory = getattr(mss, "MSS", None) or mss.mss  # mss >= 10.2 renamed the factory
    try:
        return factory()
    except Exception as exc:  # noqa: BLE001 - every backend raises its own type
        raise CaptureError(_no_display_sentence(), detail=repr(exc)) from None


def _no_display_sentence() -> str:
    if sys.platform.startswith("linux"):
        if not os.environ.get("DISPLAY") and os.environ.get("WAYLAND_DISPLAY"):
            return (
                "Iris cannot see the screen: this Wayland session does not allow screenshots "
                "without an X server (XWayland)."
            )
        if not os.environ.get("DISPLAY"):
            return "Iris cannot see the screen: there is no graphical display here."
        return "Iris cannot connect to the screen; the display may have closed."
    return "Iris cannot connect to the screen."


def list_monitors() -> list[dict[str, int]]:
    """The monitors, 1-based as the user counts them: index 0 of the result is monitor 1.

    Each entry has left, top, width and height (virtual-desktop pixels).
    """
    sct = _open_mss()
    try:
        return [_plain(m) for m in sct.monitors[1:]]
    except Exception as exc:  # noqa: BLE001
        raise CaptureError("Iris could not find out which monitors are connected.", detail=repr(exc)) from None
    finally:
        sct.close()


def virtual_desktop() -> dict[str, int]:
    """The rectangle that covers every monitor (mss monitor 0)."""
    sct = _open_mss()
    try:
        return _plain(sct.monitors[0])
    except Exception as exc:  # noqa: BLE001
        raise CaptureError("Iris could not find out the size of the screen.", detail=repr(exc)) from None
    finally:
        sct.close()


def _plain(monitor: dict[str, Any]) -> dict[str, int]:
    return {key: int(monitor[key]) for key in ("left", "top", "width", "height")}


class ScreenCapture(CaptureSource):
    """Grab the whole virtual desktop (monitor=None), monitor N (1-based), or a region.

    ``region`` is (left, top, width, height), relative to the chosen monitor (or
    to the virtual desktop when monitor is None); it is clipped to that area.
    """

    is_screen = True

    def __init__(self, monitor: int | None = None, region: Region | None = None):
        if monitor is not None and (not isinstance(monitor, int) or monitor < 1):
            raise CaptureError("Monitors are numbered from 1.")
        if region is not None:
            if len(region) != 4 or region[2] <= 0 or region[3] <= 0:
                raise CaptureError("The area to capture must have a width and a height.")
        self.monitor = monitor
        self.region: Region | None = (
            (int(region[0]), int(region[1]), int(region[2]), int(region[3])) if region is not None else None
        )
        self.label = self._label()
        #: Where the last grab was taken, in virtual-desktop pixels (left, top, width, height).
        self.last_area: dict[str, int] | None = None

    def _label(self) -> str:
        if self.region is not None:
            return "part of the screen"
        if self.monitor is not None:
            return f"monitor {self.monitor}"
        return "the screen"

    def grab(self) -> Image.Image:
        sct = _open_mss()
        try:
            area = self._area(sct)
            self.last_area = area
            try:
                shot = sct.grab(area)
                return Image.frombytes("RGB", shot.size, shot.bgra, "raw", "BGRX")
            except CaptureError:
                raise
            except Exception as exc:  # noqa: BLE001 - XGetImage, GDI and Quartz failures
                raise CaptureError(
                    f"Iris could not take a picture of {self.label}; the screen may be locked "
                    "or capture may be blocked.",
                    detail=repr(exc),
                ) from None
        finally:
            sct.close()

    def _area(self, sct: Any) -> dict[str, int]:
        try:
            monitors = sct.monitors
        except Exception as exc:  # noqa: BLE001
            raise CaptureError("Iris could not find out which monitors are connected.", detail=repr(exc)) from None
        count = len(monitors) - 1
        if self.monitor is None:
            base = _plain(monitors[0])
        elif self.monitor > count:
            has = "no monitors" if count < 1 else f"{count} monitor" + ("" if count == 1 else "s")
            raise CaptureError(f"There is no monitor {self.monitor}; this computer has {has}.")
        else:
            base = _plain(monitors[self.monitor])
        if self.region is None:
            return base
        return clip_region(base, self.region)


def clip_region(base: dict[str, int], region: Region) -> dict[str, int]:
    """``region`` (relative to ``base``) clipped to ``base``, in absolute coordinates."""
    x, y, w, h = region
    left = max(base["left"], base["left"] + x)
    top = max(base["top"], base["top"] + y)
    right = min(base["left"] + base["width"], base["left"] + x + w)
    bottom = min(base["top"] + base["height"], base["top"] + y + h)
    if right <= left or bottom <= top:
        raise CaptureError("The area to capture is outside the screen.")
    return {"left": left, "top": top, "width": right - left, "height": bottom - top}
