"""JobRunner: one worker, coalescing, newest-wins, cancel, errors as sentences, clean close."""

from __future__ import annotations

import queue
import threading
import time

import pytest

from app.errors import BadInputError, CancelledError, InternalError, IrisError
from app.jobs import JobRunner

TIMEOUT = 5.0


@pytest.fixture
def runner():
    r = JobRunner()
    yield r
    r.close()


class Recorder:
    """Collects on_done/on_error/on_cancelled calls from any thread."""

    def __init__(self) -> None:
        self.done: list = []
        self.errors: list[IrisError] = []
        self.cancelled = 0
        self.event = threading.Event()

    def on_done(self, result) -> None:
        self.done.append(result)
        self.event.set()

    def on_error(self, error: IrisError) -> None:
        self.errors.append(error)
        self.event.set()

    def on_cancelled(self) -> None:
        self.cancelled += 1
        self.event.set()

    def callbacks(self) -> dict:
        return {"on_done": self.on_done, "on_error": self.on_error, "on_cancelled": self.on_cancelled}


def test_a_job_runs_on_the_worker_and_its_result_is_delivered(runner):
    rec = Recorder()
    threads = []

    def job(cancel):
        threads.append(threading.current_thread())
        return 42

    generation, started = runner.submit(job, **rec.callbacks())
    assert started and generation == runner.generation
    assert runner.wait_idle(TIMEOUT)
    assert rec.done == [42] and rec.errors == [] and rec.cancelled == 0
    assert threads[0] is not threading.main_thread()


def test_ten_identical_requests_give_one_result(runner):
    release = threading.Event()
    calls = []
    rec = Recorder()

    def job(cancel):
        calls.append(1)
        release.wait(TIMEOUT)
        return "the description"

    results = [runner.submit(job, key="describe-screen", **rec.callbacks()) for _ in range(10)]
    release.set()
    assert runner.wait_idle(TIMEOUT)
    assert [started for _, started in results].count(True) == 1
    assert len({generation for generation, _ in results}) == 1
    assert calls == [1]
    assert rec.done == ["the description"]


def test_a_different_request_cancels_the_running_one_whose_result_is_never_delivered(runner):
    first_running = threading.Event()
    old = Recorder()
    new = Recorder()
    seen_cancel = []

    def slow(cancel):
        first_running.set()
        # finishes normally even after a cancel: its result must still be dropped
        seen_cancel.append(cancel.wait(TIMEOUT))
        return "old answer"

    runner.submit(slow, key="describe", **old.callbacks())
    assert first_running.wait(TIMEOUT)
    _, started = runner.submit(lambda cancel: "new answer", key="read", **new.callbacks())
    assert started
    assert runner.wait_idle(TIMEOUT)
    assert seen_cancel == [True]
    assert new.done == ["new answer"]
    assert old.done == [] and old.errors == [] and old.cancelled == 0


def test_a_queued_job_replaced_before_it_starts_never_runs(runner):
    release = threading.Event()
    ran = []
    runner.submit(lambda cancel: release.wait(TIMEOUT), key="a")
    runner.submit(lambda cancel: ran.append("b"), key="b")
    rec = Recorder()
    runner.submit(lambda cancel: ran.append("c") or "c", key="c", **rec.callbacks())
    release.set()
    assert runner.wait_idle(TIMEOUT)
    assert ran == ["c"] and rec.done == ["c"]


def test_the_same_key_after_a_cancel_starts_a_new_job(runner):
    release = threading.Event()
    runner.submit(lambda cancel: cancel.wait(TIMEOUT), key="same")
    runner.cancel()
    _, started = runner.submit(lambda cancel: release.set(), key="same")
    assert started
    assert runner.wait_idle(TIMEOUT) and release.is_set()


def test_a_result_in_flight_to_the_main_thread_is_dropped_when_a_newer_job_exists():
    # deliver() posts to a queue, like Qt's "invoke on the main thread"; the main
    # thread drains it only after a newer request was made.
    posted: queue.Queue = queue.Queue()
    runner = JobRunner(posted.put)
    try:
        rec_old, rec_new = Recorder(), Recorder()
        runner.submit(lambda cancel: "old", **rec_old.callbacks())
        assert runner.wait_idle(TIMEOUT)  # finished on the worker, not yet delivered
        runner.submit(lambda cancel: "new", **rec_new.callbacks())
        assert runner.wait_idle(TIMEOUT)
        while not posted.empty():
            posted.get()()
        assert rec_old.done == [] and rec_new.done == ["new"]
    finally:
        runner.close()


