"""The wheel is what a user installs: build it, unpack it, and run it from / as iris_assistant.

An editable checkout finds models/ and resources/ one folder above the package;
an installed wheel must carry them inside. These tests build the real wheel
(pure Python: a few seconds) and run the unpacked copy in a subprocess whose
working folder is / so nothing from the checkout can stand in for it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "iris_assistant"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    source = tmp_path_factory.mktemp("source")  # a clean copy, as a fresh clone would be
    for name in ("pyproject.toml", "setup.py", "README.md", "app", "models", "resources"):
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(ROOT / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                    str(out), str(source)], check=True, capture_output=True, timeout=300)
    (built,) = out.glob(f"{PACKAGE}-*.whl")
    return built


@pytest.fixture
def site(wheel, tmp_path) -> Path:
    """The wheel unpacked: the layout pip installs into site-packages."""
    target = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(target)
    return target


def _run(site: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(site), IRIS_HOME=str(home))
    env.pop("IRIS_DEBUG", None)
    return subprocess.run([sys.executable, *args], cwd="/", env=env, capture_output=True, text=True, timeout=120)


def test_wheel_carries_the_data_files_and_no_top_level_app(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in ("models/catalogue.json", "resources/earcons/done.wav", "resources/earcons/error.wav",
                   "resources/earcons/tick.wav", "resources/desktop/iris.desktop", "resources/icons/iris.svg",
                   "resources/icons/iris.png", "cli.py", "gui/app.py", "diagnostics.py"):
        assert f"{PACKAGE}/{needed}" in names, needed
    tops = {name.split("/")[0] for name in names}
    assert tops == {PACKAGE, f"{PACKAGE}-0.1.0.dist-info"}, tops  # nothing called "app" to clash with
    assert not any("mock_engine" in n or "video_source" in n for n in names)  # test doubles stay in tests/
    info = f"{PACKAGE}-0.1.0.dist-info"
    entry_points = zipfile.ZipFile(wheel).read(f"{info}/entry_points.txt").decode()
    assert "iris = iris_assistant.cli:main" in entry_points.replace(" ", "").replace("=", " = ")


def test_installed_layout_finds_its_files_from_any_folder(site, tmp_path):
    done = _run(site, tmp_path / "home", "-c",
                "import iris_assistant.paths as p, iris_assistant.gui.earcons as e\n"
                "print(p.catalogue_path()); print(p.resources_dir())\n"
                "import importlib.util; print(importlib.util.find_spec('app'))")
    assert done.returncode == 0, done.stderr
    catalogue, resources, app_spec = done.stdout.strip().splitlines()
    assert Path(catalogue) == site / PACKAGE / "models" / "catalogue.json"
    assert Path(resources) == site / PACKAGE / "resources"
    assert app_spec == "None"


def test_installed_models_list_works_from_root(site, tmp_path):
    done = _run(site, tmp_path / "home", "-m", PACKAGE, "models", "list")
    assert done.returncode == 0, done.stderr
    assert "smolvlm-256m" in done.stdout


def test_missing_catalogue_exits_3(site, tmp_path):
    (site / PACKAGE / "models" / "catalogue.json").unlink()
    done = _run(site, tmp_path / "home", "-m", PACKAGE, "models", "list")
    assert done.returncode == 3, (done.stdout, done.stderr)
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_installed_speak_writes_a_wav(site, tmp_path):
    wav = tmp_path / "hi.wav"
    done = _run(site, tmp_path / "home", "-m", PACKAGE, "speak", "hello", "--wav", str(wav))
    assert done.returncode == 0, done.stderr
    assert wav.stat().st_size > 1000 and wav.read_bytes()[:4] == b"RIFF"
