"""How fast the "describe what I'm on" parts are, before any model runs.

Prints, in milliseconds (median of N runs):
  * AT-SPI focus query (active window + focused control + rectangle) against a real
    Qt app on a private accessibility bus under Xvfb (tests/a11y_bus.py, tests/a11y_app.py);
  * "what changed" comparison of two 1920x1080 and two 3840x2160 screenshots
    (nothing changed; a dialog appeared; a dialog plus a clock).
Keypress-to-picture during a model load is a test (tests/gui/test_focus_gui.py, under 0.1 s).

Run: .venv/bin/python benchmarks/focus.py
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from PIL import Image, ImageDraw  # noqa: E402

from app.capture.changes import compare  # noqa: E402


def median_ms(fn, runs: int = 15) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def focus_query() -> None:
    from tests.a11y_bus import start_a11y_session
    from tests.xvfb import start_xvfb

    server = start_xvfb(1280, 800, "-br", "-noreset")
    session = start_a11y_session(server.name) if server else None
    if session is None:
        print("focus query: skipped (Xvfb, dbus-daemon or at-spi-bus-launcher missing)")
        if server:
            server.close()
        return
    app = subprocess.Popen([sys.executable, "-m", "tests.a11y_app"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, text=True, env=session.full_env(), cwd=REPO)
    try:
        app.stdout.readline()
        app.stdin.write("focus unnamed\n")
        app.stdin.flush()
        app.stdout.readline()
        os.environ.update(session.env)
        from app.a11y.atspi import AtspiFocus

        print(f"AT-SPI focused control (Qt app, 3 controls): {median_ms(lambda: AtspiFocus().focused()):.1f} ms")
    finally:
        app.stdin.close()
        app.wait(5)
        session.close()
        server.close()


def changes() -> None:
    for size in ((1920, 1080), (3840, 2160)):
        before = Image.new("RGB", size, (236, 236, 236))
        draw = ImageDraw.Draw(before)
        for y in range(40, size[1] - 40, 24):
            draw.text((40, y), "Lorem ipsum dolor sit amet " * 6, fill="black")
        dialog = before.copy()
        ImageDraw.Draw(dialog).rectangle((size[0] // 3, size[1] // 3, size[0] // 2, size[1] // 2), fill="white",
                                         outline="black")
        clock = dialog.copy()
        ImageDraw.Draw(clock).text((size[0] - 80, size[1] - 24), "12:01", fill="black")
        same = before.copy()
        print(f"{size[0]}x{size[1]} nothing changed: {median_ms(lambda b=before, s=same: compare(b, s)):.1f} ms; "
              f"a dialog: {median_ms(lambda b=before, d=dialog: compare(b, d)):.1f} ms; "
              f"dialog + clock: {median_ms(lambda b=before, c=clock: compare(b, c)):.1f} ms")


if __name__ == "__main__":
    changes()
    focus_query()
