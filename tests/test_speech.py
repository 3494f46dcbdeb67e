"""Speech: real espeak-ng (command line and through pyttsx3) writing WAV files we measure.

There is no sound card here, so the "device" is a real player process that
takes as long as the audio lasts (a Python script that reads the WAV and
sleeps): stop() has to kill it, and killing it from outside is a device that
dies mid-sentence.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
import wave
from pathlib import Path

import pytest

from app.settings import Settings
from app.speech.base import BackendError, SilentSpeaker, SpeechBackend, VoiceSettings
from app.speech.espeak_engine import EspeakNgBackend, find_espeak
from app.speech.factory import create_speaker, engine_chain
from app.speech.manager import EngineSpeaker
from app.speech.wav import WavFormat, WavSink, read_wav, wav_duration, write_wav

needs_espeak = pytest.mark.skipif(find_espeak() is None, reason="espeak-ng is not installed")


def _pyttsx3_available() -> bool:
    try:
        from app.speech.pyttsx3_engine import Pyttsx3Backend, _SharedEspeak

        return Pyttsx3Backend().driver == "espeak" and _SharedEspeak.get() is not None
    except Exception:
        return False


needs_pyttsx3 = pytest.mark.skipif(not _pyttsx3_available(), reason="pyttsx3 with espeak-ng is not usable")

SHORT = "Hello there."
SENTENCE = "The quick brown fox jumps over the lazy dog near the river bank."
LONG = " ".join([SENTENCE] * 3)
WORDS = len(SENTENCE.split())


@pytest.fixture
def speakers():
    made: list = []
    yield made
    for speaker in made:
        speaker.close()


def _speaker(speakers, backends, **kwargs) -> EngineSpeaker:
    speaker = EngineSpeaker(backends, **kwargs)
    speakers.append(speaker)
    assert speaker.wait_ready(10)
    return speaker


def _record(speaker):
    events: list[tuple[str, str]] = []
    lock = threading.Lock()

    def listener(event: str, text: str) -> None:
        with lock:
            events.append((event, text))

    speaker.add_listener(listener)
    return events


def _backend(name: str, **kwargs) -> SpeechBackend:
    if name == "pyttsx3":
        from app.speech.pyttsx3_engine import Pyttsx3Backend

        return Pyttsx3Backend(**kwargs)
    return EspeakNgBackend(**kwargs)


ENGINES = [pytest.param("espeak-ng", marks=needs_espeak), pytest.param("pyttsx3", marks=needs_pyttsx3)]


# ------------------------------------------------------------------ the "device"
PLAYER_SCRIPT = """
import os, sys, time, wave
state, path = sys.argv[1], sys.argv[2]
with wave.open(path) as w:
    seconds = w.getnframes() / w.getframerate()
with open(state + ".tmp", "w") as f:
    f.write(f"{os.getpid()} {seconds}")
os.replace(state + ".tmp", state)
time.sleep(seconds)
"""


class FakeDevice:
    """A player command that 'plays' for as long as the WAV lasts, and tells its pid."""

    def __init__(self, tmp_path: Path) -> None:
        script = tmp_path / "player.py"
        script.write_text(PLAYER_SCRIPT)
        self.state = tmp_path / "playing"
        self.command = [sys.executable, str(script), str(self.state)]

    def wait_playing(self, min_seconds: float = 1.0, timeout: float = 10) -> int:
        """Pid of a player that is playing something at least ``min_seconds`` long."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                pid, seconds = self.state.read_text().split()
                if float(seconds) >= min_seconds:
                    return int(pid)
            except (OSError, ValueError):
                pass
            time.sleep(0.005)
        raise AssertionError("the player never started")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


