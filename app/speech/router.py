"""The speaker the rest of Iris holds: one stable object in front of the chosen output.

:class:`SpeechRouter` forwards every call to the current output (screen
reader, Iris's own voice, both, or text only) and every output event to its
own listeners, so a listener (the pipeline's first-audio clock, ``iris
speak``) keeps working when the user switches output mid-answer: the old
output is closed, reports what it dropped as "cancelled", and the clock stops
waiting for it. :class:`FanOutSpeaker` is the ``both`` output.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Sequence

from .base import Owner, Priority, Speaker

log = logging.getLogger(__name__)


class SpeechRouter(Speaker):
    """Holds the active output; ``set_output`` swaps it without losing listeners."""

    def __init__(self, output: Speaker) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._output = output
        output.add_listener(self._forward)

    @property
    def output(self) -> Speaker:
        return self._output

    def __getattr__(self, name: str) -> object:
        """Anything else an output offers (a test double's record, ``wait_ready``) comes from it."""
        if name.startswith("__") or name == "_output":
            raise AttributeError(name)
        return getattr(self._output, name)

    @property
    def name(self) -> str:  # type: ignore[override]
        return self._output.name

    def _forward(self, event: str, text: str) -> None:
        self._emit(event, text)

    def set_output(self, output: Speaker, *, close_old: bool = True) -> Speaker:
        """Route to ``output`` from now on; the old one is closed (its leftovers reported) and returned."""
        with self._lock:
            old, self._output = self._output, output
        if old is output:
            return old
        output.add_listener(self._forward)
        if close_old:
            try:
                old.close()
            except Exception:
                log.exception("could not close the previous speech output")
        old.remove_listener(self._forward)
        return old

    def speak(self, text: str, *, interrupt: bool = False, priority: Priority = Priority.NORMAL,
              owner: Owner | None = None) -> None:
        self._output.speak(text, interrupt=interrupt, priority=priority, owner=owner)

    def cancel_owner(self, owner: Owner) -> None:
        self._output.cancel_owner(owner)

    def stop(self) -> None:
        self._output.stop()

    def wait(self, timeout: float | None = None) -> bool:
        return self._output.wait(timeout)

    def wait_ready(self, timeout: float | None = None) -> bool:
        waiter = getattr(self._output, "wait_ready", None)
        return bool(waiter(timeout)) if callable(waiter) else True

    def configure(self, *, rate: int | None = None, volume: float | None = None, voice: str | None = None) -> None:
        self._output.configure(rate=rate, volume=volume, voice=voice)

    def voices(self) -> list[tuple[str, str]]:
        return self._output.voices()

    @property
    def is_speaking(self) -> bool:
        return self._output.is_speaking

    def close(self) -> None:
        self._output.close()


class FanOutSpeaker(Speaker):
    """Says everything through several outputs at once (``speech_output: both``)."""

    def __init__(self, outputs: Sequence[Speaker]) -> None:
        super().__init__()
        self.outputs = list(outputs)
        for output in self.outputs:
            output.add_listener(self._emit)

    @property
    def name(self) -> str:  # type: ignore[override]
        return " and ".join(output.name for output in self.outputs)

    def speak(self, text: str, *, interrupt: bool = False, priority: Priority = Priority.NORMAL,
              owner: Owner | None = None) -> None:
        for output in self.outputs:
            output.speak(text, interrupt=interrupt, priority=priority, owner=owner)

    def cancel_owner(self, owner: Owner) -> None:
        for output in self.outputs:
            output.cancel_owner(owner)

    def stop(self) -> None:
        for output in self.outputs:
            output.stop()

    def wait(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        ok = True
        for output in self.outputs:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            ok = output.wait(left) and ok
        return ok

    def wait_ready(self, timeout: float | None = None) -> bool:
        for output in self.outputs:
            waiter = getattr(output, "wait_ready", None)
            if callable(waiter):
                waiter(timeout)
        return True

    def configure(self, *, rate: int | None = None, volume: float | None = None, voice: str | None = None) -> None:
        for output in self.outputs:
            output.configure(rate=rate, volume=volume, voice=voice)

    def voices(self) -> list[tuple[str, str]]:
        for output in self.outputs:
            found = output.voices()
            if found:
                return found
        return []

    @property
    def is_speaking(self) -> bool:
        return any(output.is_speaking for output in self.outputs)

    def close(self) -> None:
        for output in self.outputs:
            try:
                output.close()
            except Exception:
                log.exception("could not close a speech output")
