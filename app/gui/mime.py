"""What was dropped or pasted: image files, image data, a path as text, or something else.

Kept apart from the window so the rules (local files only, a path copied as
text counts, a web address does not) are in one small place.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from urllib.parse import unquote_to_bytes, urlsplit

from PIL import Image
from PySide6.QtCore import QBuffer, QIODevice, QMimeData, QUrl
from PySide6.QtGui import QImage

from ..errors import BadInputError


def could_be_image(mime: QMimeData | None) -> bool:
    """Accept the drag if it might be usable; the drop then says in words if it is not."""
    return mime is not None and (mime.hasUrls() or mime.hasImage() or mime.hasText())


def has_image_payload(mime: QMimeData | None) -> bool:
    """Image data or at least one local file (what the question box hands to the window)."""
    if mime is None:
        return False
    if mime.hasImage():
        return True
    return mime.hasUrls() and any(u.isLocalFile() for u in mime.urls())


def local_files(mime: QMimeData) -> tuple[list[str], int]:
    """(local file paths, number of other URLs) in ``mime``."""
    urls = mime.urls() if mime.hasUrls() else []
    files = [path for path in (local_path(u) for u in urls if u.isLocalFile()) if path]
    return files, len(urls) - len(files)


def local_path(url: QUrl) -> str:
    """The file a file:// URL names, keeping a name whose bytes are not UTF-8.

    ``QUrl.toLocalFile()`` decodes the percent-encoded name as UTF-8 and turns
    any other byte into U+FFFD, so such a file would be "not found". On POSIX
    the bytes are decoded the way the file system does (``os.fsdecode``).
    """
    if sys.platform == "win32":
        return url.toLocalFile()
    encoded = bytes(url.toEncoded().data()).decode("ascii", "replace")
    path = urlsplit(encoded).path
    return os.fsdecode(unquote_to_bytes(path)) if path else ""


def paths_in_text(text: str) -> list[str]:
    """Existing files named in text (one per line, plain paths or file:// URLs), else []."""
    found: list[str] = []
    for line in (text or "").strip().splitlines():
        line = line.strip().strip('"').strip("'")
        if not line:
            continue
        if line.startswith("file:"):
            line = local_path(QUrl(line))
        path = Path(line).expanduser()
        if not path.is_file():
            return []
        found.append(str(path))
    return found


def image_from_mime(mime: QMimeData) -> Image.Image:
    """The image data in ``mime`` as a checked RGB image; raises BadInputError."""
    qimage = mime.imageData()
    if not isinstance(qimage, QImage) or qimage.isNull():
        raise BadInputError("The image could not be read.")
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    qimage.save(buffer, "PNG")  # type: ignore[call-overload]  # the stubs say bytes; PySide6 wants str
    from ..images import load_image

    return load_image(bytes(buffer.data().data()))