# ---------------------------------------------------------------- WAV output
@pytest.mark.parametrize("engine", ENGINES)
def test_wav_duration_is_plausible_and_grows_with_text(engine, tmp_path, speakers):
    durations = {}
    for label, text in (("short", SHORT), ("sentence", SENTENCE), ("long", LONG)):
        out = tmp_path / f"{label}.wav"
        speaker = _speaker(speakers, [_backend(engine)], wav_path=out, voice=VoiceSettings(rate=180))
        speaker.speak(text)
        assert speaker.wait(20)
        speaker.close()
        fmt, frames = read_wav(out)
        assert fmt.sample_width == 2 and fmt.rate >= 8000 and len(frames) > 0
        durations[label] = wav_duration(out)
    expected = WORDS / (180 / 60)  # seconds for one sentence at 180 words a minute
    assert 0.5 * expected < durations["sentence"] < 2.0 * expected, durations
    assert durations["short"] < durations["sentence"] < durations["long"]
    assert durations["long"] == pytest.approx(3 * durations["sentence"], rel=0.25)


@pytest.mark.parametrize("engine", ENGINES)
def test_rate_300_is_shorter_than_rate_120(engine, tmp_path, speakers):
    durations = {}
    for rate in (120, 300):
        out = tmp_path / f"rate{rate}.wav"
        speaker = create_speaker({"speech_engine": engine, "rate": rate}, wav_path=out)
        speakers.append(speaker)
        speaker.speak(SENTENCE)
        assert speaker.wait(20)
        speaker.close()
        durations[rate] = wav_duration(out)
    assert durations[300] < 0.7 * durations[120], durations


@needs_espeak
def test_several_utterances_land_in_one_wav_in_order(tmp_path, speakers):
    texts = ["First, the cat.", "Second, a much longer sentence about the dog in the garden.", "Third."]
    singles = []
    for i, text in enumerate(texts):
        out = tmp_path / f"single{i}.wav"
        speaker = _speaker(speakers, [EspeakNgBackend()], wav_path=out)
        speaker.speak(text)
        assert speaker.wait(20)
        speaker.close()
        singles.append(read_wav(out)[1])
    combined = tmp_path / "all.wav"
    speaker = _speaker(speakers, [EspeakNgBackend()], wav_path=combined)
    for text in texts:
        speaker.speak(text)
    assert speaker.wait(20)
    # the file is already valid after wait(), before close()
    assert wav_duration(combined) == pytest.approx(sum(len(f) for f in singles) / 2 / 22050, rel=0.01)
    speaker.close()
    # espeak-ng is deterministic: the file is exactly the three utterances, in order
    assert read_wav(combined)[1] == b"".join(singles)
    assert sorted(os.listdir(tmp_path)) == ["all.wav", "single0.wav", "single1.wav", "single2.wav"]


@needs_espeak
def test_audio_event_fires_as_soon_as_each_utterance_is_in_the_file(tmp_path, speakers):
    out = tmp_path / "out.wav"
    speaker = _speaker(speakers, [EspeakNgBackend()], wav_path=out)
    order: list[tuple[str, str]] = []
    on_disk: dict[str, float] = {}

    def listener(event: str, text: str) -> None:
        order.append((event, text))
        if event == "audio":
            on_disk[text] = wav_duration(out)  # what a player would find right now

    speaker.add_listener(listener)
    texts = [f"Utterance number {n}, spoken in order." for n in range(4)]
    for text in texts:
        speaker.speak(text)
    assert speaker.wait(20)
    assert order.index(("audio", texts[0])) < order.index(("started", texts[-1]))
    assert [t for e, t in order if e == "audio"] == texts
    assert 0 < on_disk[texts[0]] < on_disk[texts[1]] < on_disk[texts[3]] == pytest.approx(wav_duration(out))
    assert [e for e, t in order if t == texts[0]] == ["started", "audio", "finished"]


@pytest.mark.parametrize("engine", ENGINES)
def test_settings_changes_apply_to_the_next_utterance(engine, tmp_path, speakers):
    settings = Settings.load(tmp_path / "settings.json")
    settings.set("speech_engine", engine, save=False)
    out = tmp_path / "out.wav"
    speaker = create_speaker(settings, wav_path=out)
    speakers.append(speaker)
    lengths: list[float] = []
    speaker.add_listener(lambda e, t: lengths.append(wav_duration(out)) if e == "audio" else None)
    rates = [120, 320, 120, 320, 120, 320]
    for rate in rates:
        settings.set("rate", rate, save=False)  # no restart
        speaker.speak(SENTENCE)
        assert speaker.wait(20)
    assert speaker.name == engine
    each = [b - a for a, b in zip([0.0] + lengths, lengths)]
    slow = [d for d, r in zip(each, rates) if r == 120]
    fast = [d for d, r in zip(each, rates) if r == 320]
    assert max(fast) < 0.6 * min(slow), each


