"""A model server the user already runs: any OpenAI-compatible chat-completions endpoint with images.

Ollama (``http://localhost:11434/v1``), LM Studio, llama.cpp's ``llama-server``
and llama-cpp-python's server, and vLLM (an organisation's shared GPU server)
all speak this protocol: ``POST {base}/chat/completions`` with the picture as a
``data:`` URL and ``"stream": true``, answered with server-sent events.

The standard library's ``http.client`` does the talking, on purpose: it never
reads proxy variables or netrc files, so the configured host is the only
machine ever contacted, and with ``https`` the certificate is checked against
the system's trust store (``ssl.create_default_context``). Cancel shuts the
socket down from a small watcher thread, so a stop is immediate even while
the server is still thinking. Every failure is one plain sentence.
"""

from __future__ import annotations

import base64
import http.client
import io
import ipaddress
import json
import logging
import socket
import ssl
import threading
import time
from typing import Any, Callable
from urllib.parse import urlsplit

from ..errors import BadInputError, IrisError, ModelLoadError
from .base import (
    AnsweringEngine,
    CancelToken,
    Conversation,
    GenerationStats,
    StatusCallback,
    TextCallback,
    image_policy,
)
from .prompting import fit_image

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 60.0
CONNECT_TIMEOUT_S = 10.0
DEFAULT_MAX_NEW_TOKENS = 256
#: Words in a server's error that mean "this model cannot take pictures".
_NOT_VISION_HINTS = ("image", "vision", "multimodal", "multi-modal", "clip", "mmproj", "image_url")
_announced_hosts: set[str] = set()


class ServerError(IrisError):
    """The model server failed; the message says how, in one sentence."""


