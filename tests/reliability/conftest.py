"""Shared tools for the reliability, privacy and security tests.

* :class:`Audit` records, through a Python audit hook (PEP 578), every file
  opened for writing, every removal or rename, every subprocess and every
  socket connection or name lookup made in this process while it is active.
  It is the spy for "nothing but speech and display happens".
* ``socket_guard`` makes any network attempt fail the test (and records it).
* ``rig`` builds the real core (notifier, runner, assistant) over a
  MockEngine and a SilentSpeaker and records every message shown.
* ``tiny_engine`` is the real TransformersEngine over the tiny random SmolVLM.
"""

from __future__ import annotations

import os
import socket
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pytest
from PIL import Image

from app.engine.base import CancelToken
from app.errors import IrisError
from app.notifier import Level, Message, Notifier
from app.speech.base import SilentSpeaker
from tests.mock_engine import MockEngine

TINY_SETTINGS = {"cpu_threads": 2, "preset": "fast", "max_new_tokens": 12}

# --------------------------------------------------------------------- audit
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_NETWORK_EVENTS = {"socket.connect", "socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyaddr",
                   "socket.sendto", "socket.sendmsg"}
_PROCESS_EVENTS = {"subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork",
                   "os.startfile", "webbrowser.open", "pty.spawn"}
_REMOVE_EVENTS = {"os.remove", "os.unlink", "os.rmdir", "shutil.rmtree", "os.rename", "os.replace",
                  "os.truncate", "os.chmod"}


@dataclass
class AuditEvent:
    kind: str  # "write", "remove", "process", "network"
    event: str
    detail: str


class Audit:
    """Records side effects while active (``with Audit() as audit:``); one at a time.

    The hook itself is installed once per process and is a no-op while no
    Audit is active, so it costs nothing to the rest of the suite.
    """

    _active: "Audit | None" = None
    _installed = False
    _guard = threading.local()

    def __init__(self) -> None:
        self.events: list[AuditEvent] = []
        self._lock = threading.Lock()

    @classmethod
    def _hook(cls, event: str, args: tuple) -> None:
        audit = cls._active
        if audit is None or getattr(cls._guard, "busy", False):
            return
        cls._guard.busy = True
        try:
            audit._record(event, args)
        finally:
            cls._guard.busy = False

    def _record(self, event: str, args: tuple) -> None:
        kind = None
        if event == "open":
            path, mode, flags = (list(args) + [None, None, None])[:3]
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & _WRITE_FLAGS
            )
            if writing and not isinstance(path, int):
                # /dev/null for a child's stdio, a tty: not a file that could keep a picture
                kind = "device" if str(path).startswith("/dev/") else "write"
        elif event in _REMOVE_EVENTS:
            # os.truncate(fd) sizes a shared-memory segment (X11 MIT-SHM in mss), not a file
            kind = "memory" if args and isinstance(args[0], int) else "remove"
        elif event in _PROCESS_EVENTS:
            kind = "process"
        elif event in _NETWORK_EVENTS:
            kind = "network"
        if kind is None:
            return
        try:
            detail = " ".join(repr(a)[:200] for a in args)
        except Exception:  # noqa: BLE001 - repr of an odd argument
            detail = "?"
        with self._lock:
            self.events.append(AuditEvent(kind, event, detail))

    def of(self, kind: str) -> list[AuditEvent]:
        with self._lock:
            return [e for e in self.events if e.kind == kind]

    def __enter__(self) -> "Audit":
        if not Audit._installed:
            sys.addaudithook(Audit._hook)
            Audit._installed = True
        assert Audit._active is None, "audits do not nest"
        Audit._active = self
        return self

    def __exit__(self, *exc: Any) -> None:
        Audit._active = None


@pytest.fixture
def audit():
    with Audit() as recorder:
        yield recorder


# -------------------------------------------------------------- socket guard
class NetworkAttempt(AssertionError):
    """Raised inside the code under test when it tries to reach the network."""


@dataclass
class SocketGuard:
    attempts: list[str] = field(default_factory=list)
    #: When False, attempts are recorded and refused with ConnectionRefusedError instead of failing.
    strict: bool = True

    def refuse(self, what: str, error: type[BaseException] = ConnectionRefusedError) -> BaseException:
        self.attempts.append(what)
        if self.strict:
            return NetworkAttempt(f"network use during a local-only action: {what}")
        return error(f"refused by the test's socket guard: {what}")


def install_socket_guard(monkeypatch: pytest.MonkeyPatch, guard: SocketGuard) -> SocketGuard:
    def connect(self, address, *a, **k):
        raise guard.refuse(f"connect {address!r}")

    def connect_ex(self, address, *a, **k):
        raise guard.refuse(f"connect_ex {address!r}")

    def create_connection(address, *a, **k):
        raise guard.refuse(f"create_connection {address!r}")

    def getaddrinfo(host, *a, **k):
        raise guard.refuse(f"getaddrinfo {host!r}", socket.gaierror)

    def gethostbyname(host, *a, **k):
        raise guard.refuse(f"gethostbyname {host!r}", socket.gaierror)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "create_connection", create_connection)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket, "gethostbyname", gethostbyname)
    return guard


