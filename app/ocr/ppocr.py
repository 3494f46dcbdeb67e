"""PP-OCR on onnxruntime: rapidocr 3.x (PP-OCRv6, multilingual, weights in the wheel) or rapidocr-onnxruntime 1.x.

The fallback where tesseract and the platform OCR are missing. rapidocr 3.x's
bundled PP-OCRv6 model reads Latin accents and keeps spaces, but took about
4 s per small screen on two cores here; the 1.x package's Chinese/English
model drops spaces between English words (see benchmarks/README.md).
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
from PIL import Image

from ..errors import InternalError, ModelMissingError
from .base import EngineState, TextBox

#: A blank gap at least this share of the line's height between two characters is a space.
SPACE_GAP = 0.2


def repair_spaces(gray: np.ndarray, item: Any) -> str:
    """``item``'s text with a space wherever the picture shows a blank gap between two characters.

    ``item`` is rapidocr-onnxruntime's (box, text, score, char boxes, chars, char scores); the
    character boxes are the recogniser's estimates, so the gap is measured on the pixels.
    """
    text = str(item[1])
    if len(item) < 5 or not item[4] or len(item[3]) != len(item[4]):
        return text
    points, boxes, chars = item[0], item[3], [str(c) for c in item[4]]
    xs, ys = [float(p[0]) for p in points], [float(p[1]) for p in points]
    x0, y0 = max(0, int(min(xs))), max(0, int(min(ys)))
    crop = gray[y0 : int(max(ys)) + 1, x0 : int(max(xs)) + 1]
    if crop.size == 0:
        return text
    ink = (np.abs(crop - np.median(crop)) > 60).any(axis=0)
    least = max(3.0, SPACE_GAP * (max(ys) - min(ys)))
    out = chars[0]
    for before, after, char in zip(boxes, boxes[1:], chars[1:]):
        start = int((before[0][0] + before[1][0]) / 2) - x0
        end = int((after[0][0] + after[1][0]) / 2) - x0
        if char != " " and not out.endswith(" ") and _longest_blank(ink[max(0, start) : end + 1]) >= least:
            out += " "
        out += char
    return out


def _longest_blank(ink: np.ndarray) -> int:
    best = run = 0
    for value in ink:
        run = 0 if value else run + 1
        best = max(best, run)
    return best


class PPOcrEngine(EngineState):
    """rapidocr, whichever generation is installed (the newer first)."""

    name = "ppocr"

    def __init__(self, threads: int | None = None) -> None:
        self.threads = threads
        self._engine: Any = None
        self._module = ""
        self._reason = ""

    def available(self) -> bool:
        for module in ("rapidocr", "rapidocr_onnxruntime"):
            try:
                importlib.import_module(module)
            except ImportError:
                continue
            self._module = module
            self._reason = ""
            return True
        self._reason = "Neither rapidocr nor rapidocr-onnxruntime is installed."
        return False

    def load(self) -> None:
        if self._engine is not None:
            return
        if not self.available():
            raise ModelMissingError("Text reading is not installed: " + self._reason)
        from ..netguard import disable_library_telemetry

        disable_library_telemetry()  # onnxruntime would otherwise send usage telemetry
        module = importlib.import_module(self._module)
        try:
            if self._module == "rapidocr":
                params: dict[str, Any] = {"Global.log_level": "error"}
                if self.threads:
                    params["EngineConfig.onnxruntime.intra_op_num_threads"] = int(self.threads)
                self._engine = module.RapidOCR(params=params)
            else:
                kwargs = {"intra_op_num_threads": int(self.threads)} if self.threads else {}
                self._engine = module.RapidOCR(**kwargs)
        except Exception as exc:  # noqa: BLE001 - missing/corrupt .onnx files, bad runtime
            raise ModelMissingError(
                f"The text reader's model files are missing or damaged; reinstall {self._module}.", detail=repr(exc)
            ) from None
        self.name = "ppocr-v6" if self._module == "rapidocr" else "ppocr"

    def read(self, image: Image.Image, languages: list[str]) -> list[TextBox]:
        self.load()
        try:
            if self._module == "rapidocr":
                result = self._engine(image.convert("RGB"))
            else:
                result = self._engine(image.convert("RGB"), return_word_box=True)
        except Exception as exc:  # noqa: BLE001 - onnxruntime/cv2 failures
            raise InternalError("Iris could not read the text in the picture.", detail=repr(exc)) from None
        if self._module == "rapidocr":
            items = list(zip(result.boxes if result.boxes is not None else [], result.txts or (), result.scores or ()))
        else:
            # The 1.x Chinese/English model drops the spaces between English words: put back
            # those that show in the picture as blank columns between two characters.
            gray = np.asarray(image.convert("L"), dtype=np.int16)
            items = [(i[0], repair_spaces(gray, i), i[2]) for i in (result[0] or [])]
        boxes = []
        for points, text, score in items:
            text = " ".join(str(text).split())
            if not text:
                continue
            xs = [float(p[0]) for p in points]
            ys = [float(p[1]) for p in points]
            boxes.append(TextBox(text, float(score), min(xs), min(ys), max(xs), max(ys)))
        return boxes
