"""The ``iris`` command in-process: parsing, streaming, JSON, status on stderr, exit codes.

The core is built with test doubles (MockEngine, SilentSpeaker, a fake OCR and
a fake screen) through the real ``build_core``, so these run in milliseconds;
tests/test_cli_e2e.py runs the real thing in subprocesses.
"""

from __future__ import annotations

import io
import json
import sys
import types
from types import SimpleNamespace

import pytest
from PIL import Image, ImageDraw

from app import cli, compose
from app.errors import CaptureError, ExitCode, ModelLoadError, ModelMissingError
from app.speech.base import SilentSpeaker
from tests.mock_engine import MockEngine

ANSWER = "A grey cat on a sofa. It looks at the camera, and its eyes are green."


class FakeOCR:
    def __init__(self, lines):
        self.lines = lines
        self.calls = 0

    def read_lines(self, image):
        self.calls += 1
        return list(self.lines)


class FakeScreen:
    """Stands in for app.capture.screen.ScreenCapture."""

    label = "the screen"
    is_screen = True
    image = None
    error: Exception | None = None
    monitors: list = []

    def __init__(self, monitor=None, region=None):
        FakeScreen.monitors.append(monitor)

    def grab(self):
        if FakeScreen.error is not None:
            raise FakeScreen.error
        return FakeScreen.image


def screen_with_text() -> Image.Image:
    image = Image.new("RGB", (800, 600), "white")
    ImageDraw.Draw(image).text((40, 40), "Inbox (3)", fill="black")
    return image


@pytest.fixture
def fake(monkeypatch):
    """Route build_core to doubles; returns the knobs and what build_core was asked for."""
    state = SimpleNamespace(
        engine=MockEngine(ANSWER),
        engine_error=None,
        ocr=FakeOCR(["Inbox (3)", "Meeting at noon"]),
        speaker=SilentSpeaker(),
        builds=[],
        cores=[],
    )
    real_build = compose.build_core

    def build_core(**kwargs):
        state.builds.append(kwargs)
        if kwargs.get("with_engine", True) and state.engine_error is not None:
            raise state.engine_error
        core = real_build(
            settings=kwargs["settings"],
            notifier=kwargs["notifier"],
            speaker=state.speaker,
            engine=state.engine if kwargs.get("with_engine", True) else None,
            ocr=state.ocr if kwargs.get("with_ocr", True) else None,
            with_engine=False,
            with_ocr=False,
        )
        state.cores.append(core)
        return core

    monkeypatch.setattr(compose, "build_core", build_core)
    import app.capture.screen as screen

    FakeScreen.image = screen_with_text()
    FakeScreen.error = None
    FakeScreen.monitors = []
    monkeypatch.setattr(screen, "ScreenCapture", FakeScreen)
    return state


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "cat.png"
    Image.new("RGB", (64, 48), (120, 120, 120)).save(path)
    return path


def err_lines(captured) -> list[str]:
    return [line for line in captured.err.splitlines() if line.strip()]


def assert_one_error_line(captured) -> str:
    lines = [line for line in err_lines(captured) if line.startswith("iris: ")]
    assert len(lines) == 1, captured.err
    assert "Traceback" not in captured.err
    return lines[0]


# ------------------------------------------------------------------ describe
def test_describe_streams_to_stdout_and_speaks(fake, photo, capsys):
    assert cli.main(["describe", str(photo)]) == ExitCode.OK
    out = capsys.readouterr()
    assert out.out == ANSWER + "\n"
    spoken = [s for s in fake.speaker.spoken if not s.startswith("<")]
    assert " ".join(spoken).split()[-len(ANSWER.split()):] == ANSWER.split()
    assert fake.builds[0]["speak"] is True and fake.ocr.calls == 0  # OCR is there for a missing model, unused


