"""Linux: the focused object from AT-SPI, the accessibility bus Orca uses, over D-Bus with jeepney.

Why jeepney and not pyatspi/Atspi through GObject introspection: PyGObject
must be compiled against the system's glib and gobject-introspection headers
to install into a virtual environment, and a wheel bundling them does not
exist; jeepney is pure Python (MIT), speaks the same D-Bus messages that
libatspi sends, and installs anywhere. Only three AT-SPI interfaces are needed
(Accessible, Component, Collection), which are stable since AT-SPI 2.0.

How: ask the session bus's ``org.a11y.Bus`` for the accessibility bus (or use
``AT_SPI_BUS_ADDRESS``), list the applications under the registry's desktop,
find the frame whose state has ACTIVE, then its descendant with FOCUSED
(Collection.GetMatches when the toolkit implements it, else a walk of the
SHOWING subtree with a node and time budget), and read role, name and
``Component.GetExtents`` in screen coordinates.
"""

from __future__ import annotations

import os
import time
from typing import Any, Iterator

from .base import NO_FOCUS_SENTENCE, NO_RECT_SENTENCE, FocusedElement, NoFocusError, Rect

REGISTRY = "org.a11y.atspi.Registry"
ROOT_PATH = "/org/a11y/atspi/accessible/root"
ACCESSIBLE = "org.a11y.atspi.Accessible"
COMPONENT = "org.a11y.atspi.Component"
COLLECTION = "org.a11y.atspi.Collection"
NULL_PATH = "/org/a11y/atspi/null"

# AtspiStateType bits
STATE_ACTIVE = 1
STATE_DEFUNCT = 6
STATE_FOCUSED = 12
STATE_SHOWING = 25
COORD_SCREEN = 0
MATCH_ALL = 1
SORT_CANONICAL = 1

#: A walk of a huge tree (a browser page) stops after this many objects or seconds.
MAX_NODES = 4000
MAX_SECONDS = 2.0
CALL_TIMEOUT = 2.0

Ref = tuple[str, str]  # (bus name, object path)

UNAVAILABLE_SENTENCE = (
    "Iris cannot reach the accessibility bus, so it cannot tell which control has the focus. "
    "Turn on assistive technologies (a screen reader such as Orca does) and try again."
)


class AtspiError(Exception):
    """A D-Bus call failed (the object vanished, the app hung)."""


def _bits(words: list[int] | tuple[int, ...]) -> int:
    value = 0
    for index, word in enumerate(words):
        value |= (int(word) & 0xFFFFFFFF) << (32 * index)
    return value


def state_words(*states: int) -> list[int]:
    """An AT-SPI state set as the two 32-bit words D-Bus carries."""
    bits = 0
    for state in states:
        bits |= 1 << state
    return [bits & 0xFFFFFFFF, bits >> 32]


class AtspiConnection:
    """A blocking connection to the accessibility bus, with the few calls Iris needs."""

    def __init__(self, address: str | None = None) -> None:
        from jeepney.io.blocking import open_dbus_connection

        self._conn = open_dbus_connection(address or accessibility_bus_address())

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> "AtspiConnection":
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def call(self, ref: Ref, interface: str, method: str, signature: str | None = None,
             *args: Any) -> tuple[Any, ...]:
        from jeepney import DBusAddress, new_method_call
        from jeepney.wrappers import DBusErrorResponse, unwrap_msg

        address = DBusAddress(ref[1], bus_name=ref[0], interface=interface)
        message = new_method_call(address, method, signature, args) if signature else new_method_call(address, method)
        try:
            reply = self._conn.send_and_get_reply(message, timeout=CALL_TIMEOUT)
            return tuple(unwrap_msg(reply))
        except (DBusErrorResponse, TimeoutError, OSError) as exc:
            raise AtspiError(f"{method} on {ref}: {exc!r}") from None

    def prop(self, ref: Ref, name: str, interface: str = ACCESSIBLE) -> Any:
        body = self.call(ref, "org.freedesktop.DBus.Properties", "Get", "ss", interface, name)
        return body[0][1]  # a variant: (signature, value)

    def children(self, ref: Ref) -> list[Ref]:
        return [(str(b), str(p)) for b, p in self.call(ref, ACCESSIBLE, "GetChildren")[0] if p != NULL_PATH]

    def states(self, ref: Ref) -> int:
        return _bits(self.call(ref, ACCESSIBLE, "GetState")[0])

    def role_name(self, ref: Ref) -> str:
        return str(self.call(ref, ACCESSIBLE, "GetRoleName")[0])

    def name(self, ref: Ref) -> str:
        return str(self.prop(ref, "Name") or "")

    def extents(self, ref: Ref) -> Rect | None:
        try:
            x, y, width, height = self.call(ref, COMPONENT, "GetExtents", "u", COORD_SCREEN)[0]
        except AtspiError:
            return None  # not a Component
        rect = Rect(int(x), int(y), int(width), int(height))
        return None if rect.empty or (x, y) == (-1, -1) else rect

    def matches_focused(self, ref: Ref) -> list[Ref] | None:
        """Collection.GetMatches for a FOCUSED descendant; None when the toolkit does not implement it."""
        rule: tuple[Any, ...] = (state_words(STATE_FOCUSED), MATCH_ALL, {}, MATCH_ALL, [], MATCH_ALL, [], MATCH_ALL, False)
        try:
            found = self.call(ref, COLLECTION, "GetMatches", "(aiia{ss}iaiiasib)uib", rule, SORT_CANONICAL, 1, True)
        except AtspiError:
            return None
        return [(str(b), str(p)) for b, p in found[0] if p != NULL_PATH]


