"""Camera capture through QtMultimedia; a generated video file stands in for a camera here."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.errors import BadInputError, CaptureError
from app.gui import camera

needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")


@pytest.fixture(scope="module")
def test_video(tmp_path_factory) -> Path:
    """A 3 s, 160x120 test pattern with a running counter (so frames differ over time)."""
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg not installed")
    path = tmp_path_factory.mktemp("video") / "pattern.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=10",
         "-t", "3", "-pix_fmt", "yuv420p", str(path)],
        check=True, timeout=60,
    )
    return path


def _reference_frame(video: Path, seconds: float, tmp_path: Path) -> Image.Image:
    out = tmp_path / f"ref-{seconds}.png"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-ss", str(seconds), "-i", str(video),
                    "-frames:v", "1", str(out)], check=True, timeout=60)
    return Image.open(out).convert("RGB")


def _difference(a: Image.Image, b: Image.Image) -> float:
    return float(np.abs(np.asarray(a, dtype=float) - np.asarray(b, dtype=float)).mean())


def test_no_camera_is_a_capture_error(qtbot, monkeypatch):
    monkeypatch.setattr(camera, "video_inputs", lambda: [])
    assert camera.list_cameras() == []
    with pytest.raises(CaptureError) as caught:
        camera.grab_camera_frame()
    assert caught.value.message.endswith(".")


def test_real_device_list_is_well_formed(qtbot):
    cameras = camera.list_cameras()  # none on CI; any real one must be (id, description) strings
    assert all(isinstance(i, str) and isinstance(d, str) and d for i, d in cameras)


def test_unknown_camera_id_is_a_capture_error(qtbot, monkeypatch):
    class FakeDevice:
        def id(self):
            from PySide6.QtCore import QByteArray
            return QByteArray(b"/dev/video7")

        def description(self):
            return "Fake camera"

        def isDefault(self):  # noqa: N802 - Qt name
            return True

    monkeypatch.setattr(camera, "video_inputs", lambda: [FakeDevice()])
    assert camera.list_cameras() == [("/dev/video7", "Fake camera")]
    with pytest.raises(CaptureError):
        camera.grab_camera_frame("/dev/video0")


@needs_ffmpeg
def test_video_frame_has_right_size_and_content(qtbot, test_video, tmp_path):
    image = camera.grab_video_file_frame(test_video)
    assert image.mode == "RGB" and image.size == (160, 120)
    pixels = np.asarray(image)
    assert pixels.std() > 30  # the test pattern, not a blank frame
    assert _difference(image, _reference_frame(test_video, 0, tmp_path)) < 12


@needs_ffmpeg
def test_video_frame_at_a_position(qtbot, test_video, tmp_path):
    first = camera.grab_video_file_frame(test_video, 0)
    later = camera.grab_video_file_frame(test_video, position_ms=2000)
    reference = _reference_frame(test_video, 2.0, tmp_path)
    assert _difference(later, reference) < _difference(first, reference)
    assert _difference(later, reference) < 12


@needs_ffmpeg
def test_position_past_the_end_is_a_capture_error(qtbot, test_video):
    with pytest.raises(CaptureError):
        camera.grab_video_file_frame(test_video, position_ms=60_000, timeout=5)


def test_missing_video_file_is_bad_input(qtbot, tmp_path):
    with pytest.raises(BadInputError):
        camera.grab_video_file_frame(tmp_path / "missing.mp4")


@pytest.mark.qt_log_ignore(r"Could not open media")  # the backend's own (expected) warning for bad data
def test_garbage_video_is_a_capture_error(qtbot, tmp_path):
    bad = tmp_path / "garbage.mp4"
    bad.write_bytes(b"not a video at all " * 200)
    with pytest.raises(CaptureError) as caught:
        camera.grab_video_file_frame(bad, timeout=5)
    assert caught.value.message.endswith(".")


def test_qimage_to_pil_respects_stride(qtbot):
    from PySide6.QtGui import QColor, QImage

    image = QImage(7, 3, QImage.Format.Format_RGB32)  # odd width: padded rows in RGB888
    image.fill(QColor(10, 20, 30))
    image.setPixelColor(6, 2, QColor(250, 0, 5))
    pil = camera.qimage_to_pil(image)
    assert pil.size == (7, 3)
    assert pil.getpixel((0, 0)) == (10, 20, 30) and pil.getpixel((6, 2)) == (250, 0, 5)
