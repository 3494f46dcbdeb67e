"""The controller alone (no window): jobs, coalescing, cancellation, errors, history, threads."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from PIL import Image

from app.compose import build_core
from app.errors import ModelMissingError
from app.gui.bridge import MainThreadDispatcher
from app.gui.controller import Controller
from app.notifier import Level, Notifier
from app.settings import Settings
from app.speech.base import SilentSpeaker
from tests.gui.conftest import FakeCapture, FakeOCR
from tests.mock_engine import MockEngine


class Recorder:
    """Connects to every controller signal and records (name, args, thread)."""

    NAMES = ("turn_started", "text_piece", "answer_ready", "turn_stopped", "state_changed", "error",
             "image_changed", "question_requested", "captured", "model_missing", "model_ready", "history_changed")

    def __init__(self, controller: Controller) -> None:
        self.events: list[tuple[str, tuple, threading.Thread]] = []
        for name in self.NAMES:
            getattr(controller, name).connect(lambda *args, n=name: self.events.append(
                (n, args, threading.current_thread())))

    def named(self, name: str) -> list[tuple]:
        return [args for n, args, _ in self.events if n == name]

    def text(self) -> str:
        return "".join(args[0] for args in self.named("text_piece"))


@pytest.fixture
def setup(qtbot, photo_paths):
    made = []

    def make(engine=None, *, history=None, settings=None):
        dispatcher = MainThreadDispatcher()
        notifier = Notifier()
        store = Settings.load()
        store.update({"warm_up_on_start": False, **(settings or {})})
        speaker = SilentSpeaker()
        core = build_core(settings=store, notifier=notifier, speaker=speaker,
                          engine=engine or MockEngine("A photo. It is nice."), ocr=FakeOCR(),
                          deliver=dispatcher.deliver)
        with Image.open(photo_paths[2]) as image:
            screen = FakeCapture(image.convert("RGB"))
        controller = Controller(core, dispatcher.deliver, screen_source=lambda: screen,
                                window_source=lambda: screen, history=history)
        recorder = Recorder(controller)
        made.append((core, dispatcher))
        return controller, recorder, core, screen

    yield make
    for core, dispatcher in made:
        dispatcher.close()
        core.close()


def wait_idle(qtbot, controller, core):
    qtbot.waitUntil(lambda: not controller.busy and not core.runner.busy, timeout=5000)
    qtbot.wait(20)


def test_signals_all_arrive_on_the_main_thread(setup, qtbot, photo_paths):
    controller, rec, core, _ = setup(MockEngine("One. Two. Three.", token_delay=0.005))
    controller.describe_screen()
    controller.open_images(photo_paths[:2])
    wait_idle(qtbot, controller, core)
    assert rec.named("answer_ready")
    assert {thread for _, _, thread in rec.events} == {threading.main_thread()}


def test_the_same_request_ten_times_is_one_job(setup, qtbot):
    controller, rec, core, screen = setup(MockEngine("Busy desktop.", token_delay=0.01))
    started = [controller.describe_screen() for _ in range(10)]
    wait_idle(qtbot, controller, core)
    assert started == [True] + [False] * 9
    assert screen.grabs == 1 and len(rec.named("answer_ready")) == 1 and len(rec.named("turn_started")) == 1


def test_a_different_request_supersedes_and_the_old_text_never_arrives(setup, qtbot, photo_paths):
    long = " ".join(f"old{i}." for i in range(100))
    engine = MockEngine(lambda c: long if c.is_screen else "New answer.", token_delay=0.01)
    controller, rec, core, _ = setup(engine)
    controller.describe_screen()
    qtbot.waitUntil(lambda: "old2" in rec.text(), timeout=3000)
    controller.open_images([photo_paths[0]])
    wait_idle(qtbot, controller, core)
    order = [n for n, _, _ in rec.events if n in ("turn_started", "turn_stopped", "answer_ready")]
    assert order == ["turn_started", "turn_stopped", "turn_started", "answer_ready"]
    answers = rec.named("answer_ready")
    assert answers[0][0].text == "New answer."
    after_new_turn = rec.events[[n for n, _, _ in rec.events].index("turn_stopped"):]
    assert not any(n == "text_piece" and "old" in args[0] for n, args, _ in after_new_turn)


def test_stop_cancels_silences_and_nothing_arrives_afterwards(setup, qtbot, photo_paths):
    words = " ".join(f"w{i}." for i in range(300))
    controller, rec, core, _ = setup(MockEngine(words, token_delay=0.01))
    controller.open_images([photo_paths[0]])
    qtbot.waitUntil(lambda: "w2." in rec.text(), timeout=3000)
    controller.stop()
    count = len(rec.events)
    assert core.speaker.spoken[-1] == "<stop>"
    assert rec.named("state_changed")[-1] == ("idle",)
    qtbot.waitUntil(lambda: not core.runner.busy, timeout=3000)
    qtbot.wait(100)
    assert rec.events[count:] == []
    assert rec.named("turn_stopped") and not rec.named("answer_ready")
    assert "w299" not in rec.text()


def test_asking_without_an_image_or_with_an_empty_question_is_one_sentence(setup, qtbot):
    controller, rec, core, _ = setup()
    assert controller.ask("   ") is False
    controller.ask("What is this?")
    wait_idle(qtbot, controller, core)
    errors = rec.named("error")
    assert len(errors) == 2 and all(e[0].endswith(".") and "\n" not in e[0] for e in errors)
    assert core.engine.calls == []
    assert [m.text for m in core.notifier.history if m.level is Level.ERROR] == [e[0] for e in errors]


def test_a_failed_capture_is_reported_and_the_state_returns_to_idle(setup, qtbot):
    controller, rec, core, screen = setup()
    screen.fail = "The screen could not be captured."
    controller.describe_screen()
    wait_idle(qtbot, controller, core)
    assert rec.named("error") == [("The screen could not be captured.",)]
    assert rec.named("state_changed") == [("working",), ("idle",)]
    screen.fail = None
    controller.describe_screen()
    wait_idle(qtbot, controller, core)
    assert len(rec.named("answer_ready")) == 1


def test_open_images_reports_a_bad_file_and_still_describes_the_good_one(setup, qtbot, photo_paths, tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_text("this is not a picture")
    controller, rec, core, _ = setup()
    controller.open_images([bad, photo_paths[1]])
    wait_idle(qtbot, controller, core)
    assert len(rec.named("error")) == 1 and "notes.png" in rec.named("error")[0][0]
    assert len(core.engine.calls) == 1 and len(rec.named("answer_ready")) == 1
    controller.open_images([bad])
    wait_idle(qtbot, controller, core)
    assert len(rec.named("error")) == 2 and len(core.engine.calls) == 1


def test_history_is_recorded_only_when_it_is_on(setup, qtbot, photo_paths, tmp_path):
    from app.history import History

    history = History(tmp_path / "history", enabled=False, limit=10)
    controller, rec, core, _ = setup(history=history, settings={"history_enabled": False})
    controller.open_images([photo_paths[0]])
    wait_idle(qtbot, controller, core)
    qtbot.wait(100)
    assert history.entries() == []
    core.settings.set("history_enabled", True)
    history.set_enabled(True)
    controller.open_images([photo_paths[1]])
    wait_idle(qtbot, controller, core)
    qtbot.waitUntil(lambda: len(history.entries()) == 1, timeout=3000)
    entry = history.entries()[0]
    assert entry.text == core.assistant.last_answer.text and entry.source == photo_paths[1].name
    assert history.load_image(entry).size == Image.open(photo_paths[1]).size
    qtbot.waitUntil(lambda: bool(rec.named("history_changed")), timeout=2000)


def test_warm_up_reports_a_missing_model_without_an_error_sound(setup, qtbot):
    engine = MockEngine(fail=ModelMissingError("No description model is installed."), fail_on_load=True)
    controller, rec, core, _ = setup(engine)
    controller.warm_up()
    qtbot.waitUntil(lambda: bool(rec.named("model_missing")), timeout=3000)
    assert rec.named("error") == []  # not a failure of something the user asked for
    assert any("Text reading still works" in m.text for m in core.notifier.history)


def test_set_engine_swaps_the_model_and_unloads_the_old_one(setup, qtbot, photo_paths):
    old = MockEngine("Old.")
    controller, rec, core, _ = setup(old)
    old.load()
    new = MockEngine("From the new model.")
    controller.set_engine(new)
    controller.open_images([photo_paths[0]])  # supersedes the idle unload job: the next job unloads
    wait_idle(qtbot, controller, core)
    assert not old.is_loaded and core.engine is new
    assert rec.named("answer_ready")[0][0].text == "From the new model."


def test_ask_about_screen_keeps_the_capture_for_the_question(setup, qtbot):
    controller, rec, core, screen = setup()
    controller.ask_about_screen()
    qtbot.waitUntil(lambda: bool(rec.named("question_requested")), timeout=3000)
    assert core.engine.calls == []
    controller.ask("Where is the start button?")
    wait_idle(qtbot, controller, core)
    call = core.engine.calls[0]
    assert call.is_screen and call.image.size == screen.image.size
    assert [t.role for t in call.turns] == ["user", "assistant"]


def test_paths_may_be_strings_or_paths(setup, qtbot, photo_paths):
    controller, rec, core, _ = setup()
    controller.open_images([str(photo_paths[0]), Path(photo_paths[1])])
    wait_idle(qtbot, controller, core)
    assert len(rec.named("answer_ready")) == 2


def test_a_model_swapped_while_idle_is_unloaded_at_once(setup, qtbot):
    old = MockEngine("Old.")
    controller, rec, core, _ = setup(old)
    old.load()
    controller.set_engine(MockEngine("New."))
    qtbot.waitUntil(lambda: not old.is_loaded, timeout=3000)


def test_every_state_is_announced_through_the_notifier(setup, qtbot, photo_paths):
    engine = MockEngine("Fine.", load_delay=0.01)
    controller, rec, core, _ = setup(engine)
    controller.open_images([photo_paths[0]])
    wait_idle(qtbot, controller, core)
    levels = [m.level for m in core.notifier.history]
    assert levels[0] is Level.WORKING and levels[-1] is Level.DONE
    assert any(m.level is Level.WORKING and "model" in m.text.lower() for m in core.notifier.history)  # loading
    engine.fail = RuntimeError("boom")
    controller.open_images([photo_paths[1]])
    wait_idle(qtbot, controller, core)
    assert core.notifier.history[-1].level is Level.ERROR and core.notifier.history[-1].speak
    spoken = core.speaker.spoken
    assert core.notifier.history[0].text in spoken and core.notifier.history[-1].text in spoken


class GatedEngine(MockEngine):
    """Yields a few pieces, says so, then waits (like a model mid-generation) until cancelled."""

    def __init__(self) -> None:
        super().__init__("unused")
        self.yielded = threading.Event()

    def stream(self, conversation, cancel=None, **kwargs):
        self.calls.append(conversation)
        for word in ("Late", " text", " here."):
            yield word
        self.yielded.set()
        if cancel is not None:
            cancel.wait(5)


def test_text_already_queued_when_stop_is_pressed_is_dropped(setup, qtbot, photo_paths):
    """Pieces posted by the worker but not yet shown when Stop comes are never shown."""
    engine = GatedEngine()
    controller, rec, core, _ = setup(engine)
    controller.open_images([photo_paths[0]])
    assert engine.yielded.wait(5)  # the main thread is blocked: the pieces sit in its queue
    controller.stop()
    qtbot.waitUntil(lambda: not core.runner.busy, timeout=5000)
    qtbot.wait(50)
    assert rec.named("text_piece") == [] and rec.named("answer_ready") == []
    assert "Late" not in " ".join(core.speaker.spoken[core.speaker.spoken.index("<stop>"):])
