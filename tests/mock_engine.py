"""A scripted engine for tests and demos (the seam double, like simonw/llm's MockModel)."""

from __future__ import annotations

import threading
import time
from typing import Callable, Iterator

from app.engine.base import CancelToken, Conversation, GenerationStats, StatusCallback, VisionEngine


class MockEngine(VisionEngine):
    """Streams a fixed or computed answer word by word, with optional delays and failures.

    ``answer`` may be a string or a function of the conversation. ``fail`` makes
    ``stream`` (or ``load`` with ``fail_on_load``) raise that exception.
    """

    model_name = "mock"
    device = "cpu"
    quantization = "none"

    def __init__(
        self,
        answer: str | Callable[[Conversation], str] = "A test image. It shows a red square on a white background.",
        *,
        token_delay: float = 0.0,
        load_delay: float = 0.0,
        fail: BaseException | None = None,
        fail_on_load: bool = False,
    ) -> None:
        super().__init__()
        self.answer = answer
        self.token_delay = token_delay
        self.load_delay = load_delay
        self.fail = fail
        self.fail_on_load = fail_on_load
        self._loaded = False
        self.calls: list[Conversation] = []
        self.load_count = 0
        self._lock = threading.Lock()

    @property
    def is_loaded(self) -> bool:
        return self._loaded

    def load(self, status: StatusCallback | None = None) -> None:
        with self._lock:
            if self._loaded:
                return
            if self.fail is not None and self.fail_on_load:
                raise self.fail  # like the real loader: a missing model fails before "loading" is said
            if status:
                status("Loading the test model.")
            time.sleep(self.load_delay)
            self._loaded = True
            self.load_count += 1

    def unload(self) -> None:
        self._loaded = False

    def stream(
        self,
        conversation: Conversation,
        cancel: CancelToken | None = None,
        *,
        max_new_tokens: int | None = None,
        min_new_tokens: int | None = None,
    ) -> Iterator[str]:
        start = time.perf_counter()
        load_start = start
        self.load()
        load_s = time.perf_counter() - load_start
        self.calls.append(conversation)
        if self.fail is not None and not self.fail_on_load:
            raise self.fail
        text = self.answer(conversation) if callable(self.answer) else self.answer
        words = text.split(" ")
        if max_new_tokens is not None:
            words = words[:max_new_tokens]
        stats = GenerationStats(input_tokens=len(conversation.turns) * 10 + 64, load_s=load_s)
        for i, word in enumerate(words):
            if cancel is not None and cancel.cancelled:
                break
            if self.token_delay:
                if cancel is not None:
                    if cancel.wait(self.token_delay):
                        break
                else:
                    time.sleep(self.token_delay)
            if stats.first_token_s is None:
                stats.first_token_s = time.perf_counter() - start
            stats.output_tokens += 1
            yield word if i == 0 else " " + word
        stats.total_s = time.perf_counter() - start
        self.last_stats = stats
