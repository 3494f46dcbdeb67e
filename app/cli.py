"""The ``iris`` command: describe, ask, read and speak from a terminal.

``iris`` with no arguments opens the desktop app. Every other form builds the
same core as the GUI (:func:`app.compose.build_core`) and runs one action on
the main thread. Answers stream to stdout as they are generated; status goes
to stderr through the notifier (and is spoken); a failure is one line on
stderr that starts with ``iris:`` and an exit code from
:class:`app.errors.ExitCode` -- never a traceback, because a screen reader
would read every line of it aloud.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any, Callable

from . import __version__
from .errors import BadInputError, CancelledError, ExitCode, InternalError, IrisError, as_user_error

PROG = "iris"
log = logging.getLogger(__name__)
_DEBUG_ENV = "IRIS_DEBUG"


class UsageError(BadInputError):
    """A command line that cannot be understood (exit code 2, like argparse)."""


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of printing usage and exiting, so errors stay one line."""

    def error(self, message: str) -> None:  # type: ignore[override]
        message = message[:1].upper() + message[1:]
        raise UsageError(f"{message.rstrip('.')}. Run '{self.prog} --help' for usage.")


# --------------------------------------------------------------------- parser
_EXAMPLES = """\
examples:
  iris                                  open the desktop app
  iris describe photo.jpg               describe a photo aloud
  iris describe --screen [--monitor N]  describe the screen (all monitors, or one)
  iris describe --screen --region 0,0,800,600   describe one rectangle of the screen
  iris describe --focused               describe the control that has the keyboard focus
  iris ask photo.jpg "What colour is the car?"
  iris read --screen                    read the text on screen aloud (OCR)
  iris read scan.png                    read the text in an image aloud
  iris speak "Hello" --wav hello.wav    write speech to a WAV file
  iris describe photo.jpg --server http://localhost:11434/v1 --model qwen3-vl:2b
                                        describe with a model server (Ollama, vLLM, ...)
  iris models list                      show the supported models
  iris models download NAME             download a model
  iris doctor                           what to send when asking for help
  iris desktop-entry install            add Iris to the desktop's application menu

exit codes: 0 ok, 1 internal error, 2 bad input, 3 model missing,
            4 capture failed, 130 cancelled
"""