@needs_espeak
def test_voices_are_listed_and_an_unknown_voice_still_speaks(tmp_path, speakers):
    out = tmp_path / "out.wav"
    speaker = _speaker(speakers, [EspeakNgBackend()], wav_path=out, voice=VoiceSettings(voice="no-such-voice"))
    voices = speaker.voices()
    assert len(voices) > 5 and all(voice_id and name for voice_id, name in voices)
    speaker.speak(SHORT)
    assert speaker.wait(20)
    plain = wav_duration(out)
    german = next(voice_id for voice_id, name in voices if name.lower() == "german")
    speaker.configure(voice=german)
    speaker.speak(SHORT)
    assert speaker.wait(20)
    assert plain > 0.2 and wav_duration(out) > plain  # both spoken, by different voices


# ------------------------------------------------------------- stop and device
@pytest.mark.parametrize("engine", ENGINES)
def test_stop_is_immediate_and_drops_the_queue(engine, tmp_path, speakers):
    device = FakeDevice(tmp_path)
    speaker = _speaker(speakers, [_backend(engine, player_command=device.command)])
    assert speaker.name == engine
    events = _record(speaker)
    speaker.speak(LONG)  # about 12 seconds of audio
    for n in range(3):
        speaker.speak(f"Queued sentence {n}.")
    pid = device.wait_playing(min_seconds=5)
    assert speaker.is_speaking and not speaker.wait(0.05)
    start = time.perf_counter()
    speaker.stop()
    stop_s = time.perf_counter() - start
    assert speaker.wait(2)
    idle_s = time.perf_counter() - start
    assert stop_s < 0.2 and idle_s < 0.5, (stop_s, idle_s)
    assert not _alive(pid)
    # the queue was dropped: never started, each reported as cancelled
    assert [e for e, _ in events if e != "cancelled"] == ["started", "audio", "finished"]
    assert [t for e, t in events if e == "cancelled"] == [f"Queued sentence {n}." for n in range(3)]
    assert not speaker.is_speaking
    speaker.speak(SHORT)  # still usable afterwards
    assert speaker.wait(10)
    assert ("finished", SHORT) in events


@needs_espeak
def test_interrupt_replaces_what_is_playing(tmp_path, speakers):
    device = FakeDevice(tmp_path)
    speaker = _speaker(speakers, [EspeakNgBackend(player_command=device.command)])
    events = _record(speaker)
    speaker.speak(LONG)
    speaker.speak("Never said.")
    pid = device.wait_playing(min_seconds=5)
    speaker.speak("Urgent.", interrupt=True)
    assert speaker.wait(10)
    assert not _alive(pid)
    started = [t for e, t in events if e == "started"]
    assert started == [LONG, "Urgent."]


@needs_espeak
def test_missing_audio_device_is_detected_and_reported_once(tmp_path, speakers):
    broken = [sys.executable, "-c", "import sys; sys.exit('cannot open audio device')"]
    messages: list[str] = []
    speaker = _speaker(speakers, [EspeakNgBackend(player_command=broken)], on_message=messages.append)
    assert speaker.name == "silent"
    events = _record(speaker)
    speaker.speak(SHORT)
    speaker.speak(SENTENCE)
    assert speaker.wait(5)
    assert len(messages) == 1
    assert [e for e, _ in events] == ["started", "audio", "finished"] * 2


@pytest.mark.skipif(sys.platform == "win32", reason="kills the player with SIGKILL")
@needs_espeak
def test_device_dying_mid_sentence_falls_back_and_reports_once(tmp_path, speakers):
    device = FakeDevice(tmp_path)
    messages: list[str] = []
    speaker = _speaker(speakers, [EspeakNgBackend(player_command=device.command)], on_message=messages.append)
    events = _record(speaker)
    speaker.speak(LONG)
    speaker.speak("After the failure.")
    pid = device.wait_playing(min_seconds=5)
    os.kill(pid, signal.SIGKILL)  # the sound device goes away mid-sentence
    assert speaker.wait(5)
    assert speaker.name == "silent" and len(messages) == 1
    assert ("error", LONG) in events and ("finished", "After the failure.") in events
    speaker.speak("Later.")  # never raises, never reports again
    assert speaker.wait(5)
    assert len(messages) == 1


