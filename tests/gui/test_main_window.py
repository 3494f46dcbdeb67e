"""The real main window, offscreen, over a MockEngine: drop, paste, ask, cancel, errors, dialogs."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QGuiApplication, QImage, QKeySequence
from PySide6.QtWidgets import QApplication, QFileDialog, QWidget

from app.errors import ModelMissingError
from app.gui.conversation import IRIS_PREFIX, STOPPED_MARK
from app.gui.keymap import WINDOW_ACTIONS
from tests.conftest import REPO
from tests.mock_engine import MockEngine

# The offscreen platform says it cannot raise windows or pass on size hints (harmless, offscreen only).
pytestmark = pytest.mark.qt_log_ignore(r"This plugin does not support (propagateSizeHints|raise)\(\)")


def drop(widget: QWidget, mime: QMimeData) -> None:
    """What a real drop does: DragEnter, then Drop, at a point inside ``widget``."""
    args = (Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    with warnings.catch_warnings():  # PySide6 offers only the QPoint form, marked deprecated
        warnings.simplefilter("ignore", DeprecationWarning)
        enter = QDragEnterEvent(QPoint(5, 5), *args)
    QApplication.sendEvent(widget, enter)
    assert enter.isAccepted()
    QApplication.sendEvent(widget, QDropEvent(QPointF(5, 5), *args))


def file_mime(*paths: Path) -> QMimeData:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    return mime


def answers_in(text: str) -> int:
    return sum(1 for line in text.splitlines() if line.startswith(IRIS_PREFIX))


def test_drop_an_image_file_describes_it_shows_and_speaks_the_answer(make_app, qtbot, photo_paths):
    h = make_app()
    drop(h.window.conversation.viewport(), file_mime(photo_paths[0]))
    h.wait_idle(qtbot)
    answer = h.core.assistant.last_answer
    assert answer is not None and answer.kind == "describe"
    # The engine saw the dropped file itself.
    with Image.open(photo_paths[0]) as original:
        assert h.engine.calls[0].image.size == original.size
    assert answer.text in h.text()
    assert photo_paths[0].name in h.text()
    assert answer.text.split(".")[0] in h.spoken_text()
    # The preview shows the image and says what it is.
    assert h.window.preview.image is not None
    assert photo_paths[0].name in h.window.preview.accessibleDescription()
    assert h.window.actions["save_image"].isEnabled() and h.window.actions["copy_answer"].isEnabled()


def test_dropping_several_files_describes_each_in_turn(make_app, qtbot, photo_paths):
    h = make_app()
    drop(h.window.conversation.viewport(), file_mime(*photo_paths[:2]))
    h.wait_idle(qtbot)
    assert [c.image.size for c in h.engine.calls] == [Image.open(p).size for p in photo_paths[:2]]
    assert answers_in(h.text()) == 2
    assert STOPPED_MARK not in h.text()


def test_a_file_dropped_on_the_question_box_is_described_not_typed(make_app, qtbot, photo_paths):
    h = make_app()
    drop(h.window.question, file_mime(photo_paths[1]))
    h.wait_idle(qtbot)
    assert h.window.question.text() == ""
    assert len(h.engine.calls) == 1 and answers_in(h.text()) == 1


@pytest.mark.parametrize("kind", ["web", "text"])
def test_a_web_address_or_plain_text_dropped_gets_one_sentence(make_app, qtbot, kind):
    h = make_app()
    mime = QMimeData()
    if kind == "web":
        mime.setUrls([QUrl("https://example.com/cat.png")])
    else:
        mime.setText("just some words")
    drop(h.window.conversation.viewport(), mime)
    qtbot.waitUntil(lambda: h.text().strip() != "", timeout=2000)
    h.wait_idle(qtbot)
    assert h.engine.calls == []
    shown = h.text().strip()
    assert shown.startswith(IRIS_PREFIX) and shown.count("\n") == 0  # one line, one sentence
    sentence = shown[len(IRIS_PREFIX):]
    assert sentence.endswith(".") and "Traceback" not in sentence
    assert sentence in h.speaker.spoken
    qtbot.waitUntil(lambda: h.window.status_label.text() == sentence, timeout=2000)


def test_paste_an_image_from_the_clipboard(make_app, qtbot, photo_paths):
    h = make_app()
    QGuiApplication.clipboard().setImage(QImage(str(photo_paths[2])))
    h.window.actions["paste"].trigger()
    h.wait_idle(qtbot)
    assert h.engine.calls and h.engine.calls[0].image.size == QImage(str(photo_paths[2])).size().toTuple()
    assert answers_in(h.text()) == 1


def test_paste_a_file_path_from_the_clipboard(make_app, qtbot, photo_paths):
    h = make_app()
    QGuiApplication.clipboard().setText(str(photo_paths[0]))
    h.window.paste()
    h.wait_idle(qtbot)
    assert h.engine.calls and h.engine.calls[0].source_label == photo_paths[0].name


def test_ctrl_v_in_the_question_box_pastes_an_image_but_text_stays_text(make_app, qtbot, photo_paths):
    h = make_app()
    h.window.question.setFocus()
    QGuiApplication.clipboard().setText("What is this?")
    qtbot.keySequence(h.window.question, QKeySequence.StandardKey.Paste)
    assert h.window.question.text() == "What is this?"
    assert h.engine.calls == []
    QGuiApplication.clipboard().setMimeData(file_mime(photo_paths[1]))
    qtbot.keySequence(h.window.question, QKeySequence.StandardKey.Paste)
    h.wait_idle(qtbot)
    assert len(h.engine.calls) == 1


def test_a_follow_up_question_sends_the_earlier_turns(make_app, qtbot, photo_paths):
    h = make_app()
    h.controller.open_images([photo_paths[0]])
    h.wait_idle(qtbot)
    first_answer = h.core.assistant.last_answer.text
    qtbot.keyClicks(h.window.question, "What colour is the cat?")
    qtbot.keyClick(h.window.question, Qt.Key.Key_Return)
    h.wait_idle(qtbot)
    follow_up = h.engine.calls[-1]
    roles = [t.role for t in follow_up.turns]
    texts = [t.text for t in follow_up.turns]
    assert roles[:3] == ["user", "assistant", "user"]
    assert texts[1] == first_answer and "What colour is the cat?" in texts[2]
    assert follow_up.image is h.engine.calls[0].image
    assert "You: What colour is the cat?" in h.text()
    assert answers_in(h.text()) == 2
    assert h.window.question.text() == ""


def test_stop_mid_answer_silences_speech_and_no_late_text_appears(make_app, qtbot, photo_paths):
    words = " ".join(f"word{i}." for i in range(200))
    h = make_app(MockEngine(words, token_delay=0.02))
    h.controller.open_images([photo_paths[0]])
    qtbot.waitUntil(lambda: "word3" in h.text(), timeout=3000)
    h.window.actions["stop"].trigger()
    assert h.speaker.spoken[-1] == "<stop>"
    stopped_at = len(h.speaker.spoken)
    text_at_stop = h.text()
    h.wait_idle(qtbot)
    qtbot.wait(200)
    assert STOPPED_MARK in text_at_stop
    assert h.text() == text_at_stop  # nothing arrived after Stop
    assert "word199" not in h.text()
    assert all(s.startswith("<") or not s.startswith("word") for s in h.speaker.spoken[stopped_at:])
    assert h.core.assistant.last_answer is None  # a cancelled answer is not kept for Repeat


def test_ten_rapid_describe_screen_presses_give_one_answer(make_app, qtbot):
    h = make_app(MockEngine("The screen shows a desktop. It has icons.", token_delay=0.01))
    for _ in range(10):
        h.iris.run_action("describe_screen")  # what each hotkey press does
    h.wait_idle(qtbot)
    qtbot.wait(100)
    assert h.screen.grabs == 1
    assert len(h.engine.calls) == 1
    assert answers_in(h.text()) == 1
    assert h.spoken_text().count("It has icons.") == 1


def test_a_new_request_cancels_the_old_one_and_its_late_text_never_shows(make_app, qtbot, photo_paths):
    slow = " ".join(f"slow{i}." for i in range(100))
    engine = MockEngine(lambda conv: slow if conv.is_screen else "Quick answer about the photo.", token_delay=0.02)
    h = make_app(engine)
    h.controller.describe_screen()
    qtbot.waitUntil(lambda: "slow2" in h.text(), timeout=3000)
    h.controller.open_images([photo_paths[0]])
    h.wait_idle(qtbot)
    qtbot.wait(150)
    text = h.text()
    assert STOPPED_MARK in text and "Quick answer about the photo." in text
    assert "slow99" not in text and "slow99" not in h.spoken_text()
    after = text.split(photo_paths[0].name, 1)[1]
    assert "slow" not in after


def test_a_failing_engine_gives_one_sentence_and_the_app_still_works(make_app, qtbot, photo_paths):
    engine = MockEngine("Works again.", fail=RuntimeError("CUDA kernel exploded at 0xdeadbeef"))
    h = make_app(engine)
    h.controller.open_images([photo_paths[0]])
    h.wait_idle(qtbot)
    text = h.text()
    assert "0xdeadbeef" not in text and "Traceback" not in text and "RuntimeError" not in text
    error_line = [line for line in text.splitlines() if line.startswith(IRIS_PREFIX)][0]
    sentence = error_line[len(IRIS_PREFIX):]
    assert sentence and sentence in h.speaker.spoken
    assert h.window.windowTitle() == "Iris"
    engine.fail = None
    h.controller.open_images([photo_paths[1]])
    h.wait_idle(qtbot)
    assert "Works again." in h.text()


def test_a_missing_model_falls_back_to_ocr_and_offers_the_download(make_app, qtbot, photo_paths, monkeypatch):
    pytest.importorskip("app.gui.model_dialog")
    engine = MockEngine(fail=ModelMissingError("No description model is installed."))
    h = make_app(engine)
    h.controller.open_images([photo_paths[0]])
    h.wait_idle(qtbot)
    assert h.ocr.calls == 1
    assert all(line in h.text() for line in h.ocr.lines)  # the OCR text is the answer
    assert h.core.assistant.last_answer.kind == "ocr-fallback"
    qtbot.waitUntil(lambda: "model" in h.window._dialogs, timeout=2000)
    dialog = h.window._dialogs["model"]
    assert dialog.isVisible()
    dialog.reject()
    # The window still works (text reading needs no model).
    h.controller.read_screen()
    h.wait_idle(qtbot)
    assert h.ocr.calls == 2


def test_warm_up_with_no_model_offers_the_first_run_dialog_once(make_app, qtbot):
    pytest.importorskip("app.gui.model_dialog")
    engine = MockEngine(fail=ModelMissingError("No description model is installed."), fail_on_load=True)
    h = make_app(engine, settings={"warm_up_on_start": True})
    qtbot.waitUntil(lambda: "model" in h.window._dialogs, timeout=3000)
    assert h.window._dialogs["model"].isVisible()
    h.window._dialogs["model"].reject()
    h.controller.model_missing.emit("again")
    qtbot.wait(50)
    assert "model" not in h.window._dialogs or not h.window._dialogs["model"].isVisible()


def test_warm_up_loads_the_model_in_the_background(make_app, qtbot):
    engine = MockEngine(load_delay=0.05)
    h = make_app(engine, settings={"warm_up_on_start": True})
    with qtbot.waitSignal(h.controller.model_ready, timeout=3000):
        pass
    assert engine.is_loaded and engine.load_count == 1


def test_ask_about_the_screen_captures_first_then_focuses_the_question(make_app, qtbot):
    h = make_app()
    h.window.conversation.setFocus()
    h.iris.run_action("ask_about_screen")
    qtbot.waitUntil(lambda: h.window.question.hasFocus(), timeout=3000)
    assert h.screen.grabs == 1 and h.engine.calls == []
    h.window.question.setText("What is in the top left corner?")
    h.window.ask_button.click()
    h.wait_idle(qtbot)
    call = h.engine.calls[0]
    assert call.is_screen and call.image.size == h.screen.image.size


def test_describe_window_and_read_screen_use_their_sources(make_app, qtbot):
    h = make_app()
    h.window.actions["describe_window"].trigger()
    h.wait_idle(qtbot)
    assert h.window_capture.grabs == 1 and h.engine.calls[0].image.size == h.window_capture.image.size
    h.window.actions["read_screen"].trigger()
    h.wait_idle(qtbot)
    assert h.ocr.calls == 1 and h.ocr.lines[0] in h.text()


def test_capture_from_inside_the_window_steps_out_of_the_way_and_comes_back(make_app, qtbot):
    h = make_app()
    h.window.capture_behind = True
    h.window.activateWindow()
    qtbot.waitUntil(h.window.isActiveWindow, timeout=2000)
    minimised = []
    h.screen.grab = (lambda real=h.screen.grab: (minimised.append(h.window.isMinimized()), real())[1])
    h.window.actions["describe_screen"].trigger()
    h.wait_idle(qtbot)
    assert minimised == [True]
    qtbot.waitUntil(lambda: not h.window.isMinimized(), timeout=2000)
    assert answers_in(h.text()) == 1


def test_camera_picture_is_described_and_no_camera_is_one_sentence(make_app, qtbot, photo_paths, monkeypatch):
    camera = pytest.importorskip("app.gui.camera")
    h = make_app()
    monkeypatch.setattr(camera, "list_cameras", lambda: [])
    h.window.actions["camera"].trigger()
    qtbot.waitUntil(lambda: h.text().strip() != "", timeout=2000)
    assert h.engine.calls == [] and answers_in(h.text()) == 1
    monkeypatch.setattr(camera, "list_cameras", lambda: [("cam0", "Test camera")])
    h.camera_frames.append(Image.open(photo_paths[1]).convert("RGB"))
    h.window.actions["camera"].trigger()
    h.wait_idle(qtbot)
    assert h.engine.calls[0].image.size == Image.open(photo_paths[1]).size


def test_repeat_copy_and_save(make_app, qtbot, photo_paths, tmp_path, monkeypatch):
    h = make_app()
    h.window.actions["repeat"].trigger()  # nothing yet: said in words, no crash
    h.controller.open_images([photo_paths[0]])
    h.wait_idle(qtbot)
    answer = h.core.assistant.last_answer.text
    before = len(h.speaker.spoken)
    h.window.actions["repeat"].trigger()
    assert answer.split(".")[0] + "." in h.speaker.spoken[before:]
    h.window.actions["copy_answer"].trigger()
    assert QGuiApplication.clipboard().text() == answer
    target = tmp_path / "saved"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), "PNG image (*.png)"))
    h.window.actions["save_image"].trigger()
    with Image.open(tmp_path / "saved.png") as saved:
        assert saved.size == Image.open(photo_paths[0]).size


def test_open_image_dialog(make_app, qtbot, photo_paths, monkeypatch):
    h = make_app()
    monkeypatch.setattr(QFileDialog, "getOpenFileNames", lambda *a, **k: ([str(photo_paths[2])], ""))
    h.window.actions["open_image"].trigger()
    h.wait_idle(qtbot)
    assert h.engine.calls[0].source_label == photo_paths[2].name


def test_settings_round_trip_applies_live(make_app, qtbot):
    dialog_module = pytest.importorskip("app.gui.settings_dialog")
    h = make_app()
    h.window.actions["settings"].trigger()
    dialog = h.window._dialogs["settings"]
    assert isinstance(dialog, dialog_module.SettingsDialog) and dialog.isVisible()
    dialog.controls["history_enabled"].setChecked(True)
    dialog.controls["rate"].setValue(260)
    dialog.accept()
    assert h.core.settings["rate"] == 260 and h.core.settings["history_enabled"] is True
    assert h.iris.history.enabled  # applied without restart
    from app.settings import Settings

    assert Settings.load(h.core.settings.path)["rate"] == 260  # and saved


def test_history_records_answers_and_an_entry_can_be_reopened(make_app, qtbot, photo_paths):
    pytest.importorskip("app.gui.history_view")
    h = make_app(settings={"history_enabled": True})
    h.controller.open_images([photo_paths[0]])
    h.wait_idle(qtbot)
    qtbot.waitUntil(lambda: len(h.iris.history.entries()) == 1, timeout=3000)
    h.window.actions["history"].trigger()
    panel = h.window.history_panel
    assert h.window.history_dock.isVisible()
    qtbot.waitUntil(lambda: panel.list.count() == 1, timeout=2000)
    entry = panel.entries_shown()[0]
    h.window.conversation.clear()
    panel.entry_activated.emit(entry)
    assert entry.text in h.text()
    h.controller.ask("And the background?")
    h.wait_idle(qtbot)
    assert h.engine.calls[-1].turns[1].text == entry.text


def test_notifier_messages_reach_the_status_bar(make_app, qtbot):
    h = make_app()
    h.core.notifier.info("A status sentence.")
    qtbot.waitUntil(lambda: h.window.status_label.text() == "A status sentence.", timeout=2000)


def test_every_action_has_a_unique_shortcut_and_a_menu_entry(make_app):
    h = make_app()
    in_menus = {a for menu in h.window.menuBar().actions() for a in menu.menu().actions()}
    shortcuts = []
    for spec in WINDOW_ACTIONS:
        action = h.window.actions[spec.name]
        assert action in in_menus, spec.name
        assert not action.shortcut().isEmpty(), spec.name
        shortcuts.append(action.shortcut().toString())
    assert len(shortcuts) == len(set(shortcuts))


def test_tab_order_reaches_every_focusable_widget_and_focus_starts_in_the_question(make_app, qtbot):
    h = make_app()
    qtbot.waitUntil(lambda: h.window.question.hasFocus(), timeout=2000)
    reachable = [w for w in h.window.centralWidget().findChildren(QWidget)
                 if w.isVisible() and w.isEnabled() and w.focusPolicy() & Qt.FocusPolicy.TabFocus]
    seen = []
    for _ in range(len(reachable) + 3):
        seen.append(QApplication.focusWidget())
        qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Tab)
    missing = [w.accessibleName() or w.objectName() for w in reachable if w not in seen]
    assert not missing
    assert seen[:5] == [h.window.question, h.window.ask_button, *list(h.window.buttons.values())[:3]]


def test_closing_hides_to_the_tray_when_asked_and_quits_otherwise(make_app, qtbot):
    h = make_app()
    h.window.can_hide_to_tray = lambda: True
    h.window.close()
    assert not h.window.isVisible() and not h.iris._closed
    h.iris.show_window()
    assert h.window.isVisible()
    h.window.can_hide_to_tray = lambda: False
    with qtbot.waitSignal(h.window.closed, timeout=1000):
        h.window.close()
    assert h.iris._closed


SCALE_PROBE = textwrap.dedent(
    """
    import sys
    from PySide6.QtCore import QtMsgType, qInstallMessageHandler
    from PySide6.QtWidgets import QApplication
    from PIL import Image

    problems = []
    qInstallMessageHandler(lambda mode, ctx, msg: problems.append(msg) if mode != QtMsgType.QtDebugMsg
                           and "propagateSizeHints" not in msg else None)
    app = QApplication(["iris"])
    from app.compose import build_core
    from tests.mock_engine import MockEngine
    from app.gui.app import IrisApp
    from app.gui.bridge import MainThreadDispatcher
    from app.speech.base import SilentSpeaker

    dispatcher = MainThreadDispatcher()
    core = build_core(engine=MockEngine(), speaker=SilentSpeaker(), ocr=object(), deliver=dispatcher.deliver)
    core.settings.set("warm_up_on_start", False)
    iris = IrisApp(app, core=core, dispatcher=dispatcher, history=None, start_hotkeys=False)
    iris.show()
    app.processEvents()
    window = iris.window
    hint = window.minimumSizeHint()
    window.preview.set_image(Image.new("RGB", (800, 600), "white"), "test.png")
    pixmap = window.preview.pixmap()
    print(f"ratio={window.devicePixelRatioF()} min={hint.width()}x{hint.height()} "
          f"pixmap_ratio={pixmap.devicePixelRatio()}")
    ok = hint.width() <= 960 and hint.height() <= 540 and pixmap.devicePixelRatio() == 2.0 and not problems
    print(problems)
    iris.shutdown()
    sys.exit(0 if ok else 1)
    """
)


def test_window_fits_a_200_percent_screen():
    """At QT_SCALE_FACTOR=2 a 1920x1080 screen has 960x540 logical pixels: the window must fit."""
    env = {**os.environ, "QT_SCALE_FACTOR": "2", "QT_QPA_PLATFORM": "offscreen"}
    result = subprocess.run([sys.executable, "-c", SCALE_PROBE], cwd=REPO, env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ratio=2.0" in result.stdout


START_PROBE = textwrap.dedent(
    """
    import sys, time
    started = time.perf_counter()
    from PySide6.QtCore import QTimer
    import app.gui.app as gui

    original = gui.IrisApp.show

    def show(self):
        original(self)
        print(f"shown={time.perf_counter() - started:.3f} torch={'torch' in sys.modules} "
              f"transformers={'transformers' in sys.modules}", flush=True)
        QTimer.singleShot(0, self.quit)

    gui.IrisApp.show = show
    from app.cli import main
    sys.exit(main([]))
    """
)


def test_iris_opens_the_window_quickly_without_importing_torch():
    """The real start path (`iris` with no arguments), up to the window being shown."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    result = subprocess.run([sys.executable, "-c", START_PROBE], cwd=REPO, env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    line = next(x for x in result.stdout.splitlines() if x.startswith("shown="))
    fields = dict(item.split("=") for item in line.split())
    assert fields["torch"] == "False" and fields["transformers"] == "False"
    assert float(fields["shown"]) < 3.0  # about 0.3 s here; generous for a loaded CI machine