def _add_common(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """The flags every action accepts; ``suppress`` keeps sub-command defaults from
    overwriting values given before the sub-command (``iris --json describe x``)."""

    def default(value: Any) -> Any:
        return argparse.SUPPRESS if suppress else value

    group = parser.add_argument_group("common options")
    group.add_argument("--model", metavar="NAME|HUB_ID|DIR|FILE.gguf", default=default(None),
                       help="vision model: a catalogue name, a Hugging Face id, a local folder, or a .gguf file "
                       "(its mmproj*.gguf beside it) for the llama.cpp engine")
    group.add_argument("--server", metavar="URL", default=default(None),
                       help="answer with an OpenAI-compatible model server (Ollama, LM Studio, vLLM, llama.cpp), "
                       "e.g. http://localhost:11434/v1; --model names the model on it")
    group.add_argument("--device", choices=("auto", "cpu", "cuda"), default=default(None),
                       help="where the model runs (default: from settings, normally auto)")
    group.add_argument("--preset", choices=("fast", "balanced", "detailed"), default=default(None),
                       help="speed/detail trade-off (default: from settings)")
    group.add_argument("--max-new-tokens", type=int, metavar="N", default=default(None),
                       help="longest answer, in tokens")
    group.add_argument("--no-speak", action="store_true", default=default(False),
                       help="print only; do not speak")
    group.add_argument("--wav", type=Path, metavar="OUT.wav", default=default(None),
                       help="write the speech to this WAV file instead of the sound card")
    group.add_argument("--json", action="store_true", default=default(False),
                       help="print one JSON object (text, model, device, timings...) instead of streaming text")
    group.add_argument("--quiet", "-q", action="store_true", default=default(False),
                       help="no status messages; errors are still shown")
    group.add_argument("--debug", action="store_true", default=default(False),
                       help=argparse.SUPPRESS)


def _add_source(parser: argparse.ArgumentParser, *, image_required: bool = False) -> None:
    parser.add_argument("--screen", action="store_true", help="use the screen instead of an image file")
    parser.add_argument("--monitor", type=int, metavar="N",
                        help="with --screen: only monitor N (1, 2, ...); default all monitors")
    parser.add_argument("--region", metavar="X,Y,W,H",
                        help="with --screen: only this rectangle, in screen pixels")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Iris describes screens and photos aloud with a local vision model. "
        "With no arguments it opens the desktop app.",
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    _add_common(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        _add_common(p, suppress=True)
        return p

    p = command("describe", "Describe an image file or the screen, aloud.")
    p.add_argument("image", nargs="?", help="image file (PNG, JPEG, ...), or - for standard input")
    _add_source(p)
    p.add_argument("--focused", action="store_true",
                   help="describe the control that has the keyboard focus (its role and name go to the model)")
    p.add_argument("--prompt", help="ask the model this instead of the default description prompt")

    p = command("ask", "Ask a question about an image file or the screen.")
    p.add_argument("words", nargs="+", metavar="IMAGE QUESTION",
                   help="the image file then the question; with --screen only the question")
    _add_source(p)

    p = command("read", "Read the text in an image or on the screen, aloud (OCR; no vision model needed).")
    p.add_argument("image", nargs="?", help="image file, or - for standard input")
    _add_source(p)

    p = command("speak", "Say some text (a quick test of speech).")
    p.add_argument("text", nargs="+", help="the text to say, or - to read it from standard input")

    p = command("models", "List or download vision models.")
    models = p.add_subparsers(dest="models_command", metavar="ACTION", parser_class=_Parser)
    m = models.add_parser("list", help="show the supported models and which are installed")
    _add_common(m, suppress=True)
    m = models.add_parser("download", help="download a model from the catalogue")
    m.add_argument("name", help="catalogue name (see: iris models list)")
    _add_common(m, suppress=True)

    command("doctor", "Print diagnostic information to send with a question or bug report "
            "(versions, device, engines, settings without secrets; never answers or pictures).")

    p = command("desktop-entry", "Add Iris (with its icon) to the desktop's application menu, or remove it (Linux).")
    p.add_argument("action", choices=("install", "remove"), help="install or remove the menu entry")
    return parser


# ---------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    """Run the command; return the exit code (the console script exits with it)."""
    from .diagnostics import uninstall_crash_hooks

    try:
        return _main(list(sys.argv[1:] if argv is None else argv))
    except KeyboardInterrupt:
        # A second Ctrl+C while the first was being reported or cleaned up.
        return ExitCode.CANCELLED
    finally:
        uninstall_crash_hooks()  # main() may be called again in the same process (tests, embedding)


def _main(argv: list[str]) -> int:
    debug = bool(os.environ.get(_DEBUG_ENV)) or "--debug" in argv
    _quiet_libraries(debug)
    session: _Session | None = None
    try:
        if not argv:
            return _open_desktop_app(argv)
        try:
            args = build_parser().parse_args(argv)
        except SystemExit as exc:  # --help / --version
            return int(exc.code or 0)
        if args.command is None:
            build_parser().print_help()
            return ExitCode.OK
        # Only the command's name: its arguments may be a question or a file name.
        log.info("iris %s: %s", __version__, " ".join(filter(None, (args.command, getattr(args, "models_command", None)))))
        session = _Session(args)
        return session.run()
    except KeyboardInterrupt:
        if session is not None:
            session.interrupt()
        return _fail(CancelledError(), session, debug=False)
    except BrokenPipeError:
        # stdout was closed by the reader (``iris describe x | head -1``): stop quietly.
        _silence_stdout()
        return ExitCode.INTERNAL
    except BaseException as exc:  # noqa: BLE001 - every failure becomes one sentence
        if isinstance(exc, SystemExit):
            raise
        return _fail(as_user_error(exc), session, debug=debug, exc=exc)
    finally:
        if session is not None:
            session.close()


def _fail(error: IrisError, session: "_Session | None", *, debug: bool, exc: BaseException | None = None) -> int:
    bug = exc is not None and not isinstance(exc, IrisError) and type(error) is InternalError
    if bug and exc is not None:
        # A bug, not a user's mistake: logged once (with its traceback), details kept in
        # crash.log, and the sentence says where.
        from .diagnostics import handle_unexpected

        error = InternalError(handle_unexpected(exc, "the iris command"), detail=error.detail)
    else:
        log.info("exit code %d: %s (%s)", error.exit_code, error.message, error.detail or "no details")
    if debug and exc is not None and not bug:
        import traceback

        traceback.print_exception(exc, file=sys.stderr)
    if session is not None:
        session.report_error(error)
    else:
        _print_error(error.message)
    return error.exit_code


def _print_error(text: str) -> None:
    try:
        print(f"{PROG}: {_one_line(text)}", file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _quiet_libraries(debug: bool) -> None:
    """Keep library warnings, log records and progress bars off a screen reader's stderr
    (and library telemetry off the network)."""
    from .netguard import disable_library_telemetry

    disable_library_telemetry()
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "info" if debug else "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # Log records and Python warnings go to a memory ring (and the opt-in log file,
    # once the settings are read), never to stderr unless debugging.
    from .diagnostics import install_crash_hooks
    from .logsetup import configure_logging

    configure_logging(debug=debug)
    install_crash_hooks(_print_error)


def _open_desktop_app(argv: list[str]) -> int:
    """``iris`` alone opens the GUI when it is installed; otherwise shows the help."""
    import importlib

    try:
        gui = importlib.import_module(f"{__package__}.gui")
    except ModuleNotFoundError as exc:
        if exc.name != f"{__package__}.gui":
            raise IrisError(
                f"The desktop app could not start because {exc.name} is missing. "
                "Reinstall Iris, or use the iris command line."
            ) from exc
        gui = None
    except ImportError as exc:
        raise IrisError(
            "The desktop app could not start: a system library it needs is missing. "
            "See the README for the packages to install, or use the iris command line.",
            detail=str(exc),
        ) from exc
    gui_main: Callable[[list[str]], int] | None = getattr(gui, "main", None)
    if gui_main is None:
        build_parser().print_help()
        return ExitCode.OK
    return int(gui_main(argv) or 0)


# -------------------------------------------------------------------- session
class _Session:
    """One CLI invocation: the parsed flags, the core once built, and the output."""

    def __init__(self, args: argparse.Namespace) -> None:
        from .notifier import Notifier

        self.args = args
        self.core: Any = None
        self.cancel: Any = None
        self.notifier = Notifier()
        self.notifier.add_sink(self._sink)
        from .diagnostics import install_crash_hooks

        install_crash_hooks(self.notifier.error)  # a crash on a worker thread is shown and spoken
        self._settings: Any = None
        self._streamed_newline = True
        self._fatal_shown = False

    # ------------------------------------------------------------- plumbing
    def _sink(self, message: Any) -> None:
        from .notifier import Level

        if message.level is Level.ERROR:
            _print_error(message.text)
        elif not self.args.quiet:
            self._end_stream_line()
            print(_one_line(message.text), file=sys.stderr, flush=True)

    def _end_stream_line(self) -> None:
        """Keep stderr lines from landing in the middle of a streamed stdout line."""
        if not self._streamed_newline and sys.stdout.isatty() and sys.stderr.isatty():
            sys.stdout.write("\n")
            sys.stdout.flush()
            self._streamed_newline = True

    @property
    def speaking(self) -> bool:
        if self.args.no_speak:
            return False
        if self.args.wav is not None or self.args.command == "speak":
            return True
        return bool(self.settings["speak_answers"])

    @property
    def settings(self) -> Any:
        if self._settings is None:
            from .settings import Settings

            settings = Settings.load(on_message=self.notifier.error)
            if settings["log_to_file"]:
                from .logsetup import configure_logging

                configure_logging(debug=bool(os.environ.get(_DEBUG_ENV) or self.args.debug), to_file=True)
            overrides = {"preset": self.args.preset, "max_new_tokens": self.args.max_new_tokens}
            for key, value in overrides.items():
                if value is not None:
                    try:
                        settings.set(key, value, save=False)  # for this run only
                    except ValueError as exc:
                        raise UsageError(f"{str(exc)[:1].upper()}{str(exc)[1:]}.") from None
            self._settings = settings
        return self._settings

    def build(self, *, engine: bool, ocr: bool) -> Any:
        """Build the core with only the parts this command needs (read/speak never load torch)."""
        from .compose import build_core

        self.core = build_core(
            settings=self.settings,
            notifier=self.notifier,
            model=self.args.model,
            device=self.args.device,
            server=getattr(self.args, "server", None),
            wav_path=self.args.wav,
            speak=self.speaking,
            with_ocr=ocr,
            with_engine=engine,
        )
        if self.args.quiet or self.args.wav is not None or not self.speaking:
            # Status messages are not part of a WAV file, and --quiet means quiet.
            self.notifier.set_speaker(None)
        return self.core

    def new_cancel(self) -> Any:
        from .engine.base import CancelToken

        self.cancel = CancelToken()
        return self.cancel

    def on_text(self, piece: str) -> None:
        if self.args.json or not piece:
            return
        sys.stdout.write(piece)
        sys.stdout.flush()
        self._streamed_newline = piece.endswith("\n")

    def finish(self, answer: Any) -> int:
        """Print the JSON (or end the streamed line), then let speech finish."""
        if self.args.json:
            print(json.dumps(answer.to_json(), ensure_ascii=False), flush=True)
        elif not self._streamed_newline:
            sys.stdout.write("\n")
            sys.stdout.flush()
            self._streamed_newline = True
        self.wait_for_speech(answer.text)
        return ExitCode.OK

    def wait_for_speech(self, text: str) -> None:
        if self.core is not None and self.speaking:
            # Generous: about 6 characters a second is far slower than any voice.
            self.core.speaker.wait(timeout=30 + len(text) / 6)

    def interrupt(self) -> None:
        if self.core is not None:
            try:
                self.core.assistant.stop(self.cancel)
            except Exception:
                pass
        elif self.cancel is not None:
            self.cancel.cancel()

    def report_error(self, error: IrisError) -> None:
        if self.core is not None and self.speaking and not self.args.quiet and self.args.wav is None:
            self._end_stream_line()
            self.notifier.set_speaker(self.core.speaker)
            self.notifier.error(error.message)  # shown by the sink and spoken
            try:
                self.core.speaker.wait(timeout=15)
            except Exception:
                pass
        else:
            self._end_stream_line()
            _print_error(error.message)

    def close(self) -> None:
        if self.core is not None:
            core, self.core = self.core, None
            try:
                core.close()
            except Exception:
                pass

    # -------------------------------------------------------------- actions
    def run(self) -> int:
        from . import cli_actions

        if self.args.wav is not None and self.args.no_speak:
            raise UsageError("Use --wav or --no-speak, not both. Run 'iris --help' for usage.")

        handler = getattr(cli_actions, f"run_{self.args.command.replace('-', '_')}")
        return int(handler(self))