def is_loopback(host: str) -> bool:
    """True for this computer (localhost, 127.0.0.0/8, ::1), decided without any DNS lookup."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_server_url(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, base path) of a server URL, or BadInputError."""
    url = (url or "").strip()
    parts = urlsplit(url if "://" in url else f"http://{url}")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadInputError(f"The server address {url!r} is not a web address; it should look like http://localhost:11434/v1.")
    if parts.username or parts.password:
        raise BadInputError("Put the server's API key in IRIS_API_KEY or the system keyring, not in its address.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise BadInputError(f"The server address {url!r} has an invalid port.") from None
    return parts.scheme, parts.hostname, port, parts.path.rstrip("/")


class ServerEngine(AnsweringEngine):
    """Answers through a model server; nothing to load but a check that it is there."""

    engine_name = "server"

    def __init__(
        self,
        url: str,
        model: str = "auto",
        *,
        settings: Any = None,
        allow_remote: bool = False,
        api_key: str | None = None,
        notify: Callable[[str], None] | None = None,
        timeout_s: float | None = None,
    ) -> None:
        super().__init__()
        self.scheme, self.host, self.port, self.base_path = parse_server_url(url)
        if not is_loopback(self.host) and not allow_remote:
            raise BadInputError(
                f"The model server {self.host} is on another computer; turn on sending pictures to another "
                "computer in Settings, or pass --server on the command line, to use it."
            )
        self.url = url
        self.requested_model = (model or "auto").strip()
        self.model_name = self.requested_model
        self.device = "server"
        self.quantization = "server"
        self.settings = settings
        self._api_key = api_key
        self._notify = notify
        self.timeout_s = float(timeout_s or _setting(settings, "server_timeout", DEFAULT_TIMEOUT_S))
        self._checked = False
        self._lock = threading.Lock()

    @property
    def is_loaded(self) -> bool:
        return self._checked

    def load(self, status: StatusCallback | None = None) -> None:
        """Check that the server answers and offers the model (its /models list, where it has one)."""
        with self._lock:
            if self._checked:
                return
            self._announce(status)
            if status:
                status(f"Connecting to the model server {self.host}.")
            models = self._list_models()
            if self.requested_model.lower() in ("", "auto"):
                if not models:
                    raise ServerError(f"The model server {self.host} lists no models; choose one with --model or in Settings.")
                self.model_name = models[0]
            elif models and self.requested_model not in models:
                offered = ", ".join(models[:5])
                raise ServerError(f"The model server {self.host} has no model called {self.requested_model}; it offers {offered}.")
            self._checked = True

    def unload(self) -> None:
        self._checked = False

    def _announce(self, status: StatusCallback | None) -> None:
        if is_loopback(self.host) or self.host in _announced_hosts:
            return
        _announced_hosts.add(self.host)
        say = self._notify or status
        if say:
            say(f"Pictures will be sent to {self.host}.")

    # ------------------------------------------------------------------ HTTP
    def _connection(self, timeout: float) -> http.client.HTTPConnection:
        if self.scheme == "https":
            return http.client.HTTPSConnection(self.host, self.port, timeout=timeout, context=ssl.create_default_context())
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream, application/json"}
        key = self._api_key
        if key is None:
            from ..secrets import get_api_key

            key = get_api_key(self.host)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def _list_models(self) -> list[str]:
        conn = self._connection(min(self.timeout_s, CONNECT_TIMEOUT_S))
        try:
            conn.request("GET", f"{self.base_path}/models", headers=self._headers())
            response = conn.getresponse()
            body = response.read(1_000_000)
            if response.status in (404, 405):
                return []  # some servers have no model list; the first request will tell
            if response.status >= 400:
                raise self._http_error(response.status, body)
            data = json.loads(body or b"{}")
            return [str(m.get("id")) for m in data.get("data", []) if isinstance(m, dict) and m.get("id")]
        except (OSError, http.client.HTTPException) as exc:
            raise self._network_error(exc, started=False) from None
        except ValueError:
            return []
        finally:
            conn.close()

    def _network_error(self, exc: BaseException, *, started: bool) -> ServerError:
        detail = f"{type(exc).__name__}: {exc}"
        if isinstance(exc, ssl.SSLCertVerificationError):
            return ServerError(
                f"The model server {self.host} showed a certificate this computer does not trust, so nothing was sent.",
                detail=detail,
            )
        if isinstance(exc, (socket.timeout, TimeoutError)):
            if started:
                return ServerError(f"The model server {self.host} stopped in the middle of the answer.", detail=detail)
            return ServerError(f"The model server {self.host} did not answer within {self.timeout_s:.0f} seconds.", detail=detail)
        if started:
            return ServerError(f"The connection to the model server {self.host} was lost in the middle of the answer.", detail=detail)
        return ServerError(f"The model server at {self.host} port {self.port} is not answering; check that it is running.", detail=detail)

    def _http_error(self, status: int, body: bytes) -> ServerError:
        text = body[:2000].decode("utf-8", "replace")
        try:
            parsed = json.loads(text)
            error = parsed.get("error", parsed) if isinstance(parsed, dict) else parsed
            message = str(error.get("message", error) if isinstance(error, dict) else error)
        except ValueError:
            message = text
        lowered = message.lower()
        detail = f"HTTP {status}: {message[:500]}"
        if status in (401, 403):
            return ServerError(f"The model server {self.host} refused the API key; check IRIS_API_KEY or the saved key.", detail=detail)
        if status == 404 and "model" in lowered:
            return ServerError(f"The model server {self.host} has no model called {self.model_name}.", detail=detail)
        if status == 404:
            return ServerError(
                f"The model server {self.host} has no chat service at this address; the address usually ends in /v1.",
                detail=detail,
            )
        if status in (400, 422, 500, 501) and any(hint in lowered for hint in _NOT_VISION_HINTS):
            return ServerError(
                f"The model {self.model_name} on {self.host} cannot read pictures; choose a vision model.", detail=detail
            )
        return ServerError(f"The model server {self.host} returned an error (HTTP {status}).", detail=detail)

    # --------------------------------------------------------------- answers
    def _answer(
        self,
        conversation: Conversation,
        cancel: CancelToken,
        on_text: TextCallback,
        stats: GenerationStats,
        start: float,
        max_new_tokens: int | None,
        min_new_tokens: int | None,
    ) -> None:
        if not cancel.cancelled:
            self._stream(conversation, cancel, on_text, stats, start, max_new_tokens, min_new_tokens)

    def request_body(self, conversation: Conversation, max_new_tokens: int | None, min_new_tokens: int | None) -> dict[str, Any]:
        limit = int(max_new_tokens or _setting(self.settings, "max_new_tokens", DEFAULT_MAX_NEW_TOKENS))
        limit = max(limit, int(min_new_tokens or 0), 1)
        body: dict[str, Any] = {
            "model": self.model_name,
            "messages": self._messages(conversation),
            "stream": True,
            "max_tokens": limit,
            "temperature": 0,
        }
        if min_new_tokens:
            body["min_tokens"] = int(min_new_tokens)  # vLLM and llama.cpp honour it; others ignore it
        return body

    def _messages(self, conversation: Conversation) -> list[dict[str, Any]]:
        policy = image_policy("cuda", str(_setting(self.settings, "preset", "fast")))
        image = fit_image(conversation.image, policy.max_edge)
        buffer = io.BytesIO()
        if conversation.is_screen:
            image.save(buffer, format="PNG", optimize=False)  # keeps small text sharp
            mime = "image/png"
        else:
            image.save(buffer, format="JPEG", quality=90)
            mime = "image/jpeg"
        url = f"data:{mime};base64,{base64.b64encode(buffer.getvalue()).decode('ascii')}"
        from .prompting import build_messages

        messages = build_messages(conversation)
        for message in messages:
            message["content"] = [
                {"type": "image_url", "image_url": {"url": url}} if part.get("type") == "image" else part
                for part in message["content"]
            ]
            if message["role"] == "assistant":
                message["content"] = "".join(p.get("text", "") for p in message["content"])
        return messages

    def _stream(
        self,
        conversation: Conversation,
        cancel: CancelToken,
        on_text: TextCallback,
        stats: GenerationStats,
        start: float,
        max_new_tokens: int | None,
        min_new_tokens: int | None,
    ) -> None:
        payload = json.dumps(self.request_body(conversation, max_new_tokens, min_new_tokens)).encode("utf-8")
        stats.input_tokens = 0
        conn = self._connection(self.timeout_s)
        finished = threading.Event()
        watcher = threading.Thread(target=_close_on_cancel, args=(conn, cancel, finished), name="iris-server-cancel", daemon=True)
        watcher.start()
        started = False
        try:
            conn.request("POST", f"{self.base_path}/chat/completions", body=payload, headers=self._headers())
            response = conn.getresponse()
            if response.status >= 400:
                raise self._http_error(response.status, response.read(100_000))
            streaming = "text/event-stream" in (response.getheader("Content-Type") or "")
            if not streaming:
                self._whole_answer(response.read(10_000_000), cancel, on_text, stats, start)
                return
            done = False
            while not cancel.cancelled:
                line = response.readline(1_000_000)
                if not line:
                    break
                line = line.strip()
                if not line.startswith(b"data:"):
                    continue
                data = line[5:].strip()
                if data == b"[DONE]":
                    done = True
                    break
                piece, finish = self._piece(data)
                if piece:
                    started = True
                    stats.output_tokens += 1
                    if stats.first_token_s is None:
                        stats.first_token_s = time.perf_counter() - start
                    if not cancel.cancelled:
                        on_text(piece)
                if finish:
                    done = True
            if not done and not cancel.cancelled:
                raise self._network_error(ConnectionError("the stream ended without [DONE]"), started=True)
        except IrisError:
            if cancel.cancelled:
                return
            raise
        except (OSError, http.client.HTTPException, ValueError) as exc:
            if cancel.cancelled:
                return
            raise self._network_error(exc, started=started or stats.output_tokens > 0) from None
        finally:
            finished.set()
            conn.close()
            watcher.join(timeout=1.0)

    def _piece(self, data: bytes) -> tuple[str, bool]:
        try:
            event = json.loads(data)
        except ValueError:
            return "", False
        if isinstance(event, dict) and event.get("error"):
            error = event["error"]
            message = error.get("message", "") if isinstance(error, dict) else str(error)
            raise self._http_error(500, json.dumps({"error": {"message": message}}).encode())
        choices = event.get("choices") or [{}] if isinstance(event, dict) else [{}]
        choice = choices[0] if choices else {}
        delta = choice.get("delta") or {}
        return str(delta.get("content") or ""), bool(choice.get("finish_reason"))

    def _whole_answer(self, body: bytes, cancel: CancelToken, on_text: TextCallback, stats: GenerationStats, start: float) -> None:
        """A server that ignored ``stream`` and sent one JSON answer."""
        data = json.loads(body or b"{}")
        choices = data.get("choices") or []
        text = str(((choices[0] if choices else {}).get("message") or {}).get("content") or "")
        if text and not cancel.cancelled:
            stats.first_token_s = time.perf_counter() - start
            stats.output_tokens = int((data.get("usage") or {}).get("completion_tokens") or 0)
            on_text(text)


def _close_on_cancel(conn: http.client.HTTPConnection, cancel: CancelToken, finished: threading.Event) -> None:
    """Shut the socket down when the job is cancelled, so a blocked read returns at once."""
    while not finished.is_set():
        if cancel.wait(0.05):
            sock = conn.sock
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            return


def _setting(settings: Any, key: str, default: Any) -> Any:
    if settings is None:
        return default
    try:
        value = settings[key]
    except (KeyError, TypeError):
        return default
    return default if value in (None, "") else value


__all__ = ["ServerEngine", "ServerError", "is_loopback", "parse_server_url", "ModelLoadError"]