@pytest.fixture
def tiny_model(request, tmp_path_factory):
    """The tiny real-architecture SmolVLM (tests/conftest.py's ``tiny_model_dir``), built here if need be."""
    try:
        return request.getfixturevalue("tiny_model_dir")
    except pytest.FixtureLookupError:
        pass
    pytest.importorskip("torch")
    request.getfixturevalue("smolvlm_dir")  # skips without the shared config
    from tests.tiny_model import build_tiny_smolvlm

    return build_tiny_smolvlm(tmp_path_factory.mktemp("tiny-smolvlm"))


@pytest.mark.slow
def test_a_dropped_image_is_described_end_to_end_by_the_tiny_real_model(make_app, qtbot, tiny_model, photo_paths):
    import torch

    from app.engine.loading import create_engine
    from app.settings import Settings

    torch.set_num_threads(2)
    settings = Settings.load()
    settings.update({"max_new_tokens": 16, "preset": "fast", "device": "cpu"})
    engine = create_engine(str(tiny_model), "cpu", settings)
    h = make_app(engine, settings={"max_new_tokens": 16, "preset": "fast"})
    drop(h.window.conversation.viewport(), file_mime(photo_paths[0]))
    h.wait_idle(qtbot, timeout=120_000)
    answer = h.core.assistant.last_answer
    assert answer is not None and answer.kind == "describe" and answer.model != "mock"
    assert answer.output_tokens > 0 and answer.input_tokens > 0
    shown = h.text().split(IRIS_PREFIX, 1)[1].strip()
    assert shown == answer.text.strip()  # what was streamed to the view is the whole answer
    assert STOPPED_MARK not in h.text()


