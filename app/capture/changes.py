"""What changed since the last picture of the same screen or window (kept in memory only).

The comparison runs in Pillow's C loops on a copy reduced to cells of
``CELL`` pixels: a cell changed when any of its pixels differs by more than
``DELTA`` in some channel (the reduction takes the maximum, so one changed
pixel is enough). Changed cells are grouped into 8-connected areas; the
largest area (a dialog that appeared, a new message) is what gets described,
and the others are counted, so a clock ticking in a corner does not swallow a
new window on the other side of the screen.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from PIL import Image, ImageChops

from ..a11y.base import Rect

#: A channel difference above this counts (JPEG-free screenshots differ by 0 where nothing changed).
DELTA = 24
#: Cell size of the change map, in pixels.
CELL = 8
#: Pixels added around the changed area so its edge is visible to the model.
MARGIN = 8


@dataclass
class Change:
    """The outcome of one comparison."""

    first: bool  # no earlier picture of this source: nothing to compare with
    changed: bool
    box: Rect | None = None  # the main changed area, in the picture's pixels (with a margin)
    areas: list[Rect] = field(default_factory=list)  # every changed area, largest first
    resized: bool = False  # the window or screen changed size: the whole picture is new


def compare(before: Image.Image, after: Image.Image) -> Change:
    """Compare two pictures of the same source."""
    if before.size != after.size:
        whole = Rect(0, 0, after.width, after.height)
        return Change(False, True, whole, [whole], resized=True)
    diff = ImageChops.difference(before.convert("RGB"), after.convert("RGB"))
    if diff.getbbox() is None:
        return Change(False, False)
    r, g, b = diff.split()
    strongest = ImageChops.lighter(ImageChops.lighter(r, g), b)
    mask = strongest.point(lambda v: 255 if v > DELTA else 0)
    if mask.getbbox() is None:
        return Change(False, False)
    cells = _max_reduce(mask, CELL)
    areas = [_to_pixels(a, after.size) for a in _components(cells)]
    areas.sort(key=lambda r: r.width * r.height, reverse=True)
    whole = Rect(0, 0, after.width, after.height)
    main = areas[0].grown(MARGIN).clipped(whole)
    return Change(False, True, main, areas)


def _max_reduce(mask: Image.Image, cell: int) -> Image.Image:
    """Each CELL x CELL block -> 255 when any pixel in it is set (a max-pool, in C)."""
    width, height = -(-mask.width // cell), -(-mask.height // cell)
    padded = Image.new("L", (width * cell, height * cell), 0)
    padded.paste(mask, (0, 0))
    # The box-average of a block is > 0 exactly when one of its pixels is set.
    return padded.reduce(cell).point(lambda v: 255 if v > 0 else 0)


def _components(cells: Image.Image) -> list[tuple[int, int, int, int]]:
    """8-connected groups of set cells as (left, top, right, bottom) in cell units."""
    width, height = cells.size
    data = cells.tobytes()
    seen = bytearray(width * height)
    boxes = []
    for start in range(width * height):
        if not data[start] or seen[start]:
            continue
        seen[start] = 1
        stack = [start]
        left, top, right, bottom = width, height, -1, -1
        while stack:
            index = stack.pop()
            y, x = divmod(index, width)
            left, top, right, bottom = min(left, x), min(top, y), max(right, x), max(bottom, y)
            for dy in (-1, 0, 1):
                ny = y + dy
                if not 0 <= ny < height:
                    continue
                for dx in (-1, 0, 1):
                    nx = x + dx
                    if 0 <= nx < width:
                        other = ny * width + nx
                        if data[other] and not seen[other]:
                            seen[other] = 1
                            stack.append(other)
        boxes.append((left, top, right + 1, bottom + 1))
    return boxes


def _to_pixels(box: tuple[int, int, int, int], size: tuple[int, int]) -> Rect:
    left, top, right, bottom = (v * CELL for v in box)
    right, bottom = min(right, size[0]), min(bottom, size[1])
    return Rect(left, top, right - left, bottom - top)


class ChangeTracker:
    """The last picture of each source ("screen", "window", "monitor 2"), in memory only."""

    def __init__(self) -> None:
        self._last: dict[str, Image.Image] = {}
        self.last_key: str | None = None

    def remember(self, key: str, image: Image.Image) -> None:
        self._last[key] = image
        self.last_key = key

    def check(self, key: str, image: Image.Image) -> Change:
        """Compare ``image`` with the last picture of ``key``, then keep ``image`` as the new last one."""
        before = self._last.get(key)
        self.remember(key, image)
        if before is None:
            return Change(True, True)
        return compare(before, image)

    def forget(self) -> None:
        self._last.clear()
        self.last_key = None
