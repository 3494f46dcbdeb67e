"""Screen, window and video capture, and blank detection, against a real X server (Xvfb)."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

import app.capture.window as window_mod
from app.capture.blank import is_blank
from app.capture.screen import ScreenCapture, clip_region, list_monitors
from app.capture.window import ActiveWindowCapture, parse_xdotool_shell
from app.errors import CaptureError
from tests.video_source import VideoFileSource
from tests.xvfb import start_xvfb

try:
    from tests import make_images as mi
except ImportError:  # tests/ is not a package: pytest put it on sys.path
    import make_images as mi

SCREEN = (1280, 800)


def assert_capture_sentence(err: CaptureError) -> None:
    assert isinstance(err, CaptureError) and err.exit_code == 4
    assert err.message and "\n" not in err.message and "Traceback" not in err.message


# ------------------------------------------------------------------ Xvfb


@pytest.fixture(scope="session")
def xvfb_display():
    """A private Xvfb (black root) on a display number the server picks itself (-displayfd)."""
    server = start_xvfb(SCREEN[0], SCREEN[1], "-br", "-noreset")
    if server is None:
        pytest.skip("Xvfb is not installed or did not start")
    yield server.name
    server.close()


@pytest.fixture
def display(xvfb_display, monkeypatch):
    monkeypatch.setenv("DISPLAY", xvfb_display)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    return xvfb_display


@pytest.fixture
def xmessage(display):
    """A small window with known text, placed at (200, 150) and given the input focus."""
    if shutil.which("xmessage") is None:
        pytest.skip("xmessage is not installed")
    proc = subprocess.Popen(
        ["xmessage", "-geometry", "+200+150", "-fn", "10x20", "Hello from Iris"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while is_blank(ScreenCapture().grab()):
            if time.monotonic() > deadline:
                pytest.fail("the xmessage window never appeared")
            time.sleep(0.05)
        yield proc
    finally:
        proc.kill()
        proc.wait()
        # wait until the screen is bare again for the next test
        deadline = time.monotonic() + 5
        while not is_blank(ScreenCapture().grab()) and time.monotonic() < deadline:
            time.sleep(0.05)


def focus_xmessage() -> None:
    if shutil.which("xdotool") is None:
        pytest.skip("xdotool is not installed")
    ids = subprocess.run(["xdotool", "search", "--sync", "--class", "Xmessage"],
                         capture_output=True, text=True, timeout=10).stdout.split()
    assert ids, "xmessage window not found"
    subprocess.run(["xdotool", "windowfocus", "--sync", ids[0]], check=True, timeout=10)


@pytest.mark.xvfb
def test_whole_screen(display):
    source = ScreenCapture()
    image = source.grab()
    assert image.mode == "RGB" and image.size == SCREEN
    assert source.is_screen and source.label


@pytest.mark.xvfb
def test_monitor_one_and_list(display):
    monitors = list_monitors()
    assert len(monitors) == 1
    assert (monitors[0]["width"], monitors[0]["height"]) == SCREEN
    image = ScreenCapture(monitor=1).grab()
    assert image.size == SCREEN


@pytest.mark.xvfb
def test_region(display):
    image = ScreenCapture(region=(10, 20, 300, 200)).grab()
    assert image.size == (300, 200) and image.mode == "RGB"


@pytest.mark.xvfb
def test_region_is_clipped_to_the_screen(display):
    image = ScreenCapture(region=(1200, 700, 500, 500)).grab()
    assert image.size == (80, 100)


@pytest.mark.xvfb
def test_region_outside_the_screen(display):
    with pytest.raises(CaptureError) as info:
        ScreenCapture(region=(5000, 5000, 10, 10)).grab()
    assert_capture_sentence(info.value)


@pytest.mark.xvfb
@pytest.mark.parametrize("monitor", [2, 3, 99])
def test_monitor_out_of_range(display, monitor):
    with pytest.raises(CaptureError) as info:
        ScreenCapture(monitor=monitor).grab()
    assert_capture_sentence(info.value)
    assert str(monitor) in info.value.message  # names the monitor asked for


@pytest.mark.parametrize("kwargs", [{"monitor": 0}, {"monitor": -1}, {"region": (0, 0, 0, 10)}])
def test_invalid_arguments(kwargs):
    with pytest.raises(CaptureError) as info:
        ScreenCapture(**kwargs)
    assert_capture_sentence(info.value)


def test_no_display(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(CaptureError) as info:
        ScreenCapture().grab()
    assert_capture_sentence(info.value)
    with pytest.raises(CaptureError):
        list_monitors()


def test_wayland_without_xwayland(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
    with pytest.raises(CaptureError) as info:
        ScreenCapture().grab()
    assert_capture_sentence(info.value)


def test_display_that_does_not_exist(monkeypatch):
    monkeypatch.setenv("DISPLAY", ":4987")
    with pytest.raises(CaptureError) as info:
        ScreenCapture().grab()
    assert_capture_sentence(info.value)


@pytest.mark.xvfb
def test_grab_from_a_worker_thread(display):
    source = ScreenCapture()  # made on this thread, used on another (as the job runner does)
    results: list[object] = []
    worker = threading.Thread(target=lambda: results.append(source.grab()))
    worker.start()
    worker.join(20)
    assert len(results) == 1 and results[0].size == SCREEN


@pytest.mark.xvfb
def test_a_window_on_screen_is_not_blank(display, xmessage):
    image = ScreenCapture().grab()
    assert not is_blank(image)
    # the window shows where it was put
    window = np.asarray(image.crop((200, 150, 300, 180)).convert("L"))
    assert window.max() > 200


@pytest.mark.xvfb
def test_bare_root_is_blank(display):
    assert is_blank(ScreenCapture().grab())


@pytest.mark.xvfb
def test_active_window_with_focus(display, xmessage):
    focus_xmessage()
    source = ActiveWindowCapture()
    image = source.grab()
    assert source.label == window_mod.WINDOW_LABEL and source.is_screen
    assert source.last_rect is not None
    assert image.size == source.last_rect[2:]
    assert image.size[0] < SCREEN[0] and image.size[1] < SCREEN[1]
    assert not is_blank(image)


@pytest.mark.xvfb
def test_ocr_reads_a_real_window(display, xmessage):
    pytest.importorskip("rapidocr_onnxruntime")
    from app.ocr import TextReader

    focus_xmessage()
    image = ActiveWindowCapture().grab()
    text = " ".join(TextReader().read_lines(image)).lower()
    assert "hello" in text and "iris" in text


@pytest.mark.xvfb
def test_active_window_through_xlib(display, xmessage, monkeypatch):
    pytest.importorskip("Xlib")
    focus_xmessage()
    monkeypatch.setattr(window_mod, "_xdotool_rect", lambda: None)
    source = ActiveWindowCapture()
    image = source.grab()
    assert source.label == window_mod.WINDOW_LABEL
    assert image.size[0] < SCREEN[0] and image.size[1] < SCREEN[1]


@pytest.mark.xvfb
def test_active_window_falls_back_to_the_screen(display, monkeypatch):
    monkeypatch.setattr(window_mod, "active_window_rect", lambda: None)
    source = ActiveWindowCapture()
    image = source.grab()
    assert image.size == SCREEN
    assert source.label == window_mod.SCREEN_LABEL and source.last_rect is None


@pytest.mark.xvfb
def test_active_window_off_screen_falls_back(display, monkeypatch):
    monkeypatch.setattr(window_mod, "active_window_rect", lambda: (5000, 5000, 100, 100))
    source = ActiveWindowCapture()
    assert source.grab().size == SCREEN
    assert source.label == window_mod.SCREEN_LABEL


def test_parse_xdotool_shell():
    text = "WINDOW=2097200\nX=200\nY=150\nWIDTH=152\nHEIGHT=52\nSCREEN=0\n"
    assert parse_xdotool_shell(text) == (200, 150, 152, 52)
    assert parse_xdotool_shell("X=1\nY=2\nWIDTH=0\nHEIGHT=5\n") is None
    assert parse_xdotool_shell("garbage") is None
    assert parse_xdotool_shell("X=a\nY=2\nWIDTH=3\nHEIGHT=5\n") is None


def test_clip_region_uses_monitor_offset():
    monitor = {"left": 1920, "top": 0, "width": 1280, "height": 1024}
    assert clip_region(monitor, (10, 20, 100, 50)) == {"left": 1930, "top": 20, "width": 100, "height": 50}
    with pytest.raises(CaptureError):
        clip_region(monitor, (-500, 0, 100, 100))


# ------------------------------------------------------------------ blank detection


def _with_text(size, text, fg, bg, font_size):
    image = Image.new("RGB", size, bg)
    ImageDraw.Draw(image).text((size[0] // 3, size[1] // 2), text, fill=fg, font=mi.font(font_size))
    return image


def _noisy(size, std, seed=0):
    rng = np.random.default_rng(seed)
    arr = np.clip(128 + rng.normal(0, std, (size[1], size[0], 3)), 0, 255).astype(np.uint8)
    return Image.fromarray(arr)


BLANKS = {
    "black_4k": lambda: Image.new("RGB", (3840, 2160)),
    "white_1080p": lambda: Image.new("RGB", (1920, 1080), "white"),
    "solid_blue": lambda: Image.new("RGB", (1280, 800), (0, 90, 180)),
    "greyscale_mode": lambda: Image.new("L", (800, 600), 40),
    "transparent_rgba": lambda: Image.new("RGBA", (800, 600), (0, 0, 0, 0)),
    "faint_noise_small": lambda: _noisy((640, 480), 4),
    "noise_1280": lambda: _noisy((1280, 800), 8),
    "noise_4k": lambda: _noisy((3840, 2160), 8, seed=1),
    "jpeg_grain": lambda: Image.open(__import__("io").BytesIO(
        mi.encode(Image.new("RGB", (1920, 1080), (40, 40, 40)), "JPEG", quality=25))),
    "one_pixel": lambda: Image.new("RGB", (1, 1)),
}

CONTENT = {
    "small_text_on_white_4k": lambda: _with_text((3840, 2160), "Saved.", "black", "white", 12),
    "small_text_on_white_1080p": lambda: _with_text((1920, 1080), "Saved.", "black", "white", 10),
    "dark_mode_text": lambda: _with_text((1920, 1080), "Saved.", (200, 200, 200), (30, 30, 30), 10),
    "grey_text": lambda: _with_text((1280, 800), "Saved.", (170, 170, 170), "white", 12),
    "text_on_noise": lambda: ImageDraw.Draw(img := _noisy((1280, 800), 8)).text(
        (400, 400), "Saved.", fill="black", font=mi.font(10)) or img,
    "screenshot": lambda: mi.text_image(["File  Edit  View", "Hello world"]),
    "half_and_half": lambda: mi.halves((1920, 1080)),
    "gradient": lambda: Image.fromarray(np.tile(np.linspace(0, 255, 1920).astype(np.uint8), (1080, 1))),
    "photo_like": lambda: Image.open(__import__("io").BytesIO(mi.good_photo_bytes())),
}


@pytest.mark.parametrize("name", sorted(BLANKS))
def test_blank(name):
    assert is_blank(BLANKS[name]()) is True


@pytest.mark.parametrize("name", sorted(CONTENT))
def test_not_blank(name):
    assert is_blank(CONTENT[name]()) is False


def test_real_photos_are_not_blank():
    folder = Path(__file__).resolve().parent.parent.parent / "shared" / "images"
    photos = sorted(folder.glob("*.png"))
    if not photos:
        pytest.skip("shared images not found beside the checkout")
    for path in photos:
        image = Image.open(path)
        assert is_blank(image) is False, path.name
        assert is_blank(image.convert("RGB").resize((3840, 2160))) is False, path.name


def test_blank_is_fast_on_4k():
    images = [Image.new("RGB", (3840, 2160)), _with_text((3840, 2160), "Saved.", "black", "white", 12)]
    is_blank(images[0])  # warm up
    start = time.perf_counter()
    for image in images * 3:
        is_blank(image)
    per_image = (time.perf_counter() - start) / 6
    assert per_image < 0.25, per_image  # measured ~8 ms on a shared 2-core CPU


# ------------------------------------------------------------------ video (camera stand-in)


@pytest.fixture
def video(tmp_path) -> Path:
    return mi.write_test_video(tmp_path / "camera.avi", frames=12)


def test_video_frames_advance_and_loop(video):
    source = VideoFileSource(video)
    assert source.label == "the camera" and source.is_screen is False
    colours = [source.grab().getpixel((80, 60)) for _ in range(15)]
    for i, colour in enumerate(colours[:12]):
        expected = mi.frame_colour(i)
        assert all(abs(a - b) < 12 for a, b in zip(colour, expected)), (i, colour, expected)
    # after 12 frames it starts again
    for i in range(3):
        assert all(abs(a - b) < 12 for a, b in zip(colours[12 + i], mi.frame_colour(i)))
    image = source.grab()
    assert image.mode == "RGB" and image.size == (160, 120)
    source.close()
    with pytest.raises(CaptureError):
        source.grab()


def test_video_from_a_worker_thread(video):
    source = VideoFileSource(video)
    results = []
    threads = [threading.Thread(target=lambda: results.append(source.grab())) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert len(results) == 4 and source.frames_read == 4


def test_video_made_by_ffmpeg(tmp_path):
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is not installed")
    path = tmp_path / "clip.mp4"
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=10",
         "-frames:v", "8", "-pix_fmt", "yuv420p", str(path)],
        check=True, timeout=60,
    )
    source = VideoFileSource(path)
    frames = [source.grab() for _ in range(3)]
    assert all(f.size == (320, 240) for f in frames)
    assert not is_blank(frames[0])  # the test pattern is content


@pytest.mark.parametrize("content", [b"", b"this is not a video" * 50, b"RIFF\x00\x00\x00\x00AVI LIST"])
def test_unreadable_video(tmp_path, content):
    path = tmp_path / "broken.avi"
    path.write_bytes(content)
    with pytest.raises(CaptureError) as info:
        VideoFileSource(path)
    assert_capture_sentence(info.value)


def test_missing_video(tmp_path):
    with pytest.raises(CaptureError) as info:
        VideoFileSource(tmp_path / "nothing.mp4")
    assert_capture_sentence(info.value)
    with pytest.raises(CaptureError):
        VideoFileSource(tmp_path)  # a folder
