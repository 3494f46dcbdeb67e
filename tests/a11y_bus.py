"""A private D-Bus session with an AT-SPI accessibility bus, as a real desktop has.

``start_a11y_session(display)`` starts, in a process group of their own,
``dbus-daemon --session`` and ``at-spi-bus-launcher --launch-immediately``; the
launcher starts the accessibility bus, which activates ``at-spi2-registryd``.
``env`` holds what a client needs (DBUS_SESSION_BUS_ADDRESS, DISPLAY, and
AT_SPI_BUS_ADDRESS for clients that skip the session-bus lookup). ``close()``
stops the whole group. Returns None when a part is not installed or does not
start, so tests can skip cleanly.

Usage with pytest (see ``a11y_session`` below)::

    from tests.a11y_bus import a11y_session  # noqa: F401  (a fixture)
    def test_x(a11y_session): subprocess.run(..., env=a11y_session.env)
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator

import pytest

LAUNCHER_PATHS = (
    "/usr/libexec/at-spi-bus-launcher",          # Debian, Ubuntu, Fedora
    "/usr/lib/at-spi2-core/at-spi-bus-launcher",  # older Debian/Ubuntu
    "/usr/lib/at-spi-bus-launcher",              # Arch
)


def find_launcher() -> str | None:
    for path in LAUNCHER_PATHS:
        if os.access(path, os.X_OK):
            return path
    return shutil.which("at-spi-bus-launcher")


class A11ySession:
    """One running private session bus plus its accessibility bus."""

    def __init__(self, procs: list[subprocess.Popen], session_address: str, a11y_address: str,
                 display: str, runtime_dir: str = "") -> None:
        self.procs = procs
        self.runtime_dir = runtime_dir  # private XDG_RUNTIME_DIR: the a11y socket lives here
        self.session_address = session_address
        self.a11y_address = a11y_address
        self.display = display

    @property
    def env(self) -> dict[str, str]:
        """Variables to set on a client (a Qt app, Iris itself) so it finds these buses."""
        return {
            "DBUS_SESSION_BUS_ADDRESS": self.session_address,
            "AT_SPI_BUS_ADDRESS": self.a11y_address,
            "DISPLAY": self.display,
            "XDG_RUNTIME_DIR": self.runtime_dir,
            "NO_AT_BRIDGE": "0",
            "QT_LINUX_ACCESSIBILITY_ALWAYS_ON": "1",
        }

    def full_env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.env)
        env.update(extra)
        return env

    def apply(self, monkeypatch: pytest.MonkeyPatch) -> None:
        for key, value in self.env.items():
            monkeypatch.setenv(key, value)

    def close(self) -> None:
        """Stop the launcher (and the bus and registry it started), then the session bus."""
        try:
            self._stop()
        finally:
            if self.runtime_dir:
                shutil.rmtree(self.runtime_dir, ignore_errors=True)

    def _stop(self) -> None:
        for proc in reversed(self.procs):
            try:
                os.killpg(proc.pid, signal.SIGTERM)  # the group this helper created for it
            except ProcessLookupError:
                pass
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait()


def _read_line(stream, timeout: float) -> str:
    """One line from a pipe within timeout seconds ('' when none came)."""
    data = b""
    deadline = time.monotonic() + timeout
    fd = stream.fileno()
    while not data.endswith(b"\n") and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            chunk = os.read(fd, 512)
            if not chunk:
                break
            data += chunk
    return data.decode(errors="replace").strip()


def _get_a11y_address(session_address: str, timeout: float) -> str:
    """Ask org.a11y.Bus for the accessibility bus address, retrying until the launcher is up."""
    from jeepney import DBusAddress, new_method_call
    from jeepney.bus_messages import message_bus
    from jeepney.io.blocking import open_dbus_connection

    bus = DBusAddress("/org/a11y/bus", bus_name="org.a11y.Bus", interface="org.a11y.Bus")
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            with open_dbus_connection(session_address) as conn:
                # Wait for our launcher to own the name: calling first would make the bus activate a second one.
                owned = conn.send_and_get_reply(message_bus.NameHasOwner("org.a11y.Bus"), timeout=2)
                if not owned.body or not owned.body[0]:
                    time.sleep(0.05)
                    continue
                reply = conn.send_and_get_reply(new_method_call(bus, "GetAddress"), timeout=2)
                if reply.header.message_type.name == "method_return" and reply.body and reply.body[0]:
                    return str(reply.body[0])
                last = repr(reply.body)
        except Exception as exc:  # noqa: BLE001 - the launcher may not have claimed its name yet
            last = repr(exc)
        time.sleep(0.1)
    raise RuntimeError(f"org.a11y.Bus.GetAddress did not answer: {last}")


def _registry_up(a11y_address: str, timeout: float) -> bool:
    """Wait until the registry daemon answers on the accessibility bus (activating it if needed)."""
    from jeepney import DBusAddress, Properties
    from jeepney.io.blocking import open_dbus_connection

    root = DBusAddress("/org/a11y/atspi/accessible/root", bus_name="org.a11y.atspi.Registry",
                       interface="org.a11y.atspi.Accessible")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open_dbus_connection(a11y_address) as conn:
                reply = conn.send_and_get_reply(Properties(root).get("ChildCount"), timeout=3)
                if reply.header.message_type.name == "method_return":
                    return True
        except Exception:  # noqa: BLE001
            pass
        time.sleep(0.2)
    return False


def start_a11y_session(display: str, timeout: float = 15.0) -> A11ySession | None:
    """Start a private session bus and AT-SPI bus for ``display``; None when unavailable."""
    dbus = shutil.which("dbus-daemon")
    launcher = find_launcher()
    if dbus is None or launcher is None:
        return None
    try:
        import jeepney  # noqa: F401
    except ImportError:
        return None
    base_env = dict(os.environ)
    base_env["DISPLAY"] = display
    for key in ("DBUS_SESSION_BUS_ADDRESS", "AT_SPI_BUS_ADDRESS"):
        base_env.pop(key, None)
    # A private runtime dir: the launcher names its socket after the display only (at-spi/bus_N).
    runtime = tempfile.mkdtemp(prefix="iris-a11y-")
    base_env["XDG_RUNTIME_DIR"] = runtime
    procs: list[subprocess.Popen] = []
    session = None
    try:
        daemon = subprocess.Popen(
            [dbus, "--session", "--nofork", "--nopidfile", "--print-address=1"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=base_env, start_new_session=True,
        )
        procs.append(daemon)
        address = _read_line(daemon.stdout, timeout)
        if not address:
            raise RuntimeError("dbus-daemon printed no address")
        env = dict(base_env, DBUS_SESSION_BUS_ADDRESS=address)
        procs.append(subprocess.Popen(
            [launcher, "--launch-immediately"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, start_new_session=True,
        ))
        a11y = _get_a11y_address(address, timeout)
        session = A11ySession(procs, address, a11y, display, runtime)
        if not _registry_up(a11y, timeout):
            raise RuntimeError("at-spi2-registryd did not start")
        return session
    except Exception:  # noqa: BLE001 - any failure means "not available here": the caller skips
        (session or A11ySession(procs, "", "", display, runtime)).close()
        return None


@pytest.fixture(scope="module")
def a11y_session() -> Iterator[A11ySession]:
    """A private Xvfb (1280x800) with its own session and accessibility buses, for one module."""
    from tests.xvfb import start_xvfb

    server = start_xvfb(1280, 800, "-br", "-noreset")
    if server is None:
        pytest.skip("Xvfb is not installed")
    session = start_a11y_session(server.name)
    if session is None:
        server.close()
        pytest.skip("dbus-daemon, at-spi-bus-launcher or jeepney is not available")
    try:
        yield session
    finally:
        session.close()
        server.close()
