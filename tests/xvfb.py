"""One way for tests to start a private Xvfb.

``-displayfd`` lets the server pick a free display number itself and report it
through a pipe, so suites running side by side never race for the same number.
"""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import time


class XServer:
    def __init__(self, proc: subprocess.Popen, name: str) -> None:
        self.proc = proc
        self.name = name  # the DISPLAY value, e.g. ":3"

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def start_xvfb(width: int = 1280, height: int = 800, *extra: str, timeout: float = 15.0) -> XServer | None:
    """Start Xvfb at width x height x 24; None when it is not installed or did not start."""
    exe = shutil.which("Xvfb")
    if exe is None:
        return None
    read_end, write_end = os.pipe()
    proc = subprocess.Popen(
        [exe, "-displayfd", str(write_end), "-screen", "0", f"{width}x{height}x24", "-nolisten", "tcp", *extra],
        pass_fds=(write_end,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    os.close(write_end)
    number = b""
    deadline = time.monotonic() + timeout
    try:
        while not number.endswith(b"\n") and time.monotonic() < deadline:
            ready, _, _ = select.select([read_end], [], [], 0.5)
            if ready:
                chunk = os.read(read_end, 16)
                if not chunk:
                    break
                number += chunk
    finally:
        os.close(read_end)
    if not number.strip().isdigit():
        proc.kill()
        proc.wait()
        return None
    return XServer(proc, f":{number.decode().strip()}")
