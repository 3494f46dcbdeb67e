"""Diagnostics a user can send: the log file (opt-in, private), crash details said once, iris doctor."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from PIL import Image

from app import cli, cli_actions, diagnostics, logsetup, paths
from app.compose import build_core
from app.settings import Settings
from app.speech.base import SilentSpeaker
from tests.mock_engine import MockEngine

ROOT = Path(__file__).resolve().parent.parent
ANSWER = "ZEBRA-ANSWER-7731 on a purple table"
QUESTION = "What is QUESTION-4412 about?"
SCREEN_TEXT = "SCREEN-TEXT-9090 invoice total"


@pytest.fixture(autouse=True)
def clean_logging():
    yield
    diagnostics.uninstall_crash_hooks()
    logsetup.shutdown_logging()


class FakeReader:
    name = "fake"

    def read_lines(self, image: Image.Image) -> list[str]:
        return [SCREEN_TEXT]


def _run(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, IRIS_HOME=str(tmp_path / "home"))
    env.pop("IRIS_DEBUG", None)
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


# ----------------------------------------------------------------- routing
def test_log_records_and_warnings_stay_off_stderr_but_are_kept(tmp_path):
    """The old NullHandler + warnings filter threw log.exception away; now it is kept, not printed."""
    done = _run(
        "import logging, warnings\n"
        "from app.logsetup import configure_logging, recent_lines\n"
        "configure_logging()\n"
        "try:\n    1 / 0\nexcept ZeroDivisionError:\n    logging.getLogger('app.jobs').exception('job failed')\n"
        "logging.getLogger('some.library').warning('library warning')\n"
        "warnings.warn('a deprecation', DeprecationWarning)\n"
        "warnings.warn('a user warning')\n"
        "print('\\n'.join(recent_lines()))\n",
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert "job failed" in done.stdout and "ZeroDivisionError" in done.stdout
    assert "library warning" in done.stdout and "a user warning" in done.stdout


def test_debug_sends_records_to_stderr(tmp_path):
    done = _run("import logging\nfrom app.logsetup import configure_logging\nconfigure_logging(debug=True)\n"
                "logging.getLogger('app.x').debug('details for a developer')\n", tmp_path)
    assert "details for a developer" in done.stderr


def test_no_log_file_unless_the_setting_is_on(iris_home):
    logsetup.configure_logging(to_file=False)
    logging.getLogger("app.test").warning("something")
    assert not logsetup.log_file().exists()
    assert logsetup.configure_logging(to_file=True) == logsetup.log_file()
    logging.getLogger("app.test").warning("something else")
    assert "something else" in logsetup.log_file().read_text(encoding="utf-8")
    assert logsetup.log_file().parent == paths.log_dir()
    if os.name == "posix":
        assert logsetup.log_file().stat().st_mode & 0o077 == 0  # owner-only


def test_log_file_rotates(iris_home, monkeypatch):
    monkeypatch.setattr(logsetup, "MAX_BYTES", 2000)
    logsetup.configure_logging(to_file=True)
    for index in range(200):
        logging.getLogger("app.test").warning("line %d %s", index, "x" * 40)
    files = sorted(p.name for p in logsetup.log_file().parent.glob("iris.log*"))
    assert files == ["iris.log", "iris.log.1", "iris.log.2", "iris.log.3"]
    assert all(p.stat().st_size <= 2000 + 200 for p in logsetup.log_file().parent.glob("iris.log*"))


def test_log_file_never_holds_answers_questions_or_screen_text(iris_home):
    """Describe, ask and read with the log on: the file records the work and a failure, not the words."""
    logsetup.configure_logging(to_file=True)
    settings = Settings.load()
    core = build_core(settings=settings, speaker=SilentSpeaker(), engine=MockEngine(ANSWER), ocr=FakeReader())
    try:
        picture = Image.new("RGB", (64, 48), (200, 30, 30))
        assert ANSWER in core.assistant.describe(picture, label="photo.png").text
        core.assistant.ask(QUESTION)
        assert SCREEN_TEXT in core.assistant.read_text(picture).text

        def failing_job(cancel: object) -> None:
            raise RuntimeError("engine exploded")

        core.runner.submit(failing_job, on_error=lambda error: None)
        core.runner.wait_idle()
    finally:
        core.close()
    for handler in logging.getLogger().handlers:
        handler.flush()
    text = logsetup.log_file().read_text(encoding="utf-8")
    assert "engine exploded" in text  # the failure's details are there for the user to send
    for private in ("ZEBRA-ANSWER", "purple table", "QUESTION-4412", "SCREEN-TEXT-9090", "invoice total"):
        assert private not in text


# ----------------------------------------------------------------- crashes
def test_thread_crash_is_logged_once_and_said_once_with_where_the_details_are(iris_home):
    said: list[str] = []
    logsetup.configure_logging()
    diagnostics.install_crash_hooks(said.append)
    error = RuntimeError("worker bug 5150")

    def boom() -> None:
        raise error

    thread = threading.Thread(target=boom, name="iris-test-worker")
    thread.start()
    thread.join()
    sys.excepthook(RuntimeError, error, error.__traceback__)  # the same exception again: not said twice
    assert len(said) == 1
    crash = diagnostics.crash_file()
    assert str(crash) in said[0]
    details = crash.read_text(encoding="utf-8")
    assert details.count("worker bug 5150") == 1 and "iris-test-worker" in details and "boom" in details


def test_qt_slot_exception_goes_through_the_one_hook(tmp_path):
    """PySide6 hands exceptions raised in slots to sys.excepthook: one sentence, no traceback on stderr."""
    done = _run(
        "import os, sys\nos.environ['QT_QPA_PLATFORM'] = 'offscreen'\n"
        "from PySide6.QtCore import QTimer\nfrom PySide6.QtWidgets import QApplication\n"
        "from app.diagnostics import install_crash_hooks\nfrom app.logsetup import configure_logging\n"
        "app = QApplication([])\nconfigure_logging()\nsaid = []\ninstall_crash_hooks(said.append)\n"
        "def slot():\n    raise ValueError('slot bug 6262')\n"
        "QTimer.singleShot(0, slot)\nQTimer.singleShot(200, app.quit)\napp.exec()\n"
        "print(len(said))\nprint(said[0] if said else '')\n",
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    count, sentence = done.stdout.strip().splitlines()
    assert count == "1"
    assert "Traceback" not in done.stderr and "slot bug" not in done.stderr
    crash = tmp_path / "home" / "logs" / diagnostics.CRASH_NAME
    assert str(crash) in sentence and "slot bug 6262" in crash.read_text(encoding="utf-8")


def test_cli_bug_is_one_line_naming_the_crash_file(iris_home, monkeypatch, capsys):
    def broken(session):
        raise KeyError("internal bug 777")

    monkeypatch.setattr(cli_actions, "run_speak", broken)
    code = cli.main(["speak", "hello", "--no-speak"])
    captured = capsys.readouterr()
    assert code == 1
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("iris:")
    crash = diagnostics.crash_file()
    assert str(crash) in lines[0]
    assert "internal bug 777" in crash.read_text(encoding="utf-8")


def test_a_users_mistake_writes_no_crash_file(iris_home, capsys):
    assert cli.main(["describe", str(iris_home / "missing.png"), "--no-speak"]) == 2
    assert not diagnostics.crash_file().exists()


# ------------------------------------------------------------------ doctor
def test_settings_in_the_report_hide_secrets_only():
    shown = diagnostics.safe_settings({"server_api_key": "sk-123", "auth_token": "t", "hotkey_stop": "<ctrl>+s",
                                       "max_new_tokens": 256, "empty_api_key": ""})
    assert shown["server_api_key"] == "(hidden)" and shown["auth_token"] == "(hidden)"
    assert shown["hotkey_stop"] == "<ctrl>+s" and shown["max_new_tokens"] == 256
    assert shown["empty_api_key"] == ""


def test_doctor_reports_versions_parts_and_settings_without_secrets(iris_home, monkeypatch, capsys):
    monkeypatch.setenv("IRIS_API_KEY", "sk-DOCTOR-SECRET-1")
    (iris_home / "config").mkdir(parents=True, exist_ok=True)
    settings = Settings.load()
    settings.set("answer_language", "Welsh")
    settings.set("speech_engine", "silent")
    assert cli.main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "sk-DOCTOR-SECRET-1" not in out
    assert "0.1.0" in out and "Python" in out
    assert "'Welsh'" in out  # the settings in use
    assert "torch" in out and "PySide6" in out
    # the speech output really composed for these settings is named
    assert "silent" in out


def test_report_names_the_engine_and_the_speaker():
    text = diagnostics.report({"rate": 190}, engine=MockEngine(), speaker=SilentSpeaker())
    assert "MockEngine" in text and "model_name=mock" in text and "SilentSpeaker" in text and "rate = 190" in text


def test_report_is_plain_lines_of_text():
    text = diagnostics.report(None)
    assert text.endswith("\n") and all(line.isprintable() for line in text.splitlines())
    json.dumps(text)  # pastes anywhere


def test_help_menu_copies_the_report_to_the_clipboard(qtbot, qapp):
    from PySide6.QtGui import QGuiApplication

    from app.gui.app import IrisApp

    core = build_core(settings=Settings.load(), speaker=SilentSpeaker(), engine=MockEngine(), ocr=FakeReader())
    iris = IrisApp(qapp, core=core, start_hotkeys=False)
    try:
        help_menu = [m.menu() for m in iris.window.menuBar().actions() if m.text().replace("&", "") == "Help"][0]
        entry = [a for a in help_menu.actions() if a.objectName() == "action_copy_diagnostics"][0]
        QGuiApplication.clipboard().clear()
        entry.trigger()
        text = QGuiApplication.clipboard().text()
        assert "MockEngine" in text and "SilentSpeaker" in text and "Settings:" in text
    finally:
        iris.shutdown()


def test_the_setting_turns_the_log_file_on_and_off_while_the_app_runs(qtbot, qapp, iris_home):
    from app.gui.app import IrisApp

    core = build_core(settings=Settings.load(), speaker=SilentSpeaker(), engine=MockEngine(), ocr=FakeReader())
    iris = IrisApp(qapp, core=core, start_hotkeys=False)
    try:
        iris.settings.set("log_to_file", True)
        logging.getLogger("app.test").warning("while the log is on")
        assert "while the log is on" in logsetup.log_file().read_text(encoding="utf-8")
        iris.settings.set("log_to_file", False)
        logging.getLogger("app.test").warning("after it was turned off")
        assert "after it was turned off" not in logsetup.log_file().read_text(encoding="utf-8")
    finally:
        iris.shutdown()


def test_without_a_sound_device_a_command_says_so_at_most_once(tmp_path):
    """The speech fallback chain (pyttsx3 -> espeak-ng -> silence) reports one sentence, not one per engine."""
    picture = tmp_path / "blank.png"
    Image.new("RGB", (40, 30), "white").save(picture)
    env = dict(os.environ, IRIS_HOME=str(tmp_path / "home"))
    env.pop("IRIS_DEBUG", None)
    for args in (["speak", "hello"], ["read", str(picture)]):
        done = subprocess.run([sys.executable, "-m", "app", *args], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        errors = [line for line in done.stderr.splitlines() if line.startswith("iris:")]
        assert len(errors) <= 1, done.stderr
        assert "Traceback" not in done.stderr


def test_a_command_with_the_log_on_records_what_it_did(tmp_path):
    home = tmp_path / "home"
    env = dict(os.environ, IRIS_HOME=str(home))
    env.pop("IRIS_DEBUG", None)
    subprocess.run([sys.executable, "-c", "from app.settings import Settings; Settings.load().set('log_to_file', True)"],
                   cwd=ROOT, env=env, check=True, timeout=60)
    done = subprocess.run([sys.executable, "-m", "app", "speak", QUESTION, "--wav", str(tmp_path / "q.wav")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    text = (home / "logs" / logsetup.LOG_NAME).read_text(encoding="utf-8")
    assert "speak" in text  # the command, recorded before the settings were even read
    assert "QUESTION-4412" not in text  # but not the words it was given
