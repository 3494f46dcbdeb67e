"""The OCR engine interface: every engine turns a picture into word boxes, the reader does the rest.

An engine is small on purpose (like a speech engine): a name, whether it can
run here (and, if not, one sentence saying why), and ``read``. Reading order,
thread safety and the fallback chain live in :mod:`app.ocr.reader`, so every
engine gets the same layout.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from PIL import Image


@dataclass(frozen=True)
class TextBox:
    """One recognised word (or phrase) and its axis-aligned box in image pixels."""

    text: str
    score: float
    left: float
    top: float
    right: float
    bottom: float

    @property
    def height(self) -> float:
        return max(1.0, self.bottom - self.top)


@runtime_checkable
class OcrEngine(Protocol):
    """``read(image, languages) -> [TextBox]``, in no particular order."""

    #: Short name reported in ``iris read --json`` (e.g. "tesseract").
    name: str

    def available(self) -> bool:
        """Whether the engine can run here; cheap (no model loaded)."""
        ...

    @property
    def reason(self) -> str:
        """Why it cannot run here, in one plain sentence ('' when it can)."""
        ...

    def load(self) -> None:
        """Prepare the engine (load models); ``read`` does it when needed."""
        ...

    def read(self, image: Image.Image, languages: list[str]) -> list[TextBox]:
        """The text in ``image`` as boxes; ``languages`` are ISO 639-1 codes, most likely first."""
        ...


class EngineState:
    """What every concrete engine keeps: the sentence saying why it cannot run ('' when it can)."""

    _reason: str = ""

    @property
    def reason(self) -> str:
        return self._reason
