"""Privacy: no network outside the model download, pictures stay in memory, history is private,
logs hold no answers.

The network checks run three ways: in-process with a socket guard over the
tiny real model, real OCR and real speech; in a subprocess with a clean
environment (no HF_HUB_OFFLINE, as a user runs Iris) through the real CLI; and
(slow) under strace, which also sees native code such as onnxruntime.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from PIL import Image

from app.history import History
from tests.make_images import text_image, write_test_video
from tests.mock_engine import MockEngine
from tests.reliability.conftest import tree

REPO = Path(__file__).resolve().parents[2]
SECRET_ANSWER = "Zebra quartz umbrella 7f3a. The private letter is addressed to Mrs Okonkwo."
SECRET_TEXT = ["Account 5521 0099", "Balance 1337 euros"]


def clean_env(home: Path, iris_home: Path) -> dict:
    """The environment of a user: no offline switches, no proxies, a fresh home."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("HF_", "TRANSFORMERS_", "ORT_", "DO_NOT_TRACK")) and "proxy" not in k.lower()}
    env.update(HOME=str(home), IRIS_HOME=str(iris_home), OMP_NUM_THREADS="2", PYTHONPATH=str(REPO))
    env.pop("XDG_CACHE_HOME", None)
    env.pop("XDG_CONFIG_HOME", None)
    return env


# ------------------------------------------------------------------ in-process
def test_describe_ask_read_speak_open_no_connection(socket_guard, tiny_model_dir, photo_path, tmp_path):
    """The real engine (through the loader), real OCR and real speech into a WAV file."""
    from app.compose import build_core
    from app.engine.loading import create_engine
    from app.images import load_image
    from app.notifier import Notifier
    from app.settings import Settings

    notifier = Notifier()
    settings = Settings.load(on_message=notifier.error)
    settings.update({"max_new_tokens": 16, "cpu_threads": 2})
    wav = tmp_path / "speech.wav"
    core = build_core(settings=settings, notifier=notifier, wav_path=wav,
                      engine=create_engine(str(tiny_model_dir), "cpu", settings))
    try:
        answer = core.assistant.describe(load_image(photo_path))
        assert answer.output_tokens > 0
        assert core.assistant.ask("What colour is it?").output_tokens > 0
        read = core.assistant.read_text(text_image(SECRET_TEXT, size=(700, 260)))
        assert "1337" in read.text
        core.speaker.speak("Speech works offline.")
        assert core.speaker.wait(60)
    finally:
        core.close()
    assert wav.stat().st_size > 1000  # speech really ran (espeak-ng or the fallback)
    assert socket_guard.attempts == []


# ------------------------------------------------------------ real CLI, clean env
DRIVER = textwrap.dedent("""
    import json, socket, sys
    attempts = []
    def refuse(what, error=ConnectionRefusedError):
        attempts.append(what)
        raise error("refused by the test: " + what)
    socket.socket.connect = lambda self, address, *a: refuse("connect %r" % (address,))
    socket.socket.connect_ex = lambda self, address, *a: refuse("connect_ex %r" % (address,))
    socket.create_connection = lambda address, *a, **k: refuse("create_connection %r" % (address,))
    socket.getaddrinfo = lambda host, *a, **k: refuse("getaddrinfo %r" % (host,), socket.gaierror)
    socket.gethostbyname = lambda host, *a: refuse("gethostbyname %r" % (host,), socket.gaierror)
    from app.cli import main
    codes = {}
    for name, argv in json.loads(sys.argv[1]):
        codes[name] = main(argv)
    print("RESULT " + json.dumps({"codes": codes, "attempts": attempts}), flush=True)
    hold = float(sys.argv[2]) if len(sys.argv) > 2 else 0
    if hold:  # keep the OCR runtime alive, as the desktop app does, to catch delayed telemetry
        import time
        from app.ocr import TextReader
        reader = TextReader(); reader.load(); time.sleep(hold)
""")


