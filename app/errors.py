"""Errors a user can meet, each with one plain sentence and an exit code.

Every failure that reaches a user is an :class:`IrisError`; anything else is
wrapped by :func:`as_user_error` so that the user hears a sentence, never a
traceback. Exit codes let scripts tell bad input from a missing model from an
internal failure.
"""

from __future__ import annotations


class ExitCode:
    OK = 0
    INTERNAL = 1
    BAD_INPUT = 2
    MODEL_MISSING = 3
    CAPTURE_FAILED = 4
    CANCELLED = 130


class IrisError(Exception):
    """A failure with a sentence meant for the user."""

    exit_code = ExitCode.INTERNAL

    def __init__(self, message: str, *, detail: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail  # for logs only; never spoken

    def __str__(self) -> str:  # pragma: no cover - trivial
        return self.message


class BadInputError(IrisError):
    """The image, file, question or argument cannot be used."""

    exit_code = ExitCode.BAD_INPUT


class ModelMissingError(IrisError):
    """The vision model is not installed (or is incomplete)."""

    exit_code = ExitCode.MODEL_MISSING


class ModelLoadError(IrisError):
    """The model is present but could not be loaded (corrupt, wrong type, unsafe format)."""

    exit_code = ExitCode.MODEL_MISSING


class CaptureError(IrisError):
    """The screen or camera could not be captured."""

    exit_code = ExitCode.CAPTURE_FAILED


class OutOfMemoryError(IrisError):
    """The device ran out of memory; the caller may retry on CPU or with a smaller image."""

    exit_code = ExitCode.INTERNAL


class SpeechError(IrisError):
    """The speech engine failed. Speech falls back to silence; text is still shown."""

    exit_code = ExitCode.INTERNAL


class CancelledError(IrisError):
    """The user cancelled the job."""

    exit_code = ExitCode.CANCELLED

    def __init__(self, message: str = "Stopped.", *, detail: str | None = None) -> None:
        super().__init__(message, detail=detail)


class InternalError(IrisError):
    exit_code = ExitCode.INTERNAL


def as_user_error(exc: BaseException) -> IrisError:
    """Turn any exception into an IrisError with a plain sentence."""
    if isinstance(exc, IrisError):
        return exc
    if isinstance(exc, MemoryError):
        return OutOfMemoryError(
            "The computer ran out of memory. Try a smaller image or a smaller model.",
            detail=repr(exc),
        )
    name = type(exc).__name__
    if name == "OutOfMemoryError" or "out of memory" in str(exc).lower():
        return OutOfMemoryError(
            "The graphics card ran out of memory.", detail=repr(exc)
        )
    return InternalError(
        "Something went wrong inside Iris. Please try again.", detail=f"{name}: {exc}"
    )
