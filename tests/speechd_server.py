"""A private, real speech-dispatcher daemon whose "voice" writes what it is given to a file.

There is no sound card here, so the daemon gets its own configuration: one
generic output module whose command appends ``S <time> <text>`` when it
starts saying an utterance, sleeps ``seconds`` (the utterance "plays"), then
appends ``E <time> <text>``. speech-dispatcher kills that command when the
utterance is cancelled, so a cut utterance has an S line and no E line. Audio
goes to ALSA's ``null`` device (the daemon insists on opening one). The log
(level 5) records each message's priority. ``start_speechd`` returns None when
speech-dispatcher is not installed or does not start, so tests skip cleanly.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

MODULE_DIRS = ("/usr/lib/speech-dispatcher-modules", "/usr/lib/x86_64-linux-gnu/speech-dispatcher-modules",
               "/usr/libexec/speech-dispatcher-modules", "/usr/lib/aarch64-linux-gnu/speech-dispatcher-modules")
#: speech-dispatcher's internal numbers for the SSIP priorities, as its log prints them.
LOG_PRIORITY = {1: "important", 2: "message", 3: "text", 4: "notification", 5: "progress"}


@dataclass
class Said:
    kind: str  # "S" began, "E" ended
    at: float  # time.time()
    text: str


class SpeechdServer:
    def __init__(self, proc: subprocess.Popen, root: Path) -> None:
        self.proc = proc
        self.root = root
        self.socket = root / "speechd.sock"
        self.said_file = root / "said.txt"
        self.log_file = root / "log" / "speech-dispatcher.log"

    def said(self) -> list[Said]:
        if not self.said_file.exists():
            return []
        found = []
        for line in self.said_file.read_text(errors="replace").splitlines():
            kind, _, rest = line.partition(" ")
            stamp, _, text = rest.partition(" ")
            try:
                found.append(Said(kind, float(stamp), text.strip()))
            except ValueError:
                continue
        return found

    def begun(self) -> list[str]:
        return [s.text for s in self.said() if s.kind == "S"]

    def ended(self) -> list[str]:
        return [s.text for s in self.said() if s.kind == "E"]

    def wait_for(self, predicate, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.02)
        return predicate()

    def priorities(self) -> dict[str, str]:
        """text -> SSIP priority name, from the daemon's log."""
        found: dict[str, str] = {}
        if not self.log_file.exists():
            return found
        for match in re.finditer(r"Queueing message \|(.*?)\| with priority (\d)", self.log_file.read_text(errors="replace")):
            found[match.group(1).strip()] = LOG_PRIORITY.get(int(match.group(2)), match.group(2))
        return found

    def clear(self) -> None:
        self.said_file.unlink(missing_ok=True)

    def close(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def start_speechd(root: Path, seconds: float = 0.4) -> SpeechdServer | None:
    binary = shutil.which("speech-dispatcher")
    modules = next((d for d in MODULE_DIRS if os.path.exists(os.path.join(d, "sd_generic"))), None)
    if binary is None or modules is None:
        return None
    (root / "conf" / "modules").mkdir(parents=True, exist_ok=True)
    (root / "log").mkdir(exist_ok=True)
    said = root / "said.txt"
    (root / "conf" / "speechd.conf").write_text(
        "LogLevel 5\n"
        f'LogDir "{root / "log"}"\n'
        'AddModule "recorder" "sd_generic" "recorder.conf"\n'
        "DefaultModule recorder\n"
        'DefaultLanguage "en"\n'
        'AudioOutputMethod "alsa"\n'
        'AudioALSADevice "null"\n'
    )
    command = (f"T=\\\"$DATA\\\"; printf 'S %s %s\\\\n' \\\"$(date +%s.%N)\\\" \\\"$T\\\" >> {said}; "
               f"sleep {seconds}; printf 'E %s %s\\\\n' \\\"$(date +%s.%N)\\\" \\\"$T\\\" >> {said}")
    (root / "conf" / "modules" / "recorder.conf").write_text(
        f'GenericExecuteSynth "{command}"\n'
        'GenericMaxChunkLength 2000\n'
        'GenericDelimiters ""\n'
        'AddVoice "en" "MALE1" "recorder"\n'
        'GenericLanguage "en" "en" "utf-8"\n'
    )
    socket = root / "speechd.sock"
    proc = subprocess.Popen(
        [binary, "-s", "-t", "0", "-C", str(root / "conf"), "-S", str(socket), "-c", "unix_socket",
         "-m", modules, "-L", str(root / "log"), "-P", str(root / "pid")],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    server = SpeechdServer(proc, root)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and proc.poll() is None:
        if socket.exists():
            return server
        time.sleep(0.05)
    server.close()
    return None


@pytest.fixture
def speechd(tmp_path_factory) -> Iterator[SpeechdServer]:
    root = tmp_path_factory.mktemp("speechd")
    server = start_speechd(root)
    if server is None:
        pytest.skip("speech-dispatcher (with its generic module and ALSA plugin) is not available")
    try:
        yield server
    finally:
        server.close()
