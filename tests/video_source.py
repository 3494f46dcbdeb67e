"""Frames from a video file: the camera stand-in.

No camera exists on test machines, so the camera path is exercised with a video
file played in a loop. OpenCV comes with rapidocr; it is imported lazily so the
rest of Iris starts without it.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from PIL import Image

from app.capture.base import CaptureSource
from app.errors import CaptureError
from app.images import printable_name


class VideoFileSource(CaptureSource):
    """Each grab returns the next frame; at the end the video starts again."""

    label = "the camera"
    is_screen = False

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._capture: Any = None
        self.frames_read = 0
        self._first: Image.Image | None = None  # read while checking the file; handed out first
        name = printable_name(self.path)
        if not self.path.is_file():
            raise CaptureError(f"There is no video file called {name}.")
        self._open()
        with self._lock:
            frame = self._read_frame()
            if frame is None:
                self.close()
                raise CaptureError(f"{name} has no pictures that Iris can read.")
            self._first = frame

    def _open(self) -> None:
        try:
            import cv2
        except ImportError as exc:
            raise CaptureError("Video support is missing: the opencv-python package is not installed.",
                               detail=repr(exc)) from None
        capture = cv2.VideoCapture(str(self.path))
        if not capture.isOpened():
            capture.release()
            raise CaptureError(f"{printable_name(self.path)} is not a video that Iris can play.")
        self._capture = capture

    def _read_frame(self) -> Image.Image | None:
        import cv2

        try:
            ok, frame = self._capture.read()
        except cv2.error:
            return None
        if not ok or frame is None or frame.size == 0:
            return None
        if frame.ndim == 2:
            frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB)
        elif frame.shape[2] == 4:
            frame = cv2.cvtColor(frame, cv2.COLOR_BGRA2RGB)
        else:
            frame = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        return Image.fromarray(frame)

    def grab(self) -> Image.Image:
        with self._lock:
            if self._capture is None:
                raise CaptureError("The camera has been closed.")
            first, self._first = self._first, None
            frame = first or self._read_frame()
            if frame is None:  # end of the video: start again
                import cv2

                self._capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
                frame = self._read_frame()
                if frame is None:  # some containers cannot seek: reopen
                    self._capture.release()
                    self._open()
                    frame = self._read_frame()
            if frame is None:
                raise CaptureError("The camera stopped sending pictures.")
            self.frames_read += 1
            return frame

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None

    def __del__(self) -> None:  # release the file handle promptly
        try:
            self.close()
        except Exception:  # noqa: BLE001
            pass
