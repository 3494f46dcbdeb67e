"""First-run dialog: offer the recommended model, download it with an announced progress bar.

The download runs on a worker thread; progress reaches the GUI only through Qt
signals (queued to the dialog's thread), and is announced through the notifier
at most once per 10 %, so the screen reader is informed, not flooded. Cancel
stops the download through its :class:`CancelToken`. Meanwhile the rest of the
app (OCR included) keeps working: the dialog is not application-modal.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtGui import QCloseEvent, QShowEvent
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QLayout,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..engine.base import CancelToken
from ..errors import CancelledError, as_user_error

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
DownloadFn = Callable[[Any, Progress, CancelToken], Path]


def format_size(size_mb: float | None) -> str:
    """'540 MB' or '1.2 GB' (decimal units, as download sizes are usually given)."""
    if not size_mb or size_mb <= 0:
        return "unknown size"
    if size_mb >= 1000:
        return f"{size_mb / 1000:.1f} GB"
    return f"{round(size_mb)} MB"


def _default_for(entry: Any) -> set[str]:
    value = getattr(entry, "default_for", None)
    if value is None:
        return set()
    if isinstance(value, str):
        return {value.lower()}
    try:
        return {str(v).lower() for v in value}
    except TypeError:
        return set()


def recommendation_reason(entry: Any) -> str:
    targets = _default_for(entry)
    vram = getattr(entry, "min_vram_gb", None)
    if targets & {"cuda", "gpu"}:
        need = f" with at least {vram:g} GB of memory" if vram else ""
        return f"Recommended because this computer has a graphics card{need} that can run it quickly."
    if "cpu" in targets:
        return "Recommended because it runs well on the processor; no graphics card is needed."
    return "Recommended for this computer."


class _Bridge(QObject):
    """Signals emitted from the worker; they are queued to the dialog's (GUI) thread."""

    progress = Signal(int, int)  # percent 0-100 (or -1 when unknown), megabytes done
    finished = Signal(object)  # Path
    failed = Signal(str)  # one sentence
    cancelled = Signal()


