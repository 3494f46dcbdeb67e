"""The server engine against a REAL OpenAI-compatible server: llama-cpp-python's own
(``python -m llama_cpp.server --chat_format mtmd``) serving the tiny SmolVLM GGUF with its mmproj
on 127.0.0.1, started and stopped by the fixture. Failure modes a real server cannot be made to
produce on demand (HTTP 500, slow, non-vision) are in test_server_engine.py."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from PIL import Image

pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (pip install 'iris-assistant[llama]')")
pytest.importorskip("llama_cpp.server.app", reason="llama-cpp-python[server] is not installed")

from app.engine.base import CancelToken, Conversation  # noqa: E402
from app.engine.server_engine import ServerEngine, ServerError  # noqa: E402

TINY = Path(__file__).resolve().parent.parent.parent / "shared" / "models" / "tiny-smolvlm-gguf"
ALIAS = "tiny-vlm"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server() -> tuple[subprocess.Popen, str]:
    port = free_port()
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(TINY / "tiny-smolvlm-f16.gguf"),
           "--clip_model_path", str(TINY / "mmproj-tiny-smolvlm-f16.gguf"), "--chat_format", "mtmd",
           "--model_alias", ALIAS, "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048",
           "--n_threads", "2", "--verbose", "False"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"llama_cpp.server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/models", timeout=1) as response:
                if json.loads(response.read())["data"]:
                    return proc, url
        except OSError:
            time.sleep(0.3)
    stop(proc)
    raise RuntimeError("llama_cpp.server did not start within 120 s")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


@pytest.fixture(scope="module")
def server():
    proc, url = start_server()
    yield url
    stop(proc)


def conversation() -> Conversation:
    conv = Conversation(image=Image.new("RGB", (640, 400), (30, 160, 90)), is_screen=True)
    conv.ask("Describe this picture.")
    return conv


def test_streams_an_answer_and_follow_ups_work(server):
    engine = ServerEngine(server, "auto", timeout_s=60)
    pieces: list[str] = []
    conv = conversation()
    engine.generate(conv, None, pieces.append, max_new_tokens=12)
    assert engine.model_name == ALIAS and len(pieces) >= 2 and "".join(pieces).strip()
    assert engine.last_stats.first_token_s is not None
    conv.answer("".join(pieces))
    conv.ask("And the colours?")
    more: list[str] = []
    engine.generate(conv, None, more.append, max_new_tokens=6)
    assert more


def test_cancel_mid_answer_returns_within_a_fifth_of_a_second(server):
    engine = ServerEngine(server, ALIAS, timeout_s=60)
    cancel = CancelToken()
    pieces: list[str] = []

    def take(piece: str) -> None:
        pieces.append(piece)
        if len(pieces) == 3:
            cancel.cancel()

    engine.generate(conversation(), cancel, take, max_new_tokens=1500)
    assert cancel.cancelled_at is not None and time.perf_counter() - cancel.cancelled_at < 0.2
    assert len(pieces) == 3
    after: list[str] = []
    engine.generate(conversation(), None, after.append, max_new_tokens=4)  # the server is fine afterwards
    assert after


def test_wrong_model_name_is_one_sentence(server):
    with pytest.raises(ServerError) as info:
        ServerEngine(server, "no-such-model", timeout_s=30).generate(conversation(), None, lambda p: None)
    assert "\n" not in info.value.message


def test_server_killed_mid_answer_is_one_sentence():
    proc, url = start_server()
    try:
        engine = ServerEngine(url, ALIAS, timeout_s=30)
        pieces: list[str] = []

        def take(piece: str) -> None:
            pieces.append(piece)
            if len(pieces) == 2:
                os.killpg(proc.pid, signal.SIGKILL)

        with pytest.raises(ServerError) as info:
            engine.generate(conversation(), None, take, max_new_tokens=1500)
        assert len(pieces) >= 2 and "\n" not in info.value.message
        with pytest.raises(ServerError):  # and a server that is down is one sentence too
            ServerEngine(url, ALIAS, timeout_s=5).generate(conversation(), None, lambda p: None)
    finally:
        stop(proc)


def test_only_the_configured_host_is_ever_contacted(server, monkeypatch):
    """The whole describe path (pipeline + server engine) opens no connection and resolves no
    name except the configured 127.0.0.1 server."""
    from app.notifier import Notifier
    from app.pipeline import Assistant
    from app.settings import Settings
    from app.speech.base import SilentSpeaker

    contacted: list[object] = []
    resolved: list[object] = []
    real_connect, real_getaddrinfo = socket.socket.connect, socket.getaddrinfo

    def connect(self, address):
        contacted.append(address)
        return real_connect(self, address)

    def getaddrinfo(host, *args, **kwargs):
        resolved.append(host)
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    settings = Settings.load()
    settings.set("max_new_tokens", 16, save=False)
    engine = ServerEngine(server, ALIAS, settings=settings, timeout_s=60)
    assistant = Assistant(engine=engine, speaker=SilentSpeaker(), notifier=Notifier(), settings=settings)
    answer = assistant.describe(Image.new("RGB", (300, 200), (200, 200, 20)), speak=False)
    assert answer.text and answer.engine == "server"
    port = int(server.rsplit(":", 1)[1].split("/")[0])
    assert contacted and all(addr[:2] == ("127.0.0.1", port) for addr in contacted), contacted
    assert set(resolved) <= {"127.0.0.1"}, resolved
