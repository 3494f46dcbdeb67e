"""Speech, screen capture and file faults: the user always gets the text and one sentence.

* speech that cannot start or dies mid-sentence falls back (ultimately to
  silence), says so once, and the answer is still returned and shown;
* a screen that cannot be captured is one sentence (in-process and through
  the real CLI, exit code 4);
* settings and history survive a corrupt file, a read-only folder and a full
  disk: writes are atomic, the old file survives byte for byte, no temporary
  file is left behind, and a sentence says what happened.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from PIL import Image

import app.atomic as atomic
from app.errors import CaptureError
from app.history import History
from app.settings import Settings
from app.speech.base import BackendError, SpeechBackend
from app.speech.manager import EngineSpeaker
from tests.reliability.conftest import ANSWER, assert_one_sentence

REPO = Path(__file__).resolve().parents[2]


# ------------------------------------------------------------------- speech
class RecordingBackend(SpeechBackend):
    """A voice that 'plays' instantly and remembers what it said; can die after ``good`` parts."""

    def __init__(self, name: str = "recording", *, good: int | None = None, fail_start: bool = False) -> None:
        self.name = name
        self.good = good
        self.fail_start = fail_start
        self.said: list[str] = []

    def start(self, *, device: bool) -> None:
        if self.fail_start:
            raise BackendError(f"The {self.name} voice could not start.")

    def synthesize(self, text, path, voice, cancel):  # pragma: no cover - device mode only here
        raise AssertionError("not used")

    def play(self, text, voice, cancel, on_audio):
        if self.good is not None and len(self.said) >= self.good:
            raise BackendError(f"The {self.name} voice stopped working.")
        on_audio()
        self.said.append(text)

    def interrupt(self) -> None:
        pass


def speech_rig(make_rig, backends):
    rig = make_rig(speaker=lambda notifier: EngineSpeaker(backends, on_message=notifier.error))
    speaker = rig.speaker
    speaker.wait_ready(5)
    return rig, speaker


def answer_and_wait(rig, speaker):
    box = rig.run(lambda cancel: rig.assistant.describe(Image.new("RGB", (40, 30)), cancel=cancel))
    assert speaker.wait(5)
    return box


def speech_messages(rig) -> list[str]:
    return [m for m in rig.errors() if "voice" in m.lower() or "speech" in m.lower()]


def test_speech_that_cannot_start_falls_back_to_silence_says_so_once_and_text_still_arrives(make_rig):
    rig, speaker = speech_rig(make_rig, [RecordingBackend("primary", fail_start=True),
                                         RecordingBackend("secondary", fail_start=True)])
    for _ in range(3):
        box = answer_and_wait(rig, speaker)
        assert box["result"].text == ANSWER
    assert speaker.name == "silent"
    assert len(speech_messages(rig)) == 1
    assert_one_sentence(speech_messages(rig)[0])


def test_speech_dying_mid_answer_moves_to_the_next_voice_says_so_once_and_nothing_is_lost(make_rig):
    dying, spare = RecordingBackend("primary", good=1), RecordingBackend("spare")
    rig, speaker = speech_rig(make_rig, [dying, spare])
    box = answer_and_wait(rig, speaker)
    assert box["result"].text == ANSWER
    assert speaker.name == "spare"
    message = speech_messages(rig)
    assert len(message) == 1 and message[0] in spare.said  # announced through the voice that works
    heard = " ".join(dying.said + spare.said)
    for sentence in ANSWER.split(". "):
        assert sentence.rstrip(".") in heard  # every sentence of the answer was spoken by someone
    answer_and_wait(rig, speaker)
    assert len(speech_messages(rig)) == 1


def test_speech_dying_with_no_spare_goes_silent_and_answers_keep_coming(make_rig):
    rig, speaker = speech_rig(make_rig, [RecordingBackend("only", good=0)])
    for _ in range(3):
        assert answer_and_wait(rig, speaker)["result"].text == ANSWER
    assert speaker.name == "silent" and len(speech_messages(rig)) == 1


def test_real_speech_program_missing_falls_back_and_says_so_once(make_rig, tmp_path, monkeypatch):
    """The real factory with espeak-ng chosen but not on PATH (and pyttsx3 unable to speak)."""
    from app.speech import factory

    monkeypatch.setenv("PATH", str(tmp_path))  # no espeak-ng, no players
    monkeypatch.setitem(factory.BACKENDS, "pyttsx3",
                        lambda: RecordingBackend("pyttsx3", fail_start=True))
    rig = make_rig(speaker=lambda notifier: factory.create_speaker({"speech_engine": "espeak-ng"},
                                                                     on_message=notifier.error))
    speaker = rig.speaker
    speaker.wait_ready(10)
    for _ in range(2):
        assert answer_and_wait(rig, speaker)["result"].text == ANSWER
    assert speaker.name == "silent" and len(speech_messages(rig)) == 1


# ------------------------------------------------------------------- capture
def capture_error(rig, source) -> str:
    box = rig.run(lambda cancel: rig.assistant.describe(source.grab(), is_screen=True, cancel=cancel))
    error = box.get("error")
    assert isinstance(error, CaptureError), error
    assert rig.errors()[-1] == assert_one_sentence(error.message) and error.message in rig.spoken()
    rig.describe_good()
    return error.message


@pytest.mark.parametrize("env", [{"DISPLAY": None, "WAYLAND_DISPLAY": None},
                                 {"DISPLAY": None, "WAYLAND_DISPLAY": "wayland-0"},
                                 {"DISPLAY": ":977", "WAYLAND_DISPLAY": None}],
                         ids=["no-display", "wayland-denied", "display-gone"])
def test_screen_capture_without_a_usable_display_is_one_sentence(env, rig, monkeypatch):
    from app.capture.screen import ScreenCapture

    for key, value in env.items():
        if value is None:
            monkeypatch.delenv(key, raising=False)
        else:
            monkeypatch.setenv(key, value)
    capture_error(rig, ScreenCapture())


class FakeMss:
    """An mss object for a machine whose second monitor was unplugged, or whose grab fails."""

    def __init__(self, fail_grab: bool = False) -> None:
        self.monitors = [{"left": 0, "top": 0, "width": 800, "height": 600}] * 2
        self.fail_grab = fail_grab

    def grab(self, area):
        if self.fail_grab:
            raise RuntimeError("XGetImage() failed")
        raise AssertionError("not reached")

    def close(self) -> None:
        pass


@pytest.mark.parametrize("case", ["monitor-unplugged", "grab-fails"])
def test_monitor_unplugged_or_capture_blocked_is_one_sentence(case, rig, monkeypatch):
    from app.capture import screen

    monkeypatch.setattr(screen, "_open_mss", lambda: FakeMss(fail_grab=case == "grab-fails"))
    source = screen.ScreenCapture(monitor=2 if case == "monitor-unplugged" else None)
    capture_error(rig, source)


def test_cli_screen_without_a_display_is_exit_4_and_one_line():
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    for command in (["describe", "--screen"], ["read", "--screen"], ["ask", "--screen", "What is it?"]):
        result = subprocess.run([sys.executable, "-m", "app", *command, "--no-speak"], cwd=REPO, env=env,
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 4, (command, result.stderr)
        errors = [line for line in result.stderr.splitlines() if line.startswith("iris: ")]
        assert len(errors) == 1 and "Traceback" not in result.stderr
        assert_one_sentence(errors[0][6:])


# ------------------------------------------------------- settings and history
def full_disk(monkeypatch, *, after_bytes: int = 10) -> None:
    """Every atomic write gets ENOSPC after writing a few bytes (as a full disk does)."""
    real_fdopen = os.fdopen

    class Filling:
        def __init__(self, handle) -> None:
            self.handle = handle

        def write(self, data) -> int:
            self.handle.write(data[:after_bytes])
            raise OSError(errno.ENOSPC, "No space left on device")

        def __getattr__(self, name):
            return getattr(self.handle, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

    monkeypatch.setattr(atomic.os, "fdopen", lambda fd, *a, **k: Filling(real_fdopen(fd, *a, **k)))


def read_only(monkeypatch, code: int = errno.EROFS) -> None:
    """The folder refuses new files (a read-only mount or a locked-down profile)."""

    def refuse(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(atomic.tempfile, "mkstemp", refuse)


def leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("fault", ["disk-full", "read-only", "permission-denied"])
def test_settings_write_fault_keeps_the_old_file_and_says_so(fault, make_rig, monkeypatch):
    rig = make_rig()
    settings = rig.core.settings
    settings.set("rate", 250)
    path = settings.path
    before = path.read_bytes()
    if fault == "disk-full":
        full_disk(monkeypatch)
    else:
        read_only(monkeypatch, errno.EROFS if fault == "read-only" else errno.EACCES)
    settings.set("rate", 300)  # never raises into the caller
    assert settings["rate"] == 300  # the change holds for this session
    assert path.read_bytes() == before and json.loads(before)["values"]["rate"] == 250
    assert leftovers(path.parent) == []
    assert len(rig.errors()) == 1 and rig.errors()[0] in rig.spoken()
    assert_one_sentence(rig.errors()[0])
    monkeypatch.undo()
    assert Settings.load(path)["rate"] == 250
    rig.describe_good()


@pytest.mark.parametrize("content", [b"{ not json", b"\xff\xfe\x00garbage", b'{"values": [1, 2]}', b""])
def test_corrupt_settings_are_set_aside_defaults_used_and_the_user_told(content, make_rig, iris_home):
    from app import paths

    path = paths.config_dir() / "settings.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    rig = make_rig()
    assert len(rig.errors()) == 1  # shown (and spoken: see the next test)
    assert_one_sentence(rig.errors()[0])
    assert [p.read_bytes() for p in path.parent.glob("settings.json.corrupt-*")] == [content]
    rig.describe_good()
    assert json.loads(path.read_text())["values"]  # a good file was written in its place


def test_a_corrupt_settings_notice_at_start_up_is_also_spoken(iris_home):
    from app import paths
    from app.compose import build_core
    from app.notifier import Notifier
    from app.speech.base import SilentSpeaker
    from tests.mock_engine import MockEngine

    path = paths.config_dir() / "settings.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{ not json")
    speaker = SilentSpeaker()
    notifier = Notifier()
    core = build_core(notifier=notifier, speaker=speaker, engine=MockEngine(), with_ocr=False)
    try:
        notices = [m.text for m in notifier.history]
        assert len(notices) == 1 and notices[0] in speaker.spoken
    finally:
        core.close()


@pytest.mark.parametrize("fault", ["disk-full", "read-only"])
def test_history_write_fault_keeps_the_old_history_and_says_so(fault, tmp_path, monkeypatch):
    messages: list[str] = []
    history = History(tmp_path / "history", enabled=True, limit=10, on_message=messages.append)
    history.add(Image.new("RGB", (20, 20), "red"), "First answer.", source="the screen")
    index = history.index_path
    before = index.read_bytes()
    pictures = sorted(p.name for p in history.directory.glob("*.png"))
    if fault == "disk-full":
        full_disk(monkeypatch)
    else:
        read_only(monkeypatch)
    assert history.add(Image.new("RGB", (20, 20), "blue"), "Second answer.", source="the screen") is None
    assert index.read_bytes() == before
    assert sorted(p.name for p in history.directory.glob("*.png")) == pictures  # no orphan picture
    assert leftovers(history.directory) == []
    assert len(messages) == 1 and assert_one_sentence(messages[0])
    monkeypatch.undo()
    assert [e.text for e in History(tmp_path / "history", enabled=True, limit=10).entries()] == ["First answer."]


def test_corrupt_history_is_set_aside_privately_and_a_new_one_started(tmp_path):
    folder = tmp_path / "history"
    folder.mkdir(mode=0o700)
    (folder / "index.json").write_text('{"version": 1, "entries": [{"id": "../../etc/passwd"')
    messages: list[str] = []
    history = History(folder, enabled=True, limit=5, on_message=messages.append)
    assert history.entries() == []
    assert len(messages) == 1 and assert_one_sentence(messages[0])
    backups = list(folder.glob("index.json.corrupt-*"))
    assert len(backups) == 1 and (backups[0].stat().st_mode & 0o777) == 0o600
    assert history.add(Image.new("RGB", (8, 8)), "Works again.", source="x")


def test_atomic_write_never_leaves_a_half_written_file_even_when_killed(tmp_path):
    """A writer killed mid-write (SIGKILL, no cleanup) leaves the old file whole."""
    target = tmp_path / "settings.json"
    target.write_text('{"old": true}')
    code = (
        "import os, sys, app.atomic as a\n"
        "real = os.fsync\n"
        "def die(fd):\n"
        "    os.kill(os.getpid(), 9)\n"
        "os.fsync = die\n"
        "a.write_text_atomic(__import__('pathlib').Path(sys.argv[1]), 'x' * 100000)\n"
    )
    result = subprocess.run([sys.executable, "-c", code, str(target)], cwd=REPO, timeout=60)
    assert result.returncode == -9
    assert target.read_text() == '{"old": true}'
    # A later save by Iris succeeds and the stray temporary file is the only trace.
    settings = Settings.load(target)
    assert settings.save()
    assert json.loads(target.read_text())["values"]


def test_concurrent_saves_never_corrupt_the_settings_file(tmp_path):
    settings = Settings.load(tmp_path / "settings.json")
    errors: list[BaseException] = []

    def writer(rate: int) -> None:
        try:
            for _ in range(20):
                settings.set("rate", rate)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(100 + n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert json.loads((tmp_path / "settings.json").read_text())["values"]["rate"] in range(100, 104)
    assert leftovers(tmp_path) == []