def run_driver(commands: list, tmp_path: Path, *, hold: float = 0, prefix: list[str] | None = None,
               iris_home: Path | None = None) -> dict:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    iris_home = iris_home or tmp_path / "iris-home"
    iris_home.mkdir(exist_ok=True)
    command = [*(prefix or []), sys.executable, "-c", DRIVER, json.dumps(commands), str(hold)]
    result = subprocess.run(command, cwd=REPO, env=clean_env(home, iris_home), capture_output=True, text=True,
                            timeout=300, stdin=subprocess.DEVNULL)
    line = [x for x in result.stdout.splitlines() if x.startswith("RESULT ")]
    assert line, result.stderr[-3000:]
    data = json.loads(line[-1][len("RESULT "):])
    data["stderr"] = result.stderr
    data["home_files"] = sorted(str(p.relative_to(home)) for p in home.rglob("*"))
    return data


def user_commands(tmp_path: Path, photo: Path, tiny: Path) -> list:
    text_png = tmp_path / "letter.png"
    text_image(SECRET_TEXT, size=(700, 260)).save(text_png)
    model = ["--model", str(tiny), "--max-new-tokens", "16"]
    return [
        ["describe", ["describe", str(photo), *model, "--wav", str(tmp_path / "d.wav")]],
        ["ask", ["ask", str(photo), "What colour is it?", *model, "--wav", str(tmp_path / "a.wav")]],
        ["read", ["read", str(text_png), "--wav", str(tmp_path / "r.wav")]],
        ["speak", ["speak", "Nothing leaves this computer.", "--wav", str(tmp_path / "s.wav")]],
        ["describe with the installed default model", ["describe", str(photo), "--no-speak", "--max-new-tokens", "16"]],
    ]


def install_default(tiny: Path, iris_home: Path) -> None:
    """The tiny model installed where `iris models download` puts the CPU default."""
    shutil.copytree(tiny, iris_home / "data" / "models" / "smolvlm-256m")


def test_cli_actions_open_no_connection_in_a_users_environment(tmp_path, tiny_model_dir, photo_path):
    iris_home = tmp_path / "iris-home"
    install_default(tiny_model_dir, iris_home)
    data = run_driver(user_commands(tmp_path, photo_path, tiny_model_dir), tmp_path, iris_home=iris_home)
    assert set(data["codes"].values()) == {0}, data
    assert data["attempts"] == []
    # Nothing was written outside Iris's own folders (no library caches or telemetry ids in ~);
    # the sound system's client leaves only its runtime link (no data) under ~/.config/pulse.
    assert [f for f in data["home_files"] if not f.startswith((".config/pulse", ".config"))] == []
    assert all(f in (".config", ".config/pulse") or f.endswith("-runtime") for f in data["home_files"])


def test_ocr_library_telemetry_is_off(tmp_path):
    """onnxruntime (the OCR engine) would write a telemetry device id under ~/.cache at once and
    contact mobile.events.data.microsoft.com seconds later; Iris switches that off."""
    text_png = tmp_path / "t.png"
    text_image(["Hello"], size=(300, 120)).save(text_png)
    data = run_driver([["read", ["read", str(text_png), "--no-speak"]]], tmp_path)
    assert data["codes"] == {"read": 0}
    assert not any("Microsoft" in f or "onnxruntime" in f for f in data["home_files"]), data["home_files"]
    assert "telemetry" not in data["stderr"].lower()


def test_models_download_contacts_only_the_model_hub(tmp_path):
    """The one command allowed to connect: it asks for the hub's address, nothing else
    (the guard refuses, so it ends with one sentence and exit code 3)."""
    data = run_driver([["download", ["models", "download", "smolvlm-256m", "--no-speak"]]], tmp_path)
    assert data["codes"] == {"download": 3}
    assert data["attempts"], "the download did not try the network at all"
    hosts = {re.search(r"'([^']+)'", a).group(1) for a in data["attempts"]}
    assert hosts == {"huggingface.co"}, data["attempts"]
    errors = [x for x in data["stderr"].splitlines() if x.startswith("iris: ")]
    assert len(errors) == 1 and "Traceback" not in data["stderr"]


