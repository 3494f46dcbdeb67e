"""macOS: the focused element from the Accessibility (AX) API, through pyobjc.

Not run on this project's Linux machines: its tests fake the
``ApplicationServices`` module at its boundary. Iris needs the Accessibility
permission (System Settings > Privacy & Security > Accessibility); without it
the API answers "cannot complete" and the user hears that sentence.
"""

from __future__ import annotations

from typing import Any

from .base import NO_FOCUS_SENTENCE, NO_RECT_SENTENCE, FocusedElement, NoFocusError, Rect

PERMISSION_SENTENCE = (
    "Iris may not read the focused control: allow Iris (or your terminal) under System Settings, "
    "Privacy and Security, Accessibility."
)
AX_ERROR_API_DISABLED = -25211
AX_ERROR_CANNOT_COMPLETE = -25204


def _module() -> Any:
    try:
        import ApplicationServices  # type: ignore[import-not-found]
    except ImportError as exc:
        raise NoFocusError("Describing the focused control needs pyobjc-framework-ApplicationServices, "
                           "which is missing.", detail=repr(exc)) from None
    return ApplicationServices


def _attr(ax: Any, element: Any, name: str) -> Any:
    error, value = ax.AXUIElementCopyAttributeValue(element, name, None)
    if error == AX_ERROR_API_DISABLED:
        raise NoFocusError(PERMISSION_SENTENCE, detail=f"AX error {error}")
    return value if error == 0 else None


def _rect(ax: Any, element: Any) -> Rect | None:
    position, size = _attr(ax, element, ax.kAXPositionAttribute), _attr(ax, element, ax.kAXSizeAttribute)
    if position is None or size is None:
        return None
    ok_p, point = ax.AXValueGetValue(position, ax.kAXValueCGPointType, None)
    ok_s, extent = ax.AXValueGetValue(size, ax.kAXValueCGSizeType, None)
    if not (ok_p and ok_s):
        return None
    rect = Rect(int(point.x), int(point.y), int(extent.width), int(extent.height))
    return None if rect.empty else rect


class AxFocus:
    """:class:`app.a11y.base.FocusProvider` over the AX API.

    AX rectangles are in points; mss captures pixels, so on a Retina display
    the rectangle is scaled by ``scale`` (the capture's pixels per point).
    """

    def __init__(self, scale: float = 1.0) -> None:
        self.scale = scale

    def _scaled(self, rect: Rect | None) -> Rect | None:
        if rect is None or self.scale == 1.0:
            return rect
        s = self.scale
        return Rect(round(rect.x * s), round(rect.y * s), round(rect.width * s), round(rect.height * s))

    def _app(self, ax: Any) -> Any:
        app = _attr(ax, ax.AXUIElementCreateSystemWide(), ax.kAXFocusedApplicationAttribute)
        if app is None:
            raise NoFocusError(NO_FOCUS_SENTENCE, detail="no focused application")
        return app

    def focused(self) -> FocusedElement:
        ax = _module()
        app = self._app(ax)
        element = _attr(ax, app, ax.kAXFocusedUIElementAttribute)
        if element is None:
            raise NoFocusError(NO_FOCUS_SENTENCE, detail="no focused element")
        role = _attr(ax, element, ax.kAXRoleDescriptionAttribute) or _attr(ax, element, ax.kAXRoleAttribute) or ""
        name = _attr(ax, element, ax.kAXTitleAttribute) or _attr(ax, element, ax.kAXDescriptionAttribute) or ""
        window = _attr(ax, app, ax.kAXFocusedWindowAttribute)
        found = FocusedElement(
            role=str(role), name=str(name), application=str(_attr(ax, app, ax.kAXTitleAttribute) or ""),
            rect=self._scaled(_rect(ax, element)),
            window=self._scaled(_rect(ax, window)) if window is not None else None,
        )
        if found.rect is None:
            raise NoFocusError(NO_RECT_SENTENCE, detail=repr(found))
        return found

    def active_window(self) -> Rect | None:
        try:
            ax = _module()
            window = _attr(ax, self._app(ax), ax.kAXFocusedWindowAttribute)
            return self._scaled(_rect(ax, window)) if window is not None else None
        except NoFocusError:
            return None
