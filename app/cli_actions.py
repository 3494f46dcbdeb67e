"""What each ``iris`` sub-command does, given a :class:`app.cli._Session`.

Inputs are validated before the core is built, so a bad file or question is
reported at once, without loading a model. ``read`` and ``speak`` build the
core without a vision engine: they never import torch.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import BadInputError, ExitCode, InternalError, ModelMissingError

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

    from .a11y.base import Rect
    from .cli import _Session


def _usage(text: str) -> BadInputError:
    from .cli import UsageError

    return UsageError(f"{text.rstrip('.')}. Run 'iris --help' for usage.")


# ------------------------------------------------------------------- sources
def _load_file(name: str) -> tuple["Image.Image", str]:
    from .images import load_image

    if name == "-":
        if sys.stdin is None or sys.stdin.isatty():
            raise _usage("Pipe an image into iris when you give - as the file name.")
        data = sys.stdin.buffer.read()
        return load_image(data), "the image"
    path = Path(name).expanduser()
    return load_image(path), path.name


def _load_source(session: "_Session", image: str | None) -> tuple["Image.Image", str, bool]:
    """The image to work on and how to name it: a file, standard input or the screen."""
    picture, label, is_screen, _region = _capture_source(session, image)
    return picture, label, is_screen


def _capture_source(session: "_Session", image: str | None) -> tuple["Image.Image", str, bool, "Rect | None"]:
    """As _load_source, plus the screen rectangle that ``--region`` chose (None for the whole screen)."""
    args = session.args
    if args.monitor is not None and args.monitor < 1:
        raise _usage("Monitors are numbered from 1")
    region_text = getattr(args, "region", None)
    if region_text is not None and not args.screen:
        raise _usage("--region only works together with --screen")
    if args.screen:
        if image is not None:
            raise _usage("Give an image file or --screen, not both")
        from .capture.screen import ScreenCapture

        if region_text is not None:
            if args.monitor is not None:
                raise _usage("Give --monitor or --region, not both")
            from .capture.focused import desktop_rect
            from .capture.region import parse_region

            desktop = desktop_rect()
            region = parse_region(region_text, desktop)
            source = ScreenCapture(region=(region.x - desktop.x, region.y - desktop.y, region.width, region.height))
            return source.grab(), source.label, True, region
        source = ScreenCapture(monitor=args.monitor)
        return source.grab(), source.label, True, None
    if args.monitor is not None:
        raise _usage("--monitor only works together with --screen")
    if image is None:
        raise _usage("Give an image file, or --screen to use the screen")
    picture, label = _load_file(image)
    return picture, label, False, None


# ------------------------------------------------------------------- actions
def run_describe(session: "_Session") -> int:
    args = session.args
    if args.prompt is not None and not args.prompt.strip():
        raise _usage("The --prompt is empty")
    if args.focused:
        return _describe_focused(session)
    image, label, is_screen, region = _capture_source(session, args.image)
    # With no vision model installed, the screen or the photo falls back to
    # reading its text and saying how to get a model (the assistant does it
    # when it has OCR); exit code 3 only when there is no OCR either.
    try:
        core = session.build(engine=True, ocr=True)
    except ModelMissingError as missing:
        core = session.build(engine=False, ocr=True)
        core.engine = core.assistant.engine = _MissingEngine(missing)  # keeps the loader's own sentence
    answer = core.assistant.describe(
        image,
        is_screen=is_screen,
        label=label,
        prompt=args.prompt,
        cancel=session.new_cancel(),
        on_text=session.on_text,
        speak=session.speaking,
    )
    if region is not None:
        answer.region = region.to_json()
    return session.finish(answer)


def _describe_focused(session: "_Session") -> int:
    """``describe --focused``: the picture is taken first (before any model loads), then described."""
    args = session.args
    if args.image is not None or args.screen or args.monitor is not None or args.region is not None:
        raise _usage("Give --focused alone, without an image file, --screen, --monitor or --region")
    from .capture.focused import FocusedControlCapture
    from .looking import describe_focused

    source = FocusedControlCapture()
    image = source.grab()  # no focus or no rectangle: one sentence, exit code 4
    assert source.element is not None and source.region is not None
    core = session.build(engine=True, ocr=False)
    answer = describe_focused(
        core.assistant, image, source.element, source.region, instruction=args.prompt,
        cancel=session.new_cancel(), on_text=session.on_text, speak=session.speaking,
    )
    return session.finish(answer)


class _MissingEngine:
    """Stands in for a model that is not installed: using it raises the loader's sentence."""

    model_name = "none"
    device = "cpu"
    quantization = "none"
    is_loaded = True  # nothing to announce loading for

    def __init__(self, error: ModelMissingError) -> None:
        self.error = error

    def load(self, status: Any = None) -> None:
        raise self.error

    def unload(self) -> None:
        pass

    def stream(self, *args: Any, **kwargs: Any) -> Any:
        raise self.error

    def generate(self, *args: Any, **kwargs: Any) -> None:
        raise self.error