@pytest.mark.slow
def test_no_network_even_from_native_code_strace(tmp_path, tiny_model_dir, photo_path):
    """strace sees every connect(), from Python or C++ (onnxruntime, torch), for 10 s after the
    actions with the OCR runtime kept alive: no Internet socket is ever connected."""
    strace = shutil.which("strace")
    if strace is None:
        pytest.skip("strace is not installed")
    probe = subprocess.run([strace, "-f", "-e", "trace=none", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("ptrace is not permitted here")
    log = tmp_path / "strace.txt"
    iris_home = tmp_path / "iris-home"
    install_default(tiny_model_dir, iris_home)
    data = run_driver(user_commands(tmp_path, photo_path, tiny_model_dir), tmp_path, hold=10,
                      prefix=[strace, "-f", "-qq", "-e", "trace=connect,sendto,sendmsg", "-o", str(log)],
                      iris_home=iris_home)
    assert set(data["codes"].values()) == {0}, data
    calls = log.read_text().splitlines()
    inet = [c for c in calls if "AF_INET" in c or "htons(53)" in c]
    assert inet == [], inet[:5]


# ----------------------------------------------------- pictures stay in memory
class PictureSource:
    """A capture source over a rendered screenshot (the real mss grab is checked on Xvfb below)."""

    label = "the screen"
    is_screen = True

    def __init__(self) -> None:
        self.image = text_image(["Inbox (3)", "Dear Mrs Okonkwo, your results are ready."], size=(900, 400))

    def grab(self) -> Image.Image:
        return self.image.copy()


def snapshot(*roots: Path) -> dict:
    found = {}
    for root in roots:
        found.update(tree(root))
    return found


@pytest.mark.parametrize("history_on", [False, True], ids=["history-off", "history-on"])
def test_screen_describe_and_read_write_no_file_unless_history_is_on(
    history_on, make_rig, tiny_engine, audit, private_tmp, iris_home
):
    from app.ocr import TextReader

    rig = make_rig(tiny_engine, ocr=TextReader(), settings={"max_new_tokens": 16, "history_enabled": history_on})
    history = History(enabled=history_on, limit=5)
    source = PictureSource()
    before = snapshot(iris_home, private_tmp)
    audit.events.clear()

    def job(cancel):
        image = source.grab()
        answer = rig.assistant.describe(image, is_screen=True, label=source.label, cancel=cancel)
        history.add(image, answer.text, source=source.label)
        read = rig.assistant.read_text(source.grab(), is_screen=True, cancel=cancel)
        history.add(image, read.text, source=source.label)
        return answer

    assert "result" in rig.run(job, timeout=120)
    written = {e.detail.split(" ")[0].strip("'") for e in audit.of("write")}
    after = snapshot(iris_home, private_tmp)
    new = sorted(set(after) - set(before))
    if not history_on:
        assert written == set() and new == [], (written, new)
    else:
        folder = History(enabled=True, limit=5).directory
        assert new and all(Path(p).parent == folder for p in new), new
        assert all(Path(w).parent == folder for w in written), written
        assert any(p.endswith(".png") for p in new)


def test_camera_frames_stay_in_memory(rig, tmp_path, audit, private_tmp, iris_home):
    from tests.video_source import VideoFileSource

    video = write_test_video(tmp_path / "camera.avi", frames=6)
    camera = VideoFileSource(video)
    before = snapshot(iris_home, private_tmp, tmp_path)
    audit.events.clear()
    for _ in range(4):
        rig.describe_good()
        box = rig.run(lambda cancel: rig.assistant.describe(camera.grab(), label=camera.label, cancel=cancel))
        assert box["result"].text
    camera.close()
    assert audit.of("write") == [] and snapshot(iris_home, private_tmp, tmp_path) == before


@pytest.mark.xvfb
def test_real_screen_capture_writes_nothing(rig, audit, private_tmp, iris_home, monkeypatch):
    """mss on a real X server (Xvfb): the screenshot exists only in memory."""
    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb is not installed")
    from app.capture.screen import ScreenCapture
    from tests.test_cli_e2e import Display

    display = Display()
    try:
        monkeypatch.setenv("DISPLAY", display.name)
        display.show_text("Dear Mrs Okonkwo, your test results are ready.")
        before = snapshot(iris_home, private_tmp)
        audit.events.clear()
        source = ScreenCapture()
        box = rig.run(lambda cancel: rig.assistant.describe(source.grab(), is_screen=True, cancel=cancel))
        assert "error" not in box, box
        assert rig.engine.calls[-1].image.size == (1280, 800)
        assert audit.of("write") == [] and snapshot(iris_home, private_tmp) == before
    finally:
        display.close()


# -------------------------------------------------------------------- history
def test_history_is_owner_only_even_with_a_permissive_umask(tmp_path):
    old = os.umask(0)  # the worst case: every new file would be world-readable
    try:
        history = History(tmp_path / "history", enabled=True, limit=3)
        for n in range(5):
            assert history.add(Image.new("RGB", (40, 30), (n * 40, 0, 0)), f"Answer {n}.", source="the screen")
    finally:
        os.umask(old)
    folder = history.directory
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    files = list(folder.iterdir())
    assert len([f for f in files if f.suffix == ".png"]) == 3  # trimmed to the limit, images too
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name
    assert history.clear()
    assert [p for p in folder.iterdir()] == []
    assert History(tmp_path / "history", enabled=True, limit=3).entries() == []


def test_history_off_touches_no_disk(tmp_path, audit):
    history = History(tmp_path / "history", enabled=False, limit=3)
    assert history.add(Image.new("RGB", (10, 10)), "Secret.", source="the screen") is None
    assert not (tmp_path / "history").exists() and audit.of("write") == []


def test_default_history_folder_is_in_the_users_data_dir(iris_home):
    from app import paths

    folder = History(enabled=True, limit=1).directory
    assert folder == paths.history_dir() and iris_home in folder.parents


# ----------------------------------------------------------------------- logs
def test_logs_hold_no_answer_question_or_picture_by_default(make_rig, tiny_engine, caplog, photo_path):
    """Everything Iris and its libraries log at DEBUG during describe, ask, read and speak."""
    from app.images import load_image
    from app.ocr import TextReader

    caplog.set_level(logging.DEBUG)
    mock = make_rig(MockEngine(SECRET_ANSWER), ocr=TextReader())
    question = "Who is the letter for, Mrs Okonkwo?"
    mock.run(lambda c: mock.assistant.describe(load_image(photo_path), cancel=c))
    mock.run(lambda c: mock.assistant.ask(question, cancel=c))
    read = mock.run(lambda c: mock.assistant.read_text(text_image(SECRET_TEXT, size=(700, 260)), cancel=c))
    assert "1337" in read["result"].text
    real = make_rig(tiny_engine, settings={"max_new_tokens": 16})
    real_answer = real.run(lambda c: real.assistant.describe(load_image(photo_path), cancel=c))["result"].text
    assert len(real_answer) > 10
    records = caplog.records
    assert records, "nothing was logged at all: the check would be empty"
    logged = "\n".join(
        [r.getMessage() for r in records] + [r.exc_text or "" for r in records] + [str(r.args) for r in records]
    )
    for secret in ("Zebra quartz", "Okonkwo", "1337", "5521", real_answer.strip()[:30]):
        assert secret not in logged, secret
    for image_data in ("\\x89PNG", "iVBORw0KGgo", "data:image", "<PIL."):
        assert image_data not in logged
    assert max(len(r.getMessage()) for r in records) < 2000


def test_no_log_file_is_written(rig, iris_home, private_tmp, audit):
    rig.describe_good()
    rig.assistant.ask("What else?")
    assert not [p for p in snapshot(iris_home, private_tmp) if p.endswith((".log", ".txt"))]
    assert audit.of("write") == []


def test_cli_debug_off_prints_no_answer_on_stderr(tmp_path, tiny_model_dir, photo_path):
    """Status lines go to stderr, the answer only to stdout (so a log of stderr holds no answer)."""
    env = clean_env(tmp_path, tmp_path / "ih")
    result = subprocess.run([sys.executable, "-m", "app", "describe", str(photo_path), "--model", str(tiny_model_dir),
                             "--max-new-tokens", "16", "--no-speak"], cwd=REPO, env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    answer = result.stdout.strip()
    assert len(answer) > 5 and answer[:20] not in result.stderr
