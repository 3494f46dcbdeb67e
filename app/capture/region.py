"""Parts of a picture: ``--region X,Y,W,H`` on the command line and the 3x3 zoom grid in the app."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from PIL import Image

from ..a11y.base import Rect
from ..errors import BadInputError


def parse_region(text: str, desktop: Rect | Callable[[], Rect] | None = None) -> Rect:
    """``"X,Y,W,H"`` in screen pixels -> Rect; BadInputError (exit 2) with one plain sentence otherwise.

    With ``desktop`` (the virtual desktop, or a function giving it, asked only once the text is
    well formed), a region that is not wholly on the screen is refused too; without it, only
    negative positions are (on several monitors they can be real).
    """
    parts = [p.strip() for p in (text or "").replace(" ", "").split(",")]
    if len(parts) != 4 or not all(_is_int(p) for p in parts):
        raise BadInputError(f"The region {text!r} must be four whole numbers: X,Y,WIDTH,HEIGHT, for example 0,0,800,600.")
    x, y, width, height = (int(p) for p in parts)
    if width <= 0 or height <= 0:
        raise BadInputError(f"The region {text!r} must have a width and a height larger than zero.")
    rect = Rect(x, y, width, height)
    if callable(desktop):
        desktop = desktop()
    if desktop is not None:
        if x < desktop.x or y < desktop.y or rect.right > desktop.right or rect.bottom > desktop.bottom:
            raise BadInputError(
                f"The region {text!r} is not wholly on the screen, which covers {desktop.width} by "
                f"{desktop.height} pixels from {desktop.x},{desktop.y}."
            )
    elif x < 0 or y < 0:
        raise BadInputError(f"The region {text!r} must not start at a negative position.")
    return rect


def _is_int(text: str) -> bool:
    return text.lstrip("+-").isdigit()


#: The 3x3 grid, row by row: (name, column, row). Number-pad layout: 7 is top left, 5 centre, 3 bottom right.
GRID: tuple[tuple[str, int, int], ...] = (
    ("top left", 0, 0), ("top", 1, 0), ("top right", 2, 0),
    ("left", 0, 1), ("centre", 1, 1), ("right", 2, 1),
    ("bottom left", 0, 2), ("bottom", 1, 2), ("bottom right", 2, 2),
)
PART_NAMES = tuple(name for name, _c, _r in GRID)


@dataclass(frozen=True)
class Zoom:
    """One zoom step: which part, its box in the full picture, and how to say it."""

    part: str
    box: Rect  # in the pixels of the picture the zoom started from (the whole capture)

    def crop(self, image: Image.Image) -> Image.Image:
        return image.crop((self.box.x, self.box.y, self.box.right, self.box.bottom))


def zoom_box(within: Rect, part: str) -> Rect:
    """The ``part`` ("top right", ...) of ``within`` as one ninth of it (edges take the remainder)."""
    for name, column, row in GRID:
        if name == part:
            xs = [within.x + within.width * i // 3 for i in range(4)]
            ys = [within.y + within.height * i // 3 for i in range(4)]
            return Rect(xs[column], ys[row], xs[column + 1] - xs[column], ys[row + 1] - ys[row])
    raise ValueError(f"unknown part {part!r}")


def describe_path(parts: list[str]) -> str:
    """['top right', 'centre'] -> 'the centre of the top right part'."""
    if not parts:
        return "the whole picture"
    words = f"the {parts[0]} part"
    for part in parts[1:]:
        words = f"the {part} of {words}"
    return words
