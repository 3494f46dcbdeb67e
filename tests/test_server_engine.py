"""The server engine against a local OpenAI-compatible stand-in: streaming, cancel, and each failure
gets one sentence (ServerError) while the engine keeps working. The real-server tests are in
test_llama_server.py."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from PIL import Image

from app.engine.base import CancelToken, Conversation
from app.engine.loading import create_engine
from app.engine.server_engine import ServerEngine, ServerError, is_loopback, parse_server_url
from app.errors import BadInputError, IrisError
from tests.openai_standin import StandIn


@pytest.fixture
def standin():
    server = StandIn()
    yield server
    server.close()


def conversation(question: str = "Describe.") -> Conversation:
    conv = Conversation(image=Image.new("RGB", (320, 200), (200, 30, 30)), is_screen=True)
    conv.ask(question)
    return conv


def answer(engine: ServerEngine, conv: Conversation | None = None, cancel: CancelToken | None = None) -> list[str]:
    pieces: list[str] = []
    engine.generate(conv or conversation(), cancel, pieces.append, max_new_tokens=32)
    return pieces


def test_streams_pieces_and_sends_the_picture_and_key(standin, monkeypatch):
    monkeypatch.setenv("IRIS_API_KEY", "secret-123")
    engine = ServerEngine(standin.url, "auto", timeout_s=5)
    pieces = answer(engine)
    assert pieces == standin.pieces
    assert engine.model_name == "vision-model"  # auto: the first model the server lists
    body = standin.requests[-1]
    assert body["stream"] is True and body["model"] == "vision-model"
    parts = body["messages"][0]["content"]
    urls = [p["image_url"]["url"] for p in parts if p["type"] == "image_url"]
    assert len(urls) == 1 and urls[0].startswith("data:image/png;base64,")
    assert standin.headers[-1].get("Authorization") == "Bearer secret-123"
    assert engine.last_stats.first_token_s is not None and engine.engine_name == "server"


def test_follow_up_sends_earlier_turns(standin):
    engine = ServerEngine(standin.url, "vision-model", timeout_s=5)
    conv = conversation()
    conv.answer("".join(answer(engine, conv)))
    conv.ask("What colour?")
    answer(engine, conv)
    roles = [m["role"] for m in standin.requests[-1]["messages"]]
    assert roles == ["user", "assistant", "user"]


def test_cancel_mid_answer_returns_at_once_and_closes_the_stream(standin):
    standin.mode = "endless"
    engine = ServerEngine(standin.url, "vision-model", timeout_s=5)
    cancel = CancelToken()
    pieces: list[str] = []
    stopped_at: list[float] = []

    def take(piece: str) -> None:
        pieces.append(piece)
        if len(pieces) == 5:
            cancel.cancel()

    start = time.perf_counter()
    engine.generate(conversation(), cancel, take, max_new_tokens=10_000)
    stopped_at.append(time.perf_counter())
    assert cancel.cancelled_at is not None and stopped_at[0] - cancel.cancelled_at < 0.2
    assert len(pieces) == 5
    assert standin.disconnected.wait(3.0), "the server kept streaming to a closed connection"
    assert stopped_at[0] - start < 3.0


def test_cancel_while_the_server_is_thinking(standin):
    standin.mode = "slow"
    engine = ServerEngine(standin.url, "vision-model", timeout_s=10)
    cancel = CancelToken()
    threading.Timer(0.3, cancel.cancel).start()
    start = time.perf_counter()
    assert answer(engine, cancel=cancel) == []
    assert time.perf_counter() - start < 0.3 + 0.25


@pytest.mark.parametrize("mode", ["http500", "novision", "stall", "drop"])
def test_each_failure_is_one_sentence_and_the_engine_keeps_working(standin, mode):
    engine = ServerEngine(standin.url, "vision-model", timeout_s=1.0)
    standin.mode = mode
    with pytest.raises(ServerError) as info:
        answer(engine)
    assert "\n" not in info.value.message and info.value.message.endswith(".")
    standin.mode = "ok"
    assert answer(engine) == standin.pieces


def test_failures_are_told_apart(standin):
    engine = ServerEngine(standin.url, "vision-model", timeout_s=1.0)
    messages = set()
    for mode in ("http500", "novision", "stall", "slow"):
        standin.mode = mode
        with pytest.raises(ServerError) as info:
            answer(engine)
        messages.add(info.value.message)
    assert len(messages) == 4


def test_slow_server_times_out(standin):
    standin.mode = "slow"
    engine = ServerEngine(standin.url, "vision-model", timeout_s=0.5)
    start = time.perf_counter()
    with pytest.raises(ServerError):
        answer(engine)
    assert time.perf_counter() - start < 2.0


def test_server_down_is_one_sentence():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    engine = ServerEngine(f"http://127.0.0.1:{port}/v1", "m", timeout_s=1)
    with pytest.raises(ServerError):
        answer(engine)


def test_wrong_model_name_is_reported_before_any_picture_is_sent(standin):
    engine = ServerEngine(standin.url, "no-such-model", timeout_s=2)
    with pytest.raises(ServerError):
        answer(engine)
    assert standin.requests == []


def test_a_server_that_ignores_stream_still_answers(standin):
    standin.mode = "nostream"
    engine = ServerEngine(standin.url, "vision-model", timeout_s=2)
    assert "".join(answer(engine)) == "".join(standin.pieces)


def test_remote_host_needs_permission_and_is_announced_once(standin):
    with pytest.raises(BadInputError):
        ServerEngine("https://gpu.example.org/v1", "m")
    said: list[str] = []
    engine = ServerEngine("https://gpu.example.org/v1", "m", allow_remote=True, notify=said.append)
    engine._announce(None)
    engine._announce(None)
    ServerEngine("https://gpu.example.org/v1", "m", allow_remote=True, notify=said.append)._announce(None)
    assert len(said) == 1 and "gpu.example.org" in said[0]
    local: list[str] = []
    ServerEngine(standin.url, "m", notify=local.append)._announce(None)
    assert local == []


def test_settings_route_to_the_server_and_the_command_line_counts_as_permission():
    settings = {"server_url": "http://localhost:11434/v1", "server_model": "qwen3-vl:2b", "server_allow_remote": False}
    engine = create_engine("auto", "auto", settings)
    assert isinstance(engine, ServerEngine) and engine.requested_model == "qwen3-vl:2b"
    with pytest.raises(BadInputError):
        create_engine("auto", "auto", dict(settings, server_url="http://10.1.2.3:8000/v1"))
    engine = create_engine("auto", "auto", {}, server="http://10.1.2.3:8000/v1", server_model="llava")
    assert isinstance(engine, ServerEngine) and engine.host == "10.1.2.3" and engine.requested_model == "llava"


def test_address_rules():
    assert is_loopback("localhost") and is_loopback("127.0.0.1") and is_loopback("::1")
    assert not is_loopback("gpu.example.org") and not is_loopback("192.168.1.5")
    assert parse_server_url("localhost:11434/v1") == ("http", "localhost", 11434, "/v1")
    for bad in ("ftp://x/v1", "http://user:pw@host/v1", ""):
        with pytest.raises(BadInputError):
            parse_server_url(bad)


def test_tls_certificates_are_verified(tmp_path):
    """A server with a certificate this computer does not trust gets nothing (not even the request)."""
    import ssl

    cryptography = pytest.importorskip("cryptography")
    del cryptography
    cert, key = _self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    received: list[bytes] = []

    def serve() -> None:
        conn, _ = listener.accept()
        try:
            with context.wrap_socket(conn, server_side=True) as tls:
                received.append(tls.recv(100))
        except (ssl.SSLError, OSError):
            pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    engine = ServerEngine(f"https://127.0.0.1:{port}/v1", "m", timeout_s=3)
    with pytest.raises(ServerError) as info:
        answer(engine)
    thread.join(3)
    listener.close()
    assert received == [] and isinstance(info.value, IrisError)


def _self_signed(tmp_path):
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)


def test_cli_describe_with_a_server(standin, photo_path, capsys):
    import json

    from app import cli

    code = cli.main(["describe", str(photo_path), "--server", standin.url, "--model", "vision-model",
                     "--json", "--no-speak"])
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert data["engine"] == "server" and data["text"] == "".join(standin.pieces).strip()
    assert data["model"] == "vision-model"


def test_cli_server_down_is_one_line_and_a_model_error(photo_path, capsys):
    from app import cli

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code = cli.main(["describe", str(photo_path), "--server", f"http://127.0.0.1:{port}/v1", "--no-speak"])
    err = capsys.readouterr().err
    assert code != 0 and "Traceback" not in err
    assert len([line for line in err.splitlines() if line.startswith("iris: ")]) == 1
