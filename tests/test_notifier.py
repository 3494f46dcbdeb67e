"""The notifier: messages are buffered until a display attaches, shown and spoken."""

from __future__ import annotations

import threading
import time

from app.engine.base import CancelToken
from app.notifier import Level, Message, Notifier
from app.speech.base import Priority, SilentSpeaker
from tests.speech_doubles import timed_speaker


def test_messages_before_any_sink_are_replayed_in_order_to_the_first_sink():
    notifier = Notifier()
    notifier.info("one")
    notifier.working("two")
    notifier.error("three")
    seen: list[Message] = []
    notifier.add_sink(seen.append)
    assert [(m.level, m.text) for m in seen] == [
        (Level.INFO, "one"),
        (Level.WORKING, "two"),
        (Level.ERROR, "three"),
    ]
    # later messages go straight through, and the buffer was emptied
    notifier.done("four")
    assert seen[-1].text == "four" and len(seen) == 4
    second: list[Message] = []
    notifier.add_sink(second.append)
    assert second == []


def test_every_sink_receives_messages_after_attaching():
    notifier = Notifier()
    a: list[str] = []
    b: list[str] = []
    notifier.add_sink(lambda m: a.append(m.text))
    notifier.add_sink(lambda m: b.append(m.text))
    notifier.info("hello")
    assert a == ["hello"] and b == ["hello"]
    notifier.remove_sink(notifier._sinks[0])
    notifier.info("again")
    assert a == ["hello"] and b == ["hello", "again"]


def test_buffer_keeps_only_the_newest_messages():
    notifier = Notifier(buffer_limit=3)
    for i in range(10):
        notifier.info(f"m{i}")
    seen: list[str] = []
    notifier.add_sink(lambda m: seen.append(m.text))
    assert seen == ["m7", "m8", "m9"]


def test_messages_are_spoken_unless_told_not_to():
    speaker = SilentSpeaker()
    notifier = Notifier(speaker)
    notifier.info("Loading.")
    notifier.done("Ready.", speak=False)
    notifier.working("Working.")
    assert speaker.spoken == ["Loading.", "Working."]


def test_speaker_can_be_attached_later_and_says_what_came_before():
    notifier = Notifier()
    notifier.info("before")
    notifier.done("not for speech", speak=False)
    speaker = SilentSpeaker()
    notifier.set_speaker(speaker)
    notifier.info("after")
    assert speaker.spoken == ["before", "after"]
    notifier.set_speaker(None)
    notifier.info("silent")
    assert speaker.spoken == ["before", "after"]


def test_errors_go_before_queued_speech_and_never_interrupt():
    speaker = SilentSpeaker()
    notifier = Notifier(speaker)
    notifier.info("status")
    notifier.error("It broke.")
    assert speaker.spoken == ["status", "It broke."]  # no "<interrupt>": nothing was cut
    assert speaker.priorities == [Priority.NORMAL, Priority.NEXT]


def test_four_messages_in_a_row_are_all_heard_in_order():
    """A corrupt-settings notice and hotkey conflicts at start-up, then a status: a voice that takes
    time must say every one, whole and in order (errors used to interrupt each other)."""
    speaker, voice = timed_speaker(seconds_per_char=0.004)
    notifier = Notifier(speaker)
    messages = ["Your settings file was damaged; defaults are used.",
                "The describe hotkey is taken by another program.",
                "The read hotkey is taken by another program.",
                "Iris is ready."]
    notifier.error(messages[0])
    notifier.error(messages[1])
    notifier.error(messages[2])
    notifier.info(messages[3])
    assert speaker.wait(10)
    assert voice.heard() == messages
    assert not any(p.cut for p in voice.timeline)
    speaker.close()


def test_an_error_waits_for_the_sentence_playing_and_goes_before_the_rest_of_the_answer():
    speaker, voice = timed_speaker(seconds_per_char=0.004)
    notifier = Notifier(speaker)
    job = CancelToken()
    for sentence in ("First sentence of the answer.", "Second sentence.", "Third sentence."):
        speaker.speak(sentence, owner=job)
    assert voice.playing.wait(5)
    notifier.error("History could not be saved.")
    notifier.working("Describing the screen.")
    assert speaker.wait(10)
    assert voice.heard() == ["First sentence of the answer.", "History could not be saved.", "Second sentence.",
                             "Third sentence.", "Describing the screen."]
    assert not any(p.cut for p in voice.timeline)  # a working message never cut the answer
    speaker.close()


def test_a_newer_job_silences_the_old_jobs_speech_but_not_messages():
    speaker, voice = timed_speaker(seconds_per_char=0.01)
    notifier = Notifier(speaker)
    old = CancelToken()
    speaker.speak("Old one, which is rather long to say.", owner=old)
    speaker.speak("Old two.", owner=old)
    assert voice.playing.wait(5)
    notifier.error("An error that must still be heard.")
    moment = time.perf_counter()
    old.cancel()
    assert speaker.wait(10)
    assert voice.silent_at(moment) < 0.05
    assert "Old two." not in voice.heard()
    assert voice.heard()[-1] == "An error that must still be heard."
    speaker.close()
def test_a_failing_sink_or_speaker_never_breaks_messaging():
    class BrokenSpeaker(SilentSpeaker):
        def speak(self, text, **kwargs):
            raise RuntimeError("audio device gone")

    notifier = Notifier(BrokenSpeaker())
    good: list[str] = []

    def bad_sink(message):
        raise ValueError("widget deleted")

    notifier.add_sink(bad_sink)
    notifier.add_sink(lambda m: good.append(m.text))
    notifier.error("still delivered")
    assert good == ["still delivered"]
    assert notifier.history[-1].text == "still delivered"


def test_history_is_bounded():
    notifier = Notifier()
    for i in range(250):
        notifier.info(str(i), speak=False)
    assert len(notifier.history) == 200
    assert notifier.history[-1].text == "249"


def test_posting_from_many_threads_loses_nothing():
    notifier = Notifier()
    seen: list[str] = []
    lock = threading.Lock()

    def sink(message):
        with lock:
            seen.append(message.text)

    notifier.add_sink(sink)

    def post(n):
        for i in range(50):
            notifier.info(f"{n}-{i}", speak=False)

    threads = [threading.Thread(target=post, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(seen) == 200 and len(set(seen)) == 200
