"""The Windows/macOS screen-reader output, with the Prism library faked at its boundary.

Nothing here talks to a real NVDA, JAWS or VoiceOver (this machine has none):
``FakePrism`` mimics the parts of ``prismatoid`` 0.18 the adapter uses
(``Context.exists/acquire``, ``Backend.output/speak/stop/speaking/features``)
and "speaks" each text for a time, so queueing, braille and cancel are visible.
"""

from __future__ import annotations

import enum
import threading
import time
from dataclasses import dataclass, field

import pytest

from app.engine.base import CancelToken
from app.notifier import Notifier
from app.speech.base import Priority
from app.speech.output_prism import PrismSpeaker, ScreenReaderUnavailable


class BackendId(enum.IntEnum):
    SAPI = 1
    NVDA = 2
    JAWS = 3
    VOICE_OVER = 4


@dataclass
class Features:
    is_supported_at_runtime: bool = True
    supports_output: bool = True
    supports_is_speaking: bool = True


@dataclass
class FakeBackend:
    name: str
    features: Features = field(default_factory=Features)
    seconds_per_char: float = 0.005
    calls: list[tuple[str, str, float]] = field(default_factory=list)  # (method, text, time)
    until: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _play(self, method: str, text: str, interrupt: bool) -> None:
        with self.lock:
            now = time.perf_counter()
            self.calls.append((method, text, now))
            start = now if interrupt else max(now, self.until)
            self.until = start + len(text) * self.seconds_per_char

    def output(self, text: str, interrupt: bool = False) -> None:
        self._play("output", text, interrupt)

    def speak(self, text: str, interrupt: bool = False) -> None:
        self._play("speak", text, interrupt)

    def stop(self) -> None:
        with self.lock:
            self.calls.append(("stop", "", time.perf_counter()))
            self.until = 0.0

    @property
    def speaking(self) -> bool:
        if not self.features.supports_is_speaking:
            raise RuntimeError("not supported")
        return time.perf_counter() < self.until

    def sent(self) -> list[str]:
        return [text for method, text, _ in self.calls if method in ("output", "speak")]


class FakePrism:
    BackendId = BackendId

    def __init__(self, running: dict[str, FakeBackend]) -> None:
        self.running = running
        module = self

        class Context:
            def exists(self, backend_id: BackendId) -> bool:
                return backend_id.name in module.running

            def acquire(self, backend_id: BackendId) -> FakeBackend:
                if backend_id.name not in module.running:
                    raise ValueError("Invalid or unsupported backend")
                return module.running[backend_id.name]

        self.Context = Context


def test_nvda_is_chosen_and_gets_speech_and_braille_in_order():
    nvda = FakeBackend("NVDA")
    speaker = PrismSpeaker(module=FakePrism({"SAPI": FakeBackend("SAPI"), "NVDA": nvda}))
    assert speaker.name == "NVDA"
    for text in ("One.", "Two.", "Three."):
        speaker.speak(text)
    assert speaker.wait(5)
    assert [m for m, _t, _ in nvda.calls] == ["output"] * 3  # output = speech + braille
    assert nvda.sent() == ["One.", "Two.", "Three."]
    # each was sent only once the previous had been spoken: the queue is Iris's, so it can drop from it
    times = [t for _m, _t, t in nvda.calls]
    assert all(b - a >= 3 * 0.005 for a, b in zip(times, times[1:]))
    speaker.close()


def test_a_plain_system_voice_is_not_a_screen_reader():
    with pytest.raises(ScreenReaderUnavailable):
        PrismSpeaker(module=FakePrism({"SAPI": FakeBackend("SAPI")}))


def test_a_reader_that_is_not_running_is_skipped():
    jaws = FakeBackend("JAWS")
    speaker = PrismSpeaker(module=FakePrism({"NVDA": FakeBackend("NVDA", Features(is_supported_at_runtime=False)),
                                             "JAWS": jaws}))
    assert speaker.name == "JAWS"
    speaker.close()