def run_ask(session: "_Session") -> int:
    from .pipeline import validate_question

    args = session.args
    words = list(args.words)
    if args.screen:
        image_name, question = None, " ".join(words)
    else:
        if len(words) < 2:
            raise _usage('Give an image file and a question, for example: iris ask photo.jpg "What colour is the car?"')
        image_name, question = words[0], " ".join(words[1:])
    question = validate_question(question)
    image, _label, _is_screen = _load_source(session, image_name)
    core = session.build(engine=True, ocr=False)
    answer = core.assistant.ask(
        question, image=image, cancel=session.new_cancel(), on_text=session.on_text, speak=session.speaking
    )
    return session.finish(answer)


def run_read(session: "_Session") -> int:
    image, _label, is_screen = _load_source(session, session.args.image)
    core = session.build(engine=False, ocr=True)
    answer = core.assistant.read_text(
        image, is_screen=is_screen, cancel=session.new_cancel(), on_text=session.on_text, speak=session.speaking
    )
    return session.finish(answer)


def run_speak(session: "_Session") -> int:
    from .pipeline import Answer
    from .speech.chunker import chunk_text

    words = list(session.args.text)
    if words == ["-"]:
        if sys.stdin is None or sys.stdin.isatty():
            raise _usage("Pipe some text into iris when you give - as the text")
        text = sys.stdin.read()
    else:
        text = " ".join(words)
    text = text.strip()
    if not text:
        raise BadInputError("There is no text to say.")
    core = session.build(engine=False, ocr=False)
    start = time.perf_counter()
    first_audio: list[float] = []

    def on_event(event: str, _text: str) -> None:
        if event == "audio" and not first_audio:
            first_audio.append(time.perf_counter() - start)

    core.speaker.add_listener(on_event)
    for piece in chunk_text(text):
        core.speaker.speak(piece)
    session.wait_for_speech(text)
    answer = Answer(text=text, kind="speak", model="none")
    answer.timings = {
        "load": 0.0,
        "first_token": None,
        "first_audio": round(first_audio[0], 4) if first_audio else None,
        "total": round(time.perf_counter() - start, 4),
    }
    if session.args.json:
        return session.finish(answer)
    return ExitCode.OK


# -------------------------------------------------------------------- models
def run_models(session: "_Session") -> int:
    action = session.args.models_command
    if action == "list":
        return _models_list(session)
    if action == "download":
        return _models_download(session)
    raise _usage("Say what to do with models: iris models list, or iris models download NAME")


def _size_text(size_mb: float | int | None) -> str:
    if not size_mb:
        return "?"
    return f"{size_mb / 1024:.1f} GB" if size_mb >= 1024 else f"{int(round(size_mb))} MB"


def _default_for_text(value: Any) -> str:
    if not value:
        return "-"
    if isinstance(value, str):
        return value
    return ", ".join(str(v) for v in value)


def _models_list(session: "_Session") -> int:
    import json

    from .catalogue import load_catalogue
    from .download import installed_path

    rows: list[dict[str, Any]] = []
    for entry in load_catalogue():
        path = installed_path(entry)
        rows.append(
            {
                "name": entry.name,
                "hub_id": entry.hub_id,
                "size_mb": entry.size_mb,
                "licence": entry.licence,
                "engine": entry.engine,
                "quantization": entry.quantization or None,
                "ram_mb": entry.ram_mb or None,
                "default_for": entry.default_for,
                "installed": path is not None,
                "path": str(path) if path else None,
                "description": entry.description,
            }
        )
    auto = _auto_explained()
    if session.args.json:
        print(json.dumps({"models": rows, "auto": auto}, ensure_ascii=False), flush=True)
        return ExitCode.OK
    table = [("NAME", "SIZE", "ENGINE", "LICENCE", "DEFAULT FOR", "INSTALLED")]
    for row in rows:
        table.append(
            (row["name"], _size_text(row["size_mb"]), row["engine"], row["licence"] or "?",
             _default_for_text(row["default_for"]), "yes" if row["installed"] else "no")
        )
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    for r in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(r, widths)).rstrip())
    sys.stdout.flush()
    if not any(row["installed"] for row in rows):
        session.notifier.info("No model is installed yet. Download one with: iris models download NAME", speak=False)
    else:
        chosen = auto["model"] or "nothing"
        session.notifier.info(f"auto uses {chosen} on the {auto['device']}: {auto['reason']}.", speak=False)
    return ExitCode.OK


def _auto_explained() -> dict[str, Any]:
    """What ``--model auto`` would use here and why (no torch import: CUDA is looked for only if torch is loaded)."""
    from .catalogue import auto_choice, free_memory_mb
    from .engine.llamacpp_support import llama_cpp_available
    from .engine.loading import _installed

    device = "cuda" if _cuda_without_import() else "cpu"
    choice = auto_choice(device, _installed, llama_available=llama_cpp_available(), free_mb=free_memory_mb())
    return {"device": device, "model": choice.entry.name if choice.entry else None, "reason": choice.reason}


