"""Choosing the speech output: screen-reader detection on a real AT-SPI bus, and the ``speech_output`` setting.

The detection tests run a private session bus and accessibility bus
(tests/a11y_bus.py) and flip ``org.a11y.Status.ScreenReaderEnabled`` as Orca
does; the choice tests use a real speech-dispatcher (tests/speechd_server.py).
"""

from __future__ import annotations

import subprocess
import time

import pytest

from app.a11y.screen_reader import screen_reader_running
from app.engine.base import CancelToken
from app.speech.base import SilentSpeaker
from app.speech.factory import TextOnly, create_speaker
from app.speech.manager import EngineSpeaker
from app.speech.output_speechd import SpeechDispatcherSpeaker
from app.speech.router import FanOutSpeaker, SpeechRouter
from tests.a11y_bus import a11y_session  # noqa: F401  (a fixture)
from tests.speechd_server import speechd  # noqa: F401  (a fixture)


def _set_screen_reader(session, enabled: bool) -> None:
    from jeepney import DBusAddress, Properties
    from jeepney.io.blocking import open_dbus_connection

    status = DBusAddress("/org/a11y/bus", bus_name="org.a11y.Bus", interface="org.a11y.Status")
    with open_dbus_connection(session.session_address) as conn:
        reply = conn.send_and_get_reply(Properties(status).set("ScreenReaderEnabled", "b", enabled), timeout=5)
        assert reply.header.message_type.name == "method_return", reply.body


# ---------------------------------------------------------------- detection
def test_detection_follows_the_accessibility_bus_flag(a11y_session, monkeypatch):
    a11y_session.apply(monkeypatch)
    _set_screen_reader(a11y_session, False)
    assert screen_reader_running("linux") is False
    _set_screen_reader(a11y_session, True)
    assert screen_reader_running("linux") is True
    _set_screen_reader(a11y_session, False)
    assert screen_reader_running("linux") is False


READER_APP = """
import sys, time
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QLabel
app = QApplication(sys.argv)
app.setApplicationName(sys.argv[1])
label = QLabel("screen reader stand-in")
label.show()
print("up", flush=True)
QTimer.singleShot(30000, app.quit)
app.exec()
"""


def test_a_screen_reader_registered_on_the_accessibility_bus_counts_even_without_the_flag(a11y_session,
                                                                                           monkeypatch):
    """Orca started by hand (or by a desktop's autostart) leaves ScreenReaderEnabled false but
    registers on the AT-SPI bus as the application "orca" (seen with Debian's Orca 43). A Qt process
    with that application name stands in for it here; any other name does not count."""
    import sys

    a11y_session.apply(monkeypatch)
    _set_screen_reader(a11y_session, False)
    env = a11y_session.full_env(QT_QPA_PLATFORM="xcb", QT_LINUX_ACCESSIBILITY_ALWAYS_ON="1")
    for name, expected in (("some-editor", False), ("orca", True)):
        proc = subprocess.Popen([sys.executable, "-c", READER_APP, name], env=env, stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout.readline().strip() == "up"
            if not expected:
                time.sleep(1.5)  # registered by now: its name is looked at, and does not count
            deadline = time.monotonic() + 10
            while screen_reader_running("linux") is not expected and time.monotonic() < deadline:
                time.sleep(0.2)
            assert screen_reader_running("linux") is expected, name
        finally:
            proc.kill()
            proc.wait()


SELF_APP = """
import sys, time
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QLabel
from app.a11y.screen_reader import screen_reader_running
app = QApplication(sys.argv)
label = QLabel("Iris")
label.show()
def ask():
    start = time.perf_counter()
    screen_reader_running("linux")
    print(f"{time.perf_counter() - start:.3f}", flush=True)
    app.quit()
QTimer.singleShot(1500, ask)
app.exec()
"""


def test_asking_from_the_windows_own_main_thread_does_not_wait_on_itself(a11y_session):
    """The window's accessibility answers come from its main thread; the question is asked there too
    (a settings change rebuilds the output), so Iris must not ask its own window (it would wait 1 s)."""
    import sys
    from pathlib import Path

    env = a11y_session.full_env(QT_QPA_PLATFORM="xcb", QT_LINUX_ACCESSIBILITY_ALWAYS_ON="1")
    done = subprocess.run([sys.executable, "-c", SELF_APP], env=env, capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).resolve().parents[1])
    assert float(done.stdout.strip()) < 0.5, done.stdout + done.stderr[-1000:]


def test_detection_without_a_session_bus_cannot_tell(monkeypatch, tmp_path):
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", f"unix:path={tmp_path / 'no-bus'}")
    assert screen_reader_running("linux") is None


def test_macos_detection_reads_voiceover_switch(monkeypatch):
    answers = {"1\n": True, "0\n": False}
    for out, expected in answers.items():
        monkeypatch.setattr(subprocess, "run", lambda *a, out=out, **k: subprocess.CompletedProcess(a, 0, out, ""))
        assert screen_reader_running("darwin") is expected
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, 1, "", "no key"))
    assert screen_reader_running("darwin") is False


