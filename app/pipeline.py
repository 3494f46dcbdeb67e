"""The headless heart of Iris: image in, spoken answer out.

:class:`Assistant` composes an engine, a speaker, OCR and the notifier. It
decides *what* to say (answers, blank-screen notice, OCR fallback); the
speaker decides *how* it is spoken. Calls are blocking and meant to run on a
:class:`app.jobs.JobRunner` worker (GUI) or the main thread (CLI). Streaming
text goes to ``on_text``; complete sentences go to the speaker while the rest
is still being generated.
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from PIL import Image

from .engine.base import CancelToken, Conversation, VisionEngine
from .errors import BadInputError, ModelMissingError
from .notifier import Notifier
from .settings import Settings
from .speech.base import Speaker
from .speech.chunker import SentenceChunker, chunk_text

MAX_QUESTION_CHARS = 2000
BLANK_SCREEN_TEXT = "The screen appears to be blank."

TextCallback = Callable[[str], None]


@dataclass
class Answer:
    text: str
    kind: str  # "describe", "ask", "read", "blank", "ocr-fallback"
    model: str = "none"
    engine: str = "none"  # "transformers", "llama.cpp" or "server"; for OCR answers the OCR engine ("tesseract" ...)
    device: str = "cpu"
    quantization: str = "none"
    input_tokens: int = 0
    output_tokens: int = 0
    timings: dict[str, float | None] = field(
        default_factory=lambda: {"load": 0.0, "first_token": None, "first_audio": None, "total": 0.0}
    )
    cancelled: bool = False
    notice: str | None = None  # e.g. "a description model can be downloaded with ..."
    #: The part of the screen described, in screen pixels: {x, y, width, height} (focused control, region, change).
    region: dict[str, int] | None = None
    #: The focused control described: {role, name, application}.
    element: dict[str, str] | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("notice")
        if self.notice:
            data["notice"] = self.notice
        return data


def validate_question(question: str) -> str:
    question = (question or "").strip()
    if not question:
        raise BadInputError("Please type a question first.")
    if len(question) > MAX_QUESTION_CHARS:
        raise BadInputError(
            f"That question is too long: {len(question)} characters. Please keep it under {MAX_QUESTION_CHARS}."
        )
    return question


#: How long an action waits, after its text is complete, for the first audio to
#: be ready, so ``timings.first_audio`` is measured even when the speaker
#: synthesises more slowly than the model generates (short answers).
FIRST_AUDIO_WAIT_S = 5.0


class _FirstAudioClock:
    """Records when the first piece of this answer's audio became ready."""

    def __init__(self, speaker: Speaker, start: float) -> None:
        self.start = start
        self.first_audio: float | None = None
        self._expected: set[str] = set()
        self._lock = threading.Lock()
        self._settled = threading.Event()  # first audio ready, or the speaker gave up on it
        speaker.add_listener(self._on_event)
        self._speaker = speaker

    def expect(self, text: str) -> None:
        with self._lock:
            self._expected.add(text)

    def _on_event(self, event: str, text: str) -> None:
        # The speaker is the router in front of whichever output is active, so this follows a
        # change of output mid-answer; the old output reports what it dropped as "cancelled".
        with self._lock:
            if text not in self._expected:
                return
            if event == "audio" and self.first_audio is None:
                self.first_audio = time.perf_counter() - self.start
            if event in ("audio", "error", "finished", "cancelled"):
                self._settled.set()

    def wait_first_audio(self, cancel: CancelToken, timeout: float = FIRST_AUDIO_WAIT_S) -> None:
        """Block (briefly) until the first expected piece has audio, if any was queued.

        Returns at once when the job is cancelled, so a stop never holds the worker.
        """
        with self._lock:
            if not self._expected:
                return
        deadline = time.perf_counter() + timeout
        while not self._settled.wait(0.02):
            if cancel.cancelled or time.perf_counter() >= deadline:
                return

    def close(self) -> None:
        self._speaker.remove_listener(self._on_event)


