"""Qt accessibility announcements reach a real AT-SPI bus (what Orca 45+ speaks and brailles)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from tests.a11y_bus import a11y_session  # noqa: F401  (a fixture)

ROOT = Path(__file__).resolve().parents[2]


def test_announcements_reach_the_accessibility_bus_with_politeness(a11y_session):
    from jeepney import DBusAddress, MatchRule, message_bus, new_method_call
    from jeepney.io.blocking import open_dbus_connection

    registry = DBusAddress("/org/a11y/atspi/registry", bus_name="org.a11y.atspi.Registry",
                           interface="org.a11y.atspi.Registry")
    with open_dbus_connection(a11y_session.a11y_address) as conn:
        # What a screen reader does: ask for announcement events (Qt sends only what someone listens to).
        conn.send_and_get_reply(new_method_call(registry, "RegisterEvent", "s", ("object:announcement",)), timeout=5)
        conn.send_and_get_reply(message_bus.AddMatch(
            MatchRule(type="signal", interface="org.a11y.atspi.Event.Object", member="Announcement")))
        proc = subprocess.Popen([sys.executable, "-m", "tests.announce_app"], cwd=ROOT,
                                env=a11y_session.full_env(), stdout=subprocess.PIPE, text=True)
        heard: list[tuple[str, int]] = []
        deadline = time.monotonic() + 20
        drain_until = None
        while time.monotonic() < deadline and (drain_until is None or time.monotonic() < drain_until):
            if drain_until is None and proc.poll() is not None:
                drain_until = time.monotonic() + 1.0  # read what is still on its way
            try:
                message = conn.receive(timeout=0.3)
            except TimeoutError:
                continue
            if message.header.message_type.name == "signal":
                _detail, politeness, _x, (_sig, text), _props = message.body
                heard.append((text, politeness))
        out, _ = proc.communicate(timeout=10)
    assert "done" in out
    # ATSPI_LIVE_POLITE = 1, ATSPI_LIVE_ASSERTIVE = 2; the cancelled sentence never arrives
    assert heard == [("The answer, first sentence.", 1), ("The camera is not available.", 2)]
