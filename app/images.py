"""Load, validate and normalise images from a path or from bytes.

Everything a user can hand Iris (a file, a pasted image) comes through
:func:`load_image`, which either returns a plain RGB image of sane size or raises
:class:`app.errors.BadInputError` with one sentence a blind user can act on.
The checks run cheapest first (stat before read, header before decode) so a
100 GB file or a decompression bomb is refused without being read.
"""

from __future__ import annotations

import errno
import io
import os
import re
import stat
import warnings
from pathlib import Path
from typing import BinaryIO

from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import BadInputError

#: Largest file Iris will read, checked before reading.
MAX_FILE_BYTES = 100 * 1024 * 1024
#: Largest image (width x height) Iris will decode: a decompression-bomb guard.
MAX_PIXELS = 100_000_000

#: Formats Pillow may try. Deliberately excludes EPS/PDF-like formats whose
#: plugins shell out to other programs (Ghostscript), and exotic ones.
ALLOWED_FORMATS = (
    "PNG", "JPEG", "MPO", "WEBP", "GIF", "BMP", "DIB", "TIFF", "ICO", "PPM",
    "TGA", "AVIF", "HEIF", "JPEG2000", "PCX", "QOI",
)

# ISO-BMFF brands (bytes 8..12 after "ftyp") and what they are.
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}
_AVIF_BRANDS = {b"avif", b"avis"}
_VIDEO_BRANDS = {b"isom", b"iso2", b"mp41", b"mp42", b"qt  ", b"M4V ", b"3gp4", b"3gp5", b"dash"}

# Signatures of image formats Iris reads: such a file that fails to open is damaged.
_IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"II*\x00", b"MM\x00*")

_DAMAGED = (OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError, TypeError)


def printable_name(path: str | os.PathLike[str]) -> str:
    """A file's base name that can always be printed or spoken.

    Undecodable bytes (non-UTF-8 names on Linux arrive as surrogate escapes)
    become U+FFFD, control characters are dropped and long names are shortened
    in the middle, so an error message never crashes or floods the screen.
    """
    name = os.path.basename(os.fspath(path).rstrip("/\\")) or os.fspath(path)
    try:
        name = os.fsencode(name).decode("utf-8", "replace")
    except (UnicodeError, TypeError, ValueError):
        name = name.encode("utf-8", "replace").decode("utf-8", "replace")
    name = "".join(ch for ch in name if ch.isprintable()) or "the file"
    if len(name) > 60:
        name = name[:40] + "…" + name[-17:]
    return name