def _cuda_without_import() -> bool:
    """A CUDA graphics card, judged by the NVIDIA driver's device files (importing torch takes seconds)."""
    import glob

    return bool(glob.glob("/dev/nvidia[0-9]*")) or bool(sys.modules.get("torch") and sys.modules["torch"].cuda.is_available())


class ProgressBar:
    """A one-line text bar on stderr (redrawn in place on a terminal, every 10% otherwise)."""

    def __init__(self, label: str, stream: Any = None, width: int = 30) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.width = width
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last_tenth = -1
        self._last_draw = 0.0
        self.drawn = False

    def __call__(self, done: float, total: float | None = None, *_: Any, **__: Any) -> None:
        done = max(0.0, float(done or 0))
        if total:
            fraction = min(1.0, done / float(total))
            filled = int(fraction * self.width)
            bar = "#" * filled + "-" * (self.width - filled)
            text = f"{self.label} [{bar}] {fraction * 100:5.1f}% {_size_text(done / 2**20)} of {_size_text(float(total) / 2**20)}"
            tenth = int(fraction * 10)
        else:
            text = f"{self.label} {_size_text(done / 2**20)}"
            tenth = self._last_tenth
        now = time.monotonic()
        if self.tty:
            if now - self._last_draw < 0.1 and not (total and done >= total):
                return
            self.stream.write("\r" + text.ljust(79))
        else:
            if tenth == self._last_tenth:
                return
            self.stream.write(text + "\n")
        self._last_tenth = tenth
        self._last_draw = now
        self.drawn = True
        self.stream.flush()

    def close(self) -> None:
        if self.tty and self.drawn:
            self.stream.write("\n")
            self.stream.flush()


def _models_download(session: "_Session") -> int:
    from .catalogue import require_entry
    from .download import download_model, installed_path

    entry = require_entry(session.args.name)
    existing = installed_path(entry)
    if existing is not None:
        session.notifier.info(f"{entry.name} is already installed.")
        print(existing, flush=True)
        return ExitCode.OK
    try:
        session.build(engine=False, ocr=False)  # only for the speaker: a long download ends with a spoken word
    except Exception:  # noqa: BLE001 - no voice is no reason not to download
        pass
    session.notifier.working(f"Downloading {entry.name} ({_size_text(entry.size_mb)}).")
    bar = ProgressBar(f"{entry.name}:") if not session.args.quiet else None
    try:
        path = download_model(entry, progress=bar, cancel=session.new_cancel())
    finally:
        if bar is not None:
            bar.close()
    session.notifier.done(f"{entry.name} is installed.")
    print(path, flush=True)
    session.wait_for_speech("")
    return ExitCode.OK


# ------------------------------------------------------------------ support
def run_doctor(session: "_Session") -> int:
    """Print the diagnostic report: what a user pastes into a question or bug report.

    The parts are built by the same composition root as every other command, so
    the report names the engine, speech output and OCR that Iris really uses.
    """
    from dataclasses import replace

    from .compose import build_core
    from .diagnostics import problem, report
    from .notifier import Message, Notifier

    class QuietNotifier(Notifier):
        """Collects what the parts say while they start, without speaking it."""

        def post(self, message: Message) -> None:
            super().post(replace(message, speak=False))

    notes: list[str] = []
    notifier = QuietNotifier()
    notifier.add_sink(lambda message: notes.append(message.text))
    options: dict[str, Any] = {"settings": session.settings, "notifier": notifier, "model": session.args.model,
                               "device": session.args.device}
    core = None
    choices: tuple[dict[str, Any], ...] = ({}, {"with_engine": False}, {"with_engine": False, "with_ocr": False})
    for parts in choices:
        try:
            core = build_core(**options, **parts)
            break
        except Exception as exc:  # noqa: BLE001 - a missing model or broken OCR is itself part of the report
            notes.append(f"could not start {'every part' if not parts else 'the text reader'}: {problem(exc)}")
    if core is None:
        raise InternalError("Iris could not start its parts to examine them.")
    try:
        wait_ready = getattr(core.speaker, "wait_ready", None)
        if callable(wait_ready):
            wait_ready(10)
        print(report(core.settings, engine=core.engine, speaker=core.speaker, ocr=core.ocr, notes=notes),
              end="", flush=True)
    finally:
        core.close()
    return ExitCode.OK


def run_desktop_entry(session: "_Session") -> int:
    from .desktop import install_desktop_entry, remove_desktop_entry

    if session.args.action == "install":
        entry = install_desktop_entry()
        session.notifier.done(f"Iris is now in the application menu ({entry}).", speak=False)
    else:
        remove_desktop_entry()
        session.notifier.done("Iris is no longer in the application menu.", speak=False)
    return ExitCode.OK