def test_cancelling_the_job_stops_the_reader_and_never_sends_the_rest():
    nvda = FakeBackend("NVDA", seconds_per_char=0.02)
    speaker = PrismSpeaker(module=FakePrism({"NVDA": nvda}))
    notifier = Notifier(speaker)
    old = CancelToken()
    for n in range(4):
        speaker.speak(f"Old sentence number {n}.", owner=old)
    deadline = time.time() + 5
    while not nvda.sent() and time.time() < deadline:
        time.sleep(0.005)
    notifier.error("An error that stays.")
    old.cancel()
    assert speaker.wait(5)
    assert nvda.sent() == ["Old sentence number 0.", "An error that stays."]
    methods = [m for m, _t, _ in nvda.calls]
    assert methods.index("stop") < methods.index("output", 1)  # the playing sentence was silenced first
    speaker.close()


def test_without_is_speaking_the_length_is_estimated():
    nvda = FakeBackend("NVDA", Features(supports_is_speaking=False))
    speaker = PrismSpeaker(module=FakePrism({"NVDA": nvda}), chars_per_second=400.0)
    speaker.speak("A sentence of some length here.")
    speaker.speak("Next.")
    assert speaker.wait(5)
    assert nvda.sent() == ["A sentence of some length here.", "Next."]
    speaker.close()


def test_speech_only_readers_get_speak_and_now_goes_first():
    reader = FakeBackend("VOICE_OVER", Features(supports_output=False), seconds_per_char=0.01)
    speaker = PrismSpeaker(module=FakePrism({"VOICE_OVER": reader}))
    speaker.speak("A normal sentence that takes a while.")
    speaker.speak("Later.")
    deadline = time.time() + 5
    while not reader.sent() and time.time() < deadline:
        time.sleep(0.005)
    speaker.speak("Urgent.", priority=Priority.NOW)
    assert speaker.wait(5)
    assert [m for m, _t, _ in reader.calls if m != "stop"] == ["speak"] * 3
    assert reader.sent() == ["A normal sentence that takes a while.", "Urgent.", "Later."]
    speaker.close()


def test_missing_library_is_one_sentence(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_prism(name, *args, **kwargs):
        if name == "prism":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_prism)
    with pytest.raises(ScreenReaderUnavailable) as info:
        PrismSpeaker()
    assert info.value.reason.endswith(".")


def test_the_real_prism_library_through_its_speech_dispatcher_backend(tmp_path, monkeypatch):
    """The adapter against the real ``prismatoid`` (where it is importable: on Linux it is not a dependency,
    run with it installed aside, e.g. ``PYTHONPATH=/tmp/prism_lib``). Prism's speech-dispatcher backend stands
    in for a screen reader, with the recording daemon of tests/speechd_server.py as its voice."""
    prism = pytest.importorskip("prism")
    from tests.speechd_server import start_speechd

    server = start_speechd(tmp_path / "speechd", seconds=0.3)
    if server is None:
        pytest.skip("speech-dispatcher is not available")
    monkeypatch.setenv("SPEECHD_ADDRESS", f"unix_socket:{server.socket}")
    monkeypatch.setattr("app.speech.output_prism.SCREEN_READERS", ("SPEECH_DISPATCHER",))
    try:
        speaker = PrismSpeaker(module=prism)
        job = CancelToken()
        for n in range(1, 5):
            speaker.speak(f"Prism sentence {n}.", owner=job)
        assert server.wait_for(lambda: "Prism sentence 1." in server.begun())
        job.cancel()
        speaker.speak("After the cancel.")
        assert speaker.wait(10)
        assert server.wait_for(lambda: "After the cancel." in server.ended())
        assert server.begun() == ["Prism sentence 1.", "After the cancel."]  # 2-4 were never sent
        speaker.close()
    finally:
        server.close()