class ModelSetupDialog(QDialog):
    """Offer ``entry``; on Download run ``download(entry, progress, cancel)`` on a thread."""

    ANNOUNCE_STEP = 10  # percent between spoken progress messages

    def __init__(self, entry: Any, *, download: DownloadFn, notifier: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.entry = entry
        self._download = download
        self.notifier = notifier
        self.model_path: Path | None = None
        self.error_message: str | None = None
        self._cancel: CancelToken | None = None
        self._thread: threading.Thread | None = None
        self._close_when_stopped = False
        self._last_announced = -1

        name = str(getattr(entry, "name", None) or getattr(entry, "hub_id", None) or entry)
        self._name = name
        size = format_size(getattr(entry, "size_mb", None))
        licence = getattr(entry, "licence", None) or getattr(entry, "license", None) or "not stated"
        self.setWindowTitle("Install a vision model")
        self.setAccessibleName("Install a vision model")

        self.intro = QLabel(
            "Iris needs a vision model to describe pictures. Reading text on screen works without it.", self)
        self.details = QLabel(
            f"Recommended model: {name}.\nDownload size: {size}.\nLicence: {licence}.\n"
            f"{recommendation_reason(entry)}",
            self,
        )
        description = getattr(entry, "description", None)
        if description:
            self.details.setText(self.details.text() + f"\n{description}")
        for label in (self.intro, self.details):
            label.setWordWrap(True)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByKeyboard
                                          | Qt.TextInteractionFlag.TextSelectableByMouse)
            label.setFocusPolicy(Qt.FocusPolicy.StrongFocus)  # reachable with Tab: a screen reader reads it
        self.intro.setAccessibleName("About")
        self.details.setAccessibleName("Recommended model")
        self.details.setAccessibleDescription(self.details.text())

        self.status = QLabel("", self)
        self.status.setWordWrap(True)
        self.status.setAccessibleName("Status")
        self.status.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.status.hide()

        self.progress_bar = QProgressBar(self)
        self.progress_bar.setRange(0, 100)
        self.progress_bar.setValue(0)
        self.progress_bar.setAccessibleName("Download progress")
        self.progress_bar.setFormat("%p %")
        self.progress_bar.hide()

        self.download_button = QPushButton(f"&Download ({size})", self)
        self.download_button.setAccessibleName("Download")
        self.download_button.setAccessibleDescription(f"Download {name}, {size}.")
        self.download_button.setDefault(True)
        self.later_button = QPushButton("&Not now", self)
        self.later_button.setAccessibleName("Not now")
        self.later_button.setAccessibleDescription("Close; you can install a model later from the menu.")
        self.cancel_button = QPushButton("&Cancel download", self)
        self.cancel_button.setAccessibleName("Cancel download")
        self.cancel_button.hide()

        self.download_button.clicked.connect(self.start_download)
        self.later_button.clicked.connect(self.reject)
        self.cancel_button.clicked.connect(self.cancel_download)

        buttons = QHBoxLayout()
        buttons.addStretch(1)
        for button in (self.download_button, self.later_button, self.cancel_button):
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.intro)
        layout.addWidget(self.details)
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.status)
        layout.addLayout(buttons)
        # Word-wrapped labels report their height only for a given width; without a window
        # manager to negotiate, a dialog sized from its first size hint cut the text off
        # mid-line. A readable width (about 70 characters, within the screen) and a layout
        # that never lets the dialog get smaller than its content keep every line visible.
        self._fit_text()

        self._bridge = _Bridge(self)
        self._bridge.progress.connect(self._on_progress)
        self._bridge.finished.connect(self._on_finished)
        self._bridge.failed.connect(self._on_failed)
        self._bridge.cancelled.connect(self._on_cancelled)

    # -- state ------------------------------------------------------------
    @property
    def downloading(self) -> bool:
        return self._thread is not None

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt name
        super().showEvent(event)
        (self.cancel_button if self.downloading else self.download_button).setFocus()

    # -- actions ----------------------------------------------------------
    @Slot()
    def start_download(self) -> None:
        if self.downloading:
            return
        self.error_message = None
        self._cancel = CancelToken()
        self._last_announced = -1
        self.progress_bar.setRange(0, 100)
        self.progress_bar.setValue(0)
        self.progress_bar.show()
        self._set_status(f"Downloading {self._name}.")
        self.download_button.hide()
        self.later_button.hide()
        self.cancel_button.show()
        self.cancel_button.setFocus()
        self.notifier.working(f"Downloading {self._name}, {format_size(getattr(self.entry, 'size_mb', None))}.")
        self._thread = threading.Thread(target=self._work, args=(self._cancel,), name="iris-download", daemon=True)
        self._thread.start()

    @Slot()
    def cancel_download(self) -> None:
        if self._cancel is not None:
            self._cancel.cancel()
            self._set_status("Stopping the download.")

    def reject(self) -> None:
        """Escape or Not now; while downloading, Escape stops the download first."""
        if self.downloading:
            self._close_when_stopped = True
            self.cancel_download()
            return
        super().reject()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt name
        if self.downloading:
            self._close_when_stopped = True
            self.cancel_download()
            event.ignore()
            return
        super().closeEvent(event)

    # -- worker (no widgets here) ------------------------------------------
    def _work(self, cancel: CancelToken) -> None:
        last: dict[str, int | None] = {"percent": None}
        size_mb = getattr(self.entry, "size_mb", None)
        estimate = int(size_mb * 1_000_000) if size_mb else 0

        def progress(done: int, total: int) -> None:
            total = total if total and total > 0 else estimate
            percent = min(100, int(done * 100 / total)) if total > 0 else -1
            if percent != last["percent"]:  # one signal per percent, not per block
                last["percent"] = percent
                self._emit("progress", percent, int(done // 1_000_000))

        try:
            path = self._download(self.entry, progress, cancel)
            if cancel.cancelled:
                raise CancelledError()
        except CancelledError:
            self._emit("cancelled")
        except BaseException as exc:  # noqa: BLE001 - every failure becomes a sentence
            if cancel.cancelled:
                self._emit("cancelled")
            else:
                error = as_user_error(exc)
                log.warning("model download failed: %s", error.detail or error.message)
                self._emit("failed", error.message)
        else:
            self._emit("finished", Path(path) if path is not None else None)

    def _emit(self, name: str, *args: Any) -> None:
        try:
            getattr(self._bridge, name).emit(*args)
        except RuntimeError:  # the dialog was destroyed while the download ran
            log.debug("download %s after the dialog closed", name)

    # -- GUI-thread slots ---------------------------------------------------
    @Slot(int, int)
    def _on_progress(self, percent: int, done_mb: int) -> None:
        if percent < 0:
            self.progress_bar.setRange(0, 0)  # busy indicator: size unknown
            self.progress_bar.setAccessibleDescription(f"{done_mb} megabytes downloaded")
            return
        self.progress_bar.setRange(0, 100)
        self.progress_bar.setValue(percent)
        bucket = percent // self.ANNOUNCE_STEP * self.ANNOUNCE_STEP
        if bucket > self._last_announced:
            self._last_announced = bucket
            if bucket > 0:
                self.notifier.info(f"Download {bucket} percent.")

    def _finish_thread(self) -> None:
        if self._thread is not None:
            self._thread.join(timeout=1.0)
        self._thread = None
        self._cancel = None
        self.cancel_button.hide()
        self.download_button.show()
        self.later_button.show()

    @Slot(object)
    def _on_finished(self, path: Path | None) -> None:
        self._finish_thread()
        self.model_path = path
        self.progress_bar.setRange(0, 100)
        self.progress_bar.setValue(100)
        self._set_status(f"{self._name} is installed.")
        self.notifier.done(f"{self._name} is installed and ready.")
        super().accept()

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self._finish_thread()
        self.error_message = message
        self.download_button.setText("&Try again")
        self.download_button.setAccessibleName("Try again")
        self._set_status(message)
        self.notifier.error(message)
        self.download_button.setFocus()

    @Slot()
    def _on_cancelled(self) -> None:
        self._finish_thread()
        self.progress_bar.hide()
        self._set_status("The download was cancelled. Nothing was installed.")
        self.notifier.info("Download cancelled.")
        if self._close_when_stopped:
            self._close_when_stopped = False
            super().reject()
        else:
            self.download_button.setFocus()

    def _set_status(self, text: str) -> None:
        self.status.setText(text)
        self.status.setAccessibleDescription(text)
        self.status.setVisible(bool(text))
        self._fit_text()

    def _fit_text(self) -> None:
        """Width for about 70 characters, and tall enough for every wrapped line."""
        layout = self.layout()
        if layout is None:
            return
        width = self.fontMetrics().averageCharWidth() * 70
        screen = self.screen()
        if screen is not None:
            width = min(width, int(screen.availableGeometry().width() * 0.9))
        margins = layout.contentsMargins()
        text_width = width - margins.left() - margins.right()
        for label in (self.intro, self.details, self.status):
            label.setMinimumWidth(text_width)
        layout.setSizeConstraint(QLayout.SizeConstraint.SetMinimumSize)
        layout.activate()
        height = layout.totalHeightForWidth(width) if layout.hasHeightForWidth() else layout.totalSizeHint().height()
        self.setMinimumSize(width, height)
        if self.height() < height or self.width() < width:
            self.resize(max(self.width(), width), max(self.height(), height))

    def wait_for_worker(self, timeout: float = 5.0) -> bool:
        """For tests and shutdown: join the download thread."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True