class Assistant:
    def __init__(
        self,
        *,
        engine: VisionEngine | None,
        speaker: Speaker,
        notifier: Notifier,
        settings: Settings,
        ocr: Any | None = None,
    ) -> None:
        self.engine = engine
        self.speaker = speaker
        self.notifier = notifier
        self.settings = settings
        self.ocr = ocr
        self.conversation: Conversation | None = None
        self.last_answer: Answer | None = None
        # The owner of a "repeat last answer": a new request silences the repetition.
        self._repeat_owner = CancelToken()
        # The job whose answer may still be speaking: a new request cancels its token, so its
        # queued sentences are dropped even when it finished generating long ago.
        self._speech_owner: CancelToken | None = None
        # Held while checking the cancel token and queueing speech, and while
        # cancelling and silencing, so a cancelled job never speaks after stop().
        self._speech_gate = threading.Lock()
        # The engine whose move to the processor (after a graphics-card memory error) was announced.
        self._fallback_announced_for: Any = None

    # ----------------------------------------------------------------- actions
    def describe(
        self,
        image: Image.Image,
        *,
        is_screen: bool = False,
        label: str = "the image",
        prompt: str | None = None,
        cancel: CancelToken | None = None,
        on_text: TextCallback | None = None,
        speak: bool | None = None,
        min_new_tokens: int | None = None,
    ) -> Answer:
        """Describe a new image; starts a new conversation for follow-up questions."""
        cancel = cancel or CancelToken()
        if is_screen and _is_blank(image):
            self.conversation = None
            return self._say_whole(BLANK_SCREEN_TEXT, "blank", cancel, on_text, speak)
        if prompt is None:
            prompt = self.settings["prompt_screen"] if is_screen else self.settings["prompt_describe"]
        conversation = Conversation(image=image, is_screen=is_screen, source_label=label)
        conversation.ask(self._with_language(prompt))
        self.conversation = conversation
        try:
            return self._generate(conversation, "describe", cancel, on_text, speak, min_new_tokens)
        except ModelMissingError as exc:
            if self.ocr is None:
                raise
            return self._ocr_fallback(image, exc, cancel, on_text, speak)

    def ask(
        self,
        question: str,
        *,
        cancel: CancelToken | None = None,
        on_text: TextCallback | None = None,
        speak: bool | None = None,
        image: Image.Image | None = None,
    ) -> Answer:
        """Ask about the current image (or ``image``, which starts a new conversation)."""
        question = validate_question(question)
        cancel = cancel or CancelToken()
        if image is not None:
            self.conversation = Conversation(image=image)
        if self.conversation is None:
            raise BadInputError("There is no picture to ask about yet. Describe the screen or open an image first.")
        self.conversation.ask(self._with_language(question))
        return self._generate(self.conversation, "ask", cancel, on_text, speak, None)

    def read_text(
        self,
        image: Image.Image,
        *,
        is_screen: bool = False,
        cancel: CancelToken | None = None,
        on_text: TextCallback | None = None,
        speak: bool | None = None,
    ) -> Answer:
        """Read the text in an image with OCR, lines in reading order."""
        cancel = cancel or CancelToken()
        if is_screen and _is_blank(image):
            return self._say_whole(BLANK_SCREEN_TEXT, "blank", cancel, on_text, speak)
        if self.ocr is None:
            raise ModelMissingError("Text reading is not available: the OCR package is not installed.")
        start = time.perf_counter()
        lines = self.ocr.read_lines(image)
        text = "\n".join(lines) if lines else "No text was found."
        answer = self._say_whole(text, "read", cancel, on_text, speak, start=start)
        answer.model = answer.engine = _ocr_name(self.ocr)
        return answer

    def say(
        self,
        text: str,
        kind: str,
        *,
        cancel: CancelToken | None = None,
        on_text: TextCallback | None = None,
        speak: bool | None = None,
    ) -> Answer:
        """Give a fixed answer without the model (e.g. "Nothing has changed."), shown and spoken like one."""
        return self._say_whole(text, kind, cancel or CancelToken(), on_text, speak)

    def repeat_last(self) -> Answer | None:
        if self.last_answer is None:
            self.notifier.info("There is nothing to repeat yet.")
            return None
        self.speaker.stop()
        self._repeat_owner.cancel()
        self._repeat_owner = owner = CancelToken()
        for piece in chunk_text(self.last_answer.text):
            self.speaker.speak(piece, owner=owner)
        return self.last_answer

    def stop(self, cancel: CancelToken | None = None) -> None:
        """Silence speech at once and cancel ``cancel`` (the running job's token)."""
        with self._speech_gate:
            if cancel is not None:
                cancel.cancel()
            self.speaker.stop()

    # ---------------------------------------------------------------- internals
    def _with_language(self, text: str) -> str:
        language = (self.settings["answer_language"] or "").strip()
        return f"{text}\nAnswer in {language}." if language else text

    def _announce_fallback(self, engine: VisionEngine) -> None:
        """Say once (shown and spoken, before the answer) that the model moved to the processor.

        The loader retries on the CPU when the graphics card runs out of memory;
        the user should know why answers are suddenly slower.
        """
        if not getattr(engine, "fell_back_to_cpu", False) or self._fallback_announced_for is engine:
            return
        self._fallback_announced_for = engine
        from .engine.loading import CPU_FALLBACK_MESSAGE

        self.notifier.info(CPU_FALLBACK_MESSAGE)

    def _supersede(self, cancel: CancelToken) -> None:
        """A new request owns the speech from now on: the previous answer goes silent in every output."""
        with self._speech_gate:
            previous, self._speech_owner = self._speech_owner, cancel
            self._repeat_owner.cancel()
        if previous is not None and previous is not cancel:
            previous.cancel()

    def _should_speak(self, speak: bool | None) -> bool:
        return self.settings["speak_answers"] if speak is None else speak

    def _speak_piece(self, text: str, cancel: CancelToken, clock: _FirstAudioClock | None) -> bool:
        with self._speech_gate:
            if cancel.cancelled:
                return False
            if clock is not None:
                clock.expect(text)
            self._repeat_owner.cancel()  # a new answer replaces a repetition of the old one
            # The job's token owns the sentence: cancelling the job silences it in every output.
            self.speaker.speak(text, owner=cancel)
            return True

    def _generate(
        self,
        conversation: Conversation,
        kind: str,
        cancel: CancelToken,
        on_text: TextCallback | None,
        speak: bool | None,
        min_new_tokens: int | None,
    ) -> Answer:
        engine = self.engine
        if engine is None:
            conversation.drop_pending()  # never leave an unanswered question behind
            raise ModelMissingError("No description model is installed. Run: iris models download")
        self._supersede(cancel)
        start = time.perf_counter()
        speaking = self._should_speak(speak)
        clock = _FirstAudioClock(self.speaker, start) if speaking else None
        chunker = SentenceChunker()
        parts: list[str] = []
        try:
            load_s: float | None = None
            if not engine.is_loaded:
                # The engine announces loading only once it has found the model, so a
                # missing model is not preceded by "loading".
                engine.load(status=self.notifier.working)
                load_s = time.perf_counter() - start
                if getattr(engine, "fell_back_to_cpu", False):
                    self._fallback_announced_for = engine  # the load's status messages said so
            first_piece_s: float | None = None

            def take(piece: str) -> None:
                # Runs on this (the job's) thread, inside the engine's generation loop.
                nonlocal first_piece_s
                if cancel.cancelled:
                    return
                if not parts:
                    first_piece_s = time.perf_counter() - start
                    self._announce_fallback(engine)
                parts.append(piece)
                if on_text:
                    on_text(piece)
                if speaking:
                    for sentence in chunker.feed(piece):
                        self._speak_piece(sentence, cancel, clock)

            engine.generate(
                conversation,
                cancel,
                take,
                max_new_tokens=self.settings["max_new_tokens"],
                min_new_tokens=min_new_tokens,
            )
            self._announce_fallback(engine)
            if speaking and not cancel.cancelled:
                for sentence in chunker.flush():
                    self._speak_piece(sentence, cancel, clock)
            text = "".join(parts).strip()
            if not text and not cancel.cancelled:
                text = "The model gave no answer."
                if speaking:
                    self._speak_piece(text, cancel, clock)
            if clock is not None and not cancel.cancelled:
                clock.wait_first_audio(cancel)
        except BaseException:
            conversation.drop_pending()
            raise
        finally:
            if clock is not None:
                clock.close()
        stats = engine.last_stats
        answer = Answer(
            text=text,
            kind=kind,
            model=engine.model_name,
            engine=str(getattr(engine, "engine_name", "unknown")),
            device=engine.device,
            quantization=engine.quantization,
            input_tokens=stats.input_tokens,
            output_tokens=stats.output_tokens,
            timings={
                "load": round(stats.load_s if load_s is None else load_s, 4),
                # From the request, like first_audio: loading (if any) included.
                "first_token": None if first_piece_s is None else round(first_piece_s, 4),
                "first_audio": None if clock is None or clock.first_audio is None else round(clock.first_audio, 4),
                "total": round(time.perf_counter() - start, 4),
            },
            cancelled=cancel.cancelled,
        )
        if cancel.cancelled:
            conversation.drop_pending()
        else:
            conversation.answer(text)
            self.last_answer = answer
        return answer

    def _say_whole(
        self,
        text: str,
        kind: str,
        cancel: CancelToken,
        on_text: TextCallback | None,
        speak: bool | None,
        *,
        start: float | None = None,
    ) -> Answer:
        start = time.perf_counter() if start is None else start
        self._supersede(cancel)
        if on_text:
            on_text(text)
        clock = None
        if self._should_speak(speak):
            clock = _FirstAudioClock(self.speaker, start)
            try:
                for piece in chunk_text(text):
                    self._speak_piece(piece, cancel, clock)
                if not cancel.cancelled:
                    clock.wait_first_audio(cancel)
            finally:
                clock.close()
        elapsed = time.perf_counter() - start
        answer = Answer(
            text=text,
            kind=kind,
            timings={
                "load": 0.0,
                "first_token": None,
                "first_audio": None if clock is None or clock.first_audio is None else round(clock.first_audio, 4),
                "total": round(elapsed, 4),
            },
            cancelled=cancel.cancelled,
        )
        if not cancel.cancelled:
            self.last_answer = answer
        return answer

    def _ocr_fallback(
        self,
        image: Image.Image,
        missing: ModelMissingError,
        cancel: CancelToken,
        on_text: TextCallback | None,
        speak: bool | None,
    ) -> Answer:
        start = time.perf_counter()
        self._supersede(cancel)
        if self.ocr is None:
            raise missing
        try:
            lines = self.ocr.read_lines(image)
        except ModelMissingError:
            raise missing from None  # no OCR either: the model's sentence says what to install
        # The notice is a message, not part of the screen's text: it goes through the
        # notifier (status bar, stderr) and is spoken first; the answer holds only the text.
        notice = f"{_as_sentence(missing.message)} Until then, here is the text Iris can read."
        self.notifier.info(notice, speak=False)
        if self._should_speak(speak):
            self._speak_piece(notice, cancel, None)
        body = "\n".join(lines) if lines else "No text was found."
        answer = self._say_whole(body, "ocr-fallback", cancel, on_text, speak, start=start)
        answer.model = answer.engine = _ocr_name(self.ocr)
        answer.notice = missing.message
        return answer


def _ocr_name(ocr: Any) -> str:
    """The OCR engine that read the text ("tesseract", "windows", ...), as ``iris read --json`` reports it."""
    return str(getattr(ocr, "engine_name", "ocr"))


def _as_sentence(text: str) -> str:
    """``text`` ending in a full stop, so the next sentence is not run into it when spoken."""
    text = text.strip()
    return text if text.endswith((".", "!", "?", "…")) else text + "."


def _is_blank(image: Image.Image) -> bool:
    from .capture.blank import is_blank

    return is_blank(image)
