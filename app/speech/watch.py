"""Notice a screen reader starting or stopping while Iris runs (for ``speech_output: auto``).

Iris often starts with the desktop, before the screen reader. A background
thread asks the platform every few seconds (the same question as at start-up:
:func:`app.a11y.screen_reader.screen_reader_running`) and calls ``on_change``
when the answer flips, so the app can rebuild its speech output: answers move
to the screen reader that just started, or back to Iris's own voice when it
stopped. The question costs a few milliseconds of D-Bus on Linux.
"""

from __future__ import annotations

import logging
import threading
from typing import Callable

log = logging.getLogger(__name__)

WATCH_INTERVAL_S = 3.0


class ScreenReaderWatch:
    """Calls ``on_change(running)`` (on its own thread) each time the detected state flips."""

    def __init__(
        self,
        on_change: Callable[[bool], None],
        *,
        detect: Callable[[], bool | None] | None = None,
        interval: float = WATCH_INTERVAL_S,
    ) -> None:
        self._on_change = on_change
        self._detect = detect or _default_detect
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.state: bool | None = None  # the last answer (None: not asked yet)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="iris-screen-reader-watch", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=2)

    def _run(self) -> None:
        self.state = self._ask()
        while not self._stop.wait(self._interval):
            running = self._ask()
            if running != self.state:
                self.state = running
                try:
                    self._on_change(running)
                except Exception:
                    log.exception("screen reader change handler failed")

    def _ask(self) -> bool:
        try:
            return bool(self._detect())
        except Exception:  # noqa: BLE001 - "cannot tell" is "no"
            return False


def _default_detect() -> bool | None:
    from ..a11y.screen_reader import screen_reader_running

    return screen_reader_running()
