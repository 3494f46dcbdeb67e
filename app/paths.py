"""Where Iris keeps its files (platformdirs), overridable for tests.

``IRIS_HOME`` puts config, data, cache and models under one folder; the test
suite points it at a temporary directory so no test touches a real profile.
"""

from __future__ import annotations

import importlib.resources
import os
from pathlib import Path

import platformdirs

from . import APP_ID


def _home() -> Path | None:
    value = os.environ.get("IRIS_HOME")
    return Path(value) if value else None


def config_dir() -> Path:
    home = _home()
    return home / "config" if home else Path(platformdirs.user_config_dir(APP_ID, appauthor=False))


def data_dir() -> Path:
    home = _home()
    return home / "data" if home else Path(platformdirs.user_data_dir(APP_ID, appauthor=False))


def cache_dir() -> Path:
    home = _home()
    return home / "cache" if home else Path(platformdirs.user_cache_dir(APP_ID, appauthor=False))


def models_dir() -> Path:
    """Downloaded models live here, one folder per catalogue name."""
    override = os.environ.get("IRIS_MODELS_DIR")
    if override:
        return Path(override)
    return data_dir() / "models"


def history_dir() -> Path:
    return data_dir() / "history"


def log_dir() -> Path:
    """The opt-in log file and crash reports (``~/.local/state/iris/log`` on Linux)."""
    home = _home()
    return home / "logs" if home else Path(platformdirs.user_log_dir(APP_ID, appauthor=False))


def repo_root() -> Path:
    """The source checkout this package was imported from (``app/..``)."""
    return Path(__file__).resolve().parent.parent


def bundled_dir(name: str) -> Path:
    """``models`` or ``resources``: shipped inside the installed package, or at the checkout's top.

    A wheel (and the PyInstaller bundle) carries them as ``iris_assistant/models`` and
    ``iris_assistant/resources``; an editable install or a plain checkout keeps the
    repository layout, one folder above the package.
    """
    inside = Path(str(importlib.resources.files(__package__ or "app") / name))
    return inside if inside.is_dir() else repo_root() / name


def resources_dir() -> Path:
    return bundled_dir("resources")


def catalogue_path() -> Path:
    return bundled_dir("models") / "catalogue.json"
