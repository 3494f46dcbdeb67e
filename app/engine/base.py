"""The tiny engine interface, the conversation it works on, and cancellation.

An engine turns a :class:`Conversation` (one image plus earlier turns) into a
stream of text pieces. It is loaded lazily, can be unloaded, and stops within
a fraction of a second when its :class:`CancelToken` is set.
"""

from __future__ import annotations

import queue
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Callable, Iterator

from PIL import Image


class CancelToken:
    """Set once to ask a job to stop; checked by engines between tokens.

    A :meth:`child` token is cancelled with its parent and can also be
    cancelled alone, so an engine can stop its own generation (on unload, or
    when a stream is closed early) without cancelling the caller's job.
    """

    #: How often a child's wait() looks at its parent.
    _PARENT_POLL_S = 0.005

    def __init__(self, parent: "CancelToken | None" = None) -> None:
        self._event = threading.Event()
        self._parent = parent
        self.cancelled_at: float | None = None
        self._callbacks: list[Callable[[], None]] = []
        self._callback_lock = threading.Lock()

    def cancel(self) -> None:
        with self._callback_lock:
            if self._event.is_set():
                return
            self.cancelled_at = time.perf_counter()
            self._event.set()
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            try:
                callback()
            except Exception:  # a listener must never break cancellation
                pass

    def on_cancel(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once, on the cancelling thread, when this token (or a parent) is cancelled.

        Runs at once if already cancelled. The speech layer uses it so a
        cancelled job's queued and playing speech is dropped in every output.
        """
        if self._parent is not None:
            gate = threading.Lock()
            inner = callback

            def once() -> None:
                if gate.acquire(blocking=False):  # the first of parent and self wins
                    inner()

            self._parent.on_cancel(once)
            callback = once
        with self._callback_lock:
            if not self._event.is_set():
                self._callbacks.append(callback)
                return
        callback()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set() or (self._parent is not None and self._parent.cancelled)

    def child(self) -> "CancelToken":
        return CancelToken(parent=self)

    def wait(self, timeout: float) -> bool:
        """Block until cancelled (True) or ``timeout`` seconds pass (False)."""
        if self._parent is None:
            return self._event.wait(timeout)
        deadline = time.perf_counter() + timeout
        while not self.cancelled:
            left = deadline - time.perf_counter()
            if left <= 0:
                return False
            self._event.wait(min(left, self._PARENT_POLL_S))
        return True


@dataclass
class Turn:
    role: str  # "user" or "assistant"
    text: str


@dataclass
class Conversation:
    """One image and the questions and answers about it, so follow-ups work."""

    image: Image.Image
    turns: list[Turn] = field(default_factory=list)
    is_screen: bool = False
    source_label: str = "the image"

    def ask(self, question: str) -> None:
        self.turns.append(Turn("user", question))

    def answer(self, text: str) -> None:
        self.turns.append(Turn("assistant", text))

    @property
    def pending_question(self) -> str | None:
        if self.turns and self.turns[-1].role == "user":
            return self.turns[-1].text
        return None

    def drop_pending(self) -> None:
        """Remove an unanswered question (after a cancel or failure)."""
        if self.pending_question is not None:
            self.turns.pop()


@dataclass
class GenerationStats:
    input_tokens: int = 0
    output_tokens: int = 0
    load_s: float = 0.0
    first_token_s: float | None = None
    total_s: float = 0.0


@dataclass(frozen=True)
class ImagePolicy:
    """How big an image the model sees: the main CPU latency lever.

    ``max_edge`` is the longest edge the image is resized to before the
    processor; ``split`` enables the processor's tiling into sub-images.
    """

    max_edge: int
    split: bool


#: Presets per device. On CPU one 512 px tile keeps the first token at a few
#: seconds; tiling costs 4-5x more (see shared/models/README.md and benchmarks/).
IMAGE_POLICIES: dict[str, dict[str, ImagePolicy]] = {
    "cpu": {
        "fast": ImagePolicy(max_edge=512, split=False),
        "balanced": ImagePolicy(max_edge=1024, split=True),
        "detailed": ImagePolicy(max_edge=1536, split=True),
    },
    "cuda": {
        "fast": ImagePolicy(max_edge=1024, split=True),
        "balanced": ImagePolicy(max_edge=1536, split=True),
        "detailed": ImagePolicy(max_edge=2048, split=True),
    },
}


def image_policy(device: str, preset: str) -> ImagePolicy:
    table = IMAGE_POLICIES["cuda" if device.startswith("cuda") else "cpu"]
    return table.get(preset, table["fast"])


StatusCallback = Callable[[str], None]
#: Receives each piece of the answer, on the thread that runs the generation.
TextCallback = Callable[[str], None]


class VisionEngine(ABC):
    """A vision-language model behind a small interface."""

    #: Filled in by the engine: catalogue name or path, "cpu"/"cuda", "nf4"/"int8"/"bf16"/"fp32".
    model_name: str = "unknown"
    device: str = "cpu"
    quantization: str = "none"
    #: Which engine answers: "transformers", "llama.cpp" or "server" (reported in --json).
    engine_name: str = "unknown"

    def __init__(self) -> None:
        self.last_stats = GenerationStats()

    @property
    @abstractmethod
    def is_loaded(self) -> bool: ...

    def model_found(self) -> bool:
        """Whether the model to load is there (cheap: no weights read, no torch import).

        Lets the app say "loading the model" only when there is one to load.
        """
        return True

    @abstractmethod
    def load(self, status: StatusCallback | None = None) -> None:
        """Load weights (blocking; call from a worker). Raises ModelMissingError/ModelLoadError."""

    @abstractmethod
    def unload(self) -> None: ...

    def warm_up(self, cancel: CancelToken | None = None, status: StatusCallback | None = None) -> None:
        """Load, then answer one tiny question, so the user's first request is not the slow one.

        The first generation after a bare load pays one-off costs (kernel
        selection, allocator growth, lazy imports inside ``generate``): on an
        H100 the first press took 4.0 s to first audio after a bare load and
        1.29 s after a warm one (benchmarks/README.md). ``last_stats`` keeps
        the previous request's figures.
        """
        self.load(status)
        if cancel is not None and cancel.cancelled:
            return
        stats = self.last_stats
        probe = Conversation(image=Image.new("RGB", (64, 64), (128, 128, 128)))
        probe.ask("Describe.")
        try:
            self.generate(probe, cancel, lambda _piece: None, max_new_tokens=2)
        finally:
            self.last_stats = stats

    def generate(
        self,
        conversation: Conversation,
        cancel: CancelToken | None,
        on_text: TextCallback,
        *,
        max_new_tokens: int | None = None,
        min_new_tokens: int | None = None,
    ) -> None:
        """Answer on the calling thread, handing each piece to ``on_text`` as it is made.

        The pipeline uses this rather than :meth:`stream`: on CUDA, running
        ``generate()`` on a second thread while the caller waits on a queue
        decoded about 3x slower (benchmarks/README.md, thread diagnostic).
        Same contract as :meth:`stream`: loads first if needed, returns early
        (raising nothing) when ``cancel`` is set, fills ``last_stats``. An
        exception raised by ``on_text`` stops the generation and propagates
        unchanged. Engines that stream natively may rely on this default.
        """
        for piece in self.stream(
            conversation, cancel, max_new_tokens=max_new_tokens, min_new_tokens=min_new_tokens
        ):
            on_text(piece)

    @abstractmethod
    def stream(
        self,
        conversation: Conversation,
        cancel: CancelToken | None = None,
        *,
        max_new_tokens: int | None = None,
        min_new_tokens: int | None = None,
    ) -> Iterator[str]:
        """Yield the answer to the conversation's pending question, piece by piece.

        Loads the model first if needed. Stops early (raising nothing) when
        ``cancel`` is set. Fills ``last_stats`` when done.
        """


class CallbackEngine(VisionEngine):
    """An engine whose native form is :meth:`generate`; :meth:`stream` runs it on a helper thread."""

    def stream(
        self,
        conversation: Conversation,
        cancel: CancelToken | None = None,
        *,
        max_new_tokens: int | None = None,
        min_new_tokens: int | None = None,
    ) -> Iterator[str]:
        return stream_in_thread(
            self, conversation, cancel, max_new_tokens=max_new_tokens, min_new_tokens=min_new_tokens
        )

    @abstractmethod
    def generate(
        self,
        conversation: Conversation,
        cancel: CancelToken | None,
        on_text: TextCallback,
        *,
        max_new_tokens: int | None = None,
        min_new_tokens: int | None = None,
    ) -> None: ...


class AnsweringEngine(CallbackEngine):
    """An engine that answers by itself (not a wrapper): one :meth:`generate` prologue for all.

    It loads the model if needed, runs on a child of the caller's token (so
    :meth:`unload` can stop it without cancelling the user's job) and fills
    ``last_stats`` even when the answer is cancelled or fails; subclasses write
    only :meth:`_answer`.
    """

    def generate(
        self,
        conversation: Conversation,
        cancel: CancelToken | None,
        on_text: TextCallback,
        *,
        max_new_tokens: int | None = None,
        min_new_tokens: int | None = None,
    ) -> None:
        start = time.perf_counter()
        stats = GenerationStats()
        if not self.is_loaded:
            self.load()
            stats.load_s = time.perf_counter() - start
        token = (cancel or CancelToken()).child()
        try:
            self._answer(conversation, token, on_text, stats, start, max_new_tokens, min_new_tokens)
        finally:
            stats.total_s = time.perf_counter() - start
            self.last_stats = stats

    @abstractmethod
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
        """Answer the pending question on this thread; ``start`` is when the request began."""


_END = object()


def stream_in_thread(
    engine: VisionEngine,
    conversation: Conversation,
    cancel: CancelToken | None,
    *,
    max_new_tokens: int | None = None,
    min_new_tokens: int | None = None,
) -> Iterator[str]:
    """Iterate over :meth:`VisionEngine.generate` run on a helper thread.

    For engines whose native form is the callback (the transformers engine):
    tests, the CLI's batch tools and benchmarks may still want an iterator.
    Closing the iterator early stops the generation; errors are re-raised on
    the iterating thread; the helper is always joined before this returns.
    """
    outer = cancel or CancelToken()
    token = outer.child()
    pieces: queue.Queue[object] = queue.Queue()
    failure: list[BaseException] = []

    def run() -> None:
        try:
            engine.generate(
                conversation, token, pieces.put, max_new_tokens=max_new_tokens, min_new_tokens=min_new_tokens
            )
        except BaseException as exc:  # noqa: BLE001 - re-raised on the iterating thread
            failure.append(exc)
        finally:
            pieces.put(_END)

    worker = threading.Thread(target=run, name="iris-generate", daemon=True)
    worker.start()
    try:
        while True:
            piece = pieces.get()
            if piece is _END:
                break
            if not token.cancelled:
                yield str(piece)
    finally:
        token.cancel()
        worker.join()
    if failure and not outer.cancelled:
        raise failure[0]
