"""load_image: every good format/mode becomes the right RGB picture; every bad input one sentence."""

from __future__ import annotations

import io
import os
import warnings

import pytest
from PIL import Image, ImageFile

import app.images as images
from app.errors import BadInputError
from app.images import load_image, printable_name

try:
    from tests import make_images as mi
except ImportError:  # tests/ is not a package: pytest put it on sys.path
    import make_images as mi

GOOD = mi.good_cases()
BAD = mi.bad_cases()


def assert_one_sentence(err: BadInputError) -> None:
    message = err.message
    assert isinstance(err, BadInputError)
    assert message and message == str(err)
    assert "\n" not in message and "\r" not in message
    assert "Traceback" not in message and "Error" not in message
    assert len(message) < 300
    message.encode("utf-8")  # strict: no lone surrogates from odd file names
    assert all(ch.isprintable() for ch in message)


def check_pixels(image: Image.Image, case: mi.GoodCase) -> None:
    assert image.mode == "RGB"
    assert image.size == case.size
    for (x, y), expected in (case.probes or {}).items():
        got = image.getpixel((x, y))
        assert all(abs(a - b) <= case.tolerance for a, b in zip(got, expected)), (x, y, got, expected)


# ------------------------------------------------------------------ good inputs


@pytest.mark.parametrize("name", sorted(GOOD))
def test_good_file_loads_as_rgb_with_content(name, tmp_path):
    case = GOOD[name]
    path = tmp_path / f"{name}{case.suffix}"
    path.write_bytes(case.data)
    check_pixels(load_image(path), case)


@pytest.mark.parametrize("name", sorted(GOOD))
def test_good_bytes_load_the_same(name):
    case = GOOD[name]
    check_pixels(load_image(case.data), case)
    check_pixels(load_image(bytearray(case.data)), case)


def test_path_as_string_and_wrong_extension(tmp_path):
    path = tmp_path / "actually-a-jpeg.png"
    path.write_bytes(GOOD["jpeg_rgb"].data)
    image = load_image(str(path))
    assert image.size == (64, 48) and image.mode == "RGB"


def test_sixteen_bit_png_keeps_its_range():
    raw = Image.open(io.BytesIO(GOOD["png_16bit"].data))
    assert raw.mode.startswith("I;16")  # the generator really made 16-bit data
    lo, hi = load_image(GOOD["png_16bit"].data).convert("L").getextrema()
    assert lo < 10 and hi > 245  # not clipped to white, not crushed to black


def test_cmyk_jpeg_keeps_content():
    assert Image.open(io.BytesIO(GOOD["jpeg_cmyk"].data)).mode == "CMYK"
    grey = load_image(GOOD["jpeg_cmyk"].data).convert("L")
    assert grey.getpixel((5, 24)) < 60 and grey.getpixel((58, 24)) > 200


def test_exif_rotation_swaps_width_and_height():
    raw = Image.open(io.BytesIO(GOOD["jpeg_exif_rotate90"].data))
    assert raw.size == (64, 48)
    assert load_image(GOOD["jpeg_exif_rotate90"].data).size == (48, 64)


def test_real_photo(photo_path):
    image = load_image(photo_path)
    assert image.mode == "RGB"
    assert image.size == Image.open(photo_path).size
    lo, hi = image.convert("L").getextrema()
    assert hi - lo > 100


def test_photo_like_jpeg():
    image = load_image(mi.good_photo_bytes())
    assert image.size == (320, 240)


def test_loaded_image_is_detached_from_the_file(tmp_path):
    path = tmp_path / "photo.png"
    path.write_bytes(GOOD["png_rgb"].data)
    image = load_image(path)
    path.unlink()
    assert image.getpixel((5, 24)) == (0, 0, 0)


# ------------------------------------------------------------------ bad inputs


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_input_is_one_sentence(name, tmp_path):
    source = BAD[name](tmp_path)
    with pytest.raises(BadInputError) as info:
        load_image(source)
    assert_one_sentence(info.value)
    assert info.value.exit_code == 2


def test_kinds_are_told_apart(tmp_path):
    """The sentences differ by kind (PDF vs SVG vs text vs noise), without checking wording."""
    messages = set()
    for name in ("pdf", "svg", "text_named_png", "random_bytes", "heic_without_decoder", "truncated_png"):
        with pytest.raises(BadInputError) as info:
            load_image(BAD[name](tmp_path))
        messages.add(info.value.message.split(" ", 1)[1])  # drop the file name
    assert len(messages) == 6


