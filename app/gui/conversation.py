"""The two views a screen reader reviews: the conversation as plain text, and the current image.

The conversation is a read-only :class:`QPlainTextEdit` with a keyboard caret,
so NVDA, JAWS and Orca can review it line by line, word by word and letter by
letter. Streamed text is inserted at the end with a separate cursor so the
user's review position is never moved under them. The image preview is
focusable and carries an accessible description (file, size, and the first
sentence of its description), so it is not a silent picture.
"""

from __future__ import annotations

import re

from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap, QTextCursor
from PySide6.QtWidgets import QLabel, QPlainTextEdit, QSizePolicy, QWidget

USER_PREFIX = "You: "
IMAGE_PREFIX = "Image: "
IRIS_PREFIX = "Iris: "
STOPPED_MARK = "(stopped)"
_FIRST_SENTENCE = re.compile(r"^(.+?[.!?])(\s|$)", re.S)


class ConversationView(QPlainTextEdit):
    """Questions and answers as plain text lines: ``You: ...`` then ``Iris: ...``."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setReadOnly(True)
        # A caret in a read-only view: screen readers review the text with the arrow keys.
        self.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByKeyboard | Qt.TextInteractionFlag.TextSelectableByMouse
        )
        self.setAcceptDrops(False)  # drops go to the window, which knows about image files
        self.setTabChangesFocus(True)
        self.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.setAccessibleName("Conversation")
        self.setAccessibleDescription(
            "The questions and answers so far, as text. Review them with the arrow keys."
        )
        self._open = False
        self._streamed = ""

    @property
    def turn_open(self) -> bool:
        return self._open

    def begin_turn(self, kind: str, heading: str) -> None:
        """Start a turn: a line saying what was asked, then ``Iris: `` waiting for the answer."""
        if self._open:
            self.mark_stopped()
        prefix = IMAGE_PREFIX if kind in ("image", "camera") else USER_PREFIX
        lead = "\n" if self.document().characterCount() > 1 else ""
        self._append(f"{lead}{prefix}{heading}\n{IRIS_PREFIX}")
        self._open = True
        self._streamed = ""

    def add_piece(self, text: str) -> None:
        if not self._open:
            return
        self._streamed += text
        self._append(text)

    def finish_turn(self, answer_text: str) -> None:
        """Close the turn; if nothing was streamed, show the whole answer now."""
        if not self._open:
            return
        if not self._streamed.strip() and answer_text:
            self._append(answer_text)
        self._append("\n")
        self._open = False

    def mark_stopped(self) -> None:
        if not self._open:
            return
        self._append(("" if not self._streamed or self._streamed.endswith(" ") else " ") + STOPPED_MARK + "\n")
        self._open = False

    def add_error(self, sentence: str) -> None:
        """An error ends the open turn with its sentence, or stands as its own line."""
        if self._open:
            self._append(("" if not self._streamed else " ") + sentence + "\n")
            self._open = False
        else:
            lead = "\n" if self.document().characterCount() > 1 else ""
            self._append(f"{lead}{IRIS_PREFIX}{sentence}\n")

    def _append(self, text: str) -> None:
        cursor = QTextCursor(self.document())
        cursor.movePosition(QTextCursor.MoveOperation.End)
        cursor.insertText(text)
        bar = self.verticalScrollBar()
        bar.setValue(bar.maximum())


def first_sentence(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    match = _FIRST_SENTENCE.match(text)
    sentence = match.group(1) if match else text
    return sentence if len(sentence) <= limit else sentence[: limit - 1].rstrip() + "…"


def pil_to_pixmap(image: Image.Image, max_edge: int) -> QPixmap:
    """A scaled copy of a PIL image as a QPixmap (no file, no ImageQt dependency)."""
    thumb = image.convert("RGB")
    thumb.thumbnail((max_edge, max_edge))
    data = thumb.tobytes("raw", "RGB")
    qimage = QImage(data, thumb.width, thumb.height, thumb.width * 3, QImage.Format.Format_RGB888).copy()
    return QPixmap.fromImage(qimage)


class ImagePreview(QLabel):
    """A small picture of the current image that says what it is when focused."""

    EDGE = 200  # logical pixels; Qt scales it with the display

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setMinimumSize(self.EDGE // 2, self.EDGE // 2)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        self.setFrameShape(QLabel.Shape.StyledPanel)
        self.setWordWrap(True)
        self.setAccessibleName("Current image")
        self.label = ""
        self.summary = ""
        self.image: Image.Image | None = None
        self.clear_image()

    def clear_image(self) -> None:
        self.image = None
        self.label = ""
        self.summary = ""
        self.setPixmap(QPixmap())
        self.setText("No image yet")
        self._update_description()

    def set_image(self, image: Image.Image, label: str) -> None:
        self.image = image
        self.label = label
        self.summary = ""
        ratio = max(1.0, self.devicePixelRatioF())
        pixmap = pil_to_pixmap(image, int(self.EDGE * ratio))
        pixmap.setDevicePixelRatio(ratio)
        self.setText("")
        self.setPixmap(pixmap)
        self._update_description()

    def set_summary(self, text: str) -> None:
        """Remember the first sentence of the image's description for the accessible description."""
        self.summary = first_sentence(text) if text else ""
        self._update_description()

    def _update_description(self) -> None:
        if self.image is None:
            text = "No image yet. Describe the screen, open an image or paste one."
        else:
            text = f"{self.label}, {self.image.width} by {self.image.height} pixels."
            if self.summary:
                text += f" {self.summary}"
        self.setAccessibleDescription(text)
        self.setToolTip(text)