def test_answer_pieces_are_flushed_as_they_arrive(fake, photo, monkeypatch):
    events: list[tuple[str, str]] = []

    class Recorder(io.StringIO):
        def write(self, text):
            events.append(("write", text))
            return super().write(text)

        def flush(self):
            events.append(("flush", ""))

    monkeypatch.setattr(sys, "stdout", Recorder())
    assert cli.main(["describe", str(photo), "--no-speak"]) == 0
    writes = [i for i, (kind, _) in enumerate(events) if kind == "write"]
    assert len(writes) >= len(ANSWER.split())
    for i in writes:  # every piece is followed by a flush before anything else is written
        assert events[i + 1][0] == "flush"


def test_json_prints_one_object_and_no_streamed_text(fake, photo, capsys):
    assert cli.main(["describe", str(photo), "--json", "--no-speak"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    data = json.loads(out)
    for key in ("text", "model", "device", "quantization", "input_tokens", "output_tokens", "timings"):
        assert key in data
    assert set(data["timings"]) == {"load", "first_token", "first_audio", "total"}
    assert data["text"] == ANSWER and data["model"] == "mock"
    assert [s for s in fake.speaker.spoken if not s.startswith("<")] == []


def test_common_flags_work_before_the_subcommand_too(fake, photo, capsys):
    assert cli.main(["--json", "--no-speak", "describe", str(photo)]) == 0
    assert json.loads(capsys.readouterr().out)["text"] == ANSWER


def test_model_and_device_reach_build_core(fake, photo):
    cli.main(["describe", str(photo), "--model", "/some/folder", "--device", "cpu", "--no-speak"])
    assert fake.builds[0]["model"] == "/some/folder" and fake.builds[0]["device"] == "cpu"


def test_preset_and_max_tokens_apply_to_this_run_only(fake, photo, capsys, iris_home):
    from app.settings import Settings

    before = Settings.load().as_dict()
    cli.main(["describe", str(photo), "--preset", "detailed", "--max-new-tokens", "16", "--no-speak"])
    settings = fake.builds[0]["settings"]
    assert settings["preset"] == "detailed" and settings["max_new_tokens"] == 16
    assert Settings.load().as_dict() == before


def test_status_goes_to_stderr_and_quiet_silences_it(fake, photo, capsys):
    cli.main(["describe", str(photo), "--no-speak"])
    first = capsys.readouterr()
    assert err_lines(first)  # "loading the model" and the like
    assert all(not line.startswith("iris: ") for line in err_lines(first))
    fake.engine = MockEngine(ANSWER)  # not loaded again
    cli.main(["describe", str(photo), "--no-speak", "--quiet"])
    second = capsys.readouterr()
    assert second.err == "" and second.out == ANSWER + "\n"


def test_prompt_flag_replaces_the_default_prompt(fake, photo):
    cli.main(["describe", str(photo), "--prompt", "Count the cats.", "--no-speak"])
    assert fake.engine.calls[-1].turns[0].text == "Count the cats."


def test_describe_screen_uses_the_capture_and_the_monitor(fake, capsys):
    assert cli.main(["describe", "--screen", "--monitor", "2", "--no-speak"]) == 0
    assert FakeScreen.monitors == [2]
    assert fake.engine.calls[-1].is_screen
    assert cli.main(["describe", "--screen", "--no-speak"]) == 0
    assert FakeScreen.monitors[-1] is None  # all monitors by default


def test_blank_screen_is_said_without_the_model(fake, capsys):
    FakeScreen.image = Image.new("RGB", (800, 600), (0, 0, 0))
    assert cli.main(["describe", "--screen", "--json", "--no-speak"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["kind"] == "blank" and data["text"]
    assert fake.engine.calls == [] and fake.engine.load_count == 0


@pytest.mark.parametrize("where", ["build", "load"])
def test_screen_without_a_model_reads_the_text_and_says_how_to_get_one(fake, capsys, where):
    missing = ModelMissingError("No description model is installed. Run: iris models download smolvlm-256m")
    if where == "build":
        fake.engine_error = missing
    else:
        fake.engine = MockEngine(fail=missing, fail_on_load=True)
    assert cli.main(["describe", "--screen"]) == ExitCode.OK
    out = capsys.readouterr()
    assert out.out.splitlines() == ["Inbox (3)", "Meeting at noon"]  # stdout: only the screen's text
    assert "iris models download" in out.err
    assert "Traceback" not in out.err
    spoken = " ".join(fake.speaker.spoken)
    assert "iris models download" in spoken and "Meeting at noon" in spoken
    assert spoken.index("iris models download") < spoken.index("Meeting at noon")


def test_screen_without_a_model_in_json_carries_the_notice(fake, capsys):
    fake.engine_error = ModelMissingError("No model. Run: iris models download smolvlm-256m")
    assert cli.main(["describe", "--screen", "--json", "--no-speak"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["kind"] == "ocr-fallback" and "iris models download" in data["notice"]
    assert "Meeting at noon" in data["text"]


@pytest.mark.parametrize("where", ["build", "load"])
def test_photo_without_a_model_reads_its_text_and_says_how_to_get_one(fake, photo, capsys, where):
    missing = ModelMissingError("No description model is installed. Run: iris models download smolvlm-256m")
    if where == "build":
        fake.engine_error = missing
    else:
        fake.engine = MockEngine(fail=missing, fail_on_load=True)
    assert cli.main(["describe", str(photo), "--json", "--no-speak"]) == ExitCode.OK
    data = json.loads(capsys.readouterr().out)
    assert data["kind"] == "ocr-fallback" and "iris models download" in data["notice"]
    assert data["text"].splitlines() == ["Inbox (3)", "Meeting at noon"] and fake.ocr.calls == 1


def test_photo_without_a_model_or_ocr_is_exit_3(fake, photo, capsys):
    class NoOCR(FakeOCR):
        def read_lines(self, image):
            raise ModelMissingError("Text reading is not available: tesseract is not installed.")

    fake.engine_error = ModelMissingError("No description model is installed. Run: iris models download smolvlm-256m")
    fake.ocr = NoOCR([])
    assert cli.main(["describe", str(photo), "--no-speak"]) == ExitCode.MODEL_MISSING
    line = assert_one_error_line(capsys.readouterr())
    assert "iris models download" in line


def test_capture_failure_is_exit_4(fake, capsys):
    FakeScreen.error = CaptureError("Iris could not see the screen.")
    assert cli.main(["describe", "--screen", "--no-speak"]) == ExitCode.CAPTURE_FAILED
    assert assert_one_error_line(capsys.readouterr()) == "iris: Iris could not see the screen."


# ----------------------------------------------------------------- ask, read
def test_ask_about_a_photo(fake, photo, capsys):
    seen = []
    fake.engine = MockEngine(lambda conv: seen.append(conv.pending_question) or "It is grey.")
    assert cli.main(["ask", str(photo), "What colour", "is the cat?", "--no-speak"]) == 0
    assert seen == ["What colour is the cat?"]
    assert capsys.readouterr().out == "It is grey.\n"


def test_ask_about_the_screen(fake, capsys):
    fake.engine = MockEngine("Three messages.")
    assert cli.main(["ask", "--screen", "How many messages?", "--no-speak"]) == 0
    assert fake.engine.calls[-1].image is FakeScreen.image


def test_read_uses_ocr_and_no_engine(fake, photo, capsys):
    assert cli.main(["read", str(photo), "--no-speak"]) == 0
    assert capsys.readouterr().out.splitlines() == ["Inbox (3)", "Meeting at noon"]
    assert fake.builds[0]["with_engine"] is False and fake.builds[0]["with_ocr"] is True
    assert fake.engine.calls == []


def test_image_from_standard_input(fake, photo, capsys, monkeypatch):
    stdin = SimpleNamespace(buffer=io.BytesIO(photo.read_bytes()), isatty=lambda: False)
    monkeypatch.setattr(sys, "stdin", stdin)
    assert cli.main(["describe", "-", "--no-speak"]) == 0
    assert fake.engine.calls[-1].image.size == (64, 48)


# --------------------------------------------------------------------- speak
def test_speak_says_the_text_without_engine_or_ocr(fake, capsys):
    assert cli.main(["speak", "Hello", "there.", "Second", "sentence."]) == 0
    assert " ".join(s for s in fake.speaker.spoken if not s.startswith("<")) == "Hello there. Second sentence."
    assert fake.builds[0]["with_engine"] is False and fake.builds[0]["with_ocr"] is False
    assert capsys.readouterr().out == ""


def test_wav_reaches_the_speaker_factory_and_status_is_not_recorded(fake, tmp_path, photo):
    wav = tmp_path / "out.wav"
    cli.main(["describe", str(photo), "--wav", str(wav)])
    assert fake.builds[0]["wav_path"] == wav and fake.builds[0]["speak"] is True
    spoken = [s for s in fake.speaker.spoken if not s.startswith("<")]
    assert " ".join(spoken).split() == ANSWER.split()  # only the answer goes into the file


# -------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "argv",
    [
        ["describe"],
        ["describe", "x.png", "--screen"],
        ["describe", "x.png", "--monitor", "1"],
        ["ask", "x.png"],
        ["ask", "x.png", "   "],
        ["read"],
        ["speak"],
        ["speak", "  "],
        ["bogus"],
        ["describe", "x.png", "--device", "tpu"],
        ["describe", "x.png", "--max-new-tokens", "5"],
        ["describe", "x.png", "--max-new-tokens", "many"],
        ["describe", "x.png", "--prompt", " "],
        ["describe", "x.png", "--wav", "a.wav", "--no-speak"],
        ["models"],
        ["models", "download"],
        ["models", "download", "no-such-model"],
        ["--no-such-flag"],
    ],
)
def test_bad_command_lines_are_exit_2_with_one_line(fake, argv, capsys):
    assert cli.main(argv) == ExitCode.BAD_INPUT
    out = capsys.readouterr()
    assert_one_error_line(out)
    assert out.out == ""
    assert fake.engine.calls == []


def test_a_missing_file_is_exit_2_and_no_model_is_built(fake, tmp_path, capsys):
    assert cli.main(["describe", str(tmp_path / "nope.png")]) == ExitCode.BAD_INPUT
    assert_one_error_line(capsys.readouterr())
    assert fake.builds == []


# ------------------------------------------------------- failures and cancel
def test_an_unexpected_exception_is_one_line_and_exit_1(fake, photo, capsys):
    fake.engine = MockEngine(fail=RuntimeError("tensor shape mismatch at layer 7"))
    assert cli.main(["describe", str(photo), "--no-speak"]) == ExitCode.INTERNAL
    line = assert_one_error_line(capsys.readouterr())
    assert "tensor shape" not in line


def test_debug_shows_the_traceback(fake, photo, capsys, monkeypatch):
    monkeypatch.setenv("IRIS_DEBUG", "1")
    fake.engine = MockEngine(fail=RuntimeError("tensor shape mismatch"))
    assert cli.main(["describe", str(photo), "--no-speak"]) == ExitCode.INTERNAL
    assert "Traceback" in capsys.readouterr().err


def test_ctrl_c_stops_speech_and_exits_130(fake, photo, capsys):
    def interrupted(conversation):
        raise KeyboardInterrupt

    fake.engine = MockEngine(interrupted)
    assert cli.main(["describe", str(photo)]) == ExitCode.CANCELLED
    out = capsys.readouterr()
    assert_one_error_line(out)
    assert "<stop>" in fake.speaker.spoken
    assert fake.cores[0].assistant is not None


def test_errors_are_spoken_when_speaking(fake, photo, capsys):
    fake.engine = MockEngine(fail=ModelLoadError("The model files are damaged; download them again."))
    assert cli.main(["describe", str(photo)]) == ModelLoadError.exit_code
    assert "The model files are damaged; download them again." in fake.speaker.spoken
    assert_one_error_line(capsys.readouterr())


def test_the_core_is_closed_after_every_command(fake, photo):
    cli.main(["describe", str(photo), "--no-speak"])
    assert fake.cores[0].runner._closed


# ------------------------------------------------------------------- no args
def test_no_arguments_opens_the_desktop_app(monkeypatch):
    calls = []
    module = types.ModuleType("app.gui")
    module.main = lambda argv: calls.append(argv) or 7
    monkeypatch.setitem(sys.modules, "app.gui", module)
    assert cli.main([]) == 7
    assert calls == [[]]


def test_no_arguments_without_a_desktop_app_prints_help(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "app.gui", types.ModuleType("app.gui"))
    assert cli.main([]) == 0
    assert "describe" in capsys.readouterr().out


def test_help_and_version(capsys):
    assert cli.main(["--help"]) == 0
    assert "iris models download" in capsys.readouterr().out
    assert cli.main(["describe", "--help"]) == 0
    assert "--screen" in capsys.readouterr().out
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("iris ")


# --------------------------------------------------------------------- models
def test_models_list_shows_every_entry_and_what_is_installed(capsys, iris_home):
    from app.catalogue import load_catalogue

    entries = load_catalogue()
    installed = iris_home / "data" / "models" / entries[-1].name
    installed.mkdir(parents=True)
    (installed / "config.json").write_text("{}")
    assert cli.main(["models", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(entries) + 1
    for entry in entries:
        row = next(line for line in lines if line.split()[0] == entry.name)
        assert row.split()[-1] == ("yes" if entry is entries[-1] else "no")
        assert entry.licence in row
    assert cli.main(["models", "list", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)["models"]
    assert [m["name"] for m in data] == [e.name for e in entries]
    assert [m["installed"] for m in data] == [e is entries[-1] for e in entries]


def test_models_download_shows_progress_and_prints_the_folder(monkeypatch, capsys, tmp_path):
    import app.download as download

    def fake_download(entry, progress=None, cancel=None):
        for done in range(0, 101, 5):
            progress(done * 2**20, 100 * 2**20)
        return tmp_path / entry.name

    monkeypatch.setattr(download, "download_model", fake_download)
    monkeypatch.setattr(download, "installed_path", lambda entry: None)
    assert cli.main(["models", "download", "smolvlm-256m", "--no-speak"]) == 0
    out = capsys.readouterr()
    assert out.out.strip() == str(tmp_path / "smolvlm-256m")
    bars = [line for line in out.err.splitlines() if "%" in line]
    assert 2 <= len(bars) <= 12  # throttled: one line per tenth when not on a terminal
    assert "100.0%" in bars[-1]


def test_models_download_failure_is_one_line(monkeypatch, capsys):
    import app.download as download

    def offline(entry, progress=None, cancel=None):
        raise ModelMissingError("Connect to the internet and run iris models download smolvlm-256m again.")

    monkeypatch.setattr(download, "download_model", offline)
    monkeypatch.setattr(download, "installed_path", lambda entry: None)
    assert cli.main(["models", "download", "smolvlm-256m", "--no-speak"]) == ExitCode.MODEL_MISSING
    assert "iris models download" in assert_one_error_line(capsys.readouterr())


def test_progress_bar_redraws_in_place_on_a_terminal():
    from app.cli_actions import ProgressBar

    class Tty(io.StringIO):
        def isatty(self):
            return True

    stream = Tty()
    bar = ProgressBar("model:", stream=stream)
    bar(0, 1000)
    bar(1000, 1000)
    bar.close()
    text = stream.getvalue()
    assert text.count("\r") == 2 and text.endswith("\n") and "100.0%" in text
