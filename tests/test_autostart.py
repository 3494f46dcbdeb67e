"""Autostart: the platform's own login mechanism, switched on and off, with sentences on failure."""

from __future__ import annotations

import configparser
import plistlib
import shlex
import types

import pytest

from app import autostart
from app.errors import IrisError


@pytest.fixture
def linux(monkeypatch, tmp_path):
    monkeypatch.setattr(autostart, "_platform", lambda: "linux")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "autostart" / "iris.desktop"


def _desktop(path) -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str
    parser.read_string(path.read_text(encoding="utf-8"))
    return parser["Desktop Entry"]


def test_linux_on_off_respects_xdg_config_home(linux):
    assert autostart.linux_autostart_file() == linux
    assert autostart.is_autostart_enabled() is False
    autostart.set_autostart(True)
    assert linux.is_file()
    assert autostart.is_autostart_enabled() is True
    entry = _desktop(linux)
    assert entry["Type"] == "Application" and entry["Name"] == "Iris"
    assert shlex.split(entry["Exec"]) == autostart.launch_command()
    autostart.set_autostart(True)  # idempotent
    autostart.set_autostart(False)
    assert not linux.exists()
    assert autostart.is_autostart_enabled() is False
    autostart.set_autostart(False)  # turning off twice is fine


def test_linux_hidden_entry_counts_as_off(linux):
    autostart.set_autostart(True)
    linux.write_text(linux.read_text(encoding="utf-8") + "Hidden=true\n", encoding="utf-8")
    assert autostart.is_autostart_enabled() is False


def test_launch_command_prefers_script_then_python_module(monkeypatch, tmp_path):
    monkeypatch.setattr(autostart, "_platform", lambda: "linux")
    python = tmp_path / "venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    monkeypatch.setattr(autostart.sys, "executable", str(python))
    script = tmp_path / "iris"
    script.write_text("#!/bin/sh\n")
    monkeypatch.setattr(autostart.shutil, "which", lambda name: str(script) if name == "iris" else None)
    assert autostart.launch_command() == [str(script)]
    monkeypatch.setattr(autostart.shutil, "which", lambda name: None)
    assert autostart.launch_command() == [str(python), "-m", "app"]
    beside = python.with_name("iris")  # the venv's (or pipx's) own script wins over PATH
    beside.write_text("#!/bin/sh\n")
    monkeypatch.setattr(autostart.shutil, "which", lambda name: str(script))
    assert autostart.launch_command() == [str(beside)]
    monkeypatch.setattr(autostart.sys, "frozen", True, raising=False)  # the PyInstaller bundle
    assert autostart.launch_command() == [str(python.resolve())]


def test_exec_line_quotes_paths_with_spaces(linux, monkeypatch):
    monkeypatch.setattr(autostart, "launch_command", lambda: ["/opt/My Apps/bin/python", "-m", "app"])
    autostart.set_autostart(True)
    exec_line = _desktop(linux)["Exec"]
    assert exec_line.startswith('"/opt/My Apps/bin/python"')
    assert shlex.split(exec_line) == ["/opt/My Apps/bin/python", "-m", "app"]


def test_failure_is_one_sentence(linux, monkeypatch):
    def refuse(*_a, **_k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(autostart, "write_text_atomic", refuse)
    with pytest.raises(IrisError) as caught:
        autostart.set_autostart(True)
    assert caught.value.message.endswith(".") and "\n" not in caught.value.message
    assert autostart.is_autostart_enabled() is False


def test_macos_launch_agent(monkeypatch, tmp_path):
    monkeypatch.setattr(autostart, "_platform", lambda: "macos")
    monkeypatch.setenv("HOME", str(tmp_path))
    path = tmp_path / "Library" / "LaunchAgents" / f"{autostart.LAUNCH_AGENT_LABEL}.plist"
    assert autostart.is_autostart_enabled() is False
    autostart.set_autostart(True)
    payload = plistlib.loads(path.read_bytes())
    assert payload["RunAtLoad"] is True
    assert payload["ProgramArguments"] == autostart.launch_command()
    assert payload["Label"] == autostart.LAUNCH_AGENT_LABEL
    assert autostart.is_autostart_enabled() is True
    autostart.set_autostart(False)
    assert not path.exists() and autostart.is_autostart_enabled() is False


class _FakeKey:
    def __init__(self, store):
        self.store = store

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _fake_winreg(store: dict) -> types.SimpleNamespace:
    def open_key(root, path, reserved, access):
        assert root == "HKCU" and path == autostart.RUN_KEY
        return _FakeKey(store)

    def query(key, name):
        if name not in key.store:
            raise FileNotFoundError(2, "not found")
        return key.store[name], 1

    def delete(key, name):
        if name not in key.store:
            raise FileNotFoundError(2, "not found")
        del key.store[name]

    return types.SimpleNamespace(
        HKEY_CURRENT_USER="HKCU", KEY_SET_VALUE=2, KEY_READ=1, REG_SZ=1,
        OpenKey=open_key,
        SetValueEx=lambda key, name, reserved, kind, value: key.store.__setitem__(name, value),
        QueryValueEx=query,
        DeleteValue=delete,
    )


def test_windows_run_key(monkeypatch):
    store: dict[str, str] = {}
    monkeypatch.setattr(autostart, "_platform", lambda: "windows")
    monkeypatch.setattr(autostart, "_winreg", lambda: _fake_winreg(store))
    monkeypatch.setattr(autostart, "launch_command", lambda: [r"C:\Program Files\Iris\iris.exe"])
    assert autostart.is_autostart_enabled() is False
    autostart.set_autostart(True)
    assert store == {"Iris": r'"C:\Program Files\Iris\iris.exe"'}
    assert autostart.is_autostart_enabled() is True
    autostart.set_autostart(False)
    assert store == {} and autostart.is_autostart_enabled() is False
    autostart.set_autostart(False)


def test_shipped_desktop_entry_is_valid():
    path = autostart.__file__
    from pathlib import Path

    entry_path = Path(path).resolve().parent.parent / "resources" / "desktop" / "iris.desktop"
    entry = _desktop(entry_path)
    for key in ("Type", "Name", "Exec", "Icon", "Categories"):
        assert entry.get(key), key
    assert entry["Type"] == "Application"
    assert shlex.split(entry["Exec"])[0] == "iris"
    assert entry["Categories"].endswith(";")
    assert entry.get("Terminal") == "false"
