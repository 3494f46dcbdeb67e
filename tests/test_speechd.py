"""The screen-reader output on Linux, against a real speech-dispatcher daemon (tests/speechd_server.py).

What is checked is what reached the daemon's voice: each answer sentence as
it is made, with its SSIP priority, in order; a cancelled job's sentences
stopping at once while messages go on; four messages in a row all said.
"""

from __future__ import annotations

import time

import pytest
from PIL import Image

from app.engine.base import CancelToken
from app.notifier import Notifier
from app.speech.base import Priority, SilentSpeaker
from app.speech.output_speechd import SpeechDispatcherSpeaker
from app.speech.ssip import SSIPConnection, SSIPError, escape_text, socket_path
from tests.mock_engine import MockEngine
from tests.speechd_server import speechd  # noqa: F401  (a fixture)

ANSWER = "The window shows a calendar. Today is marked in blue. Three meetings are listed."
SENTENCES = ["The window shows a calendar.", "Today is marked in blue.", "Three meetings are listed."]


# ----------------------------------------------------------------- protocol
def test_speak_body_escapes_a_leading_dot_and_ends_with_the_lone_dot():
    assert escape_text("Hello.") == b"Hello.\r\n.\r\n"
    assert escape_text(".hidden\nnext") == b"..hidden\r\nnext\r\n.\r\n"


def test_socket_path_follows_speechd_address_then_the_runtime_dir(monkeypatch):
    monkeypatch.setenv("SPEECHD_ADDRESS", "unix_socket:/tmp/x/speechd.sock")
    assert str(socket_path()) == "/tmp/x/speechd.sock"
    monkeypatch.setenv("SPEECHD_ADDRESS", "inet_socket:127.0.0.1:6560")
    assert socket_path() is None
    monkeypatch.delenv("SPEECHD_ADDRESS")
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/run/user/1234")
    assert str(socket_path()) == "/run/user/1234/speech-dispatcher/speechd.sock"


def test_no_daemon_is_one_clear_error(tmp_path):
    with pytest.raises(SSIPError):
        SpeechDispatcherSpeaker(tmp_path / "nothing.sock")


def test_the_connection_reports_begin_and_end_of_each_message(speechd):
    events: list[tuple[str, int]] = []
    conn = SSIPConnection(speechd.socket, on_event=lambda name, msg_id: events.append((name, msg_id)))
    try:
        first = conn.speak("One.")
        second = conn.speak("Two.")
        assert speechd.wait_for(lambda: ("end", second) in events)
        assert events.index(("begin", first)) < events.index(("end", first)) < events.index(("begin", second))
        assert speechd.ended() == ["One.", "Two."]
    finally:
        conn.close()


# ------------------------------------------------------------------ answers
def test_an_answer_reaches_speech_dispatcher_sentence_by_sentence_as_it_is_made(speechd, make_core):
    speaker = SpeechDispatcherSpeaker(speechd.socket)
    engine = MockEngine(ANSWER, token_delay=0.12)  # about 1.6 s to write the whole answer
    core = make_core(speaker, engine)
    engine.load()  # warmed up: only the answer is spoken
    job = CancelToken()
    answer = core.assistant.describe(Image.new("RGB", (40, 40)), cancel=job)
    generated_at = time.time()
    assert speaker.wait(15)
    said = speechd.said()
    assert [s.text for s in said if s.kind == "S"] == SENTENCES  # one utterance per sentence, in order
    first = next(s for s in said if s.kind == "S")
    assert first.at < generated_at - 0.3  # the first sentence was spoken while the rest was being written
    assert {speechd.priorities()[s] for s in SENTENCES} == {"message"}  # Orca's own priority: queued with it
    assert answer.timings["first_audio"] is not None  # speech-dispatcher's BEGIN is the first-audio clock


def test_priorities_reach_the_daemon(speechd):
    speaker = SpeechDispatcherSpeaker(speechd.socket)
    notifier = Notifier(speaker)
    notifier.working("Describing the screen.")
    notifier.error("The camera is not available.")
    speaker.speak("Right now.", priority=Priority.NOW)
    assert speaker.wait(10)
    assert speechd.priorities() == {"Describing the screen.": "message", "The camera is not available.": "message",
                                    "Right now.": "important"}
    speaker.close()


def test_four_messages_in_a_row_are_all_said_in_order(speechd):
    speaker = SpeechDispatcherSpeaker(speechd.socket)
    notifier = Notifier(speaker)
    messages = ["Your settings were reset.", "The describe hotkey is taken.", "The read hotkey is taken.",
                "Iris is ready."]
    notifier.error(messages[0])
    notifier.error(messages[1])
    notifier.error(messages[2])
    notifier.info(messages[3])
    assert speaker.wait(15)
    assert speechd.begun() == messages and speechd.ended() == messages  # none cut, none lost
    speaker.close()


def test_cancelling_the_job_silences_its_sentences_at_once_and_messages_go_on(speechd):
    speaker = SpeechDispatcherSpeaker(speechd.socket)
    notifier = Notifier(speaker)
    old = CancelToken()
    for n in range(1, 5):
        speaker.speak(f"Old sentence {n}.", owner=old)
    assert speechd.wait_for(lambda: "Old sentence 1." in speechd.begun())
    notifier.error("An error that stays.")
    cancelled_at = time.time()
    old.cancel()  # what a newer request or Stop does to the old job's token
    speaker.speak("New answer.", owner=CancelToken())
    assert speaker.wait(10)
    said = speechd.said()
    old_after = [s.text for s in said if s.text.startswith("Old") and s.at > cancelled_at]
    assert old_after == []  # nothing of the old job began or finished after the cancel
    assert "Old sentence 1." not in speechd.ended()  # the playing one was cut, not finished
    assert speechd.begun()[-2:] == ["An error that stays.", "New answer."]
    speaker.close()


def test_stop_silences_everything(speechd):
    speaker = SpeechDispatcherSpeaker(speechd.socket)
    speaker.speak("A long message.")
    speaker.speak("Another.", owner=CancelToken())
    assert speechd.wait_for(lambda: speechd.begun() != [])
    stopped_at = time.time()
    speaker.stop()
    assert speaker.wait(2) and not speaker.is_speaking
    time.sleep(0.6)
    assert [s for s in speechd.said() if s.at > stopped_at] == []
    speaker.speak("Still works.")
    assert speaker.wait(5) and speechd.ended()[-1] == "Still works."
    speaker.close()


def test_the_daemon_going_away_falls_back_to_the_other_voice_and_says_so_once(speechd):
    said: list[str] = []
    fallback = SilentSpeaker()
    speaker = SpeechDispatcherSpeaker(speechd.socket, fallback=lambda: fallback, on_message=said.append)
    speaker.speak("Before.")
    assert speaker.wait(5)
    speechd.close()
    time.sleep(0.2)
    speaker.speak("After one.")
    speaker.speak("After two.")
    assert fallback.spoken == ["After one.", "After two."]
    assert len(said) == 1
    speaker.close()


# ------------------------------------------------------------------ helpers
@pytest.fixture
def make_core():
    from app.compose import build_core
    from app.settings import Settings

    built = []

    def make(speaker, engine):
        notifier = Notifier()
        settings = Settings.load(on_message=notifier.error)
        core = build_core(settings=settings, notifier=notifier, speaker=speaker, engine=engine, with_ocr=False)
        built.append(core)
        return core

    yield make
    for core in built:
        core.close()
