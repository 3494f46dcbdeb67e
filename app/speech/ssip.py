"""A small client for SSIP, speech-dispatcher's text protocol (the server Orca speaks through).

Why our own: the ``speechd`` Python bindings ship only as a Debian package
(python3-speechd), not on PyPI, so a virtual environment cannot depend on
them. SSIP is a few line-based commands over a Unix socket; this module
implements the part Iris needs: client name, priority, SPEAK, CANCEL/STOP and
the BEGIN/END/CANCELED notifications. One connection is one speech-dispatcher
client; a reader thread separates command replies from asynchronous events.
"""

from __future__ import annotations

import getpass
import logging
import os
import queue
import re
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Callable

log = logging.getLogger(__name__)

#: SSIP priorities (speech-dispatcher's message priority model).
PRIORITIES = ("important", "message", "text", "notification", "progress")
EVENTS = {"700": "index_mark", "701": "begin", "702": "end", "703": "cancel", "704": "pause", "705": "resume"}

EventHandler = Callable[[str, int], None]  # (event name, message id)


class SSIPError(Exception):
    """speech-dispatcher is not there, refused a command, or stopped answering."""

    reason = "The screen reader's speech server (speech-dispatcher) is not running."


def socket_path() -> Path | None:
    """Where speech-dispatcher listens: $SPEECHD_ADDRESS, else $XDG_RUNTIME_DIR/speech-dispatcher/speechd.sock.

    None when $SPEECHD_ADDRESS names a TCP address (not supported here).
    """
    address = os.environ.get("SPEECHD_ADDRESS", "").strip()
    if address:
        method, _, rest = address.partition(":")
        if method != "unix_socket":
            return None
        if rest:
            return Path(rest)
    runtime = os.environ.get("XDG_RUNTIME_DIR") or f"/run/user/{os.getuid()}"
    return Path(runtime) / "speech-dispatcher" / "speechd.sock"


def spawn_server(path: Path, timeout: float = 5.0) -> bool:
    """Ask speech-dispatcher to start itself (``--spawn``, as libspeechd does); True once the socket answers."""
    binary = shutil.which("speech-dispatcher")
    if binary is None:
        return False
    try:
        subprocess.run([binary, "--spawn"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=timeout, check=False)
    except (OSError, subprocess.SubprocessError):
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            return True
        time.sleep(0.05)
    return False


def escape_text(text: str) -> bytes:
    """The SPEAK body: CRLF lines, a leading dot doubled, ending with the lone-dot line."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    body = "\r\n".join("." + line if line.startswith(".") else line for line in lines)
    return (body + "\r\n.\r\n").encode("utf-8")


def _client_part(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text) or "user"


class SSIPConnection:
    """One client connection: synchronous commands, events handed to ``on_event`` on the reader thread."""

    def __init__(self, path: Path | str, *, client: str = "iris", component: str = "main",
                 timeout: float = 2.0, on_event: EventHandler | None = None) -> None:
        self.path = Path(path)
        self.timeout = timeout
        self.on_event = on_event
        self._replies: "queue.Queue[list[str] | None]" = queue.Queue()
        self._send_lock = threading.Lock()
        self._closed = False
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.settimeout(timeout)
        try:
            self._sock.connect(str(self.path))
        except OSError as exc:
            self._sock.close()
            raise SSIPError(f"cannot connect to speech-dispatcher at {self.path}: {exc}") from exc
        self._sock.settimeout(None)  # the reader blocks; sends are small
        self._reader = threading.Thread(target=self._read, name="iris-ssip", daemon=True)
        self._reader.start()
        try:
            user = _client_part(getpass.getuser())
        except Exception:  # noqa: BLE001 - no passwd entry in a container
            user = "user"
        try:
            self.command(f"SET self CLIENT_NAME {user}:{_client_part(client)}:{_client_part(component)}")
            self.command("SET self NOTIFICATION ALL on")
        except SSIPError:
            self.close()
            raise

    # ----------------------------------------------------------- commands
    def command(self, line: str) -> list[str]:
        """Send one command line; the reply's lines (raises SSIPError unless it is a 2xx reply)."""
        with self._send_lock:
            return self._exchange(line.encode("utf-8") + b"\r\n")

    def speak(self, text: str, priority: str = "message") -> int:
        """Queue ``text`` at ``priority``; returns speech-dispatcher's message id."""
        if priority not in PRIORITIES:
            raise ValueError(priority)
        with self._send_lock:
            self._exchange(f"SET self PRIORITY {priority}\r\n".encode())
            self._exchange(b"SPEAK\r\n", expect="230")
            reply = self._exchange(escape_text(text), expect="225")
        for line in reply:
            if line.startswith("225-") and line[4:].strip().isdigit():
                return int(line[4:].strip())
        raise SSIPError(f"no message id in {reply!r}")

    def cancel(self) -> None:
        """Drop everything this client queued and silence what it is saying."""
        self.command("CANCEL self")

    def stop(self) -> None:
        """Silence what this client is saying now (its queue goes on)."""
        self.command("STOP self")

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._sock.sendall(b"QUIT\r\n")
        except OSError:
            pass
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()

    @property
    def closed(self) -> bool:
        return self._closed

    def _exchange(self, data: bytes, expect: str = "2") -> list[str]:
        if self._closed:
            raise SSIPError("the connection to speech-dispatcher is closed")
        try:
            self._sock.sendall(data)
        except OSError as exc:
            self._closed = True
            raise SSIPError(f"speech-dispatcher went away: {exc}") from exc
        try:
            reply = self._replies.get(timeout=self.timeout)
        except queue.Empty:
            raise SSIPError("speech-dispatcher did not answer") from None
        if reply is None:
            self._closed = True
            raise SSIPError("speech-dispatcher closed the connection")
        if not reply[-1].startswith(expect):
            raise SSIPError(f"speech-dispatcher refused: {reply[-1]}")
        return reply

    # ------------------------------------------------------------- reader
    def _read(self) -> None:
        buffer = b""
        reply: list[str] = []
        event: list[str] = []
        try:
            while True:
                try:
                    chunk = self._sock.recv(4096)
                except OSError:
                    break
                if not chunk:
                    break
                buffer += chunk
                while b"\r\n" in buffer:
                    raw, buffer = buffer.split(b"\r\n", 1)
                    line = raw.decode("utf-8", errors="replace")
                    target = event if line.startswith("7") else reply
                    target.append(line)
                    if len(line) >= 4 and line[3] == " ":  # the last line of a block
                        if target is event:
                            self._dispatch(event)
                            event = []
                        else:
                            self._replies.put(reply)
                            reply = []
        finally:
            self._replies.put(None)

    def _dispatch(self, lines: list[str]) -> None:
        name = EVENTS.get(lines[-1][:3])
        if name is None or self.on_event is None or len(lines) < 2:
            return
        try:
            msg_id = int(lines[0][4:].strip())
        except ValueError:
            return
        try:
            self.on_event(name, msg_id)
        except Exception:
            log.exception("SSIP event handler failed")
