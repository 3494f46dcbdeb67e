"""Speech through speech-dispatcher: the Linux screen-reader output (Orca speaks through it too).

Answers and messages queue there at SSIP priority ``message`` (Orca's own
priority, so Iris and Orca take turns instead of cutting each other off);
NOW speech goes as ``important``. Each job that speaks gets its own SSIP
client, so cancelling the job is one ``CANCEL self`` on that client: its
queued and playing sentences go, errors and other messages stay. Messages
that belong to no job share one long-lived client. If speech-dispatcher
stops answering, Iris says so once and continues with its own voice.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .base import Owner, Priority, Speaker
from .ssip import SSIPConnection, SSIPError, socket_path, spawn_server

log = logging.getLogger(__name__)

SSIP_PRIORITY = {Priority.NOW: "important", Priority.NEXT: "message", Priority.NORMAL: "message"}

ConnectionFactory = Callable[..., SSIPConnection]


@dataclass(eq=False)
class _Client:
    owner: Owner | None
    conn: SSIPConnection | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    outstanding: dict[int, str] = field(default_factory=dict)  # message id -> text
    early: dict[int, list[str]] = field(default_factory=dict)  # events that beat their SPEAK reply
    playing: set[int] = field(default_factory=set)  # begun, not yet ended
    cancelled: bool = False


class SpeechDispatcherSpeaker(Speaker):
    """Speaks through the user's speech-dispatcher; raises :class:`SSIPError` at creation if it is not there."""

    name = "speech-dispatcher"

    def __init__(
        self,
        path: Path | str | None = None,
        *,
        spawn: bool = False,
        connect: ConnectionFactory = SSIPConnection,
        fallback: Callable[[], Speaker] | None = None,
        on_message: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__()
        resolved = Path(path) if path is not None else socket_path()
        if resolved is None:
            raise SSIPError("speech-dispatcher's address is not a local socket")
        if spawn and not resolved.exists():
            spawn_server(resolved)
        self.path = resolved
        self._connect = connect
        self._fallback_factory = fallback
        self._fallback: Speaker | None = None
        self._on_message = on_message
        self._lock = threading.Condition()
        self._clients: list[_Client] = []
        self._closed = False
        self._dead = False  # failed with nothing to fall back on: silent from now on
        self._messages = self._open(None)  # raises SSIPError when speech-dispatcher is not there

    # ------------------------------------------------------------- clients
    def _open(self, owner: Owner | None) -> _Client:
        client = _Client(owner)
        component = "messages" if owner is None else f"job{len(self._clients)}"
        client.conn = self._connect(self.path, client="iris", component=component,
                                    on_event=lambda name, msg_id: self._on_event(client, name, msg_id))
        with self._lock:
            self._clients.append(client)
        return client

    def _client_for(self, owner: Owner | None) -> _Client:
        if owner is None:
            return self._messages
        with self._lock:
            for client in self._clients:
                if client.owner is owner and not client.cancelled:
                    return client
            idle = [c for c in self._clients if c.owner is not None and not c.outstanding]
        for client in idle:  # a finished job's client: nothing of it is left to cancel
            self._retire(client)
        return self._open(owner)

    def _retire(self, client: _Client) -> list[str]:
        """Cancel and close ``client``; the texts it still had queued."""
        with client.lock:
            client.cancelled = True
            conn = client.conn
            if conn is not None and not conn.closed:
                try:
                    conn.cancel()
                except SSIPError:
                    pass
                conn.close()
        with self._lock:
            dropped = list(client.outstanding.values())
            client.outstanding.clear()
            if client in self._clients:
                self._clients.remove(client)
            self._lock.notify_all()
        return dropped

    # ------------------------------------------------------------- speaking
    def speak(self, text: str, *, interrupt: bool = False, priority: Priority = Priority.NORMAL,
              owner: Owner | None = None) -> None:
        text = (text or "").strip()
        if not text or self._closed or self._dead:
            return
        if interrupt:
            self.stop()
        if self._fallback is not None:
            self._fallback.speak(text, priority=priority, owner=owner)
            return
        if owner is not None:
            self._watch(owner)
            if owner.cancelled:
                return
        try:
            client = self._client_for(owner)
            with client.lock:
                if client.cancelled or (owner is not None and owner.cancelled):
                    return
                assert client.conn is not None
                msg_id = client.conn.speak(text, SSIP_PRIORITY[priority])
                with self._lock:
                    client.outstanding[msg_id] = text
                    early = client.early.pop(msg_id, [])
        except SSIPError as exc:
            if owner is not None and owner.cancelled:
                return
            self._fail(exc, text, priority, owner)
            return
        self._emit("started", text)
        for name in early:
            self._on_event(client, name, msg_id)

    def _on_event(self, client: _Client, name: str, msg_id: int) -> None:
        with self._lock:
            text = client.outstanding.get(msg_id)
            if text is None:
                if not client.cancelled and name in ("begin", "end", "cancel"):
                    client.early.setdefault(msg_id, []).append(name)
                return
            if name == "begin":
                client.playing.add(msg_id)
            if name in ("end", "cancel"):
                del client.outstanding[msg_id]
                client.playing.discard(msg_id)
                self._lock.notify_all()
        if name == "begin":
            self._emit("audio", text)
        elif name == "end":
            self._emit("finished", text)
        elif name == "cancel":
            self._emit("cancelled", text)

    def cancel_owner(self, owner: Owner) -> None:
        with self._lock:
            mine = [c for c in self._clients if c.owner is owner]
        for client in mine:
            for text in self._retire(client):
                self._emit("cancelled", text)
        if self._fallback is not None:
            self._fallback.cancel_owner(owner)

    def stop(self) -> None:
        with self._lock:
            # The one speaking goes last: cancelling it first would let the daemon start the next.
            clients = sorted(self._clients, key=lambda c: bool(c.playing))
        dropped: list[str] = []
        for client in clients:
            if client is self._messages:
                with client.lock:
                    try:
                        if client.conn is not None and not client.conn.closed:
                            client.conn.cancel()
                    except SSIPError:
                        pass
                with self._lock:
                    dropped += client.outstanding.values()
                    client.outstanding.clear()
                    self._lock.notify_all()
            else:
                dropped += self._retire(client)
        for text in dropped:
            self._emit("cancelled", text)
        if self._fallback is not None:
            self._fallback.stop()

    def wait(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while any(c.outstanding for c in self._clients):
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._lock.wait(left)
        if self._fallback is not None:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            return self._fallback.wait(left)
        return True

    @property
    def is_speaking(self) -> bool:
        with self._lock:
            busy = any(c.outstanding for c in self._clients)
        return busy or (self._fallback is not None and self._fallback.is_speaking)

    def close(self) -> None:
        if self._closed:
            return
        self.stop()
        self._closed = True
        with self._lock:
            clients = list(self._clients)
        for client in clients:
            self._retire(client)
        if self._fallback is not None:
            self._fallback.close()

    # -------------------------------------------------------------- failure
    def _fail(self, exc: SSIPError, text: str, priority: Priority, owner: Owner | None) -> None:
        """speech-dispatcher stopped answering: say so once and go on with the fallback voice."""
        log.info("speech-dispatcher failed: %s", exc)
        self._emit("error", text)
        if self._fallback is None and self._fallback_factory is not None:
            self._fallback = self._fallback_factory()
            self._fallback.add_listener(self._emit)
            self._report("The screen reader's speech server stopped answering. Iris is using its own voice instead.")
        elif self._fallback is None:
            self._dead = True
            self._report("The screen reader's speech server stopped answering. Answers are still shown as text.")
        if self._fallback is not None:
            self._fallback.speak(text, priority=priority, owner=owner)

    def _report(self, sentence: str) -> None:
        if self._on_message is not None:
            try:
                self._on_message(sentence)
            except Exception:
                log.exception("speech on_message failed")
