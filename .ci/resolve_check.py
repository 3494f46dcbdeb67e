"""Can Iris be installed on Python 3.10 to 3.14, on Linux, Windows and macOS? Ask pip's resolver.

Only Python 3.11 runs here, so each target is checked with pip's resolver
alone: ``pip install --dry-run --python-version X --platform Y
--only-binary=:all:`` with the project's dependencies, which reads package
metadata and installs nothing. pip evaluates environment markers against the
Python that runs it, not the target, so the markers are evaluated here, for
the target, first. torch is not a dependency but accelerate and bitsandbytes
require it: a metadata-only stand-in (``torch 2.13.0+stub``) satisfies them,
so no multi-GB CUDA wheel is ever fetched (evdev, source only, likewise).

    python .ci/resolve_check.py                 # every target; exit 1 if any cannot resolve
    python .ci/resolve_check.py --targets 3.14-linux
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import subprocess
import sys
import tempfile
import time
import venv
import zipfile
from pathlib import Path

import tomllib
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[1]

MANYLINUX = [f"manylinux_2_{minor}_x86_64" for minor in range(39, 16, -1)] + ["manylinux2014_x86_64", "linux_x86_64"]
MACOS = [f"macosx_{major}_0_arm64" for major in range(15, 10, -1)] + ["macosx_11_0_universal2"]
PLATFORMS = {
    "linux": (MANYLINUX, {"sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64",
                          "os_name": "posix"}),
    "windows": (["win_amd64"], {"sys_platform": "win32", "platform_system": "Windows", "platform_machine": "AMD64",
                                "os_name": "nt"}),
    "macos": (MACOS, {"sys_platform": "darwin", "platform_system": "Darwin", "platform_machine": "arm64",
                      "os_name": "posix"}),
}
DEFAULT_TARGETS = [f"{v}-{p}" for v in ("3.13", "3.14") for p in PLATFORMS] + ["3.10-linux"]


def requirements_for(python: str, platform: str) -> list[str]:
    """The project's dependencies that apply to this target, markers evaluated for it."""
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    env = dict(PLATFORMS[platform][1], python_version=python, python_full_version=f"{python}.0",
               implementation_name="cpython", platform_python_implementation="CPython")
    out = []
    for line in deps:
        req = Requirement(line)
        if req.marker is None or req.marker.evaluate(env):
            req.marker = None
            out.append(str(req))
    return out


#: Stand-ins (metadata only) for what must not or cannot be fetched as a wheel here: torch (installed
#: first, pinned, CPU or CUDA as the user chooses) and evdev (pynput's Linux backend: source only,
#: pip compiles it with gcc and the kernel headers on the user's machine).
STUBS = {"torch": "2.13.0+stub", "evdev": "1.9.2+stub"}


def stub_wheel(folder: Path, name: str, version: str) -> None:
    """A wheel that is only ``name``'s metadata: satisfies ``name>=...`` without any download."""
    info = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": b"",
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: iris-ci\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    with zipfile.ZipFile(folder / f"{name}-{version}-py3-none-any.whl", "w") as wheel:
        for path, data in files.items():
            wheel.writestr(path, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append(f"{path},sha256={digest},{len(data)}")
        record.append(f"{info}/RECORD,,")
        wheel.writestr(f"{info}/RECORD", "\n".join(record) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", default=",".join(DEFAULT_TARGETS))
    args = parser.parse_args()
    failed = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        # A current pip reads wheel metadata without downloading wheels (PEP 658): seconds, not gigabytes.
        venv.create(work / "pip", with_pip=True)
        pip = work / "pip" / ("Scripts" if sys.platform == "win32" else "bin") / "python"
        subprocess.run([str(pip), "-m", "pip", "install", "-q", "-U", "pip>=25"], check=True)
        (work / "stub").mkdir()
        for name, version in STUBS.items():
            stub_wheel(work / "stub", name, version)
        for target in [t.strip() for t in args.targets.split(",") if t.strip()]:
            python, platform = target.split("-", 1)
            reqs = work / f"requirements-{target}.txt"
            reqs.write_text("\n".join(requirements_for(python, platform)) + "\n")
            command = [str(pip), "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
                       "--target", str(work / "target"), "--python-version", python, "--only-binary=:all:",
                       "--find-links", str(work / "stub"), "--report", str(work / f"report-{target}.json"),
                       *(f"{name}=={version}" for name, version in STUBS.items()), "-r", str(reqs)]
            for tag in PLATFORMS[platform][0]:
                command += ["--platform", tag]
            start = time.perf_counter()
            # The machine's pip settings (local wheel folders, constraints) describe this Python, not the target.
            env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_") or k in ("PIP_CERT",
                                                                                          "PIP_DEFAULT_TIMEOUT")}
            env.update(PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1")
            result = subprocess.run(command, capture_output=True, text=True, env=env)
            seconds = time.perf_counter() - start
            if result.returncode == 0:
                print(f"{target}: resolves ({seconds:.0f} s)")
            else:
                failed.append(target)
                detail = [line for line in result.stderr.splitlines() if line.strip() and not line.startswith("WARNING")]
                print(f"{target}: DOES NOT RESOLVE ({seconds:.0f} s)\n  " + "\n  ".join(detail[-12:])[-2500:])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
