"""Read the text in a picture, in the order a person reads it, with the best OCR engine this computer has.

``TextReader`` (:mod:`.reader`) is what the rest of Iris uses; engines
(:mod:`.tesseract`, :mod:`.platform`, :mod:`.ppocr`) sit behind the small
:class:`OcrEngine` interface (:mod:`.base`); reading order is :mod:`.layout`.
"""

from .base import OcrEngine, TextBox
from .layout import group_lines, join_line, keep_words, reading_order
from .reader import TextReader, default_engines

__all__ = ["OcrEngine", "TextBox", "TextReader", "default_engines", "group_lines", "join_line", "keep_words",
           "reading_order"]
