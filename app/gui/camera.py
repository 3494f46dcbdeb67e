"""Take one frame from a camera (or a video file, the camera's stand-in in tests).

QtMultimedia (PySide6-Addons): QCamera + QMediaCaptureSession + QVideoSink for
a camera, QMediaPlayer + QVideoSink for a file. Both functions run a short
nested event loop on the GUI thread until the first good frame arrives, then
convert it to a PIL RGB image that stays in memory (nothing is written).
Failures raise :class:`app.errors.CaptureError` (or ``BadInputError`` for a
missing file) with one sentence.
"""

from __future__ import annotations

import time
from pathlib import Path

from PIL import Image
from PySide6.QtCore import QEventLoop, QObject, QTimer, QUrl, Slot
from PySide6.QtGui import QImage

from ..errors import BadInputError, CaptureError
from .multimedia import QtMultimedia, quiet_backend, video_inputs

QCamera = QtMultimedia.QCamera
QMediaCaptureSession = QtMultimedia.QMediaCaptureSession
QMediaPlayer = QtMultimedia.QMediaPlayer
QVideoFrame = QtMultimedia.QVideoFrame
QVideoSink = QtMultimedia.QVideoSink

# Webcams often send dark frames while auto-exposure settles: wait this long
# after the first frame before taking one (unless the timeout comes first).
CAMERA_SETTLE_S = 0.6


def _device_id(device) -> str:
    return bytes(device.id().data()).decode("utf-8", errors="replace")


def list_cameras() -> list[tuple[str, str]]:
    """(id, description) of every camera, the system default first."""
    devices = video_inputs()
    devices.sort(key=lambda d: not d.isDefault())
    return [(_device_id(d), d.description() or "Camera") for d in devices]


def qimage_to_pil(image: QImage) -> Image.Image:
    """Copy a QImage into a new PIL RGB image (independent of Qt's buffer)."""
    if image.isNull():
        raise CaptureError("The camera sent an empty picture.")
    rgb = image.convertToFormat(QImage.Format.Format_RGB888)
    width, height, stride = rgb.width(), rgb.height(), rgb.bytesPerLine()
    data = bytes(rgb.constBits())[: stride * height]
    return Image.frombuffer("RGB", (width, height), data, "raw", "RGB", stride, 1).copy()


class _FrameWaiter(QObject):
    """Lives on the GUI thread; receives frames (queued from the decoder) and ends the loop."""

    def __init__(self, loop: QEventLoop, *, min_start_us: int = -1, settle_s: float = 0.0) -> None:
        super().__init__()
        self.loop = loop
        self.min_start_us = min_start_us
        self.settle_s = settle_s
        self.image: QImage | None = None
        self.last: QImage | None = None
        self.first_at: float | None = None
        self.error: str | None = None

    @Slot(QVideoFrame)
    def on_frame(self, frame: QVideoFrame) -> None:
        if self.image is not None or not frame.isValid():
            return
        start = frame.startTime()
        if self.min_start_us >= 0 and 0 <= start < self.min_start_us:
            return
        with quiet_backend():
            image = frame.toImage()
        if image.isNull():
            return
        now = time.monotonic()
        if self.first_at is None:
            self.first_at = now
        self.last = image
        if now - self.first_at >= self.settle_s:
            self.image = image
            self.loop.quit()

    def fail(self, message: str) -> None:
        if self.image is None and self.error is None:
            self.error = message
            self.loop.quit()


def _run(loop: QEventLoop, timeout: float) -> None:
    timer = QTimer()
    timer.setSingleShot(True)
    timer.timeout.connect(loop.quit)
    timer.start(max(1, int(timeout * 1000)))
    loop.exec()
    timer.stop()


def grab_camera_frame(camera_id: str | None = None, timeout: float = 5.0) -> Image.Image:
    """One RGB frame from the chosen camera (default: the system's default camera)."""
    devices = video_inputs()
    if not devices:
        raise CaptureError("No camera was found. Connect a camera and try again.")
    if camera_id:
        matches = [d for d in devices if _device_id(d) == camera_id]
        if not matches:
            raise CaptureError("The chosen camera is not connected. Choose another camera in the camera list.")
        device = matches[0]
    else:
        device = next((d for d in devices if d.isDefault()), devices[0])

    loop = QEventLoop()
    waiter = _FrameWaiter(loop, settle_s=min(CAMERA_SETTLE_S, timeout / 2))
    with quiet_backend():
        camera = QCamera(device)
        session = QMediaCaptureSession()
        sink = QVideoSink()
        session.setCamera(camera)
        session.setVideoSink(sink)
    sink.videoFrameChanged.connect(waiter.on_frame)
    camera.errorOccurred.connect(lambda _err, text: waiter.fail(text or "camera error"))
    try:
        with quiet_backend():
            camera.start()
        if waiter.error is None:
            _run(loop, timeout)
    finally:
        sink.videoFrameChanged.disconnect(waiter.on_frame)
        camera.stop()
    image = waiter.image or waiter.last
    if image is None:
        if waiter.error is not None:
            raise CaptureError(
                "The camera could not be started. It may be in use by another program.", detail=waiter.error
            )
        raise CaptureError("The camera did not send a picture in time. Try again.")
    return qimage_to_pil(image)


def grab_video_file_frame(path: str | Path, position_ms: int = 0, timeout: float = 10.0) -> Image.Image:
    """The frame shown at ``position_ms`` of a video file (the camera's stand-in in tests)."""
    path = Path(path)
    if not path.is_file():
        raise BadInputError(f"The video file {path.name} was not found.")

    loop = QEventLoop()
    waiter = _FrameWaiter(loop, min_start_us=max(0, int(position_ms)) * 1000 - 1000)
    with quiet_backend():
        player = QMediaPlayer()
        sink = QVideoSink()
        player.setVideoSink(sink)
    sink.videoFrameChanged.connect(waiter.on_frame)
    player.errorOccurred.connect(lambda _err, text: waiter.fail(text or "player error"))

    position_ms = max(0, int(position_ms))
    seek = {"done": position_ms == 0}

    def on_status(status) -> None:
        if status in (QMediaPlayer.MediaStatus.LoadedMedia, QMediaPlayer.MediaStatus.BufferedMedia) \
                and not seek["done"]:
            seek["done"] = True
            duration = player.duration()
            if duration > 0 and position_ms >= duration:
                waiter.fail("the position is past the end of the video")
                return
            player.setPosition(position_ms)
        elif status == QMediaPlayer.MediaStatus.EndOfMedia:
            waiter.fail("the video ended before that position")
        elif status == QMediaPlayer.MediaStatus.InvalidMedia:
            waiter.fail("invalid media")

    player.mediaStatusChanged.connect(on_status)
    try:
        with quiet_backend():
            player.setSource(QUrl.fromLocalFile(str(path.resolve())))
            player.play()
        if waiter.error is None:
            _run(loop, timeout)
    finally:
        sink.videoFrameChanged.disconnect(waiter.on_frame)
        player.stop()
    if waiter.image is not None:
        return qimage_to_pil(waiter.image)
    if waiter.error is not None:
        raise CaptureError(f"The video {path.name} could not be played.", detail=waiter.error)
    raise CaptureError(f"No picture came from the video {path.name} in time.")
