"""Tesseract 5 (LSTM), in-process through tesserocr, or through the ``tesseract`` program (pytesseract).

Chosen by measurement on the screen corpus (benchmarks/ocr_bench.py): it keeps
the spaces between words, reads accented Latin letters with the language's
traineddata, and is fast on two cores once the screenshot is normalised
(:mod:`app.ocr.prep`). The language data comes from the system (Debian:
``tesseract-ocr-eng``, ``-deu`` ...; Windows installer; Homebrew).
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

from PIL import Image

from ..errors import InternalError, ModelMissingError
from .base import EngineState, TextBox
from .languages import tesseract_codes
from .prep import INK as INK_LEVEL
from .prep import normalise

#: Where tesseract's language data usually lies, after $TESSDATA_PREFIX.
TESSDATA_GUESSES = (
    "/usr/share/tesseract-ocr/*/tessdata",
    "/usr/share/tessdata",
    "/usr/local/share/tessdata",
    "/opt/homebrew/share/tessdata",
    "/usr/local/share/tesseract-ocr/*/tessdata",
    r"C:\Program Files\Tesseract-OCR\tessdata",
)
#: Screen text is 9-16 px high; tesseract reads best at about twice that.
SCALE = 2.0
#: Larger pictures (HiDPI screens, photos) already have big enough text.
SCALE_UNTIL_PIXELS = 2560 * 1600
MIN_CONFIDENCE = 0.30
INSTALL_HINT = "Install tesseract and its language data (Debian and Ubuntu: sudo apt install tesseract-ocr)."


def find_tessdata() -> Path | None:
    """The folder holding ``eng.traineddata`` (or any traineddata), or None."""
    candidates = []
    if os.environ.get("TESSDATA_PREFIX"):
        prefix = Path(os.environ["TESSDATA_PREFIX"])
        candidates += [prefix, prefix / "tessdata"]
    for pattern in TESSDATA_GUESSES:
        candidates += [Path(p) for p in sorted(glob.glob(pattern), reverse=True)]
    for folder in candidates:
        if (folder / "eng.traineddata").is_file():
            return folder
    for folder in candidates:
        if folder.is_dir() and any(folder.glob("*.traineddata")):
            return folder
    return None


def installed_languages(folder: Path | None) -> set[str]:
    if folder is None:
        return set()
    return {p.name[: -len(".traineddata")] for p in folder.glob("*.traineddata")} - {"osd", "equ"}


def missed_ink(page: Image.Image, words: list[TextBox], scale: float) -> list[tuple[int, int, int, int]]:
    """Rectangles (in ``page`` pixels) of text-like ink on the rows of ``words`` that no word covers.

    Only text-like ink counts: at least 40 % of the row's height, half a
    line-height away from every word read (a one-digit table cell beside the
    words read). At most MAX_MISSED.
    """
    import numpy as np

    from .layout import group_lines

    ink = np.asarray(page, dtype=np.uint8) < INK_LEVEL
    found: list[tuple[int, int, int, int]] = []
    for line in group_lines(words):
        top = max(0, int(min(b.top for b in line) * scale))
        bottom = min(page.height, int(max(b.bottom for b in line) * scale) + 1)
        height = bottom - top
        if height >= 6:
            columns = np.asarray(ink[top + 1 : bottom - 1].any(axis=0), dtype=bool)
            for box in words:  # every word read (not only this line's) is covered already
                if box.bottom * scale > top and box.top * scale < bottom:
                    columns[max(0, int(box.left * scale) - height // 2) : int(box.right * scale) + height // 2] = False
            found += _pieces(ink, top, bottom, columns)
    return found[:MAX_MISSED]


#: Pieces of missed ink read again, at most (each is a short single-line recognition).
MAX_MISSED = 60


def _pieces(ink: Any, top: int, bottom: int, columns: Any) -> list[tuple[int, int, int, int]]:
    """Runs of ink ``columns`` in rows top..bottom, split at gaps wider than the height, padded."""
    import numpy as np

    height = bottom - top
    xs = np.flatnonzero(columns)
    if not len(xs):
        return []
    width, full_height = ink.shape[1], ink.shape[0]
    out = []
    breaks = np.flatnonzero(np.diff(xs) > height)
    for a, b in zip(np.r_[xs[0], xs[breaks + 1]], np.r_[xs[breaks], xs[-1]]):
        rows = np.flatnonzero(ink[top:bottom, a : b + 1].any(axis=1))
        if b - a + 1 < height // 4 or not len(rows) or rows[-1] - rows[0] + 1 < 0.4 * height:
            continue
        pad = max(4, height // 3)
        out.append((max(0, int(a) - pad), max(0, top - pad), min(width, int(b) + 1 + pad),
                    min(full_height, bottom + pad)))
    return out


#: Pages smaller than this (in normalised pixels) are read in one piece.
SPLIT_FROM_PIXELS = 1600 * 1200


def split_bands(page: Image.Image, threads: int | None) -> list[tuple[int, int]]:
    """Horizontal bands of ``page`` cut at blank rows, as many as there are cores (at most 4).

    Cutting only where a whole row is empty never splits a line of text.
    """
    import numpy as np

    count = threads or min(4, os.cpu_count() or 1)
    if count < 2 or page.width * page.height < SPLIT_FROM_PIXELS:
        return [(0, page.height)]
    blank = np.asarray(~(np.asarray(page, dtype=np.uint8) < INK_LEVEL).any(axis=1), dtype=bool)
    cuts = [0]
    for k in range(1, count):
        want = page.height * k // count
        rows = np.flatnonzero(blank[cuts[-1] + 1 : page.height - 1]) + cuts[-1] + 1
        if not len(rows):
            break
        best = int(rows[np.argmin(np.abs(rows - want))])
        if abs(best - want) <= page.height // (2 * count):
            cuts.append(best)
    cuts.append(page.height)
    return [(a, b) for a, b in zip(cuts, cuts[1:]) if b > a]


def scale_for(image: Image.Image) -> float:
    return SCALE if image.width * image.height <= SCALE_UNTIL_PIXELS else 1.0


class TesseractEngine(EngineState):
    """Tesseract through tesserocr (no process per read); one API object per language set."""

    name = "tesseract"

    def __init__(self, threads: int | None = None) -> None:
        #: Bands read at once on a big screen (one tesseract per band); None: the number of cores, at most 4.
        self.threads = threads
        self._apis: dict[str, Any] = {}
        self._tessdata: Path | None = None
        self._reason = ""

    def available(self) -> bool:
        try:
            import tesserocr  # noqa: F401
        except ImportError:
            self._reason = "The tesserocr package is not installed."
            return False
        self._tessdata = find_tessdata()
        if self._tessdata is None:
            self._reason = "Tesseract's language data is not installed. " + INSTALL_HINT
            return False
        self._reason = ""
        return True

    def load(self) -> None:
        if not self.available():
            raise ModelMissingError(self._reason)
        self._api(["en"])

    def _api(self, languages: list[str], slot: int = 0) -> Any:
        codes = tesseract_codes(languages, installed_languages(self._tessdata)) or ["eng"]
        key = "+".join(codes)
        api = self._apis.get(f"{key}#{slot}")
        if api is None:
            import tesserocr

            try:
                api = tesserocr.PyTessBaseAPI(path=str(self._tessdata), lang=key, psm=tesserocr.PSM.AUTO)
                # Iris inverts dark regions itself (prep.normalise); tesseract's own retry is slow.
                api.SetVariable("tessedit_do_invert", "0")
            except RuntimeError as exc:
                raise ModelMissingError(f"Tesseract could not load its {key} language data.", detail=repr(exc)) from None
            self._apis[f"{key}#{slot}"] = api
        return api

    def read(self, image: Image.Image, languages: list[str]) -> list[TextBox]:
        if self._tessdata is None and not self.available():
            raise ModelMissingError(self._reason)
        import numpy as np

        scale = scale_for(image)
        page = normalise(image, scale)
        # Only the part with ink is read: empty margins still cost tesseract's layout analysis time.
        ink = np.asarray(page, dtype=np.uint8) < INK_LEVEL
        rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
        if not len(rows):
            return []
        pad = int(8 * scale)
        x0, y0 = max(0, int(cols[0]) - pad), max(0, int(rows[0]) - pad)
        page = page.crop((x0, y0, min(page.width, int(cols[-1]) + pad + 1), min(page.height, int(rows[-1]) + pad + 1)))
        bands = split_bands(page, self.threads)
        apis = [self._api(languages, slot) for slot in range(len(bands))]
        results: list[list[TextBox] | BaseException] = [[] for _ in bands]

        def work(i: int) -> None:
            top, bottom = bands[i]
            try:
                results[i] = self._read_band(apis[i], page.crop((0, top, page.width, bottom)), top, scale)
            except BaseException as exc:  # noqa: BLE001 - re-raised on the caller's thread
                results[i] = exc

        # Tesseract works on one core per page; bands of a big screen use the others (it releases the GIL).
        workers = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(1, len(bands))]
        for worker in workers:
            worker.start()
        work(0)
        for worker in workers:
            worker.join()
        boxes: list[TextBox] = []
        for result in results:
            if isinstance(result, RuntimeError):
                raise InternalError("Iris could not read the text in the picture.", detail=repr(result)) from None
            if isinstance(result, BaseException):
                raise result
            boxes += result
        dx, dy = x0 / scale, y0 / scale
        return [TextBox(b.text, b.score, b.left + dx, b.top + dy, b.right + dx, b.bottom + dy) for b in boxes]

    def _read_band(self, api: Any, band: Image.Image, top: int, scale: float) -> list[TextBox]:
        import tesserocr

        api.SetPageSegMode(tesserocr.PSM.AUTO)
        api.SetImage(band)
        api.Recognize()
        words = self._words(api, scale)
        if len(words) < 3:
            # Page layout analysis sometimes finds no text block at all (a lone small dialog
            # with an icon on a dark desktop): read it again as sparse text.
            api.SetPageSegMode(tesserocr.PSM.SPARSE_TEXT)
            api.SetImage(band)
            api.Recognize()
            sparse = self._words(api, scale)
            api.SetPageSegMode(tesserocr.PSM.AUTO)
            if len(sparse) > len(words):
                words = sparse
        words += self._missed(api, band, words, scale)
        shift = top / scale
        return [TextBox(w.text, w.score, w.left, w.top + shift, w.right, w.bottom + shift) for w in words]

    @staticmethod
    def _words(api: Any, scale: float) -> list[TextBox]:
        import tesserocr

        boxes = []
        level = tesserocr.RIL.WORD
        iterator = api.GetIterator()
        if iterator is None:
            return []
        while True:
            try:
                text = (iterator.GetUTF8Text(level) or "").strip()
            except RuntimeError:  # an empty element: "No text returned"
                text = ""
            bounds = iterator.BoundingBox(level)
            if text and bounds:
                left, top, right, bottom = (v / scale for v in bounds)
                boxes.append(TextBox(text, iterator.Confidence(level) / 100.0, left, top, right, bottom))
            if not iterator.Next(level):
                break
        return boxes

    @staticmethod
    def _missed(api: Any, page: Image.Image, words: list[TextBox], scale: float) -> list[TextBox]:
        """Read again, as single lines, the ink beside the words that page layout analysis passed over.

        Tesseract's layout analysis drops narrow isolated text, such as a
        table column of one-digit quantities; each such piece is read alone.
        """
        import tesserocr

        found = []
        api.SetPageSegMode(tesserocr.PSM.SINGLE_LINE)
        for left, top, right, bottom in missed_ink(page, words, scale):
            api.SetRectangle(left, top, right - left, bottom - top)
            try:
                text = " ".join((api.GetUTF8Text() or "").split())
                confidence = api.MeanTextConf() / 100.0
            except RuntimeError:  # tesserocr: "No text returned"
                continue
            if confidence >= 0.6 and any(ch.isalnum() for ch in text):  # not a button's frame read as "|"
                found.append(TextBox(text, confidence, left / scale, top / scale, right / scale, bottom / scale))
        api.SetPageSegMode(tesserocr.PSM.AUTO)
        return found

    def close(self) -> None:
        for api in self._apis.values():
            api.End()
        self._apis.clear()


class TesseractCliEngine(EngineState):
    """The ``tesseract`` program through pytesseract: where tesserocr has no wheel (macOS)."""

    name = "tesseract-cli"

    def __init__(self) -> None:
        self._reason = ""
        self._installed: set[str] | None = None

    def available(self) -> bool:
        try:
            import pytesseract  # noqa: F401
        except ImportError:
            self._reason = "The pytesseract package is not installed."
            return False
        if not shutil.which("tesseract"):
            self._reason = "The tesseract program is not installed. " + INSTALL_HINT
            return False
        self._reason = ""
        return True

    def load(self) -> None:
        if not self.available():
            raise ModelMissingError(self._reason)

    def _languages(self) -> set[str]:
        if self._installed is None:
            try:
                out = subprocess.run(["tesseract", "--list-langs"], capture_output=True, text=True, timeout=30)
                self._installed = {x.strip() for x in out.stdout.splitlines()[1:] if x.strip()}
            except (OSError, subprocess.SubprocessError):
                self._installed = set()
        return self._installed

    def read(self, image: Image.Image, languages: list[str]) -> list[TextBox]:
        import pytesseract

        lang = "+".join(tesseract_codes(languages, self._languages()) or ["eng"])
        scale = scale_for(image)
        try:
            data = pytesseract.image_to_data(
                normalise(image, scale), lang=lang, config="--psm 3 -c tessedit_do_invert=0",
                output_type=pytesseract.Output.DICT, timeout=120,
            )
        except (RuntimeError, OSError, pytesseract.TesseractError) as exc:
            raise InternalError("Iris could not read the text in the picture.", detail=repr(exc)) from None
        boxes = []
        for i, text in enumerate(data.get("text", [])):
            text = (text or "").strip()
            if not text:
                continue
            left, top = data["left"][i] / scale, data["top"][i] / scale
            width, height = data["width"][i] / scale, data["height"][i] / scale
            boxes.append(TextBox(text, float(data["conf"][i]) / 100.0, left, top, left + width, top + height))
        return boxes
