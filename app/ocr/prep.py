"""Make a screenshot easy for a document OCR engine: dark text on white everywhere, no frames, big enough.

Screens mix light text on dark bars (a blue toolbar, a dark editor, a white
"Pay now" on a coloured button) with dark text on light pages, and draw grid
lines and frames round text. Document engines such as tesseract expect dark
text on a white page and skip text boxed in by lines, so:

* the background brightness is estimated on a grid of small blocks (a block
  whose pixels are all alike is background; blocks with text take their
  neighbours' value), and every wide dark area (a bar, a button; not the
  inside of a bold letter) is inverted;
* every background is stretched to white, so a grey bar does not turn black
  when the engine binarises the page;
* straight runs of ink longer than any letter (grid lines, separators,
  frames), checkerboard stipples and the edges of inverted areas are whitened;
* the picture is enlarged, since screen text (9-16 px) is small for OCR.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

#: A background darker than this (0-255) holds light text: it is inverted.
DARK_BACKGROUND = 120
#: After normalising, anything darker than this is ink (or a rule, a grid line, a frame).
INK = 235
#: Straight runs of ink this long are rules and grid lines, not letters.
RULE = 48
#: Background blocks are CELL x CELL pixels.
CELL = 3


def normalise(image: Image.Image, scale: float) -> Image.Image:
    """Greyscale, dark text on white in every region, without rules, enlarged ``scale`` times."""
    gray = image.convert("L")
    pixels = np.asarray(gray, dtype=np.uint8)
    blocks = _background_blocks(pixels)
    darkish = blocks < DARK_BACKGROUND
    dark_blocks = _wide(darkish, run=24 // CELL, reach=12 // CELL)
    # Dark but narrow "background" is the inside of a bold letter: the page around it is light.
    blocks = np.where(darkish & ~dark_blocks, 255, blocks).astype(np.uint8)
    blocks = np.where(dark_blocks, 255 - blocks, blocks).astype(np.uint8)
    background = _full_size(blocks, pixels.shape)
    work = pixels.astype(np.float32)
    if dark_blocks.any():
        dark = _full_size(dark_blocks, pixels.shape)
        work = np.where(dark, 255.0 - work, work)
    work *= 255.0 / np.maximum(background, 1).astype(np.float32)
    np.clip(work, 0, 255, out=work)
    if dark_blocks.any():
        # The edge of an inverted bar or button would draw a frame round its text.
        work[_edge(dark)] = 255.0
    work[_long_runs(work < INK)] = 255.0
    work[_checkered(work < INK)] = 255.0
    work[_thin_uprights(work < INK)] = 255.0
    out = Image.fromarray(work.astype(np.uint8), mode="L")
    if scale != 1:
        out = out.resize((round(out.width * scale), round(out.height * scale)), Image.Resampling.BICUBIC)
    return out


def _background_blocks(pixels: np.ndarray, flat: int = 24, steps: int = 12) -> np.ndarray:
    """The background brightness of each CELL x CELL block.

    A block whose pixels are all within ``flat`` levels holds no text: its
    mean is background. Blocks with text take the mean of their flat
    neighbours, spreading a block per step, so a thin status bar keeps its
    own colour (a median window would not).
    """
    height, width = pixels.shape
    rows, cols = max(1, height // CELL), max(1, width // CELL)
    if height < CELL or width < CELL:
        return np.full((rows, cols), 255, dtype=np.uint8)
    cells = pixels[: rows * CELL, : cols * CELL].reshape(rows, CELL, cols, CELL)
    low, high = cells.min(axis=(1, 3)), cells.max(axis=(1, 3))
    value = cells.mean(axis=(1, 3), dtype=np.float32)
    known = (high.astype(np.int16) - low) <= flat
    value = np.where(known, value, 0.0).astype(np.float32)
    for _ in range(steps):
        if known.all():
            break
        total = np.zeros_like(value)
        count = np.zeros_like(value)
        for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
            total += _shift(value, dy, dx)
            count += _shift(known.astype(np.float32), dy, dx)
        fill = ~known & (count > 0)
        value = np.where(fill, total / np.maximum(count, 1), value)
        known = known | fill
    if not known.all():
        value = np.where(known, value, float(np.median(pixels)))
    return value.astype(np.uint8)


def _full_size(blocks: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Block values spread back over pixels (the ragged right and bottom edges repeat the last block)."""
    height, width = shape[0], shape[1]
    rows = np.minimum(np.arange(height) // CELL, blocks.shape[0] - 1)
    cols = np.minimum(np.arange(width) // CELL, blocks.shape[1] - 1)
    return np.asarray(blocks[rows[:, None], cols[None, :]], dtype=blocks.dtype)


def _wide(dark: np.ndarray, run: int, reach: int) -> np.ndarray:
    """Dark areas with a stretch at least ``run`` wide within ``reach`` above or below.

    That is a dark background (a bar, a button: its text rows are broken up by
    letters, the rows above and below are not); the inside of a bold letter
    is not.
    """
    if not dark.any():
        return dark
    core = _row_runs(dark, run)
    # Grow the cores ``reach`` up and down and across the dark area's row.
    counts = np.cumsum(np.pad(core.astype(np.int32), ((reach + 1, reach), (0, 0))), axis=0)
    near = (counts[2 * reach + 1 :] - counts[: -2 * reach - 1]) > 0
    grown = near & dark
    # Keep whole dark runs of a row that touch a grown core.
    return _runs_touching(dark, grown)


def _runs_touching(mask: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """Horizontal runs of ``mask`` that contain at least one ``seeds`` pixel."""
    flat, starts, ends = _runs(mask)
    if not len(starts):
        return np.zeros_like(mask)
    seeded = np.cumsum(np.r_[0, seeds.ravel().astype(np.int32)])
    keep = (seeded[ends] - seeded[starts]) > 0
    return _paint(mask.shape, starts[keep], ends[keep])


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Start and end (exclusive) offsets, in the flattened array, of each row's runs of True."""
    height, width = mask.shape
    padded = np.zeros((height, width + 2), dtype=np.int8)
    padded[:, 1:-1] = mask
    change = np.diff(padded, axis=1)  # +1 where a run starts, -1 just after it ends
    row_starts = np.flatnonzero(change == 1)
    row_ends = np.flatnonzero(change == -1)
    # Offsets in the (height, width + 1) diff grid -> offsets in the (height, width) grid.
    rows_s, cols_s = np.divmod(row_starts, width + 1)
    rows_e, cols_e = np.divmod(row_ends, width + 1)
    return mask, rows_s * width + cols_s, rows_e * width + cols_e


def _paint(shape: tuple[int, ...], starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """A mask with the flattened ranges [start, end) set."""
    delta = np.zeros(shape[0] * shape[1] + 1, dtype=np.int32)
    np.add.at(delta, starts, 1)
    np.add.at(delta, ends, -1)
    return (np.cumsum(delta[:-1]) > 0).reshape(shape)


def _row_runs(mask: np.ndarray, run: int) -> np.ndarray:
    """Pixels of ``mask`` inside a horizontal run of at least ``run`` pixels."""
    _, starts, ends = _runs(mask)
    long = (ends - starts) >= run
    return _paint(mask.shape, starts[long], ends[long])


def _long_runs(ink: np.ndarray, run: int = RULE) -> np.ndarray:
    """Ink in a straight horizontal or vertical run of at least ``run`` px: table grids, separators, frames.

    A document engine takes a grid cell holding one digit for a picture and
    drops it; letters never draw such long straight runs at screen sizes.
    """
    return np.asarray(_row_runs(ink, run) | _row_runs(np.ascontiguousarray(ink.T), run).T, dtype=bool)


#: A hairline (at most 2 px wide) this tall is a field's or a frame's side, not a letter.
UPRIGHT = 20


def _thin_uprights(ink: np.ndarray) -> np.ndarray:
    """Hairline vertical strokes taller than screen text: the sides of text fields and frames.

    A side a pixel or two from the first letter ("|Hello") glues to it and
    hides it; letters that tall (headings) have thicker strokes.
    """
    thin = ink & ~_row_runs(ink, 3)
    return np.asarray(_row_runs(np.ascontiguousarray(thin.T), UPRIGHT).T, dtype=bool)


def _checkered(ink: np.ndarray) -> np.ndarray:
    """Ink pixels of a checkerboard stipple (a grip, a hatched icon): no ink beside them, ink at two corners.

    Glued to the first letter of a word, such a pattern makes the letter unreadable;
    no letter is drawn like that (an i's dot has no ink at its corners).
    """
    sides = _shift(ink, 1, 0) | _shift(ink, -1, 0) | _shift(ink, 0, 1) | _shift(ink, 0, -1)
    corners = (_shift(ink, 1, 1).astype(np.int8) + _shift(ink, 1, -1) + _shift(ink, -1, 1) + _shift(ink, -1, -1))
    return np.asarray(ink & ~sides & (corners >= 2), dtype=bool)


def _edge(mask: np.ndarray, width: int = 2) -> np.ndarray:
    """Pixels within ``width`` px of where ``mask`` changes."""
    edge = np.zeros_like(mask)
    for d in range(1, width + 1):
        for dy, dx in ((d, 0), (-d, 0), (0, d), (0, -d)):
            edge |= _shift(mask, dy, dx) != mask
    return edge


def _shift(array: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """``array`` moved by (dy, dx), zeros coming in."""
    out = np.zeros_like(array)
    h, w = array.shape
    out[max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = array[
        max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)
    ]
    return out
