"""Build the one-folder Iris application with PyInstaller: ``python installers/build.py``.

Run it with the Python that has Iris's dependencies and PyInstaller installed
(``pip install torch==2.13.0 -e ".[bundle]"``). It stages the package exactly as
a wheel installs it (``app/`` becomes ``iris_assistant/`` with ``models/`` and
``resources/`` inside), so the bundle finds its files the way an installed Iris
does, then runs ``installers/iris.spec``. The result is ``dist/iris/`` (on macOS
also ``dist/Iris.app``); start it with ``dist/iris/iris``. Same script, same spec
on Linux, Windows and macOS.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


#: What the wheel is built from (a clean copy: setuptools' build/lib keeps deleted files).
SOURCES = ("pyproject.toml", "setup.py", "README.md", "app", "models", "resources")


def stage_package(work: Path) -> Path:
    """Build the wheel (seconds: pure Python) from a clean copy and unpack it: the installed layout."""
    source, wheels, stage = work / "source", work / "wheel", work / "stage"
    for folder in (source, wheels, stage):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(ROOT / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
                    "-w", str(wheels), str(source)], check=True)
    (wheel,) = wheels.glob("iris_assistant-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(stage)
    return stage


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dist", type=Path, default=ROOT / "dist", help="where the app folder goes (default dist/)")
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "installer", help="scratch folder")
    args = parser.parse_args(argv)
    try:
        import PyInstaller  # noqa: F401
    except ImportError:
        print("PyInstaller is not installed: run  python -m pip install -e \".[bundle]\"", file=sys.stderr)
        return 2
    started = time.monotonic()
    stage = stage_package(args.work.resolve())
    env = dict(os.environ, IRIS_STAGE=str(stage))
    subprocess.run([sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN",
                    "--distpath", str(args.dist.resolve()), "--workpath", str(args.work.resolve() / "pyinstaller"),
                    str(ROOT / "installers" / "iris.spec")], check=True, env=env)
    app = args.dist.resolve() / "iris"
    seconds = time.monotonic() - started
    print(f"built {app} ({folder_size(app) / 1e6:.0f} MB) in {seconds / 60:.1f} min; start it with {app / 'iris'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
