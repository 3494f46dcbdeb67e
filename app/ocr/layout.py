"""Reading order: from loose word boxes to the lines a person reads, top to bottom, left to right.

Boxes (words or phrases, from any engine) are grouped into lines by vertical
overlap and read left to right. Where the page splits into side-by-side blocks
whose lines do not line up (a sidebar, two columns), each block is read top to
bottom in turn; aligned rows (tables, "label   value" forms) stay row by row.
A box much taller than the text around it (an icon read as a letter, a big
glyph) never glues two lines into one.
"""

from __future__ import annotations

from statistics import median
from typing import Callable

from .base import TextBox

#: A box this many times the typical text height spans lines: it is not used to join them.
TALL = 1.7


def group_lines(boxes: list[TextBox]) -> list[list[TextBox]]:
    """Boxes that overlap vertically (by half the smaller height) form a line, read left to right."""
    if not boxes:
        return []
    typical = median(b.height for b in boxes)
    normal = [b for b in boxes if b.height <= TALL * typical]
    tall = [b for b in boxes if b.height > TALL * typical]
    lines: list[list[TextBox]] = []
    spans: list[tuple[float, float]] = []
    for box in sorted(normal, key=lambda b: (b.top + b.bottom) / 2):
        for i, (top, bottom) in enumerate(spans):
            overlap = min(bottom, box.bottom) - max(top, box.top)
            if overlap >= 0.5 * min(bottom - top, box.height):
                lines[i].append(box)
                spans[i] = (min(top, box.top), max(bottom, box.bottom))
                break
        else:
            lines.append([box])
            spans.append((box.top, box.bottom))
    for box in tall:  # beside exactly one line: part of it; across several (or none): a line of its own
        hits = [i for i, (top, bottom) in enumerate(spans) if min(bottom, box.bottom) - max(top, box.top) > 0]
        if len(hits) == 1:
            lines[hits[0]].append(box)
        else:
            lines.append([box])
            spans.append((box.top, box.bottom))
    order = sorted(range(len(lines)), key=lambda i: (spans[i][0] + spans[i][1]) / 2)
    return [sorted(lines[i], key=lambda b: b.left) for i in order]


def keep_words(boxes: list[TextBox], min_score: float = 0.5) -> list[TextBox]:
    """Drop what an icon or a line of a border was misread as, keep doubtful words inside real text.

    A doubtful word (low score, or one or two letters that are not quite sure)
    stays when a sure word sits right beside it on its line: "total_price"
    read at low confidence in a line of code is text, a lone "f" beside a
    warning icon is not. Marks without a letter or digit ("%", "-") are doubtful unless very sure.
    """
    boxes = [b for b in boxes if b.text]

    def sure(box: TextBox) -> bool:
        if not any(ch.isalnum() for ch in box.text):
            return box.score >= 0.9
        short = len(box.text) <= 2 and not box.text.isdigit()  # a table's "2" is sure; a lone "f" is not
        return box.score >= (0.7 if short else min_score)

    kept = [b for b in boxes if sure(b)]
    doubtful = [b for b in boxes if not sure(b)]
    for _ in range(3):  # a doubtful word beside a kept doubtful word ("total" "_price(items,")
        added = [b for b in doubtful if any(_beside(b, k) for k in kept)]
        if not added:
            break
        kept += added
        doubtful = [b for b in doubtful if b not in added]
    return kept


def _beside(a: TextBox, b: TextBox) -> bool:
    height = max(a.height, b.height)
    same_line = abs((a.top + a.bottom) - (b.top + b.bottom)) / 2 <= 0.5 * min(a.height, b.height)
    gap = max(b.left - a.right, a.left - b.right)
    return same_line and gap <= 2.0 * height and 1 / 3 <= a.height / b.height <= 3.0