# ---------------------------------------------------------------- fallbacks
class BrokenOnStart(SpeechBackend):
    name = "broken"

    def start(self, *, device: bool) -> None:
        raise BackendError("The broken voice could not start.")

    def synthesize(self, text, path, voice, cancel):  # pragma: no cover - never started
        raise AssertionError

    def play(self, text, voice, cancel, on_audio):  # pragma: no cover
        raise AssertionError

    def interrupt(self) -> None:
        pass


class DiesAfter(EspeakNgBackend):
    """Real espeak-ng for ``good`` utterances, then a crash inside the next one."""

    name = "dying"

    def __init__(self, good: int) -> None:
        super().__init__()
        self.good = good
        self.calls = 0

    def synthesize(self, text, path, voice, cancel):
        self.calls += 1
        if self.calls > self.good:
            path.write_bytes(b"RIFF garbage")  # died half-way through writing
            raise RuntimeError("engine crashed")
        super().synthesize(text, path, voice, cancel)


@pytest.mark.parametrize("wav", [False, True])
def test_backend_failing_to_start_falls_back_to_silent(wav, tmp_path, speakers):
    messages: list[str] = []
    out = tmp_path / "out.wav" if wav else None
    speaker = _speaker(speakers, [BrokenOnStart, BrokenOnStart()], wav_path=out, on_message=messages.append)
    events = _record(speaker)
    assert speaker.name == "silent"
    speaker.speak(SHORT)
    speaker.speak(SENTENCE, interrupt=True)
    assert speaker.wait(5)
    assert len(messages) == 1 and "broken voice" in messages[0].lower()
    assert [t for e, t in events if e == "audio"] == [SHORT, SENTENCE] or [t for e, t in events if e == "audio"] == [
        SENTENCE
    ]
    assert out is None or not out.exists()


@needs_espeak
def test_real_engine_missing_falls_back_to_the_next(tmp_path, speakers):
    messages: list[str] = []
    out = tmp_path / "out.wav"
    speaker = _speaker(
        speakers,
        [EspeakNgBackend(executable=str(tmp_path / "no-espeak-ng")), EspeakNgBackend()],
        wav_path=out,
        on_message=messages.append,
    )
    assert speaker.name == "espeak-ng" and len(messages) == 1
    speaker.speak(SHORT)
    assert speaker.wait(10)
    assert wav_duration(out) > 0.3


@needs_espeak
def test_backend_dying_mid_utterance_resumes_on_the_next_and_reports_once(tmp_path, speakers):
    messages: list[str] = []
    out = tmp_path / "out.wav"
    holder: list[EngineSpeaker] = []

    def notify(sentence: str) -> None:  # as the notifier does: speak errors with interrupt
        messages.append(sentence)
        holder[0].speak(sentence, interrupt=True)

    speaker = EngineSpeaker([lambda: DiesAfter(good=1), EspeakNgBackend], wav_path=out, on_message=notify)
    speakers.append(speaker)
    holder.append(speaker)
    events = _record(speaker)
    texts = ["One, two, three.", "Four, five, six.", "Seven, eight."]
    for text in texts:
        speaker.speak(text)
    assert speaker.wait(20)
    assert speaker.name == "espeak-ng" and len(messages) == 1
    audio = [t for e, t in events if e == "audio"]
    assert audio[:2] == texts[:2] and texts[2] in audio and messages[0] in audio  # nothing dropped
    assert ("error", texts[1]) in events
    assert read_wav(out)[0] == WavFormat(1, 2, 22050)


