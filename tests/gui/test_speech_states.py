"""Every state reaches the chosen speech output; the title and the image preview say the right thing."""

from __future__ import annotations

import time

from PySide6.QtGui import QAccessible

from app.gui.announcer import QtAnnouncer
from app.speech.base import Priority
from tests.mock_engine import MockEngine


def _accessible(widget, text_kind):
    return QAccessible.queryAccessibleInterface(widget).text(text_kind)


def test_title_names_the_activity_once_and_never_doubles_the_name(make_app, qtbot, photo_paths):
    h = make_app(MockEngine("A cat on a sofa. It is asleep.", token_delay=0.05))
    titles: list[str] = []
    h.controller.state_changed.connect(lambda _state: titles.append(h.window.windowTitle()))
    h.controller.open_images([photo_paths[0]])
    h.wait_idle(qtbot)
    assert titles == ["Iris — describing", "Iris"]
    assert _accessible(h.window, QAccessible.Text.Name) == "Iris"
    assert h.window.windowTitle().count("Iris") == 1


def test_the_preview_describes_itself_with_file_name_size_and_first_sentence(make_app, qtbot, photo_paths):
    h = make_app(MockEngine("A cat on a sofa. It is asleep."))
    h.controller.open_images([photo_paths[0]])
    h.wait_idle(qtbot)
    description = _accessible(h.window.preview, QAccessible.Text.Description)
    image = h.window.preview.image
    assert photo_paths[0].name in description
    assert f"{image.width} by {image.height}" in description
    assert "A cat on a sofa." in description and "asleep" not in description
    assert _accessible(h.window.preview, QAccessible.Text.Name) == "Current image"


def test_working_answer_and_error_all_reach_the_speech_output_in_order(make_app, qtbot, photo_paths):
    engine = MockEngine("A cat on a sofa. It is asleep.")
    h = make_app(engine)
    h.controller.open_images([photo_paths[0]])
    h.wait_idle(qtbot)
    spoken = [s for s in h.speaker.spoken if not s.startswith("<")]
    working = next(i for i, s in enumerate(spoken) if s.startswith("Describing"))
    answer = [s for s in spoken[working + 1:] if not s.startswith("Loading")]
    assert answer == ["A cat on a sofa.", "It is asleep."]
    engine.fail = RuntimeError("boom")
    h.controller.open_images([photo_paths[1]])
    h.wait_idle(qtbot)
    assert h.speaker.priorities[-1] is Priority.NEXT  # the error: after what plays, never cutting it


def test_done_is_spoken_when_answers_are_not(make_app, qtbot, photo_paths):
    h = make_app(MockEngine("A cat."), settings={"speak_answers": False})
    h.controller.open_images([photo_paths[0]])
    h.wait_idle(qtbot)
    spoken = [s for s in h.speaker.spoken if not s.startswith("<")]
    assert "A cat." not in spoken and spoken[-1] == "Done."


def test_the_window_registers_qt_announcements_as_a_screen_reader_output(make_app, qtbot, tmp_path, monkeypatch):
    """No speech-dispatcher here: choosing the screen reader falls to the window's announcements."""
    monkeypatch.setenv("SPEECHD_ADDRESS", f"unix_socket:{tmp_path / 'none.sock'}")
    monkeypatch.setattr("app.speech.ssip.spawn_server", lambda path, timeout=5.0: False)
    h = make_app()
    h.core.settings.set("speech_output", "screen-reader")
    output = h.core.speaker.output
    assert isinstance(output, QtAnnouncer)
    h.core.speaker.speak("Announced.")
    qtbot.waitUntil(lambda: "Announced." in output.announced, timeout=3000)
    started = time.perf_counter()
    h.core.settings.set("speech_output", "text-only")  # switching back is live too
    assert h.core.speaker.output.name == "text-only" and time.perf_counter() - started < 1


def test_a_screen_reader_started_after_iris_takes_over_speech_and_gives_it_back(make_app, qtbot, tmp_path,
                                                                                  monkeypatch):
    """Iris started with the desktop, before the screen reader: 'auto' notices it and moves speech."""
    from app.speech.watch import ScreenReaderWatch

    monkeypatch.setenv("SPEECHD_ADDRESS", f"unix_socket:{tmp_path / 'none.sock'}")  # the window's announcements serve
    running = {"now": False}
    h = make_app()
    h.iris.screen_reader_watch.stop()
    h.iris._detect_screen_reader = lambda: running["now"]
    h.iris.screen_reader_watch = ScreenReaderWatch(
        lambda _r: h.iris.dispatcher.deliver(h.iris._screen_reader_changed), detect=lambda: running["now"],
        interval=0.05)
    h.iris.screen_reader_watch.start()
    before = h.core.speaker.output
    qtbot.wait(200)
    assert h.core.speaker.output is before  # nothing changed: nothing is rebuilt
    running["now"] = True
    qtbot.waitUntil(lambda: isinstance(h.core.speaker.output, QtAnnouncer), timeout=3000)
    running["now"] = False
    qtbot.waitUntil(lambda: not isinstance(h.core.speaker.output, QtAnnouncer), timeout=3000)
    h.core.settings.set("speech_output", "iris-voice")
    output = h.core.speaker.output
    running["now"] = True
    qtbot.wait(300)
    assert h.core.speaker.output is output  # only "auto" follows the screen reader