@pytest.fixture
def socket_guard(monkeypatch) -> SocketGuard:
    return install_socket_guard(monkeypatch, SocketGuard())


# ------------------------------------------------------------------ messages
def assert_one_sentence(text: str, *, limit: int = 400) -> str:
    """A user message: one non-empty printable line, not a traceback or a repr."""
    assert isinstance(text, str) and text.strip(), repr(text)
    assert "\n" not in text and "\r" not in text, repr(text)
    assert all(ch.isprintable() for ch in text), repr(text)
    assert len(text) <= limit, len(text)
    assert "Traceback" not in text and "Error(" not in text and "\\x" not in text, text
    assert text == text.strip(), repr(text)
    return text


# ----------------------------------------------------------------------- rig
ANSWER = "A calm test picture. It shows a red square on a white background."


@dataclass
class Rig:
    """The real core over doubles, plus what the user saw and heard."""

    core: Any
    engine: Any
    speaker: SilentSpeaker
    shown: list[Message]

    @property
    def assistant(self):
        return self.core.assistant

    @property
    def notifier(self) -> Notifier:
        return self.core.notifier

    def errors(self) -> list[str]:
        return [m.text for m in self.shown if m.level is Level.ERROR]

    def spoken(self) -> list[str]:
        return [s for s in self.speaker.spoken if not s.startswith("<")]

    def run(self, fn: Callable[[CancelToken], Any], *, key: str | None = None, timeout: float = 30) -> Any:
        """Run ``fn`` on the core's worker as both faces do; errors are shown and spoken."""
        box: dict[str, Any] = {}

        def on_error(exc: IrisError) -> None:
            box["error"] = exc
            self.notifier.error(exc.message)  # what the CLI's report_error and the GUI's report do

        self.core.runner.submit(fn, key=key, on_done=lambda r: box.setdefault("result", r), on_error=on_error,
                                on_cancelled=lambda: box.setdefault("cancelled", True))
        assert self.core.runner.wait_idle(timeout), "the worker did not finish"
        return box

    def describe_good(self, size: tuple[int, int] = (64, 48)) -> Any:
        """The assistant still works: a good image is described, spoken and shown."""
        before = len(self.spoken())
        box = self.run(lambda cancel: self.assistant.describe(Image.new("RGB", size, (200, 30, 30)), cancel=cancel))
        assert "error" not in box, box
        answer = box["result"]
        assert answer.text and not answer.cancelled
        assert answer.text.split(".")[0] in " ".join(self.spoken()[before:])
        return answer


@pytest.fixture
def make_rig():
    from app.compose import build_core
    from app.settings import Settings

    built: list[Any] = []

    def make(engine: Any = None, *, ocr: Any = None, settings: dict | None = None, speaker: Any = None) -> Rig:
        """``speaker`` may be a Speaker or a function of the notifier that makes one."""
        notifier = Notifier()
        shown: list[Message] = []
        notifier.add_sink(shown.append)
        store = Settings.load(on_message=notifier.error)
        store.update({"max_new_tokens": 64, **(settings or {})})
        if callable(speaker) and not hasattr(speaker, "speak"):
            speaker = speaker(notifier)  # a factory given the notifier, as build_core wires on_message
        speaker = speaker or SilentSpeaker()
        engine = engine if engine is not None else MockEngine(ANSWER)
        core = build_core(settings=store, notifier=notifier, speaker=speaker, engine=engine, ocr=ocr,
                          with_ocr=ocr is not None)
        built.append(core)
        return Rig(core, engine, speaker, shown)

    yield make
    for core in built:
        core.close()


@pytest.fixture
def rig(make_rig) -> Rig:
    return make_rig()


# ---------------------------------------------------------------- real model
@pytest.fixture
def tiny_engine(tiny_model_dir):
    import torch

    torch.set_num_threads(2)
    from app.engine.transformers_engine import TransformersEngine

    engine = TransformersEngine(tiny_model_dir, settings=dict(TINY_SETTINGS), model_name="tiny")
    yield engine
    engine.unload()


@pytest.fixture
def private_tmp(tmp_path, monkeypatch) -> Path:
    """A temp folder only this test writes to: tempfile and TMPDIR point at it."""
    folder = tmp_path / "private-tmp"
    folder.mkdir()
    monkeypatch.setenv("TMPDIR", str(folder))
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def tree(root: Path) -> dict[str, tuple[int, float]]:
    """path -> (size, mtime) of every file under root."""
    found: dict[str, tuple[int, float]] = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(dirpath, name)
            try:
                info = os.stat(path)
            except OSError:
                continue
            found[path] = (info.st_size, info.st_mtime)
    return found
