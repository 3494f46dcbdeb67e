"""Put Iris in the Linux application menu: a desktop entry and its icon, per user.

pip, pipx and the app bundle cannot place files in the desktop's folders
themselves, so ``iris desktop-entry install`` does it: the shipped
``resources/desktop/iris.desktop`` with ``Exec`` pointing at this installation
(:func:`app.autostart.launch_command`), and the icon in the user's hicolor theme
(``~/.local/share/icons/hicolor/{scalable,256x256}/apps/iris.*``).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from . import paths
from .atomic import write_text_atomic
from .autostart import _desktop_quote, _platform, launch_command
from .errors import BadInputError, IrisError

ICON_NAME = "iris"


def data_home() -> Path:
    base = os.environ.get("XDG_DATA_HOME")
    return Path(base) if base and Path(base).is_absolute() else Path.home() / ".local" / "share"


def entry_path() -> Path:
    return data_home() / "applications" / "iris.desktop"


def icon_paths() -> dict[str, Path]:
    """Shipped icon file name -> where the icon theme looks for it."""
    theme = data_home() / "icons" / "hicolor"
    return {"iris.svg": theme / "scalable" / "apps" / f"{ICON_NAME}.svg",
            "iris.png": theme / "256x256" / "apps" / f"{ICON_NAME}.png"}


def render_entry(template: str, command: list[str]) -> str:
    """The shipped entry with Exec/TryExec set to ``command`` (absolute, so no PATH is needed)."""
    exec_line = " ".join(_desktop_quote(arg) for arg in command)
    lines = []
    for line in template.splitlines():
        if line.startswith("Exec="):
            line = f"Exec={exec_line}"
        elif line.startswith("TryExec="):
            line = f"TryExec={command[0]}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def install_desktop_entry() -> Path:
    """Write the entry and the icons; returns the entry's path."""
    if _platform() != "linux":
        raise BadInputError("The menu entry is for Linux desktops; on Windows and macOS, pin or drag the Iris "
                            "program to the Start menu or the Dock instead.")
    resources = paths.resources_dir()
    try:
        template = (resources / "desktop" / "iris.desktop").read_text(encoding="utf-8")
        for name, target in icon_paths().items():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(resources / "icons" / name, target)
        path = entry_path()
        write_text_atomic(path, render_entry(template, launch_command()), mode=0o644)
    except OSError as exc:
        raise IrisError(f"Iris could not add itself to the application menu: {exc.strerror or exc}.",
                        detail=repr(exc)) from None
    return path


def remove_desktop_entry() -> None:
    for path in (entry_path(), *icon_paths().values()):
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            raise IrisError(f"Iris could not remove {path}: {exc.strerror or exc}.", detail=repr(exc)) from None