# Forcing a tray on the offscreen platform (which has none) makes Qt say so once.
@pytest.mark.qt_log_ignore(r"No such signal QPlatformNativeInterface::systemTrayWindowChanged",
                           r"This plugin does not support (propagateSizeHints|raise)\(\)")
def test_tray_icon_offers_the_main_actions_and_closing_keeps_iris_running(make_app, qtbot, monkeypatch):
    from PySide6.QtWidgets import QSystemTrayIcon

    monkeypatch.setattr(QSystemTrayIcon, "isSystemTrayAvailable", staticmethod(lambda: True))
    h = make_app()
    tray = h.iris.tray
    assert tray is not None and not tray.icon().isNull()
    entries = {a.text(): a for a in tray.contextMenu().actions() if a.text()}
    assert {"Show Iris", "Describe screen", "Read screen text", "Stop", "Quit Iris"} <= set(entries)
    entries["Describe screen"].trigger()
    h.wait_idle(qtbot)
    assert h.screen.grabs == 1 and answers_in(h.text()) == 1
    h.window.close()  # close_to_tray is on by default
    assert not h.window.isVisible() and not h.iris._closed
    entries["Show Iris"].trigger()
    assert h.window.isVisible()


def test_after_the_model_download_the_new_model_is_used(make_app, qtbot, photo_paths):
    h = make_app()
    fresh = MockEngine("From the downloaded model.")
    h.window._make_engine = lambda: fresh
    h.window._model_installed()  # what the model dialog's "accepted" triggers
    qtbot.waitUntil(lambda: fresh.is_loaded, timeout=3000)  # and it warms up at once
    h.controller.open_images([photo_paths[0]])
    h.wait_idle(qtbot)
    assert "From the downloaded model." in h.text()


def test_start_with_system_and_speech_engine_apply_live(make_app, monkeypatch):
    import app.autostart

    calls = []
    monkeypatch.setattr(app.autostart, "set_autostart", calls.append)
    h = make_app()
    h.core.settings.set("start_with_system", True)
    assert calls == [True]
    old = h.core.speaker.output  # core.speaker is the router: it stays, its output is replaced
    h.core.settings.set("speech_engine", "silent")
    assert h.core.speaker.output is not old and h.core.assistant.speaker is h.core.speaker