def load_image(source: str | os.PathLike[str] | bytes | bytearray | memoryview) -> Image.Image:
    """Return ``source`` as a fully loaded RGB image, upright per its EXIF tag.

    Raises BadInputError (one sentence) for anything that is not a usable image.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        if not data:
            raise BadInputError("The image data is empty: there is nothing in it.")
        if len(data) > MAX_FILE_BYTES:
            raise BadInputError(
                f"The image data is too large ({_megabytes(len(data))}); "
                f"the limit is {_megabytes(MAX_FILE_BYTES)}."
            )
        return _decode(data, "The data")
    if not isinstance(source, (str, os.PathLike)):
        raise BadInputError("Iris needs an image file or image data.")
    path = _local_path(source)
    data = _read_file(path)
    return _decode(data, printable_name(path))


# A scheme followed by ":/" (pathlib folds "https://" into "https:/").
_URL = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]{1,15}):/")
_WEB_SCHEMES = {"http", "https", "ftp", "ftps", "sftp", "smb", "webdav", "dav"}


def _local_path(source: str | os.PathLike[str]) -> Path:
    """The file ``source`` names; a ``file:`` URL becomes its path, a web address is refused.

    Iris never fetches anything from the network: a web address typed or
    pasted where a file was expected gets a sentence, not a download.
    """
    text = os.fspath(source)
    if isinstance(text, bytes):  # pragma: no cover - os.PathLike[bytes]
        text = os.fsdecode(text)
    match = _URL.match(text)
    if match is None or Path(text).exists():
        return Path(text)
    scheme = match.group("scheme").lower()
    if scheme == "file":
        from urllib.parse import unquote, urlsplit
        from urllib.request import url2pathname

        parts = urlsplit(text)
        if parts.netloc in ("", "localhost"):
            return Path(url2pathname(unquote(parts.path)))
    if scheme in _WEB_SCHEMES or scheme == "file":
        raise BadInputError(
            "That is a web address, not a file on this computer; Iris does not download pictures. "
            "Save the image first, then open the saved file."
        )
    return Path(text)


def _megabytes(n: int) -> str:
    return f"{n / (1024 * 1024):.0f} MB"


def _read_file(path: Path) -> bytes:
    """Read a file after checking it exists, is a regular file and is not too big."""
    name = printable_name(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise BadInputError(f"There is no file called {name}.") from None
    except NotADirectoryError:
        raise BadInputError(f"There is no file called {name}.") from None
    except PermissionError:
        raise BadInputError(f"Iris is not allowed to read {name}.") from None
    except OSError as exc:
        raise _os_error(exc, name) from None
    except ValueError:  # embedded NUL byte
        raise BadInputError("That file name is not valid.") from None
    if stat.S_ISDIR(info.st_mode):
        raise BadInputError(f"{name} is a folder, not an image.")
    if not stat.S_ISREG(info.st_mode):
        raise BadInputError(f"{name} is not an ordinary file, so Iris cannot read it as an image.")
    if info.st_size == 0:
        raise BadInputError(f"{name} is empty: the file has nothing in it.")
    if info.st_size > MAX_FILE_BYTES:
        raise BadInputError(
            f"{name} is too large ({_megabytes(info.st_size)}); the limit is {_megabytes(MAX_FILE_BYTES)}."
        )
    try:
        with _open_for_reading(path) as fh:
            data: bytes = fh.read(MAX_FILE_BYTES + 1)
    except PermissionError:
        raise BadInputError(f"Iris is not allowed to read {name}.") from None
    except OSError as exc:
        raise _os_error(exc, name) from None
    if not data:
        raise BadInputError(f"{name} is empty: the file has nothing in it.")
    if len(data) > MAX_FILE_BYTES:  # it grew while we looked
        raise BadInputError(f"{name} is too large; the limit is {_megabytes(MAX_FILE_BYTES)}.")
    return data


def _open_for_reading(path: Path) -> BinaryIO:
    """Open for binary reading (a seam so tests can simulate a permission error as root)."""
    return open(path, "rb")


def _os_error(exc: OSError, name: str) -> BadInputError:
    if exc.errno == errno.ENAMETOOLONG:
        return BadInputError("That file name is too long for this computer.")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return BadInputError(f"Iris is not allowed to read {name}.")
    if exc.errno == errno.ELOOP:
        return BadInputError(f"{name} is a link that points to itself, so it cannot be opened.")
    return BadInputError(f"{name} could not be read.", detail=repr(exc))


def _decode(data: bytes, name: str) -> Image.Image:
    """Identify, size-check, decode and normalise image bytes."""
    kind = _sniff(data)
    if kind == "heif" and not _register_heif():
        raise BadInputError(
            f"{name} is a HEIC photo, and this computer has no decoder for it; "
            "convert it to JPEG or PNG first."
        )
    try:
        with warnings.catch_warnings():
            # Iris applies its own pixel cap below; Pillow's warning would only leak to stderr.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image: Image.Image = Image.open(io.BytesIO(data), formats=_available_formats())
    except Image.DecompressionBombError:
        raise _too_many_pixels(name) from None
    except UnidentifiedImageError:
        raise _not_an_image(data, kind, name) from None
    except _DAMAGED as exc:
        raise BadInputError(f"{name} is damaged or incomplete, so it cannot be opened.", detail=repr(exc)) from None

    width, height = image.size
    if width < 1 or height < 1:
        raise BadInputError(f"{name} has no pixels in it.")
    if width * height > MAX_PIXELS:
        raise _too_many_pixels(name, width, height)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            image.load()
            image = _upright(image)
            rgb = to_rgb(image)
    except Image.DecompressionBombError:
        raise _too_many_pixels(name) from None
    except MemoryError:
        raise BadInputError(f"{name} is too big to open on this computer.") from None
    except BadInputError:
        raise
    except _DAMAGED as exc:
        raise BadInputError(f"{name} is damaged or incomplete, so it cannot be opened.", detail=repr(exc)) from None
    return rgb


def _available_formats() -> tuple[str, ...]:
    """The allowed formats this Pillow build can open (naming a missing one is a KeyError)."""
    Image.init()
    return tuple(f for f in ALLOWED_FORMATS if f in Image.OPEN)


def _too_many_pixels(name: str, width: int = 0, height: int = 0) -> BadInputError:
    size = f" ({width} by {height} pixels)" if width and height else ""
    return BadInputError(
        f"{name} is too big to open safely{size}; the limit is {MAX_PIXELS // 1_000_000} megapixels."
    )


def _upright(image: Image.Image) -> Image.Image:
    """Apply the EXIF orientation tag; a broken EXIF block is ignored, not fatal."""
    try:
        return ImageOps.exif_transpose(image) or image
    except Exception:  # noqa: BLE001 - a bad EXIF tag must not cost the user the picture
        return image


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB without losing the picture.

    Transparency is composited on white (what a viewer shows); 16-bit and
    32-bit greyscale are scaled into 0..255 instead of being clipped to white.
    """
    mode = image.mode
    if mode == "RGB":
        return image.copy() if getattr(image, "fp", None) else image
    if mode == "P":
        has_alpha = "transparency" in image.info or (image.palette is not None and image.palette.mode == "RGBA")
        image = image.convert("RGBA" if has_alpha else "RGB")
        mode = image.mode
        if mode == "RGB":
            return image
    if mode == "PA":
        image = image.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "RGBa", "LA", "La") or (mode in ("L", "RGB") and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if mode == "CMYK":
        return _cmyk_to_rgb(image)
    if mode.startswith("I;16") or mode in ("I", "F"):
        return _wide_grey_to_rgb(image)
    try:
        return image.convert("RGB")
    except ValueError as exc:
        raise BadInputError(
            "This image uses a colour format Iris cannot read.", detail=f"mode {mode}: {exc}"
        ) from None


def _cmyk_to_rgb(image: Image.Image) -> Image.Image:
    """CMYK -> RGB, through the embedded ICC profile when there is one."""
    profile = image.info.get("icc_profile")
    if profile:
        try:
            from PIL import ImageCms

            src = ImageCms.ImageCmsProfile(io.BytesIO(profile))
            dst = ImageCms.createProfile("sRGB")
            converted = ImageCms.profileToProfile(image, src, dst, outputMode="RGB")
            if converted is not None:
                return converted
        except Exception:  # noqa: BLE001 - fall back to Pillow's naive formula
            pass
    return image.convert("RGB")


def _wide_grey_to_rgb(image: Image.Image) -> Image.Image:
    """Scale 16/32-bit integer or float greyscale into 8 bits (never clip to white)."""
    import numpy as np

    arr = np.asarray(image)
    if arr.ndim != 2:
        arr = arr.reshape(image.size[1], image.size[0])
    arr = arr.astype(np.float64)
    arr = np.nan_to_num(arr, nan=0.0, posinf=0.0, neginf=0.0)
    if image.mode.startswith("I;16"):
        scaled = arr / 257.0
    else:
        lo, hi = float(arr.min()), float(arr.max())
        if image.mode == "F" and lo >= 0.0 and hi <= 1.0:
            scaled = arr * 255.0
        elif lo >= 0.0 and hi <= 255.0:
            scaled = arr
        elif lo >= 0.0 and hi <= 65535.0:
            scaled = arr / 257.0
        elif hi > lo:
            scaled = (arr - lo) * (255.0 / (hi - lo))
        else:
            scaled = np.zeros_like(arr)
    grey = np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
    return Image.fromarray(grey).convert("RGB")


def _sniff(data: bytes) -> str | None:
    """Name what the bytes are from their magic number, or None."""
    head = data[:64]
    if head.startswith(_IMAGE_MAGIC) or (head.startswith(b"RIFF") and head[8:12] == b"WEBP"):
        return "image"
    if head.startswith(b"%PDF"):
        return "pdf"
    if len(head) >= 12 and head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _HEIF_BRANDS:
            return "heif"
        if brand in _AVIF_BRANDS:
            return "avif"
        if brand in _VIDEO_BRANDS:
            return "video"
    if head.startswith((b"%!PS", b"\xc5\xd0\xd3\xc6")):
        return "postscript"
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video"
    if head.startswith(b"RIFF") and head[8:12] in (b"AVI ", b"WAVE"):
        return "video" if head[8:12] == b"AVI " else "audio"
    if head.startswith((b"ID3", b"OggS", b"fLaC")):
        return "audio"
    if head.startswith((b"\x7fELF", b"MZ")):
        return "program"
    text = _as_text(data[:4096])
    if text is not None:
        lowered = text.lstrip().lower()
        if "<svg" in lowered:
            return "svg"
        if lowered.startswith(("<!doctype html", "<html")):
            return "html"
        return "text"
    return None


def _as_text(chunk: bytes) -> str | None:
    """The chunk as text if it looks like text (UTF-8 and mostly printable)."""
    if b"\x00" in chunk:
        return None
    try:
        text = chunk.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(chunk) - 4:  # not just a character cut at the end
            return None
        text = chunk[: exc.start].decode("utf-8")
    if not text:
        return None
    printable = sum(ch.isprintable() or ch in "\r\n\t" for ch in text)
    return text if printable / len(text) > 0.95 else None


_KIND_SENTENCES = {
    "image": "{name} is damaged or incomplete, so it cannot be opened.",
    "pdf": "{name} is a PDF document, not an image.",
    "svg": "{name} is an SVG drawing, which Iris cannot open; export it as PNG first.",
    "postscript": "{name} is a PostScript document, not an image.",
    "zip": "{name} is a compressed archive or office document, not an image.",
    "gzip": "{name} is a compressed file, not an image.",
    "video": "{name} is a video, not an image.",
    "audio": "{name} is a sound file, not an image.",
    "program": "{name} is a program, not an image.",
    "html": "{name} is a web page, not an image.",
    "text": "{name} is a text file, not an image.",
    "heif": "{name} is a HEIC photo that could not be decoded; convert it to JPEG or PNG first.",
    "avif": "{name} is an AVIF picture, and this computer has no decoder for it; convert it to JPEG or PNG first.",
}


def _not_an_image(data: bytes, kind: str | None, name: str) -> BadInputError:
    template = _KIND_SENTENCES.get(kind or "", "{name} is not an image that Iris can read.")
    return BadInputError(template.format(name=name), detail=f"kind={kind} head={data[:16]!r}")


def _register_heif() -> bool:
    """Enable HEIC support if the optional pillow-heif package is installed."""
    try:
        import pillow_heif  # type: ignore[import-not-found]
    except ImportError:
        return False
    try:
        pillow_heif.register_heif_opener()
    except Exception:  # noqa: BLE001
        return False
    return True
