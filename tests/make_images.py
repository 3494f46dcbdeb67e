"""Generators of good, odd and bad image inputs, shared by the test modules.

Every generator builds its input from scratch (no fixtures on disk), so other
tests (reliability, CLI) can reuse them: ``GOOD`` maps a case name to a
``GoodCase`` (bytes + expected size + optional pixel check), ``BAD`` maps a case
name to a function that writes the bad input under a folder and returns what to
pass to ``load_image`` (a path or bytes).
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageFont, features

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")


# ---------------------------------------------------------------- helpers


def font(size: int = 28, bold: bool = False) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """DejaVu Sans if installed (Linux), else Pillow's built-in scalable font."""
    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    path = FONT_DIR / name
    if path.exists():
        return ImageFont.truetype(str(path), size)
    return ImageFont.load_default(size)


def encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **kwargs)
    return buf.getvalue()


def halves(size: tuple[int, int] = (64, 48), left=(0, 0, 0), right=(255, 255, 255), mode="RGB") -> Image.Image:
    """Left half one colour, right half another: content that a bad conversion would destroy."""
    image = Image.new(mode, size, left)
    ImageDraw.Draw(image).rectangle([size[0] // 2, 0, size[0], size[1]], fill=right)
    return image


def noise(size: tuple[int, int], seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


def text_image(
    lines: list[str],
    size: tuple[int, int] = (1280, 800),
    font_size: int = 28,
    fg=(20, 20, 20),
    bg=(255, 255, 255),
    origin: tuple[int, int] = (60, 60),
    spacing: float = 1.8,
) -> Image.Image:
    """A screenshot-like render: lines of text on a flat background."""
    image = Image.new("RGB", size, bg)
    draw = ImageDraw.Draw(image)
    f = font(font_size)
    x, y = origin
    for line in lines:
        draw.text((x, y), line, fill=fg, font=f)
        y += int(font_size * spacing)
    return image


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)


def png_claiming_size(width: int, height: int) -> bytes:
    """A structurally valid PNG header that claims a huge size (a decompression bomb's first bytes)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    idat = zlib.compress(b"\x00" * (width + 1) * 4)  # four rows; the rest would follow
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


# ---------------------------------------------------------------- good inputs


@dataclass
class GoodCase:
    data: bytes
    size: tuple[int, int]  # expected (width, height) after loading
    #: pixel (x, y) -> expected RGB, each channel within ``tolerance``
    probes: dict[tuple[int, int], tuple[int, int, int]] | None = None
    tolerance: int = 40
    suffix: str = ".png"


def _gif_animation() -> bytes:
    frames = [Image.new("P", (40, 30), 0) for _ in range(2)]
    frames[0].putpalette([255, 0, 0] + [0, 0, 255] * 255)
    frames[1].putpalette([0, 0, 255] * 256)
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def _apng() -> bytes:
    red, blue = Image.new("RGB", (40, 30), (255, 0, 0)), Image.new("RGB", (40, 30), (0, 0, 255))
    return encode(red, "PNG", save_all=True, append_images=[blue], duration=100)


def _tiff_multipage() -> bytes:
    red, blue = Image.new("RGB", (40, 30), (255, 0, 0)), Image.new("RGB", (40, 30), (0, 0, 255))
    return encode(red, "TIFF", save_all=True, append_images=[blue])


def _exif_rotated(orientation: int) -> bytes:
    """A 64x48 JPEG, dark top-left quadrant, with an EXIF orientation tag."""
    image = Image.new("RGB", (64, 48), (255, 255, 255))
    ImageDraw.Draw(image).rectangle([0, 0, 31, 23], fill=(0, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(image, "JPEG", exif=exif.tobytes(), quality=95)


def _sixteen_bit() -> bytes:
    ramp = np.tile(np.linspace(0, 65535, 64, dtype=np.uint16), (48, 1))
    return encode(Image.fromarray(ramp), "PNG")  # saved as a 16-bit greyscale PNG


def _int32() -> bytes:
    ramp = np.tile(np.linspace(0, 255, 64).astype(np.int32), (48, 1))
    return encode(Image.fromarray(ramp), "TIFF")  # mode "I"


def _float() -> bytes:
    ramp = np.tile(np.linspace(0.0, 1.0, 64, dtype=np.float32), (48, 1))
    return encode(Image.fromarray(ramp), "TIFF")


def _rgba_transparent() -> bytes:
    image = Image.new("RGBA", (64, 48), (0, 0, 0, 0))  # fully transparent black: must become white
    ImageDraw.Draw(image).rectangle([0, 0, 31, 47], fill=(0, 0, 255, 255))
    return encode(image, "PNG")


def _palette_transparent() -> bytes:
    image = Image.new("P", (64, 48), 0)
    image.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    ImageDraw.Draw(image).rectangle([0, 0, 31, 47], fill=1)
    return encode(image, "PNG", transparency=0)


def _cmyk_jpeg() -> bytes:
    image = Image.new("CMYK", (64, 48), (0, 0, 0, 0))  # white
    ImageDraw.Draw(image).rectangle([0, 0, 31, 47], fill=(0, 0, 0, 255))  # black left half
    return encode(image, "JPEG", quality=95)


def _la() -> bytes:
    image = Image.new("LA", (64, 48), (0, 0))
    ImageDraw.Draw(image).rectangle([0, 0, 31, 47], fill=(0, 255))
    return encode(image, "PNG")


WHITE, BLACK = (255, 255, 255), (0, 0, 0)
HALF = {(5, 24): BLACK, (58, 24): WHITE}


def good_cases() -> dict[str, GoodCase]:
    cases = {
        "png_rgb": GoodCase(encode(halves(), "PNG"), (64, 48), HALF),
        "png_rgba_transparent": GoodCase(_rgba_transparent(), (64, 48), {(5, 24): (0, 0, 255), (58, 24): WHITE}),
        "png_la": GoodCase(_la(), (64, 48), {(5, 24): BLACK, (58, 24): WHITE}),
        "png_palette": GoodCase(encode(halves().convert("P"), "PNG"), (64, 48), HALF),
        "png_palette_transparent": GoodCase(_palette_transparent(), (64, 48), {(5, 24): (255, 0, 0), (58, 24): WHITE}),
        "png_greyscale": GoodCase(encode(halves(mode="L", left=0, right=255), "PNG"), (64, 48), HALF),
        "png_bilevel": GoodCase(encode(halves(mode="1", left=0, right=1), "PNG"), (64, 48), HALF),
        "png_16bit": GoodCase(_sixteen_bit(), (64, 48), {(0, 10): BLACK, (63, 10): WHITE, (32, 10): (128, 128, 128)}),
        "tiff_int32": GoodCase(_int32(), (64, 48), {(0, 10): BLACK, (63, 10): WHITE}, suffix=".tif"),
        "tiff_float": GoodCase(_float(), (64, 48), {(0, 10): BLACK, (63, 10): WHITE}, suffix=".tif"),
        "tiff_multipage": GoodCase(_tiff_multipage(), (40, 30), {(5, 5): (255, 0, 0)}, suffix=".tiff"),
        "jpeg_rgb": GoodCase(encode(halves(), "JPEG", quality=95), (64, 48), HALF, suffix=".jpg"),
        "jpeg_cmyk": GoodCase(_cmyk_jpeg(), (64, 48), HALF, suffix=".jpg"),
        "jpeg_exif_rotate90": GoodCase(_exif_rotated(6), (48, 64), {(40, 5): BLACK, (5, 60): WHITE}, suffix=".jpg"),
        "jpeg_exif_mirror": GoodCase(_exif_rotated(2), (64, 48), {(60, 5): BLACK, (5, 5): WHITE}, suffix=".jpg"),
        "webp_lossy": GoodCase(encode(halves(), "WEBP", quality=95), (64, 48), HALF, suffix=".webp"),
        "webp_lossless_rgba": GoodCase(encode(Image.open(io.BytesIO(_rgba_transparent())), "WEBP", lossless=True),
                                       (64, 48), {(5, 24): (0, 0, 255), (58, 24): WHITE}, suffix=".webp"),
        "bmp": GoodCase(encode(halves(), "BMP"), (64, 48), HALF, suffix=".bmp"),
        "gif_animated_first_frame": GoodCase(_gif_animation(), (40, 30), {(5, 5): (255, 0, 0)}, suffix=".gif"),
        "apng_first_frame": GoodCase(_apng(), (40, 30), {(5, 5): (255, 0, 0)}, suffix=".png"),
        "one_pixel": GoodCase(encode(Image.new("RGB", (1, 1), (10, 200, 30)), "PNG"), (1, 1), {(0, 0): (10, 200, 30)}),
        "tall_strip": GoodCase(encode(Image.new("RGB", (1, 10000), (200, 10, 10)), "PNG"), (1, 10000), {(0, 9999): (200, 10, 10)}),
        "wide_strip": GoodCase(encode(Image.new("L", (10000, 1), 90), "PNG"), (10000, 1), {(9999, 0): (90, 90, 90)}),
        "ico": GoodCase(encode(halves((32, 32)), "ICO", sizes=[(32, 32)]), (32, 32), {(3, 16): BLACK, (28, 16): WHITE}, suffix=".ico"),
    }
    if features.check("avif"):
        cases["avif"] = GoodCase(encode(halves(), "AVIF", quality=90), (64, 48), HALF, suffix=".avif")
    return cases


# ---------------------------------------------------------------- bad inputs

BadMaker = Callable[[Path], "Path | bytes"]


def write_file(folder: Path, name: str | bytes, data: bytes) -> Path:
    if isinstance(name, bytes):
        path = Path(os.fsdecode(os.path.join(os.fsencode(folder), name)))
    else:
        path = folder / name
    path.write_bytes(data)
    return path


def _truncated(fmt: str) -> bytes:
    data = encode(noise((200, 150)), fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return data[: len(data) // 2]


MINIMAL_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)
MINIMAL_SVG = (
    b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
    b'<rect width="10" height="10" fill="red"/></svg>\n'
)
FAKE_HEIC = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(range(256)) * 4


def _sparse(folder: Path, name: str, size: int) -> Path:
    path = folder / name
    with open(path, "wb") as fh:
        fh.truncate(size)  # sparse: no disk used, no time spent
    return path


def bad_cases() -> dict[str, BadMaker]:
    """Each maker writes its input under ``folder`` and returns what to pass to load_image."""
    return {
        "missing_path": lambda d: d / "no-such-photo.png",
        "missing_folder": lambda d: d / "no-such-folder" / "photo.png",
        "directory": lambda d: (d / "a-folder.png").mkdir() or (d / "a-folder.png"),
        "zero_bytes_file": lambda d: write_file(d, "empty.png", b""),
        "zero_bytes_data": lambda d: b"",
        "over_size_cap": lambda d: _sparse(d, "huge.png", 101 * 1024 * 1024),
        "text_named_png": lambda d: write_file(d, "notes.png", b"Shopping list:\n- milk\n- bread\n" * 20),
        "random_bytes": lambda d: write_file(d, "noise.png", np.random.default_rng(1).bytes(5000)),
        "random_data": lambda d: np.random.default_rng(2).bytes(300),
        "pdf": lambda d: write_file(d, "letter.png", MINIMAL_PDF),
        "svg": lambda d: write_file(d, "logo.svg", MINIMAL_SVG),
        "html": lambda d: write_file(d, "page.jpg", b"<!DOCTYPE html><html><body>hi</body></html>"),
        "zip": lambda d: write_file(d, "photos.png", b"PK\x03\x04" + b"\x00" * 200),
        "heic_without_decoder": lambda d: write_file(d, "IMG_0001.HEIC", FAKE_HEIC),
        "truncated_png": lambda d: write_file(d, "cut.png", _truncated("PNG")),
        "truncated_jpeg": lambda d: write_file(d, "cut.jpg", _truncated("JPEG")),
        "png_header_only": lambda d: write_file(d, "stub.png", encode(Image.new("RGB", (50, 50)), "PNG")[:40]),
        "bomb_30000_square": lambda d: write_file(d, "bomb.png", png_claiming_size(30000, 30000)),
        "bomb_over_cap_under_pillow_limit": lambda d: png_claiming_size(12000, 10000),
        "non_utf8_name": lambda d: write_file(d, b"caf\xe9-\xff\xfe.png", b"not an image at all, just words"),
        "long_name": lambda d: d / ("x" * 300 + ".png"),
        "control_chars_name": lambda d: write_file(d, "bell\x07\x1b[31m.png", b"\x00\x01\x02garbage"),
    }


def good_photo_bytes() -> bytes:
    """A photo-like JPEG (noise + shapes) for tests that only need 'a real image'."""
    image = noise((320, 240), seed=3)
    ImageDraw.Draw(image).ellipse([60, 40, 260, 200], fill=(240, 200, 40))
    return encode(image, "JPEG", quality=85)


def write_test_video(path: Path, frames: int = 12, size: tuple[int, int] = (160, 120), fps: int = 10) -> Path:
    """A small MJPG AVI whose frame i has a solid colour (i*20, 255-i*20, 80): the camera stand-in."""
    import cv2

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    if not writer.isOpened():
        raise RuntimeError("cv2.VideoWriter could not open an MJPG writer")
    for i in range(frames):
        frame = np.zeros((size[1], size[0], 3), np.uint8)
        frame[:] = frame_colour(i)[::-1]  # BGR
        writer.write(frame)
    writer.release()
    return path


def frame_colour(i: int) -> tuple[int, int, int]:
    return (min(255, i * 20), max(0, 255 - i * 20), 80)
