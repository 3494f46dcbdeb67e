"""What the window and the hotkeys ask for, run on the core's one worker.

The controller is the only GUI object that talks to the core. Every action is a
job on ``core.runner`` with a key, so pressing a hotkey ten times coalesces
into one answer, a different request cancels the running one, and a
superseded job's late text is dropped on the main thread (each piece carries
its job's cancel token and is discarded once that token is cancelled). The
worker never touches widgets: it only posts callables through ``deliver``.
"""

from __future__ import annotations

import functools
import logging
import threading
from pathlib import Path
from typing import Any, Callable, Sequence

from PIL import Image
from PySide6.QtCore import QObject, Signal

from ..capture.base import CaptureSource
from ..capture.changes import ChangeTracker
from ..compose import Core
from ..engine.base import CancelToken, Conversation, VisionEngine
from ..errors import BadInputError, CancelledError, IrisError, ModelLoadError, ModelMissingError
from ..images import load_image, printable_name
from ..pipeline import Answer, validate_question
from . import sources
from .capture_job import PendingCapture, ZoomState, picture_origin

log = logging.getLogger(__name__)

Deliver = Callable[[Callable[[], None]], None]
SourceFactory = Callable[[], CaptureSource]
CameraGrab = Callable[..., Image.Image]


class Controller(QObject):
    """Actions of the desktop app; results come back as Qt signals on the main thread."""

    #: A new turn in the conversation: (kind, what the user asked for, in words).
    turn_started = Signal(str, str)
    #: A piece of streamed answer text for the open turn.
    text_piece = Signal(str)
    #: The open turn's answer is complete (an :class:`app.pipeline.Answer`).
    answer_ready = Signal(object)
    #: The open turn was stopped or superseded before it finished.
    turn_stopped = Signal()
    #: "working" or "idle".
    state_changed = Signal(str)
    #: One plain sentence: something failed.
    error = Signal(str)
    #: The image the conversation is about changed: (PIL image, label).
    image_changed = Signal(object, str)
    #: The screen was captured for a question: bring the window up, focus the question box.
    question_requested = Signal()
    #: The screen, window or camera frame has been taken (the window may come back now).
    captured = Signal()
    #: The vision model is not installed or could not load: (sentence); offer the download.
    model_missing = Signal(str)
    #: A history entry was saved.
    history_changed = Signal()
    #: The model finished loading in the background.
    model_ready = Signal()

    def __init__(
        self,
        core: Core,
        deliver: Deliver,
        *,
        screen_source: SourceFactory | None = None,
        window_source: SourceFactory = sources.window_source,
        focused_source: SourceFactory = sources.focused_source,
        camera_grab: CameraGrab = sources.camera_grab,
        history: Any | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.core = core
        self.deliver = deliver
        # Describe screen: the monitor with the focused window, or all monitors (setting screen_monitors).
        self._screen_source = screen_source or self._default_screen_source
        self._window_source = window_source
        self._focused_source = focused_source
        self.changes = ChangeTracker()  # the last picture of each screen/window, for "what changed"
        self._last_factory: SourceFactory = self._screen_source
        self.zoom = ZoomState()
        #: The capture of the latest request (tests read its timing).
        self.last_capture: PendingCapture | None = None
        self._camera_grab = camera_grab
        self.history = history
        self.current_image: Image.Image | None = None
        self.current_label: str = ""
        self._turn_open = False
        self._working = False
        self._active_key: str | None = None
        self._camera_busy = False
        self._retired: list[VisionEngine] = []
        self._retired_lock = threading.Lock()

    # --------------------------------------------------------------- properties
    @property
    def assistant(self):
        return self.core.assistant

    @property
    def notifier(self):
        return self.core.notifier

    @property
    def busy(self) -> bool:
        return self._working

    def last_answer_text(self) -> str:
        answer = self.assistant.last_answer
        return answer.text if answer is not None else ""

    # ------------------------------------------------------------------ actions
    def describe_screen(self, *, delay: float = 0.0) -> bool:
        return self._capture_and(
            "describe-screen", "Describe the screen", "Describing the screen.", self._screen_source, delay,
            lambda image, source, cancel: self.assistant.describe(
                image, is_screen=True, label=source.label, cancel=cancel, on_text=self._text_sink(cancel)
            ),
        )

    def _default_screen_source(self) -> CaptureSource:
        if self.core.settings["screen_monitors"] == "all":
            return sources.screen_source()
        return sources.focused_monitor_source()

    def describe_focused(self, *, delay: float = 0.0) -> bool:
        """Describe the control that has the keyboard focus, with its role, name and application."""

        def then(image: Image.Image, source: Any, cancel: CancelToken) -> Answer:
            from ..looking import describe_focused

            return describe_focused(self.assistant, image, source.element, source.region,
                                    cancel=cancel, on_text=self._text_sink(cancel))

        return self._capture_and("describe-focused", "Describe the focused control",
                                 "Describing the focused control.", self._focused_source, delay, then, track=False)

    def what_changed(self, *, delay: float = 0.0) -> bool:
        """Look at the same screen or window as last time again; say what changed (or that nothing did)."""

        def then(image: Image.Image, source: Any, cancel: CancelToken) -> Answer:
            from ..looking import what_changed

            return what_changed(self.assistant, self.changes, source.label, image, source.label,
                                origin=picture_origin(source), cancel=cancel, on_text=self._text_sink(cancel))

        return self._capture_and("what-changed", "What changed?", "Looking for changes.", self._last_factory,
                                 delay, then, track=False)

    def zoom_in(self, part: str) -> bool:
        """Describe one ninth of the current picture ("top right", ...) at full size; follow-ups are about it."""
        try:
            self.zoom.zoom_in(part, self.assistant.conversation)
        except IrisError as exc:
            self._report(exc)
            return False
        whole, label, origin = self.zoom.image, self.zoom.label, self.zoom.origin
        box, parts, where = self.zoom.current_box(), self.zoom.parts, self.zoom.where()
        assert whole is not None
        self._show_image(self.zoom.crop(), where)

        def work(cancel: CancelToken) -> Answer:
            from ..looking import describe_zoom

            return describe_zoom(self.assistant, whole, box, parts, label, origin=origin,
                                 cancel=cancel, on_text=self._text_sink(cancel))

        return self._submit(f"zoom:{where}", work, ("zoom", f"Zoom: {where}"), f"Describing {where}.")

    def zoom_out(self) -> None:
        """Back to the larger picture and its conversation, without asking the model again."""
        level = self.zoom.zoom_out()
        if level is None:
            self.notifier.info("The whole picture is already shown.")
            return
        self.stop()
        self.assistant.conversation = level.before
        where = self.zoom.where()
        self._show_image(self.zoom.crop(), where)
        self.turn_started.emit("zoom", f"Zoom out: {where}")  # said in the conversation, no model needed
        self.answer_ready.emit(Answer(text=f"Questions are about {where} again.", kind="zoom-out"))

    def describe_window(self, *, delay: float = 0.0) -> bool:
        return self._capture_and(
            "describe-window", "Describe the active window", "Describing the active window.",
            self._window_source, delay,
            lambda image, source, cancel: self.assistant.describe(
                image, is_screen=True, label=source.label, cancel=cancel, on_text=self._text_sink(cancel)
            ),
        )

    def read_screen(self, *, delay: float = 0.0) -> bool:
        return self._capture_and(
            "read-screen", "Read the text on the screen", "Reading the text on the screen.",
            self._screen_source, delay,
            lambda image, source, cancel: self.assistant.read_text(
                image, is_screen=True, cancel=cancel, on_text=self._text_sink(cancel)
            ),
            needs_model=False,
        )

    def ask_about_screen(self, *, delay: float = 0.0) -> bool:
        """Capture the screen at once, then focus the question box (without waiting for the worker)."""
        pending = PendingCapture(self._screen_source, delay)

        def taken(image: Image.Image, source: CaptureSource) -> None:
            self._set_working(False)
            self.assistant.conversation = Conversation(image=image, is_screen=True, source_label=source.label)
            self._set_image(image, source.label, origin=picture_origin(source))
            self.captured.emit()
            self.question_requested.emit()
            self.notifier.info("The screen was captured. Type your question and press Enter.")

        work = lambda cancel: pending.wait(cancel) and None  # noqa: E731 - failures reach on_error
        return self._start_capture("ask-screen", work, None, "Capturing the screen.", pending, taken,
                                   on_done=lambda _result: None)

    def describe_camera_frame(self, camera_id: str | None = None) -> bool:
        """Take one camera frame (on the main thread: QtMultimedia needs it), then describe it."""
        if self._camera_busy or (self._working and self._active_key == "camera"):
            return False
        self._camera_busy = True
        self.notifier.working("Taking a picture with the camera.")
        try:
            image = self._camera_grab(camera_id)
        except IrisError as exc:
            self._report(exc)
            return False
        finally:
            self._camera_busy = False
        label = "the camera picture"
        self._set_image(image, label)
        self.captured.emit()

        def work(cancel: CancelToken) -> Answer:
            return self.assistant.describe(image, label=label, cancel=cancel, on_text=self._text_sink(cancel))

        return self._submit("camera", work, ("camera", "Camera picture"), "Describing the camera picture.")

    def open_images(self, paths: Sequence[str | Path]) -> bool:
        """Describe one or several image files in turn; follow-up questions are about the last."""
        paths = [Path(p) for p in paths]
        if not paths:
            self._report(BadInputError("No image file was given."))
            return False
        names = [printable_name(p) for p in paths]
        total = len(paths)

        def work(cancel: CancelToken) -> Answer | None:
            last: Answer | None = None
            first_error: IrisError | None = None
            for index, (path, name) in enumerate(zip(paths, names)):
                _raise_if_cancelled(cancel)
                heading = name if total == 1 else f"{name} (image {index + 1} of {total})"
                try:
                    image = load_image(path)
                except IrisError as exc:
                    first_error = first_error or exc
                    if total > 1:
                        self._post(cancel, functools.partial(self._report, exc))
                    continue
                if last is not None:
                    finished = last
                    self._post(cancel, functools.partial(self._finish_answer, finished, final=False))
                self._post(cancel, functools.partial(self._begin_image_turn, heading, image, name))
                last = self.assistant.describe(image, label=name, cancel=cancel, on_text=self._text_sink(cancel))
            if last is None:
                raise first_error or BadInputError("None of those files could be opened as an image.")
            return last

        what = names[0] if total == 1 else f"{total} images"
        return self._submit("open:" + "\n".join(map(str, paths)), work, None, f"Describing {what}.")

    def describe_image(self, image: Image.Image, label: str = "the pasted image") -> bool:
        """Describe an image that is already in memory (a pasted one)."""

        def work(cancel: CancelToken) -> Answer:
            return self.assistant.describe(image, label=label, cancel=cancel, on_text=self._text_sink(cancel))

        self._set_image(image, label)
        return self._submit(f"image:{id(image)}", work, ("image", label), f"Describing {label}.")

    def ask(self, question: str) -> bool:
        try:
            question = validate_question(question)
        except IrisError as exc:
            self._report(exc)
            return False

        def work(cancel: CancelToken) -> Answer:
            return self.assistant.ask(question, cancel=cancel, on_text=self._text_sink(cancel))

        return self._submit("ask:" + question, work, ("ask", question), "Thinking about your question.")

    def repeat_last(self) -> None:
        self.assistant.repeat_last()

    def stop(self) -> None:
        """Silence speech at once and cancel the running job; nothing it says arrives later."""
        token = self.core.runner.current_cancel_token()
        self.assistant.stop(token)
        self.core.runner.cancel()
        was_working = self._working
        self._close_turn_stopped()
        self._set_working(False)
        if was_working:
            self.notifier.info("Stopped.", speak=False)

    def warm_up(self) -> None:
        """Load the model and run one tiny answer in the background so the first real one comes sooner."""
        engine = self.assistant.engine
        if engine is None or engine.is_loaded:
            return

        def work(cancel: CancelToken) -> None:
            self._unload_retired()
            engine.warm_up(cancel, status=lambda text: self.notifier.working(text, speak=False))

        def done(_result: Any) -> None:
            self.notifier.info("The description model is ready.", speak=False)
            self.model_ready.emit()

        def failed(exc: IrisError) -> None:
            if isinstance(exc, (ModelMissingError, ModelLoadError)):
                self.notifier.info(_sentences(exc.message, "Text reading still works."))
                self.model_missing.emit(exc.message)
            else:
                self.notifier.error(exc.message)

        self.notifier.working("Loading the description model.")
        self.core.runner.submit(work, key="warm-up", on_done=done, on_error=failed)

    def resume(self, image: Image.Image | None, label: str, text: str, question: str | None = None) -> None:
        """Make an earlier answer (from history) the current conversation, so follow-ups work."""
        if image is None:
            self.assistant.conversation = None
            self.notifier.info("That entry has no image, so questions about it cannot be answered.")
            return
        conversation = Conversation(image=image, source_label=label)
        conversation.ask(question or self.core.settings["prompt_describe"])
        conversation.answer(text)
        self.assistant.conversation = conversation
        self._set_image(image, label)

    def set_engine(self, engine: VisionEngine | None) -> None:
        """Swap the vision model (after a download or a settings change).

        The old model is unloaded on the worker before the next job runs (never
        while it may still be generating), or at once if the worker is idle.
        """
        old = self.assistant.engine
        self.assistant.engine = engine
        self.core.engine = engine
        if old is not None and old is not engine and not old.is_loaded:
            old.unload()  # a load in progress is abandoned at once, freeing the worker for the new model
        elif old is not None and old is not engine:
            with self._retired_lock:
                self._retired.append(old)
            if not self.core.runner.busy:
                self.core.runner.submit(lambda cancel: self._unload_retired(), key="unload")

    def _unload_retired(self) -> None:
        with self._retired_lock:
            retired, self._retired = self._retired, []
        for engine in retired:
            try:
                engine.unload()
            except Exception:
                log.exception("could not unload the previous model")

    # ---------------------------------------------------------------- internals
    def _capture_and(self, key: str, heading: str, announce: str, factory: SourceFactory, delay: float, then,
                     *, track: bool = True, needs_model: bool = True) -> bool:
        """Take the picture now, on its own thread; the job (which may wait for a model load) waits for it."""
        pending = PendingCapture(factory, delay)

        def work(cancel: CancelToken) -> Answer:
            image, source = pending.wait(cancel)
            _raise_if_cancelled(cancel)
            if track:
                self.changes.remember(source.label, image)  # on the worker, like "what changed"
            return then(image, source, cancel)

        if track:
            self._last_factory = factory
        return self._start_capture(key, work, (key.split("-")[0], heading), announce, pending,
                                   lambda image, source: self._on_captured(image, source, needs_model))

    def _start_capture(self, key: str, work: Callable[[CancelToken], Any], turn: tuple[str, str] | None,
                       announce: str, pending: PendingCapture, taken: Callable[[Image.Image, CaptureSource], None],
                       **options: Any) -> bool:
        """Queue the job, then start its capture at once; ``taken`` runs on the main thread with the picture."""
        if not self._submit(key, work, turn, announce, **options):
            return False
        generation = self.core.runner.generation  # this job's: dropped once a newer request or a stop comes
        pending.on_taken = lambda image, source: self.deliver(
            lambda: taken(image, source) if self.core.runner.is_current(generation) else None)
        self.last_capture = pending
        pending.start()
        return True

    def _on_captured(self, image: Image.Image, source: CaptureSource, needs_model: bool) -> None:
        self._set_image(image, source.label, origin=picture_origin(source))
        self.captured.emit()
        engine = self.assistant.engine
        if needs_model and engine is not None and not engine.is_loaded and engine.model_found():
            self.notifier.working("Loading the model; the picture is taken.")

    def _submit(
        self,
        key: str,
        work: Callable[[CancelToken], Any],
        turn: tuple[str, str] | None,
        announce: str,
        *,
        on_done: Callable[[Any], None] | None = None,
    ) -> bool:
        """Queue a job; returns False when it was coalesced into the same request already running."""

        def job(cancel: CancelToken) -> Any:
            self._unload_retired()
            return work(cancel)

        _generation, started = self.core.runner.submit(
            job,
            key=key,
            on_done=on_done or self._on_done,
            on_error=self._on_error,
            on_cancelled=self._on_cancelled,
        )
        if not started:
            return False
        self._active_key = key
        self._close_turn_stopped()  # the job it replaced will never report back
        self._set_working(True)
        self.notifier.working(announce)
        if turn is not None:
            self._turn_open = True
            self.turn_started.emit(*turn)
        return True

    def _begin_image_turn(self, heading: str, image: Image.Image, label: str) -> None:
        self._close_turn_stopped()
        self._set_image(image, label)
        self._turn_open = True
        self.turn_started.emit("image", heading)

    def _text_sink(self, cancel: CancelToken) -> Callable[[str], None]:
        def on_text(piece: str) -> None:
            self._post(cancel, lambda: self.text_piece.emit(piece) if self._turn_open else None)

        return on_text

    def _post(self, cancel: CancelToken, fn: Callable[[], Any]) -> None:
        """Run ``fn`` on the main thread unless the job was cancelled or superseded by then."""

        def run() -> None:
            if not cancel.cancelled:
                fn()

        self.deliver(run)

    def _set_image(self, image: Image.Image, label: str, *, origin: tuple[int, int] | None = None) -> None:
        """A new picture: it is also the whole picture the zoom keys work on."""
        self.zoom.reset(image, label, origin)
        self._show_image(image, label)

    def _show_image(self, image: Image.Image, label: str) -> None:
        self.current_image = image
        self.current_label = label
        self.image_changed.emit(image, label)

    @property
    def activity(self) -> str:
        """What the running job does, in one word for the window title ("Iris — describing")."""
        key = self._active_key or ""
        if key.startswith("read"):
            return "reading"
        if key.startswith("ask"):
            return "answering"
        return "describing"

    def _set_working(self, working: bool) -> None:
        if not working:
            self._active_key = None
        if working != self._working:
            self._working = working
            self.state_changed.emit("working" if working else "idle")

    def _close_turn_stopped(self) -> None:
        if self._turn_open:
            self._turn_open = False
            self.turn_stopped.emit()

    def _finish_answer(self, answer: Answer, *, final: bool = True) -> None:
        if self._turn_open:
            self._turn_open = False
            self.answer_ready.emit(answer)
        self._record_history(answer)
        if answer.kind == "ocr-fallback":
            self.model_missing.emit(answer.notice or "The description model is not installed.")
        if final:
            self._set_working(False)
            spoken = self.core.settings["speak_answers"]
            self.notifier.done("Done.", speak=not spoken)

    def _on_done(self, result: Any) -> None:
        if isinstance(result, Answer):
            self._finish_answer(result)
        else:
            self._close_turn_stopped()
            self._set_working(False)

    def _on_error(self, exc: IrisError) -> None:
        self._turn_open = False
        self._set_working(False)
        self._report(exc)
        if isinstance(exc, (ModelMissingError, ModelLoadError)):
            self.model_missing.emit(exc.message)

    def _on_cancelled(self) -> None:
        self._close_turn_stopped()
        self._set_working(False)

    def report(self, exc: IrisError) -> None:
        """Show and speak one sentence (the window's own errors come through here too)."""
        self.error.emit(exc.message)
        self.notifier.error(exc.message)

    _report = report

    def _record_history(self, answer: Answer) -> None:
        """Save to history off the main thread (PNG encoding of a big screenshot takes a while)."""
        if self.history is None or self.current_image is None:
            return
        if not self.core.settings["history_enabled"]:
            return
        question = None
        conversation = self.assistant.conversation
        if answer.kind == "ask" and conversation is not None:
            asked = [t.text for t in conversation.turns if t.role == "user"]
            question = asked[-1] if asked else None
        image, label, history = self.current_image, self.current_label, self.history

        def save() -> None:
            try:
                history.add(image, answer.text, source=label, question=question)
            except Exception:  # history is a convenience: never let it break an answer
                log.exception("could not record history")
            self.deliver(self.history_changed.emit)

        threading.Thread(target=save, name="iris-history", daemon=True).start()


def _sentences(*parts: str) -> str:
    """Join sentences, adding the full stop a message may lack."""
    return " ".join(p if p.rstrip().endswith((".", "!", "?")) else p.rstrip() + "." for p in parts if p)


def _raise_if_cancelled(cancel: CancelToken) -> None:
    if cancel.cancelled:
        raise CancelledError()
