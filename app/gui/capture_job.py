"""Take the picture the moment it is asked for, and keep the zoom over the current picture.

A hotkey pressed while the model is still loading must describe the screen as
it was at the keypress, not as it is once the load ends (seconds later). So
the capture runs on a thread of its own, started when the request is made;
the job on the worker (which may first wait for the load) only waits for that
picture. The zoom state lives on the main thread.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from PIL import Image

from ..a11y.base import Rect
from ..capture.base import CaptureSource
from ..capture.region import describe_path, zoom_box
from ..engine.base import CancelToken, Conversation
from ..errors import BadInputError, CancelledError, IrisError, as_user_error

SourceFactory = Callable[[], CaptureSource]
Taken = Callable[[Image.Image, CaptureSource], None]


class PendingCapture:
    """One capture on its own thread; ``wait(cancel)`` hands the picture to the job."""

    def __init__(self, factory: SourceFactory, delay: float = 0.0) -> None:
        self.factory = factory
        self.delay = delay
        self.on_taken: Taken | None = None
        self.requested_at = time.monotonic()
        self.taken_at: float | None = None
        self._stop = threading.Event()
        self._done = threading.Event()
        self._image: Image.Image | None = None
        self._source: CaptureSource | None = None
        self._error: IrisError | None = None

    def start(self) -> None:
        threading.Thread(target=self._run, name="iris-capture", daemon=True).start()

    def cancel(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        try:
            if self.delay and self._stop.wait(self.delay):
                return
            source = self.factory()
            image = source.grab()
            self.taken_at = time.monotonic()
            self._image, self._source = image, source
            if self.on_taken is not None:
                self.on_taken(image, source)
        except BaseException as exc:  # noqa: BLE001 - handed to the job, which reports it as a sentence
            self._error = as_user_error(exc)
        finally:
            self._done.set()

    def wait(self, cancel: CancelToken) -> tuple[Image.Image, CaptureSource]:
        while not self._done.wait(0.02):
            if cancel.cancelled:
                self.cancel()
                raise CancelledError()
        if self._error is not None:
            raise self._error
        if self._image is None or self._source is None:
            raise CancelledError()
        return self._image, self._source


def picture_origin(source: object) -> tuple[int, int] | None:
    """Where a capture's picture starts on the desktop, when the source says (for answer regions)."""
    area = getattr(source, "last_area", None)
    if isinstance(area, dict):
        return int(area["left"]), int(area["top"])
    region = getattr(source, "region", None)
    return (region.x, region.y) if isinstance(region, Rect) else None


@dataclass
class ZoomLevel:
    part: str
    box: Rect  # in the whole picture's pixels
    before: Conversation | None  # the conversation to go back to on zoom out


@dataclass
class ZoomState:
    """The current whole picture and the parts zoomed into (a stack: zoom out pops one)."""

    image: Image.Image | None = None
    label: str = ""
    origin: tuple[int, int] | None = None  # where the picture was on the screen, when it was the screen
    levels: list[ZoomLevel] = field(default_factory=list)

    def reset(self, image: Image.Image, label: str, origin: tuple[int, int] | None = None) -> None:
        self.image, self.label, self.origin, self.levels = image, label, origin, []

    @property
    def parts(self) -> list[str]:
        return [level.part for level in self.levels]

    def current_box(self) -> Rect:
        assert self.image is not None
        return self.levels[-1].box if self.levels else Rect(0, 0, self.image.width, self.image.height)

    def zoom_in(self, part: str, before: Conversation | None) -> ZoomLevel:
        if self.image is None:
            raise BadInputError("There is no picture to zoom into yet. Describe the screen or open an image first.")
        box = zoom_box(self.current_box(), part)
        if box.width < 16 or box.height < 16:
            raise BadInputError("That part is too small to zoom into further. Zoom out first.")
        level = ZoomLevel(part, box, before)
        self.levels.append(level)
        return level

    def zoom_out(self) -> ZoomLevel | None:
        return self.levels.pop() if self.levels else None

    def where(self) -> str:
        """'the top right part of the screen' or 'the whole picture of the screen'."""
        return f"{describe_path(self.parts)} of {self.label}"

    def crop(self) -> Image.Image:
        assert self.image is not None
        box = self.current_box()
        return self.image.crop((box.x, box.y, box.right, box.bottom)) if self.levels else self.image