def join_line(line: list[TextBox]) -> str:
    """The words of one visual line, one space between boxes.

    A lone closing mark read as its own word (":" after "10") that touches the
    word before it is joined to it, as it is drawn.
    """
    parts: list[str] = []
    previous: TextBox | None = None
    for box in line:
        touching = previous is not None and box.left - previous.right < 0.3 * max(box.height, previous.height)
        if parts and touching and box.text[0] in ",.;:!?)" and not any(ch.isalnum() for ch in box.text):
            parts[-1] += box.text
        else:
            parts.append(box.text)
        previous = box
    return " ".join(parts)


def reading_order(boxes: list[TextBox]) -> list[list[TextBox]]:
    """Lines in reading order, splitting side-by-side blocks (XY-cut) when their rows do not align."""
    if not boxes:
        return []
    unit = median(b.height for b in boxes)
    return _cut(boxes, unit, depth=0)


def _cut(boxes: list[TextBox], unit: float, depth: int) -> list[list[TextBox]]:
    if depth > 12 or len(boxes) < 4:
        return group_lines(boxes)
    # Side-by-side blocks at a wide empty gutter are read one after the other,
    # unless their rows line up (then it is a table or a form: read row by row).
    blocks = _columns(boxes, unit)
    if blocks:
        return [line for block in blocks for line in _cut(block, unit, depth + 1)]
    # Otherwise split at a blank row (at least a line high) and read top to bottom:
    # preferably where that frees columns (a heading over them, a footer under them).
    ordered = sorted(boxes, key=lambda b: b.top)
    cuts = _gaps(ordered, lambda b: (b.top, b.bottom), min_gap=1.0 * unit)
    if not cuts:
        return group_lines(boxes)
    at = next((i for i in cuts if _columns(ordered[:i], unit) or _columns(ordered[i:], unit)), cuts[0])
    return _cut(ordered[:at], unit, depth + 1) + _cut(ordered[at:], unit, depth + 1)


def _columns(boxes: list[TextBox], unit: float) -> list[list[TextBox]] | None:
    """Left and right of the widest gutter (over two line-heights) whose rows do not align.

    A form's "label   value" gutter may be wider than the one between a sidebar
    and the page: the aligned one is skipped, the next widest tried.
    """
    if len(boxes) < 4:
        return None
    ordered = sorted(boxes, key=lambda b: b.left)
    cuts = _gaps(ordered, lambda b: (b.left, b.right), min_gap=2.0 * unit)
    reach = {i: ordered[i].left - max(b.right for b in ordered[:i]) for i in cuts}
    for at in sorted(cuts, key=lambda i: -reach[i]):
        blocks = [ordered[:at], ordered[at:]]
        if not _rows_align(blocks):
            return blocks
    return None


def _gaps(ordered: list[TextBox], span: Callable[[TextBox], tuple[float, float]], min_gap: float) -> list[int]:
    """Indices i where everything before i ends more than ``min_gap`` before ``ordered[i]`` starts."""
    cuts = []
    reach = span(ordered[0])[1]
    for i, box in enumerate(ordered[1:], start=1):
        start, end = span(box)
        if start - reach > min_gap:
            cuts.append(i)
        reach = max(reach, end)
    return cuts


def _rows_align(blocks: list[list[TextBox]]) -> bool:
    """True when nearly every line of the shorter block sits on a row of the other (a table or a form)."""
    left, right = (group_lines(block) for block in blocks)
    if len(left) < 2 or len(right) < 2:
        return True  # a label beside a value, not two columns
    bands = [[_band(line) for line in side] for side in (left, right)]
    matched = sum(any(_same_row(a, b) for b in bands[1]) for a in bands[0])
    return matched >= 0.8 * min(len(left), len(right))


def _band(line: list[TextBox]) -> tuple[float, float]:
    return min(b.top for b in line), max(b.bottom for b in line)


def _same_row(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """On the same row: the centres are within a third of the smaller height."""
    smaller = min(a[1] - a[0], b[1] - b[0])
    return abs((a[0] + a[1]) - (b[0] + b[1])) / 2 <= max(2.0, smaller / 3)
