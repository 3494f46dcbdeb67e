"""``python -m app`` end to end, in subprocesses, exactly as a user runs ``iris``.

Each run gets the temporary IRIS_HOME of the autouse fixture (inherited through
the environment). Model runs use the tiny random SmolVLM folder from
tests/tiny_model.py: its words are meaningless, so these tests check
behaviour (exit codes, JSON keys, streams), never wording. Screen tests start
their own Xvfb on a free display (``-displayfd``) and skip when it is absent.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
import wave
from pathlib import Path

import pytest
from PIL import Image

try:
    from tests.conftest import shared_photo_path
    from tests.make_images import bad_cases, text_image
    from tests.xvfb import start_xvfb
except ImportError:  # tests/ on sys.path instead of the repository root
    from conftest import shared_photo_path
    from make_images import bad_cases, text_image
    from xvfb import start_xvfb

REPO = Path(__file__).resolve().parent.parent

#: Random weights never stop on their own: keep answers short so each run takes seconds.
SHORT = ("--max-new-tokens", "16")
JSON_KEYS = ("text", "model", "device", "quantization", "input_tokens", "output_tokens", "timings")
TIMING_KEYS = {"load", "first_token", "first_audio", "total"}


def iris(*args: str, env: dict | None = None, timeout: float = 240, stdin=subprocess.DEVNULL):
    """Run ``python -m app ARGS`` from the repository root."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    full_env.setdefault("OMP_NUM_THREADS", "2")
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        cwd=REPO,
        env=full_env,
        stdin=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def one_error_line(result) -> str:
    """The run failed with exactly one ``iris: `` line on stderr and no traceback."""
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("iris: ")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def answer_json(result) -> dict:
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    data = json.loads(result.stdout)
    for key in JSON_KEYS:
        assert key in data, key
    assert set(data["timings"]) == TIMING_KEYS
    return data


@pytest.fixture(scope="module")
def photo() -> Path:
    return shared_photo_path()


