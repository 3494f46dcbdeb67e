"""What the platform accessibility API says is focused, and where it is.

One small interface (:class:`FocusProvider`) with one adapter per platform:
AT-SPI over D-Bus on Linux (:mod:`.atspi`), UI Automation on Windows
(:mod:`.uia`), the AX API on macOS (:mod:`.ax`). The capture code only sees
:class:`FocusedElement`, so a platform without focus information fails with
one sentence (:class:`NoFocusError`, exit code 4) instead of a special case.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ..errors import CaptureError


class NoFocusError(CaptureError):
    """The platform reports no focused object, or no rectangle for it (exit code 4)."""


@dataclass(frozen=True)
class Rect:
    """A rectangle in screen pixels (the virtual desktop's coordinates)."""

    x: int
    y: int
    width: int
    height: int

    @property
    def right(self) -> int:
        return self.x + self.width

    @property
    def bottom(self) -> int:
        return self.y + self.height

    @property
    def empty(self) -> bool:
        return self.width <= 0 or self.height <= 0

    def grown(self, margin: int) -> "Rect":
        return Rect(self.x - margin, self.y - margin, self.width + 2 * margin, self.height + 2 * margin)

    def clipped(self, other: "Rect") -> "Rect | None":
        """The part of this rectangle inside ``other``, or None when they do not overlap."""
        left, top = max(self.x, other.x), max(self.y, other.y)
        right, bottom = min(self.right, other.right), min(self.bottom, other.bottom)
        if right <= left or bottom <= top:
            return None
        return Rect(left, top, right - left, bottom - top)

    def overlap(self, other: "Rect") -> int:
        part = self.clipped(other)
        return 0 if part is None else part.width * part.height

    def to_json(self) -> dict[str, int]:
        return {"x": self.x, "y": self.y, "width": self.width, "height": self.height}


@dataclass(frozen=True)
class FocusedElement:
    """The focused object: its role and name as the screen reader would say them, and where it is."""

    role: str  # e.g. "push button", "text", "check box" (the platform's own role words)
    name: str  # "" when the control has no accessible name: the case a sighted look helps most
    application: str  # "" when unknown
    rect: Rect | None  # screen pixels; None when the platform gives no rectangle
    window: Rect | None = None  # the focused object's top-level window, when known

    def to_json(self) -> dict[str, str]:
        return {"role": self.role, "name": self.name, "application": self.application}

    def spoken(self) -> str:
        """'a push button named "Save" in Firefox' or 'a push button with no name in Firefox'."""
        role = self.role or "control"
        article = "an" if role[:1].lower() in "aeiou" else "a"
        named = f'named "{self.name}"' if self.name else "with no name"
        where = f" in {self.application}" if self.application else ""
        return f"{article} {role} {named}{where}"


class FocusProvider(Protocol):
    """A platform's answer to "what is focused and where is it?"."""

    def focused(self) -> FocusedElement:
        """The focused object in the foreground application; raises NoFocusError when there is none."""
        ...  # pragma: no cover - a protocol

    def active_window(self) -> Rect | None:
        """The foreground window's rectangle, or None when the platform cannot say."""
        ...  # pragma: no cover - a protocol


NO_FOCUS_SENTENCE = "No control has the keyboard focus, so there is nothing to describe."
NO_RECT_SENTENCE = "The focused control does not say where it is on the screen, so Iris cannot take its picture."