# ---------------------------------------------------------------- choosing
def _choose(value: str, **kwargs):
    messages: list[str] = []
    infos: list[str] = []
    speaker = create_speaker({"speech_output": value, "speech_engine": "silent"}, on_message=messages.append,
                             on_info=infos.append, **kwargs)
    return speaker, messages, infos


def test_auto_with_a_screen_reader_speaks_only_through_it(speechd, a11y_session, monkeypatch):
    """Orca is 'running' (the bus flag) and speech-dispatcher answers: Iris's own voice stays silent."""
    a11y_session.apply(monkeypatch)
    monkeypatch.setenv("SPEECHD_ADDRESS", f"unix_socket:{speechd.socket}")
    _set_screen_reader(a11y_session, True)
    try:
        speaker, messages, infos = _choose("auto")
    finally:
        _set_screen_reader(a11y_session, False)
    assert isinstance(speaker, SpeechDispatcherSpeaker)  # not FanOut: no second voice
    assert messages == [] and len(infos) == 1  # the choice is said once
    speaker.speak("Through the screen reader.", owner=CancelToken())
    assert speaker.wait(5) and speechd.ended() == ["Through the screen reader."]
    speaker.close()


def test_auto_without_a_screen_reader_is_irises_own_voice_and_says_nothing(a11y_session, monkeypatch):
    a11y_session.apply(monkeypatch)
    _set_screen_reader(a11y_session, False)
    speaker, messages, infos = _choose("auto")
    assert not isinstance(speaker, SpeechDispatcherSpeaker) and messages == [] and infos == []
    speaker.close()


def test_screen_reader_unreachable_falls_back_to_irises_voice_and_says_so_once(tmp_path, monkeypatch):
    monkeypatch.setenv("SPEECHD_ADDRESS", f"unix_socket:{tmp_path / 'none.sock'}")
    monkeypatch.setattr("app.speech.ssip.spawn_server", lambda path, timeout=5.0: False)
    voice_settings = {"speech_output": "screen-reader", "speech_engine": "espeak-ng"}
    messages: list[str] = []
    speaker = create_speaker(voice_settings, on_message=messages.append)
    assert isinstance(speaker, EngineSpeaker) and len(messages) == 1
    speaker.close()


def test_extra_screen_reader_outputs_are_tried_after_the_platforms(tmp_path, monkeypatch):
    monkeypatch.setenv("SPEECHD_ADDRESS", f"unix_socket:{tmp_path / 'none.sock'}")
    monkeypatch.setattr("app.speech.ssip.spawn_server", lambda path, timeout=5.0: False)
    announcer = SilentSpeaker()
    speaker, messages, infos = _choose("auto", screen_readers=[lambda: announcer], detect=lambda: True)
    assert speaker is announcer and messages == [] and len(infos) == 1


def test_both_and_text_only(speechd, monkeypatch):
    monkeypatch.setenv("SPEECHD_ADDRESS", f"unix_socket:{speechd.socket}")
    both, _messages, infos = _choose("both")
    assert isinstance(both, FanOutSpeaker) and isinstance(both.outputs[0], SpeechDispatcherSpeaker)
    assert len(infos) == 1
    both.close()
    quiet, messages, infos = _choose("text-only")
    assert isinstance(quiet, TextOnly) and messages == [] and infos == []


def test_iris_voice_ignores_a_running_screen_reader():
    speaker, messages, infos = _choose("iris-voice", detect=lambda: True)
    assert not isinstance(speaker, SpeechDispatcherSpeaker) and messages == [] and infos == []


# ------------------------------------------------------------------ router
def test_switching_output_mid_answer_does_not_stall_the_first_audio_clock():
    """The answer's first sentence was queued in the old output; the user switches output. The
    pipeline's clock listens to the router, hears the old output drop it, and stops waiting."""
    from app.pipeline import _FirstAudioClock
    from tests.speech_doubles import timed_speaker

    old, voice = timed_speaker(seconds_per_char=0.05)
    router = SpeechRouter(old)
    job = CancelToken()
    router.speak("Something long that is playing now.", owner=job)
    assert voice.playing.wait(5)
    clock = _FirstAudioClock(router, time.perf_counter())
    clock.expect("First sentence.")
    router.speak("First sentence.", owner=job)
    new = SilentSpeaker()
    router.set_output(new)
    started = time.perf_counter()
    clock.wait_first_audio(CancelToken(), timeout=5)
    assert time.perf_counter() - started < 0.5
    router.speak("Next sentence.", owner=job)
    assert new.spoken == ["Next sentence."]
    clock.close()
    router.close()


@pytest.mark.parametrize("value", ["auto", "screen-reader", "iris-voice", "both", "text-only"])
def test_every_choice_is_a_valid_setting(value, tmp_path):
    from app.settings import Settings

    store = Settings.load(tmp_path / "settings.json")
    store.set("speech_output", value)
    assert store["speech_output"] == value
