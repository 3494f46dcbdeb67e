"""Platform accessibility: what is focused and where (and, in screen_reader.py, is a screen reader running)."""

from __future__ import annotations

import sys

from .base import FocusedElement, FocusProvider, NoFocusError, Rect

__all__ = ["FocusedElement", "FocusProvider", "NoFocusError", "Rect", "focus_provider"]


def focus_provider(platform: str | None = None) -> FocusProvider:
    """The adapter for this platform: AT-SPI (Linux and BSDs), UI Automation (Windows), AX (macOS)."""
    platform = platform or sys.platform
    if platform.startswith("win"):
        from .uia import UiaFocus

        return UiaFocus()
    if platform == "darwin":
        from .ax import AxFocus

        return AxFocus()
    from .atspi import AtspiFocus

    return AtspiFocus()