def test_size_cap_is_checked_before_reading(tmp_path, monkeypatch):
    path = BAD["over_size_cap"](tmp_path)

    def must_not_read(_path):
        raise AssertionError("the file was opened despite its size")

    monkeypatch.setattr(images, "_open_for_reading", must_not_read)
    with pytest.raises(BadInputError):
        load_image(path)


def test_size_cap_applies_to_bytes(monkeypatch):
    monkeypatch.setattr(images, "MAX_FILE_BYTES", 1000)
    with pytest.raises(BadInputError) as info:
        load_image(mi.good_photo_bytes())
    assert_one_sentence(info.value)


@pytest.mark.parametrize("name", ["bomb_30000_square", "bomb_over_cap_under_pillow_limit"])
def test_bomb_refused_before_decoding(name, tmp_path, monkeypatch):
    def no_decoding(self):
        raise AssertionError("pixel data was decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    with pytest.raises(BadInputError) as info:
        load_image(BAD[name](tmp_path))
    assert_one_sentence(info.value)


def test_pillow_bomb_warning_does_not_leak(monkeypatch):
    # Lower Pillow's own bomb threshold so a small image sits between its warning
    # level (MAX_IMAGE_PIXELS) and its error level (twice that): Iris's cap decides.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 2000)
    data = mi.encode(mi.halves((50, 50)), "PNG")  # 2500 pixels: Pillow warns
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        image = load_image(data)
    assert image.size == (50, 50)
    assert not [w for w in caught if issubclass(w.category, Image.DecompressionBombWarning)]


def test_pillow_bomb_error_becomes_a_sentence(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 2500 > 2 x 1000: Pillow raises
    with pytest.raises(BadInputError) as info:
        load_image(mi.encode(mi.halves((50, 50)), "PNG"))
    assert_one_sentence(info.value)


def test_pixel_cap_is_configurable(monkeypatch):
    monkeypatch.setattr(images, "MAX_PIXELS", 100)
    with pytest.raises(BadInputError):
        load_image(GOOD["png_rgb"].data)  # 64 x 48 > 100 pixels
    assert load_image(GOOD["one_pixel"].data).size == (1, 1)


def test_unreadable_file(tmp_path, monkeypatch):
    path = tmp_path / "secret.png"
    path.write_bytes(GOOD["png_rgb"].data)
    path.chmod(0)
    try:
        if os.geteuid() == 0:  # root reads anything: simulate the refusal at open()
            def denied(_path):
                raise PermissionError(13, "Permission denied")

            monkeypatch.setattr(images, "_open_for_reading", denied)
        with pytest.raises(BadInputError) as info:
            load_image(path)
        assert_one_sentence(info.value)
    finally:
        path.chmod(0o644)


def test_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    with pytest.raises(BadInputError) as info:
        load_image(fifo)
    assert_one_sentence(info.value)


def test_symlink_loop(tmp_path):
    loop = tmp_path / "loop.png"
    loop.symlink_to(loop)
    with pytest.raises(BadInputError) as info:
        load_image(loop)
    assert_one_sentence(info.value)


@pytest.mark.parametrize("value", [None, 42, 3.5, ["a.png"]])
def test_wrong_argument_type(value):
    with pytest.raises(BadInputError):
        load_image(value)  # type: ignore[arg-type]


def test_heic_with_decoder_missing(tmp_path, monkeypatch):
    monkeypatch.setattr(images, "_register_heif", lambda: False)
    with pytest.raises(BadInputError) as info:
        load_image(BAD["heic_without_decoder"](tmp_path))
    assert_one_sentence(info.value)
    assert "HEIC" in info.value.message  # it names the format the user has to convert from


def test_printable_name_handles_odd_names():
    assert printable_name(os.fsdecode(b"/tmp/caf\xe9.png")).encode("utf-8")
    long = printable_name("/tmp/" + "y" * 500 + ".png")
    assert len(long) <= 60 and long.endswith(".png")
    assert "\x1b" not in printable_name("/tmp/a\x1b[31mb.png")
    assert printable_name("/tmp/folder/") == "folder"


def test_avif_without_a_decoder(monkeypatch):
    from PIL import features

    if not features.check("avif"):
        pytest.skip("this Pillow cannot write AVIF to make the sample")
    data = mi.encode(mi.halves(), "AVIF")
    monkeypatch.setattr(images, "_available_formats", lambda: ("PNG", "JPEG"))  # as if no AVIF plugin
    with pytest.raises(BadInputError) as info:
        load_image(data)
    assert_one_sentence(info.value)
    assert "AVIF" in info.value.message
