"""Read the text in an image, in reading order, with rapidocr (PP-OCR on onnxruntime).

This is Iris's fallback when no vision model is available and the engine of
"read the text" commands. The OCR weights ship inside the rapidocr wheel, so
it works offline. The engine loads on first use (about a second) and is shared
between threads behind a lock.

Reading order: detected boxes are grouped into lines by vertical overlap and
read left to right; where the page splits into side-by-side blocks whose lines
do not line up (two columns, a sidebar), each block is read top to bottom in
turn. Aligned rows (tables, "label   value" forms) stay row by row.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from statistics import median
from typing import Any

from PIL import Image

from .errors import InternalError, ModelMissingError


@dataclass(frozen=True)
class TextBox:
    """One recognised piece of text and its axis-aligned box in image pixels."""

    text: str
    score: float
    left: float
    top: float
    right: float
    bottom: float

    @property
    def height(self) -> float:
        return max(1.0, self.bottom - self.top)


class TextReader:
    """``read_lines(image)`` -> the text lines in reading order (lazy, thread-safe)."""

    def __init__(self, min_score: float = 0.6, threads: int | None = None):
        self.min_score = min_score
        self.threads = threads
        self._engine: Any = None
        self._lock = threading.Lock()
        #: Seconds the last read took (load time excluded).
        self.last_seconds: float = 0.0

    @property
    def is_loaded(self) -> bool:
        return self._engine is not None

    def load(self) -> None:
        """Load the OCR engine now (otherwise the first read does it)."""
        with self._lock:
            self._load_locked()

    def _load_locked(self) -> None:
        if self._engine is not None:
            return
        from .netguard import disable_library_telemetry

        disable_library_telemetry()  # onnxruntime would otherwise send usage telemetry
        try:
            from rapidocr_onnxruntime import RapidOCR
        except ImportError as exc:
            raise ModelMissingError(
                "Text reading is not installed: the rapidocr-onnxruntime package is missing.",
                detail=repr(exc),
            ) from None
        kwargs: dict[str, Any] = {}
        if self.threads:
            kwargs["intra_op_num_threads"] = int(self.threads)
        try:
            self._engine = RapidOCR(**kwargs)
        except Exception as exc:  # noqa: BLE001 - missing/corrupt .onnx files, bad runtime
            raise ModelMissingError(
                "The text reader's model files are missing or damaged; reinstall rapidocr-onnxruntime.",
                detail=repr(exc),
            ) from None

    def read_boxes(self, image: Image.Image) -> list[TextBox]:
        """Every confident piece of text with its box, in no particular order."""
        if image.mode != "RGB":
            image = image.convert("RGB")
        with self._lock:
            self._load_locked()
            start = time.perf_counter()
            try:
                result, _elapsed = self._engine(image)
            except Exception as exc:  # noqa: BLE001 - onnxruntime/cv2 failures
                raise InternalError("Iris could not read the text in the picture.", detail=repr(exc)) from None
            finally:
                self.last_seconds = time.perf_counter() - start
        boxes = []
        for item in result or []:
            try:
                points, text, score = item[0], str(item[1]), float(item[2])
            except (IndexError, TypeError, ValueError):
                continue
            text = " ".join(text.split())
            if not text or _is_junk(text, score, self.min_score):
                continue
            xs = [float(p[0]) for p in points]
            ys = [float(p[1]) for p in points]
            boxes.append(TextBox(text, score, min(xs), min(ys), max(xs), max(ys)))
        return boxes

    def read_lines(self, image: Image.Image) -> list[str]:
        """The text of ``image`` as lines in reading order; [] when there is none."""
        return [" ".join(box.text for box in line) for line in reading_order(self.read_boxes(image))]

    def read_text(self, image: Image.Image) -> str:
        return "\n".join(self.read_lines(image))


def _is_junk(text: str, score: float, min_score: float) -> bool:
    """Low confidence, or a lone mark (an icon read as "|" or "-") that is not certain."""
    if score < min_score:
        return True
    has_word = any(ch.isalnum() for ch in text)
    return not has_word and score < 0.9


# ------------------------------------------------------------ reading order


def group_lines(boxes: list[TextBox]) -> list[list[TextBox]]:
    """Boxes that overlap vertically (by half the smaller height) form a line, read left to right."""
    lines: list[list[TextBox]] = []
    spans: list[tuple[float, float]] = []
    for box in sorted(boxes, key=lambda b: (b.top + b.bottom) / 2):
        for i, (top, bottom) in enumerate(spans):
            overlap = min(bottom, box.bottom) - max(top, box.top)
            smaller = min(bottom - top, box.height)
            if overlap >= 0.5 * smaller:
                lines[i].append(box)
                spans[i] = (min(top, box.top), max(bottom, box.bottom))
                break
        else:
            lines.append([box])
            spans.append((box.top, box.bottom))
    order = sorted(range(len(lines)), key=lambda i: spans[i][0])
    return [sorted(lines[i], key=lambda b: b.left) for i in order]


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
    """Left and right of the widest gutter (over two line-heights), if the rows there do not align."""
    if len(boxes) < 4:
        return None
    ordered = sorted(boxes, key=lambda b: b.left)
    cuts = _gaps(ordered, lambda b: (b.left, b.right), min_gap=2.0 * unit)
    if not cuts:
        return None
    widest = max(cuts, key=lambda i: ordered[i].left - max(b.right for b in ordered[:i]))
    blocks = [ordered[:widest], ordered[widest:]]
    return None if _rows_align(blocks) else blocks


def _gaps(ordered: list[TextBox], span, min_gap: float) -> list[int]:
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
    """True when nearly every line of one block sits on a row of the next (a table or a form)."""
    for left, right in zip(blocks, blocks[1:]):
        left_lines, right_lines = group_lines(left), group_lines(right)
        if len(left_lines) < 2 or len(right_lines) < 2:
            return True  # a label beside a value, not two columns
        matched = sum(any(_same_row(a[0], b[0]) for b in right_lines) for a in left_lines)
        if matched >= 0.8 * min(len(left_lines), len(right_lines)):
            return True
    return False


def _same_row(a: TextBox, b: TextBox) -> bool:
    """Tightly on the same row: most of the smaller box's height is shared."""
    overlap = min(a.bottom, b.bottom) - max(a.top, b.top)
    return overlap >= 0.8 * min(a.height, b.height)
