"""Is a screen reader running? Asked of the platform's accessibility switch, not of process names.

* Linux: the session bus's ``org.a11y.Bus`` object ``/org/a11y/bus``, interface
  ``org.a11y.Status``, property ``ScreenReaderEnabled`` (the desktop's
  screen-reader switch: GNOME's Super+Alt+S, KDE's setting), read with jeepney;
  and, because Orca started by hand or by a desktop's autostart leaves that
  flag alone (seen with Orca 43), whether a screen reader is registered as an
  application on the AT-SPI bus itself.
* Windows: ``SystemParametersInfo(SPI_GETSCREENREADER)``, which NVDA, JAWS and
  Narrator set.
* macOS: the ``voiceOverOnOffKey`` of ``com.apple.universalaccess``.

Every answer is True, False, or None when the platform cannot say (no session
bus, an old desktop); callers treat None as "no".
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jeepney.io.blocking import DBusConnection

log = logging.getLogger(__name__)

A11Y_BUS = "org.a11y.Bus"
A11Y_PATH = "/org/a11y/bus"
A11Y_STATUS = "org.a11y.Status"
#: Application names screen readers register on the AT-SPI bus.
LINUX_READERS = frozenset({"orca"})
SPI_GETSCREENREADER = 0x0046


def screen_reader_running(platform: str | None = None, *, timeout: float = 1.0) -> bool | None:
    """Whether the platform reports a running screen reader (None: it cannot tell)."""
    platform = platform or sys.platform
    try:
        if platform.startswith("win"):
            return _windows()
        if platform == "darwin":
            return _macos(timeout)
        return _atspi(timeout)
    except Exception as exc:  # noqa: BLE001 - any failure means "cannot tell"
        log.info("screen reader detection failed: %r", exc)
        return None


def _atspi(timeout: float, address: str = "SESSION") -> bool | None:
    try:
        from jeepney import DBusAddress, Properties, new_method_call
        from jeepney.bus_messages import message_bus
        from jeepney.io.blocking import open_dbus_connection
    except ImportError:
        return None
    try:
        conn = open_dbus_connection(address)
    except (OSError, KeyError, ValueError) as exc:  # no session bus (KeyError: no address set)
        log.info("no session bus: %r", exc)
        return None
    with conn:
        # Ask only if the accessibility bus is up: calling it would otherwise start one.
        owned = conn.send_and_get_reply(message_bus.NameHasOwner(A11Y_BUS), timeout=timeout)
        if not owned.body or not owned.body[0]:
            return False
        status = DBusAddress(A11Y_PATH, bus_name=A11Y_BUS, interface=A11Y_STATUS)
        reply = conn.send_and_get_reply(Properties(status).get("ScreenReaderEnabled"), timeout=timeout)
        if reply.header.message_type.name != "method_return" or not reply.body:
            return None
        if _unwrap(reply.body[0]):
            return True
        bus = DBusAddress(A11Y_PATH, bus_name=A11Y_BUS, interface=A11Y_BUS)
        reply = conn.send_and_get_reply(new_method_call(bus, "GetAddress"), timeout=timeout)
    if reply.header.message_type.name != "method_return" or not reply.body or not reply.body[0]:
        return False
    return _reader_registered(str(reply.body[0]), timeout)


def _unwrap(value: object) -> object:
    if isinstance(value, tuple) and len(value) == 2:  # a variant: (signature, value)
        return value[1]
    return value


def _reader_registered(a11y_address: str, timeout: float) -> bool:
    """Whether an application on the accessibility bus is a known screen reader (Orca is one there)."""
    from jeepney import DBusAddress, Properties, new_method_call
    from jeepney.io.blocking import open_dbus_connection

    root = DBusAddress("/org/a11y/atspi/accessible/root", bus_name="org.a11y.atspi.Registry",
                       interface="org.a11y.atspi.Accessible")
    with open_dbus_connection(a11y_address) as conn:
        reply = conn.send_and_get_reply(new_method_call(root, "GetChildren"), timeout=timeout)
        if reply.header.message_type.name != "method_return" or not reply.body:
            return False
        for bus_name, path in reply.body[0]:
            if _is_this_process(conn, bus_name, timeout):
                continue  # our own window: its main thread may be the one waiting for this answer
            app = DBusAddress(path, bus_name=bus_name, interface="org.a11y.atspi.Accessible")
            try:
                name = conn.send_and_get_reply(Properties(app).get("Name"), timeout=timeout)
            except Exception:  # noqa: BLE001 - an application that does not answer is not a screen reader here
                continue
            if name.header.message_type.name == "method_return" and name.body and \
                    str(_unwrap(name.body[0])).strip().lower() in LINUX_READERS:
                return True
    return False


def _windows() -> bool | None:
    import ctypes
    from ctypes import wintypes

    flag = wintypes.BOOL()
    user32 = ctypes.windll.user32  # type: ignore[attr-defined]
    if not user32.SystemParametersInfoW(SPI_GETSCREENREADER, 0, ctypes.byref(flag), 0):
        return None
    return bool(flag.value)


def _macos(timeout: float) -> bool | None:
    done = subprocess.run(["defaults", "read", "com.apple.universalaccess", "voiceOverOnOffKey"],
                          capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        return False  # the key is absent until VoiceOver was first turned on
    return done.stdout.strip() == "1"


def _is_this_process(conn: DBusConnection, bus_name: str, timeout: float) -> bool:
    from jeepney.bus_messages import message_bus

    try:
        reply = conn.send_and_get_reply(message_bus.GetConnectionUnixProcessID(bus_name), timeout=timeout)
    except Exception:  # noqa: BLE001
        return False
    return bool(reply.body) and reply.body[0] == os.getpid()