@needs_espeak
def test_backend_dying_with_nothing_left_goes_silent_and_later_calls_are_safe(tmp_path, speakers):
    messages: list[str] = []
    speaker = _speaker(speakers, [lambda: DiesAfter(good=0)], wav_path=tmp_path / "o.wav", on_message=messages.append)
    speaker.speak(SHORT)
    assert speaker.wait(10)
    for _ in range(3):
        speaker.speak(SENTENCE)
    speaker.configure(rate=300, volume=0.5, voice="x")
    assert speaker.wait(5)
    assert speaker.name == "silent" and len(messages) == 1
    speaker.close()
    speaker.speak("After close.")  # ignored, not raised
    assert not (tmp_path / "o.wav").exists()


def test_factory_choices(tmp_path):
    assert engine_chain("auto") == ["pyttsx3", "espeak-ng"]
    assert engine_chain("espeak-ng") == ["espeak-ng", "pyttsx3"]
    assert engine_chain("silent") == []
    assert isinstance(create_speaker({"speech_engine": "silent"}), SilentSpeaker)
    assert isinstance(create_speaker({"speech_engine": "auto"}, enabled=False), SilentSpeaker)
    speaker = create_speaker({"speech_engine": "silent"}, wav_path=tmp_path / "x.wav")
    try:
        assert isinstance(speaker, EngineSpeaker)  # asking for a file overrides "silent"
    finally:
        speaker.close()


@needs_pyttsx3
def test_pyttsx3_keeps_stdout_clean_and_reports_no_device(tmp_path, speakers, capfd):
    out = tmp_path / "out.wav"
    speaker = _speaker(speakers, [_backend("pyttsx3")], wav_path=out)
    speaker.speak(SHORT)
    speaker.speak(SENTENCE)
    assert speaker.wait(10)
    assert wav_duration(out) > 1.0
    assert capfd.readouterr().out == ""  # the driver's "Audio saved to ..." would break --json
    messages: list[str] = []
    broken = [sys.executable, "-c", "import sys; sys.exit(1)"]
    device = _speaker(speakers, [_backend("pyttsx3", player_command=broken)], on_message=messages.append)
    assert device.name == "silent" and len(messages) == 1


# ------------------------------------------------------------ small helpers
def test_silent_speaker_records_everything():
    speaker = SilentSpeaker()
    events: list[tuple[str, str]] = []
    speaker.add_listener(lambda e, t: events.append((e, t)))
    speaker.speak("one")
    speaker.speak("two", interrupt=True)
    speaker.stop()
    assert speaker.spoken == ["one", "<interrupt>", "two", "<stop>"]
    assert [e for e, _ in events] == ["started", "audio", "finished"] * 2
    assert speaker.wait(0) and not speaker.is_speaking


def test_wav_sink_converts_formats_and_stays_valid(tmp_path):
    a = tmp_path / "a.wav"
    b = tmp_path / "b.wav"
    write_wav(a, b"\x10\x00" * 22050, WavFormat(1, 2, 22050))  # 1 s mono 22.05 kHz
    write_wav(b, b"\x10\x00\x20\x00" * 8000, WavFormat(2, 2, 16000))  # 0.5 s stereo 16 kHz
    sink = WavSink(tmp_path / "out.wav")
    assert sink.append_file(a) == pytest.approx(1.0)
    assert wav_duration(sink.path) == pytest.approx(1.0)  # valid before close
    assert sink.append_file(b) == pytest.approx(0.5, abs=0.001)
    sink.close()
    with wave.open(str(sink.path)) as reader:
        assert (reader.getnchannels(), reader.getframerate()) == (1, 22050)
        assert reader.getnframes() / 22050 == pytest.approx(1.5, abs=0.001)
    with pytest.raises(BackendError):
        read_wav(a.with_name("missing.wav"))


def test_drop_queued_takes_one_owners_utterances_or_all_in_order():
    from collections import deque
    from dataclasses import dataclass

    from app.engine.base import CancelToken
    from app.speech.base import drop_queued

    @dataclass
    class Item:
        text: str
        owner: object

    old, new = CancelToken(), CancelToken()
    queues = [deque([Item("a", old), Item("b", new)]), deque([Item("c", old), Item("d", None)])]
    assert drop_queued(queues, old) == ["a", "c"]
    assert [[i.text for i in q] for q in queues] == [["b"], ["d"]]
    assert drop_queued(queues) == ["b", "d"]
    assert all(not q for q in queues)
