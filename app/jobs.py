"""Background jobs with a clear contract (after Anki's aqt/operations and Orca's generation tokens).

* One job runs at a time, on one worker thread (the model is not re-entrant).
* A newer request cancels the running one; results of a superseded job are
  never delivered (each job carries a generation number).
* The same request while it is already running is coalesced: pressing the
  hotkey ten times gives one answer.
* The worker never touches the UI: callbacks go through ``deliver``, which the
  GUI sets to "post to the Qt main thread"; the CLI calls them directly.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

from .engine.base import CancelToken
from .errors import CancelledError, IrisError, as_user_error

log = logging.getLogger(__name__)

JobFn = Callable[[CancelToken], Any]
Deliver = Callable[[Callable[[], None]], None]


def _call_now(fn: Callable[[], None]) -> None:
    fn()


@dataclass
class Job:
    generation: int
    fn: JobFn
    key: str | None
    on_done: Callable[[Any], None] | None
    on_error: Callable[[IrisError], None] | None
    on_cancelled: Callable[[], None] | None
    cancel: CancelToken = field(default_factory=CancelToken)
    finished: threading.Event = field(default_factory=threading.Event)


class JobRunner:
    def __init__(self, deliver: Deliver = _call_now, *, name: str = "iris-worker") -> None:
        self._deliver = deliver
        self._lock = threading.Condition()
        self._generation = 0
        self._pending: Job | None = None
        self._current: Job | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    @property
    def generation(self) -> int:
        return self._generation

    @property
    def busy(self) -> bool:
        with self._lock:
            return self._current is not None or self._pending is not None

    def is_current(self, generation: int) -> bool:
        return generation == self._generation

    def submit(
        self,
        fn: JobFn,
        *,
        key: str | None = None,
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[IrisError], None] | None = None,
        on_cancelled: Callable[[], None] | None = None,
    ) -> tuple[int, bool]:
        """Queue a job, cancelling older ones. Returns (generation, started).

        ``started`` is False when an identical request (same ``key``) is already
        running or queued: that one stands and this call is coalesced into it.
        """
        with self._lock:
            if self._closed:
                raise RuntimeError("job runner is closed")
            active = self._pending or self._current
            if key is not None and active is not None and active.key == key and not active.cancel.cancelled:
                return active.generation, False
            self._generation += 1
            job = Job(self._generation, fn, key, on_done, on_error, on_cancelled)
            if self._current is not None:
                self._current.cancel.cancel()
            if self._pending is not None:
                self._pending.cancel.cancel()
            self._pending = job
            self._lock.notify_all()
            return job.generation, True

    def cancel(self) -> bool:
        """Cancel whatever runs or waits; returns True if there was something."""
        with self._lock:
            had = False
            for job in (self._current, self._pending):
                if job is not None and not job.cancel.cancelled:
                    job.cancel.cancel()
                    had = True
            # A cancel also makes any result in flight stale.
            self._generation += 1
            return had

    def current_cancel_token(self) -> CancelToken | None:
        with self._lock:
            job = self._current or self._pending
            return job.cancel if job else None

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until no job runs or waits (for the CLI and tests)."""
        with self._lock:
            return self._lock.wait_for(lambda: self._current is None and self._pending is None, timeout)

    def close(self, timeout: float = 2.0) -> None:
        with self._lock:
            self._closed = True
            for job in (self._current, self._pending):
                if job is not None:
                    job.cancel.cancel()
            self._lock.notify_all()
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._lock:
                self._lock.wait_for(lambda: self._pending is not None or self._closed)
                if self._closed and self._pending is None:
                    return
                job, self._pending = self._pending, None
                if job is None:  # woken to close with nothing pending
                    continue
                self._current = job
            try:
                self._execute(job)
            finally:
                with self._lock:
                    self._current = None
                    job.finished.set()
                    self._lock.notify_all()

    def _execute(self, job: Job) -> None:
        if job.cancel.cancelled:
            self._deliver_if_current(job, job.on_cancelled, None)
            return
        try:
            result = job.fn(job.cancel)
        except CancelledError:
            self._deliver_if_current(job, job.on_cancelled, None)
            return
        except BaseException as exc:  # noqa: BLE001 - every failure becomes a sentence
            error = as_user_error(exc)
            if not isinstance(exc, IrisError):
                log.error("job failed: %s", error.detail, exc_info=exc)
            if job.cancel.cancelled:
                self._deliver_if_current(job, job.on_cancelled, None)
            else:
                self._deliver_if_current(job, job.on_error, error)
            return
        if job.cancel.cancelled:
            self._deliver_if_current(job, job.on_cancelled, None)
        else:
            self._deliver_if_current(job, job.on_done, result)

    def _deliver_if_current(self, job: Job, callback: Callable[..., None] | None, arg: Any) -> None:
        """Deliver a callback unless the job was superseded or cancelled.

        Checked on the receiving side, at delivery time: a result that reaches the
        main thread after a newer request was made is dropped there.
        """
        if callback is None:
            return
        target = callback

        def call() -> None:
            if self.is_current(job.generation):
                if target is job.on_cancelled:
                    target()
                else:
                    target(arg)

        try:
            self._deliver(call)
        except Exception:
            log.exception("could not deliver job result")
