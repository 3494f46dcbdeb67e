"""Iris with the real Orca screen reader (skipped where Orca is not installed; CI does not install it).

Orca, Iris and a private speech-dispatcher (tests/speechd_server.py) run in a
private X server and AT-SPI session. In ``auto``, Iris must find Orca, speak
through the same speech-dispatcher Orca speaks through (so Iris's own voice
never plays), give the answer sentence by sentence, and cut the first answer
off the moment a second request supersedes it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.a11y_bus import a11y_session  # noqa: F401  (a fixture)
from tests.speechd_server import start_speechd

ROOT = Path(__file__).resolve().parents[1]
ORCA = shutil.which("orca")
pytestmark = [pytest.mark.slow, pytest.mark.skipif(ORCA is None, reason="Orca is not installed")]


def test_auto_speaks_through_orcas_speech_dispatcher_and_supersedes_at_once(a11y_session, tmp_path):
    from tests.conftest import IMAGES_DIR

    photo_paths = [IMAGES_DIR / "chelsea.png", IMAGES_DIR / "coffee.png"]
    if not all(p.exists() for p in photo_paths):
        pytest.skip("shared images not found beside the checkout")
    speechd = start_speechd(tmp_path / "speechd", seconds=0.3)
    if speechd is None:
        pytest.skip("speech-dispatcher is not available")
    home = tmp_path / "home"
    home.mkdir()
    env = a11y_session.full_env(SPEECHD_ADDRESS=f"unix_socket:{speechd.socket}", HOME=str(home),
                                IRIS_HOME=str(tmp_path / "iris"), GSETTINGS_BACKEND="memory")
    env.pop("QT_QPA_PLATFORM", None)
    orca_log = tmp_path / "orca-debug.out"
    orca = subprocess.Popen([ORCA, "--replace", "--debug-file", str(orca_log)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        assert speechd.wait_for(lambda: speechd.begun() != [], timeout=20), "Orca said nothing"
        orca_said = speechd.begun()[0]  # "Screen reader on.": Orca speaks through this daemon
        driver = subprocess.run([sys.executable, "-m", "tests.orca_driver", str(photo_paths[1]), str(photo_paths[0])],
                                cwd=ROOT, env=env, capture_output=True, text=True, timeout=90)
    finally:
        os.killpg(orca.pid, signal.SIGKILL)
        orca.wait()
    steps = [json.loads(line) for line in driver.stdout.splitlines() if line.startswith("{")]
    speechd.close()
    output = next(s for s in steps if s["step"] == "output")
    assert output["kind"] == "SpeechDispatcherSpeaker", driver.stderr[-2000:]  # only the screen reader: no own voice
    second = next(s["at"] for s in steps if s["step"] == "request" and s["n"] == 2)
    said = speechd.said()
    texts = [s.text for s in said if s.kind == "S"]
    assert orca_said in texts
    assert texts[-2:] == ["The photo shows a cat asleep on a sofa.", "A red blanket lies beside it."]
    assert "Old one." in texts  # the first answer was really being spoken
    assert "Old eight." not in texts  # ... and was cut off: 8 sentences take 2.4 s, request 2 came after 1.2 s
    assert [s.text for s in said if s.text.startswith("Old") and s.at > second + 0.2] == []
    print(f"\nwith Orca {subprocess.run([ORCA, '--version'], capture_output=True, text=True).stdout.strip()}: "
          f"{len(texts)} utterances through speech-dispatcher; first answer cut off after request 2: "
          f"{[s.text for s in said if s.text.startswith('Old') and s.kind == 'S']}")
    assert "Iris — describing" in orca_log.read_text(errors="replace")  # the frame name Orca saw: no doubled name
