"""Start Iris when the user logs in: the platform's own mechanism, nothing else.

Linux (freedesktop): ``$XDG_CONFIG_HOME/autostart/iris.desktop``.
Windows: the ``Iris`` value under ``HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run``.
macOS: a LaunchAgent ``~/Library/LaunchAgents/<LABEL>.plist`` with RunAtLoad.
Failures raise :class:`app.errors.IrisError` with one sentence for the user.
"""

from __future__ import annotations

import os
import plistlib
import shlex
import shutil
import sys
from pathlib import Path
from typing import Any

from . import APP_NAME
from .atomic import write_bytes_atomic, write_text_atomic
from .errors import IrisError

RUN_KEY = r"Software\Microsoft\Windows\CurrentVersion\Run"
LAUNCH_AGENT_LABEL = "org.iris-assistant.iris"


def _platform() -> str:
    if sys.platform.startswith("win"):
        return "windows"
    if sys.platform == "darwin":
        return "macos"
    return "linux"


def launch_command() -> list[str]:
    """How to start the app: the bundle itself, the ``iris`` script beside this Python (a venv or
    pipx install), one on PATH, else this Python with ``-m`` and this package's name."""
    if getattr(sys, "frozen", False):  # the PyInstaller bundle: its executable is the iris command
        return [str(Path(sys.executable).resolve())]
    beside = Path(sys.executable).with_name("iris.exe" if _platform() == "windows" else "iris")
    script = str(beside) if beside.is_file() else shutil.which("iris")
    if script:
        return [str(Path(script).absolute())]
    python = Path(sys.executable)
    if _platform() == "windows":
        windowless = python.with_name("pythonw.exe")
        if windowless.exists():
            python = windowless
    return [str(python), "-m", __package__ or "iris_assistant"]


# -- Linux ---------------------------------------------------------------------
def linux_autostart_file() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME")
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".config"
    return root / "autostart" / "iris.desktop"


def _desktop_quote(arg: str) -> str:
    """Quote one Exec argument as the Desktop Entry spec asks."""
    if arg and not any(c in arg for c in " \t\n\"'\\><~|&;$*?#()`="):
        return arg
    escaped = arg.replace("\\", "\\\\").replace('"', '\\"').replace("`", "\\`").replace("$", "\\$")
    return f'"{escaped}"'.replace("%", "%%")


def desktop_entry(command: list[str]) -> str:
    exec_line = " ".join(_desktop_quote(a) for a in command)
    return (
        "[Desktop Entry]\n"
        "Type=Application\n"
        f"Name={APP_NAME}\n"
        "Comment=Describe the screen, photos and camera frames aloud\n"
        f"Exec={exec_line}\n"
        "Icon=iris\n"
        "Terminal=false\n"
        "Categories=Utility;Accessibility;\n"
        "X-GNOME-Autostart-enabled=true\n"
    )


def _linux_set(enabled: bool) -> None:
    path = linux_autostart_file()
    if enabled:
        write_text_atomic(path, desktop_entry(launch_command()), mode=0o644)
    else:
        path.unlink(missing_ok=True)


def _linux_enabled() -> bool:
    path = linux_autostart_file()
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    lines = {line.strip().lower().replace(" ", "") for line in text.splitlines()}
    return "hidden=true" not in lines and "x-gnome-autostart-enabled=false" not in lines


# -- Windows -------------------------------------------------------------------
def _winreg() -> Any:
    import winreg  # noqa: PLC0415 - Windows only

    return winreg


def _windows_set(enabled: bool) -> None:
    winreg = _winreg()
    with winreg.OpenKey(winreg.HKEY_CURRENT_USER, RUN_KEY, 0, winreg.KEY_SET_VALUE) as key:
        if enabled:
            value = " ".join(f'"{a}"' if " " in a else a for a in launch_command())
            winreg.SetValueEx(key, APP_NAME, 0, winreg.REG_SZ, value)
        else:
            try:
                winreg.DeleteValue(key, APP_NAME)
            except FileNotFoundError:
                pass


def _windows_enabled() -> bool:
    winreg = _winreg()
    try:
        with winreg.OpenKey(winreg.HKEY_CURRENT_USER, RUN_KEY, 0, winreg.KEY_READ) as key:
            value, _kind = winreg.QueryValueEx(key, APP_NAME)
    except OSError:
        return False
    return bool(value)


# -- macOS ---------------------------------------------------------------------
def launch_agent_file() -> Path:
    return Path.home() / "Library" / "LaunchAgents" / f"{LAUNCH_AGENT_LABEL}.plist"


def _macos_set(enabled: bool) -> None:
    path = launch_agent_file()
    if enabled:
        payload = {
            "Label": LAUNCH_AGENT_LABEL,
            "ProgramArguments": launch_command(),
            "RunAtLoad": True,
            "ProcessType": "Interactive",
        }
        write_bytes_atomic(path, plistlib.dumps(payload), mode=0o644)
    else:
        path.unlink(missing_ok=True)


def _macos_enabled() -> bool:
    try:
        with launch_agent_file().open("rb") as handle:
            payload = plistlib.load(handle)
    except (OSError, plistlib.InvalidFileException, ValueError):
        return False
    return bool(payload.get("RunAtLoad")) and not payload.get("Disabled", False)


# -- public --------------------------------------------------------------------
_SETTERS = {"linux": _linux_set, "windows": _windows_set, "macos": _macos_set}
_GETTERS = {"linux": _linux_enabled, "windows": _windows_enabled, "macos": _macos_enabled}


def set_autostart(enabled: bool) -> None:
    """Turn starting at login on or off; raises IrisError with a sentence on failure."""
    try:
        _SETTERS[_platform()](bool(enabled))
    except (OSError, ImportError) as exc:
        verb = "turn on" if enabled else "turn off"
        raise IrisError(
            f"Iris could not {verb} starting when you log in.",
            detail=f"{type(exc).__name__}: {exc}",
        ) from exc


def is_autostart_enabled() -> bool:
    try:
        return _GETTERS[_platform()]()
    except (OSError, ImportError):
        return False


def describe_command() -> str:
    """The launch command as one shell-quoted line (for logs and the README)."""
    return shlex.join(launch_command())