# ------------------------------------------------------------------- X server
class Display:
    """An Xvfb server on a free display number, optionally showing a window of text."""

    def __init__(self) -> None:
        self.window: subprocess.Popen | None = None
        self.server = start_xvfb(1280, 800)
        if self.server is None:
            pytest.skip("Xvfb did not start")
        self.name = self.server.name

    @property
    def env(self) -> dict:
        return {"DISPLAY": self.name, "QT_QPA_PLATFORM": "xcb"}

    def show_text(self, text: str) -> None:
        """Cover the screen with a Qt window of large black text on white."""
        self.hide()
        code = (
            "import sys\n"
            "from PySide6.QtCore import Qt, QTimer\n"
            "from PySide6.QtWidgets import QApplication, QLabel\n"
            "app = QApplication(sys.argv[:1])\n"
            "label = QLabel(sys.argv[1])\n"
            "label.setStyleSheet('background: white; color: black; font-size: 40px; padding: 40px;')\n"
            "label.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)\n"
            "label.setGeometry(0, 0, 1280, 800)\n"
            "label.show()\n"
            "QTimer.singleShot(300, lambda: print('shown', flush=True))\n"
            "app.exec()\n"
        )
        env = dict(os.environ, **self.env)
        self.window = subprocess.Popen(
            [sys.executable, "-c", code, text], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        ready, _, _ = select.select([self.window.stdout], [], [], 30)
        if not ready or self.window.stdout.readline().strip() != "shown":
            self.window.kill()
            _, err = self.window.communicate()
            self.window = None
            pytest.fail(f"could not show a window on Xvfb: {err[-800:]}")

    def hide(self) -> None:
        if self.window is not None:
            self.window.terminate()
            try:
                self.window.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                self.window.kill()
                self.window.communicate()
            self.window = None

    def close(self) -> None:
        self.hide()
        self.server.close()


@pytest.fixture(scope="module")
def xvfb():
    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb is not installed")
    display = Display()
    yield display
    display.close()


@pytest.fixture
def bare_xvfb(xvfb):
    xvfb.hide()
    return xvfb


SCREEN_WORDS = ("Quarterly report", "Revenue grew by twelve percent")


@pytest.fixture
def text_xvfb(xvfb):
    xvfb.show_text("\n".join(SCREEN_WORDS))
    yield xvfb
    xvfb.hide()


# ---------------------------------------------------------- help and models
def test_help_runs_and_lists_the_commands():
    result = iris("--help")
    assert result.returncode == 0 and result.stderr == ""
    for command in ("describe", "ask", "read", "speak", "models"):
        assert command in result.stdout


def test_models_list_names_the_catalogue():
    result = iris("models", "list", "--json")
    assert result.returncode == 0, result.stderr
    models = json.loads(result.stdout)["models"]
    assert models and all(not m["installed"] for m in models)
    text = iris("models", "list")
    assert all(m["name"] in text.stdout for m in models)


def test_models_download_without_network_says_what_to_do():
    result = iris("models", "download", "smolvlm-256m", "--no-speak", env={"HF_HUB_OFFLINE": "1"}, timeout=60)
    assert result.returncode == 3
    line = one_error_line(result)
    assert "iris models download smolvlm-256m" in line  # the command to run again


# ------------------------------------------------------------------- speak
def test_speak_writes_a_wav_file(tmp_path):
    if shutil.which("espeak-ng") is None and shutil.which("espeak") is None:
        pytest.skip("no speech engine (espeak-ng) installed")
    out = tmp_path / "hello.wav"
    result = iris("speak", "Hello", "--wav", str(out), timeout=60)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    with wave.open(str(out)) as wav:
        frames, rate = wav.getnframes(), wav.getframerate()
        assert wav.getsampwidth() == 2 and rate >= 8000
        assert frames / rate > 0.1
        samples = wav.readframes(frames)
    assert any(samples[i] for i in range(0, len(samples), 2))  # not all silence


# -------------------------------------------------------------------- read
def test_read_finds_the_words_in_a_rendered_image(tmp_path):
    path = tmp_path / "scan.png"
    text_image(["Invoice number 2041", "Total due 118 euros"], size=(900, 300)).save(path)
    result = iris("read", str(path), "--no-speak", "--json", timeout=120)
    data = answer_json(result)
    assert data["kind"] == "read"
    assert "Invoice" in data["text"] and "2041" in data["text"] and "Total" in data["text"]
    assert data["text"].index("Invoice") < data["text"].index("Total")


@pytest.mark.parametrize("command", [["read", "IMAGE"], ["speak", "Hello"]])
def test_read_and_speak_never_import_torch(tmp_path, command):
    path = tmp_path / "scan.png"
    text_image(["Hello"], size=(300, 120)).save(path)
    args = [str(path) if a == "IMAGE" else a for a in command] + ["--no-speak", "--json"]
    code = (
        "import sys\n"
        "from app.cli import main\n"
        "rc = main(sys.argv[1:])\n"
        "heavy = sorted(m for m in ('torch', 'transformers') if m in sys.modules)\n"
        "print('HEAVY=' + ','.join(heavy), rc, file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, *args], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert "HEAVY= 0" in result.stderr, result.stderr


# -------------------------------------------------------------- bad input
BAD = ["truncated_png", "zero_bytes_file", "text_named_png", "bomb_30000_square", "directory", "missing_path"]


@pytest.mark.parametrize("case", BAD)
@pytest.mark.parametrize("command", ["describe", "read"])
def test_bad_image_files_are_exit_2_with_one_line(tmp_path, case, command):
    path = bad_cases()[case](tmp_path)
    assert isinstance(path, Path)
    start = time.perf_counter()
    result = iris(command, str(path), "--no-speak", timeout=60)
    assert result.returncode == 2, result.stderr
    one_error_line(result)
    assert result.stdout == ""
    assert time.perf_counter() - start < 30  # refused up front, never decoded in full


def test_bad_command_line_is_exit_2_with_one_line():
    result = iris("describe", "--no-such-flag")
    assert result.returncode == 2
    one_error_line(result)


def test_screen_without_a_display_is_exit_4(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    result = iris("read", "--screen", "--no-speak", timeout=60)
    assert result.returncode == 4
    one_error_line(result)


def _wait_until_reading_stdin(pid: int, limit: float = 60.0) -> None:
    """Wait until the main thread blocks reading standard input (Linux x86-64: read(0, ...)),
    so the interrupt lands where a user's Ctrl+C would, however slowly a busy machine starts it."""
    syscall = Path(f"/proc/{pid}/syscall")
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            fields = syscall.read_text().split()
        except OSError:
            break
        if fields[:2] == ["0", "0x0"]:
            time.sleep(0.1)
            return
        time.sleep(0.05)
    time.sleep(1.5)  # no /proc/PID/syscall here: a fixed wait, as before


def test_ctrl_c_is_exit_130_with_one_line():
    # ``describe -`` waits for an image on standard input; interrupt it there.
    proc = subprocess.Popen(
        [sys.executable, "-m", "app", "describe", "-", "--no-speak"],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_until_reading_stdin(proc.pid)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert [line for line in err.splitlines() if line.startswith("iris: ")] and len(err.strip().splitlines()) == 1


# --------------------------------------------------------------- no model
def test_photo_without_a_model_reads_its_text_and_says_how_to_download(photo):
    result = iris("describe", str(photo), "--no-speak", "--json", timeout=120)
    assert result.returncode == 0, result.stderr
    assert "iris models download" in result.stderr and "Traceback" not in result.stderr
    data = json.loads(result.stdout)
    assert data["kind"] == "ocr-fallback" and "iris models download" in data["notice"]
    assert data["engine"] != "none" and data["text"]  # the photo's text, or "No text was found."


@pytest.mark.xvfb
def test_screen_without_a_model_reads_its_text_and_says_a_model_can_be_downloaded(text_xvfb):
    result = iris("describe", "--screen", "--no-speak", env=text_xvfb.env, timeout=180)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "Quarterly report" in result.stdout and "twelve percent" in result.stdout
    assert "iris models download" in result.stderr
    assert "iris models download" not in result.stdout


# ----------------------------------------------------------- with a model
@pytest.mark.slow
def test_describe_a_photo_with_a_real_model_folder(photo, tiny_model_dir):
    result = iris("describe", str(photo), "--model", str(tiny_model_dir), "--json", "--no-speak", *SHORT)
    data = answer_json(result)
    assert data["kind"] == "describe" and data["text"].strip()
    assert data["device"] == "cpu" and data["output_tokens"] > 0 and data["input_tokens"] > 0
    assert data["timings"]["first_token"] is not None
    assert 0 <= data["timings"]["first_token"] <= data["timings"]["total"]


@pytest.mark.slow
def test_describe_streams_text_to_stdout(photo, tiny_model_dir):
    result = iris("describe", str(photo), "--model", str(tiny_model_dir), "--no-speak", *SHORT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() and result.stdout.endswith("\n")
    assert not [line for line in result.stderr.splitlines() if line.startswith("iris: ")]


@pytest.mark.slow
def test_ask_about_a_photo(photo, tiny_model_dir):
    result = iris(
        "ask", str(photo), "What animal is this?", "--model", str(tiny_model_dir), "--json", "--no-speak", *SHORT
    )
    data = answer_json(result)
    assert data["kind"] == "ask" and data["text"].strip() and data["output_tokens"] > 0


@pytest.mark.slow
@pytest.mark.xvfb
def test_describe_the_screen_with_a_model(text_xvfb, tiny_model_dir):
    result = iris(
        "describe", "--screen", "--model", str(tiny_model_dir), "--json", "--no-speak", *SHORT, env=text_xvfb.env
    )
    data = answer_json(result)
    assert data["kind"] == "describe" and data["text"].strip() and data["output_tokens"] > 0


@pytest.mark.xvfb
@pytest.mark.parametrize("monitor", [[], ["--monitor", "1"]])
def test_a_blank_screen_is_said_without_running_the_model(bare_xvfb, tiny_model_dir, monitor):
    result = iris(
        "describe", "--screen", *monitor, "--model", str(tiny_model_dir), "--json", "--no-speak", env=bare_xvfb.env
    )
    data = answer_json(result)
    assert data["kind"] == "blank" and data["text"].strip()
    assert data["output_tokens"] == 0 and data["input_tokens"] == 0 and data["model"] == "none"


@pytest.mark.xvfb
def test_read_the_screen(text_xvfb):
    result = iris("read", "--screen", "--no-speak", env=text_xvfb.env, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any("Quarterly report" in line for line in lines)
    assert any("twelve percent" in line for line in lines)


@pytest.mark.xvfb
def test_a_monitor_that_does_not_exist_is_a_capture_error(bare_xvfb):
    result = iris("read", "--screen", "--monitor", "7", "--no-speak", env=bare_xvfb.env, timeout=60)
    assert result.returncode == 4
    one_error_line(result)


def test_the_image_itself_can_come_from_standard_input(tmp_path):
    path = tmp_path / "scan.png"
    text_image(["Piped text works"], size=(600, 150)).save(path)
    with open(path, "rb") as fh:
        result = iris("read", "-", "--no-speak", stdin=fh, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "Piped" in result.stdout


def test_a_tiny_photo_is_fine(tmp_path):
    path = tmp_path / "dot.png"
    Image.new("RGB", (1, 1), "red").save(path)
    result = iris("read", str(path), "--no-speak", timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()  # "no text was found", in some words


@pytest.mark.slow
def test_describe_into_a_wav_file_measures_the_first_audio(photo, tiny_model_dir, tmp_path):
    if shutil.which("espeak-ng") is None and shutil.which("espeak") is None:
        pytest.skip("no speech engine (espeak-ng) installed")
    out = tmp_path / "answer.wav"
    result = iris("describe", str(photo), "--model", str(tiny_model_dir), "--json", "--wav", str(out), *SHORT)
    data = answer_json(result)
    timings = data["timings"]
    assert timings["first_audio"] is not None
    assert timings["first_token"] <= timings["first_audio"] <= timings["total"]
    with wave.open(str(out)) as wav:
        assert wav.getnframes() / wav.getframerate() > 0.2
