"""The notifier: messages are buffered until a display attaches, shown and spoken."""

from __future__ import annotations

import threading

from app.notifier import Level, Message, Notifier
from app.speech.base import SilentSpeaker


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


def test_errors_interrupt_speech_and_other_levels_do_not():
    speaker = SilentSpeaker()
    notifier = Notifier(speaker)
    notifier.info("status")
    notifier.error("It broke.")
    assert speaker.spoken == ["status", "<interrupt>", "It broke."]


def test_a_failing_sink_or_speaker_never_breaks_messaging():
    class BrokenSpeaker(SilentSpeaker):
        def speak(self, text, *, interrupt=False):
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
