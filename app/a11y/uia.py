"""Windows: the focused element from UI Automation, through the ``uiautomation`` package (comtypes).

Not run on this project's Linux machines: its tests fake the ``uiautomation``
module at its boundary (the calls below are the library's documented ones).
Rectangles are physical pixels, like mss captures, because the process is
made per-monitor DPI aware by the ``uiautomation`` import.
"""

from __future__ import annotations

import re
from typing import Any

from .base import NO_FOCUS_SENTENCE, NO_RECT_SENTENCE, FocusedElement, NoFocusError, Rect


def _module() -> Any:
    try:
        import uiautomation  # type: ignore[import-not-found]
    except ImportError as exc:
        raise NoFocusError("Describing the focused control needs the uiautomation package, which is missing.",
                           detail=repr(exc)) from None
    return uiautomation


def role_words(control_type_name: str) -> str:
    """'CheckBoxControl' -> 'check box' (the words Narrator and NVDA use)."""
    base = control_type_name[: -len("Control")] if control_type_name.endswith("Control") else control_type_name
    return " ".join(re.findall(r"[A-Z][a-z]*|[a-z]+", base)).lower() or "control"


def _rect(bounds: Any) -> Rect | None:
    if bounds is None:
        return None
    rect = Rect(int(bounds.left), int(bounds.top), int(bounds.right - bounds.left), int(bounds.bottom - bounds.top))
    return None if rect.empty else rect


class UiaFocus:
    """:class:`app.a11y.base.FocusProvider` over UI Automation."""

    def focused(self) -> FocusedElement:
        auto = _module()
        try:
            control = auto.GetFocusedControl()
        except Exception as exc:  # noqa: BLE001 - COM errors have many types
            raise NoFocusError(NO_FOCUS_SENTENCE, detail=repr(exc)) from None
        if control is None:
            raise NoFocusError(NO_FOCUS_SENTENCE)
        try:
            top = control.GetTopLevelControl()
        except Exception:  # noqa: BLE001
            top = None
        element = FocusedElement(
            role=role_words(str(getattr(control, "ControlTypeName", "") or "")),
            name=str(getattr(control, "Name", "") or ""),
            application=str(getattr(top, "Name", "") or "") if top is not None else "",
            rect=_rect(getattr(control, "BoundingRectangle", None)),
            window=_rect(getattr(top, "BoundingRectangle", None)) if top is not None else None,
        )
        if element.rect is None:
            raise NoFocusError(NO_RECT_SENTENCE, detail=repr(element))
        return element

    def active_window(self) -> Rect | None:
        try:
            auto = _module()
            window = auto.GetForegroundControl()
            return _rect(getattr(window, "BoundingRectangle", None)) if window is not None else None
        except Exception:  # noqa: BLE001 - no foreground window (locked screen)
            return None
