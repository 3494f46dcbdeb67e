"""The main window: keyboard and screen reader first, the mouse second.

Layout, in tab order: the action buttons, the current image, the conversation
(read-only text a screen reader reviews line by line) and the question box
with its Ask button. Every action is also a menu entry with a shortcut (see
:mod:`app.gui.keymap`). Images arrive by drag and drop, paste or the Open
dialog; a dropped web address or plain text gets one sentence, not a dialog.
Status goes to the status bar through the notifier, which also speaks it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable, cast

from PIL import Image
from PySide6.QtCore import QEvent, QMimeData, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QDropEvent, QGuiApplication, QKeyEvent, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMainWindow,
    QPushButton,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ..capture.region import PART_NAMES
from ..errors import BadInputError, IrisError
from ..notifier import Level
from .bridge import StatusSink
from .controller import Controller
from .conversation import ConversationView, ImagePreview
from .keymap import MENUS, WINDOW_ACTIONS, ShortcutsDialog, shortcut_text
from .mime import could_be_image, has_image_payload, image_from_mime, local_files, paths_in_text

log = logging.getLogger(__name__)

IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.webp *.gif *.bmp *.tif *.tiff *.heic *.heif *.avif);;All files (*)"
#: Seconds the window waits, minimised, before capturing what is behind it.
CAPTURE_BEHIND_DELAY = 0.4
BUTTON_COLUMNS = 6


class MainWindow(QMainWindow):
    """The Iris window. ``quit_requested`` asks the application to shut down."""

    quit_requested = Signal()
    #: The window really closed (not hidden to the tray): the app should end.
    closed = Signal()

    def __init__(
        self,
        controller: Controller,
        *,
        history: Any | None = None,
        voices: Callable[[], list] | None = None,
        make_engine: Callable[[], Any] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.controller = controller
        self.settings = controller.core.settings
        self.notifier = controller.core.notifier
        self.history = history
        self._voices = voices or (lambda: controller.core.speaker.voices())
        self._make_engine = make_engine
        self.can_hide_to_tray: Callable[[], bool] = lambda: False
        self.capture_behind = True  # minimise before capturing from inside the window
        self._restore_pending = False
        self._model_offered = False
        self._camera_id: str | None = None
        self._dialogs: dict[str, QWidget] = {}
        self.setWindowTitle("Iris")
        self.setAcceptDrops(True)
        self.actions: dict[str, QAction] = {}  # type: ignore[assignment]  # shadows QWidget.actions()
        self._build_actions()
        self._build_body()
        self._build_menus()
        self._build_status()
        self._build_history()
        self._connect_controller()
        self._ticker = self._make_ticker()
        self._sink = StatusSink(controller.deliver, self.show_status)
        self.notifier.add_sink(self._sink)
        self._update_enabled()
        font = self.fontMetrics()
        width, height = font.averageCharWidth() * 130, font.height() * 36
        screen = self.screen().availableGeometry() if self.screen() is not None else None
        if screen is not None:  # at 200% scaling a font-sized window may be larger than the screen
            width, height = min(width, int(screen.width() * 0.9)), min(height, int(screen.height() * 0.9))
        self.resize(width, height)

    # ------------------------------------------------------------------ layout
    def _build_actions(self) -> None:
        handlers: dict[str, Callable[..., Any]] = {  # called with no arguments
            "describe_screen": lambda: self._capture_action(self.controller.describe_screen),
            "describe_window": lambda: self._capture_action(self.controller.describe_window),
            "read_screen": lambda: self._capture_action(self.controller.read_screen),
            "describe_focused": lambda: self._capture_action(self.controller.describe_focused),
            "what_changed": lambda: self._capture_action(self.controller.what_changed),
            "zoom_out": self.controller.zoom_out,
            **{f"zoom_{part.replace(' ', '_')}": (lambda p=part: self.controller.zoom_in(p)) for part in PART_NAMES},
            "camera": self.take_camera_picture,
            "open_image": self.open_image_dialog,
            "paste": self.paste,
            "save_image": self.save_image_dialog,
            "repeat": self.controller.repeat_last,
            "stop": self.controller.stop,
            "copy_answer": self.copy_answer,
            "history": self.toggle_history,
            "switch_focus": self.switch_focus,
            "settings": self.open_settings,
            "download_model": self.open_model_dialog,
            "shortcuts": self.show_shortcuts,
            "copy_diagnostics": self.copy_diagnostics,
            "quit": self.quit_requested.emit,
        }
        for spec in WINDOW_ACTIONS:
            action = QAction(spec.text, self)
            action.setObjectName(f"action_{spec.name}")
            action.setShortcut(QKeySequence(spec.shortcut))
            action.setToolTip(f"{spec.tip} ({shortcut_text(spec)})")
            action.triggered.connect(lambda _checked=False, fn=handlers[spec.name]: fn())
            self.addAction(action)  # the shortcut works even while the menu bar is hidden
            self.actions[spec.name] = action

    def _build_body(self) -> None:
        body = QWidget(self)
        outer = QVBoxLayout(body)
        grid = QGridLayout()
        self.buttons: dict[str, QToolButton] = {}
        shown = [s for s in WINDOW_ACTIONS if s.button]
        for index, spec in enumerate(shown):
            button = QToolButton(body)
            button.setDefaultAction(self.actions[spec.name])
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
            button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
            button.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
            button.setAccessibleName(spec.plain)
            button.setAccessibleDescription(f"{spec.tip} Shortcut {shortcut_text(spec)}.")
            button.setObjectName(f"button_{spec.name}")
            grid.addWidget(button, index // BUTTON_COLUMNS, index % BUTTON_COLUMNS)
            self.buttons[spec.name] = button
        outer.addLayout(grid)

        middle = QHBoxLayout()
        self.preview = ImagePreview(body)
        middle.addWidget(self.preview, 0, Qt.AlignmentFlag.AlignTop)
        column = QVBoxLayout()
        self.conversation_label = QLabel("Conversatio&n", body)
        self.conversation = ConversationView(body)
        self.conversation_label.setBuddy(self.conversation)
        column.addWidget(self.conversation_label)
        column.addWidget(self.conversation, 1)
        middle.addLayout(column, 1)
        outer.addLayout(middle, 1)

        row = QHBoxLayout()
        self.question_label = QLabel("&Question:", body)
        self.question = QLineEdit(body)
        self.question.setAccessibleName("Question")
        self.question.setAccessibleDescription(
            "Type a question about the current image and press Enter. Drop or paste an image here too."
        )
        self.question.setPlaceholderText("Ask about the current image")
        self.question.setClearButtonEnabled(True)
        self.question.returnPressed.connect(self.ask)
        self.question.installEventFilter(self)
        self.question_label.setBuddy(self.question)
        self.ask_button = QPushButton("As&k", body)
        self.ask_button.setAccessibleName("Ask")
        self.ask_button.setAccessibleDescription("Send the question about the current image.")
        self.ask_button.clicked.connect(self.ask)
        row.addWidget(self.question_label)
        row.addWidget(self.question, 1)
        row.addWidget(self.ask_button)
        outer.addLayout(row)
        self.setCentralWidget(body)

        order: list[QWidget] = [*self.buttons.values(), self.preview, self.conversation, self.question, self.ask_button]
        for first, second in zip(order, order[1:]):
            QWidget.setTabOrder(first, second)

    def _build_menus(self) -> None:
        menus = {key: self.menuBar().addMenu(title) for key, title in MENUS}
        for spec in WINDOW_ACTIONS:
            if spec.name == "quit":
                menus[spec.menu].addSeparator()
            menus[spec.menu].addAction(self.actions[spec.name])

    def _build_status(self) -> None:
        self.status_label = QLabel("Ready.", self)
        # No accessible name: a label's name is its text, which is what NVDA+End should read.
        self.status_label.setAccessibleDescription("Status")
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.statusBar().addWidget(self.status_label, 1)

    def _build_history(self) -> None:
        self.history_panel = None
        self.history_dock = None
        if self.history is None:
            self.actions["history"].setEnabled(False)
            return
        from .history_view import HistoryPanel

        self.history_panel = HistoryPanel(self.history, self)
        self.history_panel.entry_activated.connect(self.show_history_entry)
        dock = QDockWidget("History", self)
        dock.setObjectName("history_dock")
        dock.setWidget(self.history_panel)
        dock.setAccessibleName("History")
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
        dock.hide()
        self.history_dock = dock

    def _make_ticker(self) -> Any | None:
        try:
            from .earcons import WorkingTicker
        except ImportError:  # QtMultimedia's system libraries (PulseAudio, ffmpeg) are missing
            return None
        ticker = WorkingTicker(self)
        ticker.bind_settings(self.settings)
        return ticker

    def _connect_controller(self) -> None:
        c = self.controller
        c.turn_started.connect(self.conversation.begin_turn)
        c.text_piece.connect(self.conversation.add_piece)
        c.answer_ready.connect(self._on_answer)
        c.turn_stopped.connect(self.conversation.mark_stopped)
        c.state_changed.connect(self._on_state)
        c.error.connect(self._on_error)
        c.image_changed.connect(self._on_image)
        c.question_requested.connect(self.focus_question)
        c.captured.connect(self._restore_after_capture)
        c.model_missing.connect(self.offer_model)
        c.history_changed.connect(self._on_history_changed)

    # ---------------------------------------------------------- controller out
    def _on_answer(self, answer: Any) -> None:
        self.conversation.finish_turn(answer.text)
        if answer.kind in ("describe", "ocr-fallback", "read") and not self.preview.summary:
            self.preview.set_summary(answer.text)
        if self._ticker is not None:
            self._ticker.play_done()
        self._update_enabled()

    def _on_history_changed(self) -> None:
        if self.history_panel is not None and hasattr(self.history_panel, "refresh"):
            self.history_panel.refresh()

    def _on_state(self, state: str) -> None:
        working = state == "working"
        self.setWindowTitle(f"Iris — {getattr(self.controller, 'activity', 'working')}" if working else "Iris")
        if self._ticker is not None:
            self._ticker.start() if working else self._ticker.stop()
        if not working:
            self._restore_after_capture()

    def _on_error(self, sentence: str) -> None:
        self.conversation.add_error(sentence)
        if self._ticker is not None:
            self._ticker.play_error()

    def _on_image(self, image: Image.Image, label: str) -> None:
        self.preview.set_image(image, label)
        self._update_enabled()

    def show_status(self, level: Level, text: str) -> None:
        """Notifier sink (on the main thread): the message stays readable in the status bar."""
        self.status_label.setText(text)

    def _update_enabled(self) -> None:
        self.actions["save_image"].setEnabled(self.controller.current_image is not None)
        self.actions["copy_answer"].setEnabled(bool(self.controller.last_answer_text()))

    # ------------------------------------------------------------------ actions
    def ask(self) -> None:
        if self.controller.ask(self.question.text()):
            self.question.clear()

    def _capture_action(self, action: Callable[..., bool]) -> None:
        """From inside the window, get out of the way first so the capture shows what is behind."""
        if self.capture_behind and self.isVisible() and self.isActiveWindow():
            if action(delay=CAPTURE_BEHIND_DELAY):
                self._restore_pending = True
                self.showMinimized()
        else:
            action()

    def _restore_after_capture(self) -> None:
        if self._restore_pending:
            self._restore_pending = False
            self.bring_to_front(self.conversation)

    def bring_to_front(self, focus: QWidget | None = None) -> None:
        if self.isMinimized():
            self.showNormal()
        self.show()
        self.raise_()
        self.activateWindow()
        if focus is not None:
            focus.setFocus(Qt.FocusReason.OtherFocusReason)

    def focus_question(self) -> None:
        self.bring_to_front(self.question)

    def switch_focus(self) -> None:
        target = self.conversation if self.question.hasFocus() else self.question
        target.setFocus(Qt.FocusReason.ShortcutFocusReason)

    def copy_answer(self) -> None:
        text = self.controller.last_answer_text()
        if not text:
            self.notifier.info("There is no answer to copy yet.")
            return
        QGuiApplication.clipboard().setText(text)
        self.notifier.done("The answer was copied.")

    def open_image_dialog(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Open image", "", IMAGE_FILTER)
        if paths:
            self.controller.open_images(paths)

    def save_image_dialog(self) -> None:
        image = self.controller.current_image
        if image is None:
            self.notifier.info("There is no image to save yet.")
            return
        suggested = Path(self.controller.current_label or "image").stem or "image"
        path, _ = QFileDialog.getSaveFileName(
            self, "Save image", f"{suggested}.png", "PNG image (*.png);;JPEG image (*.jpg *.jpeg)"
        )
        if path:
            self.save_image(Path(path))

    def save_image(self, path: Path) -> bool:
        image = self.controller.current_image
        if image is None:
            return False
        if path.suffix.lower() not in (".png", ".jpg", ".jpeg"):
            path = path.with_name(path.name + ".png")
        try:
            image.convert("RGB").save(path)
        except (OSError, ValueError) as exc:
            self._say_error(f"The image could not be saved: {getattr(exc, 'strerror', None) or exc}.")
            return False
        self.notifier.done(f"The image was saved as {path.name}.")
        return True

    def take_camera_picture(self) -> None:
        try:
            from .camera import list_cameras
        except ImportError:
            self._say_error("The camera needs the PySide6 multimedia add-ons, which are not installed.")
            return
        cameras = list_cameras()
        if not cameras:
            self._say_error("No camera was found. Connect a camera and try again.")
            return
        if len(cameras) > 1 and self._camera_id not in {cid for cid, _ in cameras}:
            names = [name for _cid, name in cameras]
            name, ok = QInputDialog.getItem(self, "Choose a camera", "Camera:", names, 0, False)
            if not ok:
                return
            self._camera_id = cameras[names.index(name)][0]
        elif len(cameras) == 1:
            self._camera_id = cameras[0][0]
        self.controller.describe_camera_frame(self._camera_id)

    # ------------------------------------------------------------ paste & drop
    def paste(self) -> None:
        self.handle_mime(QGuiApplication.clipboard().mimeData(), dropped=False)

    def handle_mime(self, mime: QMimeData | None, *, dropped: bool) -> bool:
        """Describe the image files or image data in ``mime``; say in words why not otherwise."""
        if mime is None:
            self._say_error("There is nothing on the clipboard.")
            return False
        files, others = local_files(mime)
        if files:
            if others:
                self.notifier.info(f"{others} web address{'es were' if others > 1 else ' was'} skipped: "
                                   "Iris opens files from this computer.")
            return self.controller.open_images(files)
        if mime.hasImage():
            try:
                image = image_from_mime(mime)
            except IrisError as exc:
                self.controller.report(exc)
                return False
            return self.controller.describe_image(image, f"the {'dropped' if dropped else 'pasted'} image")
        if others:
            self._say_error("That was a web address, not a file. Save the image to this computer, "
                            "then open it, or copy the image itself and paste it.")
            return False
        if mime.hasText():
            paths = paths_in_text(mime.text())
            if paths:
                return self.controller.open_images(paths)
            self._say_error(f"That was text, not an image. {'Drop' if dropped else 'Copy'} an image file "
                            "or an image instead.")
            return False
        self._say_error("That was not an image or an image file." if dropped
                        else "There is no image or image file on the clipboard.")
        return False

    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt override
        if could_be_image(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:  # noqa: N802 - Qt override
        self.dragEnterEvent(event)

    def dropEvent(self, event) -> None:  # noqa: N802 - Qt override
        event.acceptProposedAction()
        mime = event.mimeData()
        self.handle_mime(mime, dropped=True)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        """The question box takes file and image drops for the window, and Ctrl+V of an image."""
        if watched is self.question:
            kind = event.type()
            drop = cast(QDropEvent, event)  # the drag kinds below are QDropEvent subclasses
            if kind in (QEvent.Type.DragEnter, QEvent.Type.DragMove) and has_image_payload(drop.mimeData()):
                drop.acceptProposedAction()
                return True
            if kind == QEvent.Type.Drop and has_image_payload(drop.mimeData()):
                drop.acceptProposedAction()
                self.handle_mime(drop.mimeData(), dropped=True)
                return True
            if kind == QEvent.Type.KeyPress and cast(QKeyEvent, event).matches(QKeySequence.StandardKey.Paste):
                mime = QGuiApplication.clipboard().mimeData()
                if mime is not None and has_image_payload(mime):
                    self.paste()
                    return True
        return super().eventFilter(watched, event)

    # ----------------------------------------------------------------- dialogs
    def open_settings(self) -> None:
        if self._raise_dialog("settings"):
            return
        from .settings_dialog import SettingsDialog

        try:
            voices = self._voices()
        except Exception:
            voices = []
        dialog = SettingsDialog(self.settings, voices=voices, parent=self, notifier=self.notifier)
        self._show_dialog("settings", dialog)

    def show_shortcuts(self) -> None:
        if not self._raise_dialog("shortcuts"):
            self._show_dialog("shortcuts", ShortcutsDialog(self.settings.as_dict(), self))

    def copy_diagnostics(self) -> None:
        """Help > Copy diagnostic information: the same report as ``iris doctor``."""
        from ..diagnostics import report

        core = self.controller.core
        text = report(self.settings, engine=core.engine, speaker=core.speaker, ocr=core.ocr)
        clipboard = QGuiApplication.clipboard()
        if clipboard is not None:
            clipboard.setText(text)
        self.notifier.done("Diagnostic information copied. Paste it into your question or bug report; "
                           "it holds no answers, questions or pictures.")

    def offer_model(self, sentence: str = "") -> None:
        """First time in a session that the model is missing: offer the download (not modal)."""
        if self._model_offered:
            return
        self._model_offered = True
        QTimer.singleShot(0, self.open_model_dialog)

    def open_model_dialog(self) -> None:
        if self._raise_dialog("model"):
            return
        from ..catalogue import default_entry
        from ..download import download_model
        from .model_dialog import ModelSetupDialog

        try:
            entry = default_entry(_device_hint(self.settings["device"]))
        except IrisError as exc:
            self._say_error(exc.message)
            return
        dialog = ModelSetupDialog(entry, download=download_model, notifier=self.notifier, parent=self)
        dialog.accepted.connect(self._model_installed)
        self._show_dialog("model", dialog)

    def _model_installed(self) -> None:
        if self._make_engine is None:
            return
        try:
            self.controller.set_engine(self._make_engine())
        except IrisError as exc:
            self._say_error(exc.message)
            return
        self.controller.warm_up()

    def _raise_dialog(self, name: str) -> bool:
        dialog = self._dialogs.get(name)
        if dialog is not None and dialog.isVisible():
            dialog.raise_()
            dialog.activateWindow()
            return True
        return False

    def _show_dialog(self, name: str, dialog: QWidget) -> None:
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        dialog.destroyed.connect(lambda *_: self._dialogs.pop(name, None))
        self._dialogs[name] = dialog
        dialog.show()
        dialog.raise_()
        dialog.activateWindow()

    # ----------------------------------------------------------------- history
    def toggle_history(self) -> None:
        if self.history_dock is None:
            self.notifier.info("History is not available.")
            return
        if self.history_dock.isVisible():
            self.history_dock.hide()
            self.question.setFocus()
            return
        if not self.settings["history_enabled"]:
            self.notifier.info("History is off. Turn it on in Settings to keep earlier descriptions.")
        self.history_dock.show()
        if self.history_panel is not None:
            self.history_panel.refresh()
            self.history_panel.setFocus(Qt.FocusReason.ShortcutFocusReason)

    def show_history_entry(self, entry: Any) -> None:
        image = self.history.load_image(entry) if self.history is not None else None
        self.controller.resume(image, entry.source or "an earlier image", entry.text, entry.question)
        self.conversation.begin_turn("image" if not entry.question else "ask", entry.question or entry.source)
        self.conversation.finish_turn(entry.text)
        self.focus_question()

    # ------------------------------------------------------------------- close
    def _say_error(self, sentence: str) -> None:
        self.controller.report(BadInputError(sentence))

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        if self.can_hide_to_tray():
            event.ignore()
            self.hide()
            self.notifier.info("Iris is still running in the background. Use the tray icon or a hotkey to come back.")
            return
        self.notifier.remove_sink(self._sink)
        if self._ticker is not None:
            self._ticker.stop()
        for dialog in list(self._dialogs.values()):
            dialog.close()
        super().closeEvent(event)
        self.closed.emit()


def _device_hint(device: str) -> str:
    """'cuda' or 'cpu' for the model recommendation, without importing torch."""
    if device in ("cpu", "cuda"):
        return device
    import shutil

    return "cuda" if shutil.which("nvidia-smi") else "cpu"