def accessibility_bus_address() -> str:
    """The accessibility bus: AT_SPI_BUS_ADDRESS, else org.a11y.Bus.GetAddress on the session bus."""
    explicit = os.environ.get("AT_SPI_BUS_ADDRESS")
    if explicit:
        return explicit
    from jeepney import DBusAddress, new_method_call
    from jeepney.io.blocking import open_dbus_connection
    from jeepney.wrappers import unwrap_msg

    bus = DBusAddress("/org/a11y/bus", bus_name="org.a11y.Bus", interface="org.a11y.Bus")
    with open_dbus_connection("SESSION") as conn:
        reply = conn.send_and_get_reply(new_method_call(bus, "GetAddress"), timeout=CALL_TIMEOUT)
        return str(unwrap_msg(reply)[0])


class AtspiFocus:
    """:class:`app.a11y.base.FocusProvider` over AT-SPI."""

    def __init__(self, address: str | None = None) -> None:
        self._address = address

    def _connect(self) -> AtspiConnection:
        try:
            return AtspiConnection(self._address)
        except ImportError as exc:
            raise NoFocusError("Describing the focused control needs the jeepney package, which is missing.",
                               detail=repr(exc)) from None
        except Exception as exc:  # noqa: BLE001 - no session bus, no launcher, refused: all one sentence
            raise NoFocusError(UNAVAILABLE_SENTENCE, detail=repr(exc)) from None

    def focused(self) -> FocusedElement:
        with self._connect() as bus:
            app, frame = self._active_frame(bus)
            if frame is None:
                raise NoFocusError(NO_FOCUS_SENTENCE, detail="no application has an active window")
            target = self._focused_in(bus, frame)
            if target is None:
                raise NoFocusError(NO_FOCUS_SENTENCE, detail=f"nothing focused under {frame}")
            try:
                role, name = bus.role_name(target), bus.name(target)
                application = bus.name(app) if app else ""
            except AtspiError as exc:
                raise NoFocusError(NO_FOCUS_SENTENCE, detail=repr(exc)) from None
            rect = bus.extents(target)
            element = FocusedElement(role, name, application, rect, bus.extents(frame))
        if rect is None:
            raise NoFocusError(NO_RECT_SENTENCE, detail=repr(element))
        return element

    def active_window(self) -> Rect | None:
        try:
            with self._connect() as bus:
                _app, frame = self._active_frame(bus)
                return bus.extents(frame) if frame is not None else None
        except NoFocusError:
            return None

    # ---------------------------------------------------------------- search
    def _active_frame(self, bus: AtspiConnection) -> tuple[Ref | None, Ref | None]:
        """(application, window) of the window whose state is ACTIVE."""
        try:
            apps = bus.children((REGISTRY, ROOT_PATH))
        except AtspiError as exc:
            raise NoFocusError(UNAVAILABLE_SENTENCE, detail=repr(exc)) from None
        for app in apps:
            try:
                windows = bus.children(app)
            except AtspiError:
                continue  # an application that quit or hangs
            for window in windows:
                try:
                    if bus.states(window) & (1 << STATE_ACTIVE):
                        return app, window
                except AtspiError:
                    continue
        return None, None

    def _focused_in(self, bus: AtspiConnection, frame: Ref) -> Ref | None:
        if _has(bus, frame, STATE_FOCUSED):
            return frame
        found = bus.matches_focused(frame)
        if found is not None:  # the toolkit searched itself: trust an empty answer too
            return found[0] if found else None
        for ref in _walk_showing(bus, frame):
            if _has(bus, ref, STATE_FOCUSED):
                return ref
        return None


def _has(bus: AtspiConnection, ref: Ref, state: int) -> bool:
    try:
        return bool(bus.states(ref) & (1 << state))
    except AtspiError:
        return False


def _walk_showing(bus: AtspiConnection, root: Ref) -> Iterator[Ref]:
    """Descendants of ``root`` whose ancestors are all SHOWING, breadth first, within the budget."""
    deadline = time.monotonic() + MAX_SECONDS
    queue = [root]
    seen = 0
    while queue and seen < MAX_NODES and time.monotonic() < deadline:
        ref = queue.pop(0)
        try:
            kids = bus.children(ref)
        except AtspiError:
            continue
        for kid in kids:
            seen += 1
            try:
                state = bus.states(kid)
            except AtspiError:
                continue
            if state & (1 << STATE_DEFUNCT) or not state & (1 << STATE_SHOWING):
                continue
            yield kid
            queue.append(kid)
