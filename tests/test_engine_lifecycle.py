"""Quitting or switching models during a load is immediate and leaves nothing loaded (issue 10, item 5)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from PIL import Image

from app.engine.base import Conversation
from app.engine.loading import LazyEngine
from app.errors import CancelledError
from app.jobs import JobRunner
from tests.mock_engine import MockEngine


class GatedEngine(MockEngine):
    """A model whose load blocks until the test opens the gate (a slow from_pretrained)."""

    def __init__(self, gate: threading.Event) -> None:
        super().__init__("Hello there.")
        self.gate = gate
        self.unloaded = threading.Event()

    def load(self, status=None) -> None:
        self.gate.wait(10)
        super().load(status)

    def unload(self) -> None:
        super().unload()
        self.unloaded.set()


@pytest.fixture
def model_dir(tmp_path) -> Path:
    folder = tmp_path / "model"
    folder.mkdir()
    return folder


def lazy(model_dir: Path, made: list[GatedEngine], gate: threading.Event) -> LazyEngine:
    def factory(path, device, settings, name):
        engine = GatedEngine(gate)
        made.append(engine)
        return engine

    return LazyEngine(str(model_dir), "cpu", {}, status=None, factory=factory)


def test_unload_during_a_load_is_immediate_and_nothing_stays_loaded(model_dir, monkeypatch):
    monkeypatch.setattr("app.engine.loading.resolve_device", lambda requested: "cpu")
    gate, made = threading.Event(), []
    engine = lazy(model_dir, made, gate)
    outcome: list[object] = []

    def load() -> None:
        try:
            engine.load()
            outcome.append("loaded")
        except CancelledError as exc:
            outcome.append(exc)

    loader = threading.Thread(target=load)
    loader.start()
    deadline = time.perf_counter() + 5
    while not made and time.perf_counter() < deadline:
        time.sleep(0.01)
    start = time.perf_counter()
    engine.unload()
    assert time.perf_counter() - start < 0.1  # the switch does not wait for the load
    loader.join(1.0)
    assert not loader.is_alive() and isinstance(outcome[0], CancelledError)
    gate.set()  # the abandoned load finishes later...
    assert made[0].unloaded.wait(5)  # ...and what it loaded is dropped
    assert not engine.is_loaded


def test_a_job_runner_is_freed_at_once_when_the_model_is_switched(model_dir, monkeypatch):
    monkeypatch.setattr("app.engine.loading.resolve_device", lambda requested: "cpu")
    gate, made = threading.Event(), []
    old = lazy(model_dir, made, gate)
    runner = JobRunner()
    cancelled = threading.Event()
    runner.submit(lambda cancel: old.warm_up(cancel), key="warm-up", on_cancelled=cancelled.set)
    while not made:
        time.sleep(0.01)
    new = MockEngine("Switched.")
    start = time.perf_counter()
    old.unload()  # the controller's set_engine()
    answers: list[str] = []

    def ask(cancel):
        conv = Conversation(image=Image.new("RGB", (8, 8)))
        conv.ask("Hi?")
        new.generate(conv, cancel, answers.append)

    runner.submit(ask, key="ask")
    assert runner.wait_idle(2.0)
    assert "".join(answers).strip() == "Switched." and time.perf_counter() - start < 1.0
    gate.set()
    assert made[0].unloaded.wait(5) and not old.is_loaded
    runner.close()


def test_load_after_an_abandoned_load_starts_afresh(model_dir, monkeypatch):
    monkeypatch.setattr("app.engine.loading.resolve_device", lambda requested: "cpu")
    gate, made = threading.Event(), []
    engine = lazy(model_dir, made, gate)
    threading.Thread(target=lambda: pytest.raises(CancelledError, engine.load), daemon=True).start()
    while not made:
        time.sleep(0.01)
    engine.unload()
    gate.set()
    engine.load()
    assert engine.is_loaded and len(made) == 2 and made[0].unloaded.wait(5)


def test_quitting_during_a_load_does_not_wait_for_it(model_dir, monkeypatch):
    """Core.close() while the warm-up is still loading returns at once and nothing stays loaded."""
    from app.compose import build_core
    from app.speech.base import SilentSpeaker

    monkeypatch.setattr("app.engine.loading.resolve_device", lambda requested: "cpu")
    gate, made = threading.Event(), []
    engine = lazy(model_dir, made, gate)
    core = build_core(engine=engine, speaker=SilentSpeaker(), with_ocr=False)
    core.runner.submit(lambda cancel: engine.warm_up(cancel), key="warm-up")
    while not made:
        time.sleep(0.01)
    start = time.perf_counter()
    core.close()
    assert time.perf_counter() - start < 0.5
    gate.set()
    assert made[0].unloaded.wait(5) and not engine.is_loaded


def test_a_cancelled_warm_up_stops_waiting_but_the_load_can_finish_for_later(model_dir, monkeypatch):
    from app.engine.base import CancelToken

    monkeypatch.setattr("app.engine.loading.resolve_device", lambda requested: "cpu")
    gate, made = threading.Event(), []
    engine = lazy(model_dir, made, gate)
    cancel = CancelToken()
    threading.Timer(0.1, cancel.cancel).start()
    start = time.perf_counter()
    engine.warm_up(cancel)
    assert time.perf_counter() - start < 0.5 and not engine.is_loaded
    gate.set()
    engine.load()  # the same load, finished: not started again
    assert engine.is_loaded and len(made) == 1
