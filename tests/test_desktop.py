"""`iris desktop-entry install` puts Iris, with its icon, in the Linux application menu."""

from __future__ import annotations

import configparser
import shlex

import pytest
from PIL import Image

from app import autostart, cli, desktop


@pytest.fixture
def data_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "share"))
    monkeypatch.setattr(autostart, "_platform", lambda: "linux")
    return tmp_path / "share"


def _entry(path):
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # keys are case-sensitive
    parser.read(path, encoding="utf-8")
    return parser["Desktop Entry"]


def test_install_writes_entry_and_icons_then_remove_takes_them_away(data_home, capsys):
    assert cli.main(["desktop-entry", "install"]) == 0
    path = data_home / "applications" / "iris.desktop"
    entry = _entry(path)
    assert shlex.split(entry["Exec"]) == autostart.launch_command()
    assert entry["TryExec"] == autostart.launch_command()[0]
    assert entry["Icon"] == "iris" and entry["Type"] == "Application"
    svg = data_home / "icons" / "hicolor" / "scalable" / "apps" / "iris.svg"
    png = data_home / "icons" / "hicolor" / "256x256" / "apps" / "iris.png"
    assert b"<svg" in svg.read_bytes()
    with Image.open(png) as icon:
        assert icon.size == (256, 256)
    assert cli.main(["desktop-entry", "remove"]) == 0
    assert not path.exists() and not svg.exists() and not png.exists()


def test_entry_for_a_path_with_spaces_is_quoted(data_home, monkeypatch):
    monkeypatch.setattr(desktop, "launch_command", lambda: ["/opt/My Apps/iris/iris"])
    entry = _entry(desktop.install_desktop_entry())
    assert shlex.split(entry["Exec"]) == ["/opt/My Apps/iris/iris"]


def test_other_systems_get_one_sentence(monkeypatch, capsys):
    monkeypatch.setattr(autostart, "_platform", lambda: "windows")
    monkeypatch.setattr(desktop, "_platform", lambda: "windows")
    assert cli.main(["desktop-entry", "install"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_module_is_importable_without_qt():
    import ast
    from pathlib import Path

    tree = ast.parse(Path(desktop.__file__).read_text(encoding="utf-8"))
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not any(name.startswith("PySide6") for name in imported)