def test_cancel_stops_the_running_job_and_delivers_nothing_stale(runner):
    running = threading.Event()
    rec = Recorder()
    observed = []

    def job(cancel):
        running.set()
        observed.append(cancel.wait(TIMEOUT))
        return "too late"

    runner.submit(job, **rec.callbacks())
    assert running.wait(TIMEOUT)
    start = time.perf_counter()
    assert runner.cancel() is True
    assert runner.wait_idle(TIMEOUT)
    assert time.perf_counter() - start < 1.0
    assert observed == [True]
    assert rec.done == [] and rec.errors == []
    assert runner.cancel() is False  # nothing left to cancel


def test_cancelling_the_jobs_token_delivers_on_cancelled(runner):
    running = threading.Event()
    rec = Recorder()

    def job(cancel):
        running.set()
        cancel.wait(TIMEOUT)
        raise CancelledError()

    runner.submit(job, **rec.callbacks())
    assert running.wait(TIMEOUT)
    token = runner.current_cancel_token()
    assert token is not None
    token.cancel()
    assert runner.wait_idle(TIMEOUT)
    assert rec.cancelled == 1 and rec.done == [] and rec.errors == []


def test_a_result_returned_after_its_token_was_cancelled_counts_as_cancelled(runner):
    running = threading.Event()
    rec = Recorder()

    def job(cancel):
        running.set()
        cancel.wait(TIMEOUT)
        return "ignored"

    runner.submit(job, **rec.callbacks())
    assert running.wait(TIMEOUT)
    runner.current_cancel_token().cancel()
    assert runner.wait_idle(TIMEOUT)
    assert rec.done == [] and rec.cancelled == 1


@pytest.mark.parametrize(
    "exc, expected_type",
    [
        (ValueError("boom"), InternalError),
        (KeyError("x"), InternalError),
        (MemoryError(), IrisError),
        (BadInputError("That file is not an image."), BadInputError),
    ],
)
def test_errors_become_iris_errors_with_a_sentence(runner, exc, expected_type):
    rec = Recorder()

    def job(cancel):
        raise exc

    runner.submit(job, **rec.callbacks())
    assert runner.wait_idle(TIMEOUT)
    assert rec.done == [] and len(rec.errors) == 1
    error = rec.errors[0]
    assert isinstance(error, expected_type)
    assert error.message and "Traceback" not in error.message
    if isinstance(exc, BadInputError):
        assert error is exc
    else:
        assert error.detail  # the internals are kept for the log ...
        assert not str(exc) or str(exc) not in error.message  # ... and stay out of the sentence


def test_the_worker_survives_a_failing_job_and_a_failing_callback(runner):
    rec = Recorder()

    def explode(result):
        raise RuntimeError("callback bug")

    runner.submit(lambda cancel: 1 / 0)
    runner.wait_idle(TIMEOUT)
    runner.submit(lambda cancel: "x", on_done=explode)
    runner.wait_idle(TIMEOUT)
    runner.submit(lambda cancel: "still alive", **rec.callbacks())
    assert runner.wait_idle(TIMEOUT)
    assert rec.done == ["still alive"]


def test_jobs_run_one_at_a_time(runner):
    active = []
    overlap = []
    lock = threading.Lock()

    def job(cancel):
        with lock:
            active.append(1)
            overlap.append(len(active))
        time.sleep(0.01)
        with lock:
            active.pop()

    for i in range(20):
        runner.submit(job, key=str(i))
        time.sleep(0.002)
    assert runner.wait_idle(TIMEOUT)
    assert overlap and max(overlap) == 1


def test_busy_reflects_running_work(runner):
    release = threading.Event()
    assert not runner.busy
    runner.submit(lambda cancel: release.wait(TIMEOUT))
    assert runner.busy
    release.set()
    assert runner.wait_idle(TIMEOUT)
    assert not runner.busy


def test_close_cancels_the_running_job_and_leaves_no_thread():
    before = set(threading.enumerate())
    runners = [JobRunner(name=f"iris-test-{i}") for i in range(5)]
    tokens = []
    running = threading.Event()

    def job(cancel):
        tokens.append(cancel)
        running.set()
        cancel.wait(TIMEOUT)

    runners[0].submit(job)
    assert running.wait(TIMEOUT)
    start = time.perf_counter()
    for r in runners:
        r.close()
    assert time.perf_counter() - start < 2.0
    assert tokens[0].cancelled
    leftover = [t for t in threading.enumerate() if t not in before and t.is_alive()]
    assert leftover == []
    with pytest.raises(RuntimeError):
        runners[0].submit(lambda cancel: None)
