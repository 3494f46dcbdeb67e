"""Application start-up: compose the core, show the window, then do the slow things.

The window must be on screen (and its title read by the screen reader) within
a second, so nothing slow happens before ``show()``: the vision engine is
created lazily (no torch import), OCR loads on first use, global hotkeys are
registered and the model is warmed up only after the event loop is running.
Settings changes are applied live here (speech engine, model, history); the
speaker follows rate/volume/voice and the hotkey manager its keys by itself.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

from PySide6.QtCore import QPointF, Qt, QTimer
from PySide6.QtGui import QAction, QColor, QIcon, QPainter, QPalette, QPixmap
from PySide6.QtWidgets import QApplication, QMenu, QSystemTrayIcon

from ..compose import Core, build_core
from ..diagnostics import install_crash_hooks
from ..errors import IrisError
from ..logsetup import configure_logging
from ..notifier import Notifier
from ..settings import Settings
from .bridge import MainThreadDispatcher
from .controller import Controller
from .hotkeys import HotkeyManager
from .main_window import MainWindow

log = logging.getLogger(__name__)

#: Milliseconds after the window appears before the model starts loading.
WARM_UP_DELAY_MS = 300


def make_icon() -> QIcon:
    """An iris drawn from the palette (no file needed, follows light, dark and high contrast)."""
    icon = QIcon()
    palette = QApplication.palette()
    ring = palette.color(QPalette.ColorRole.Highlight)
    pupil = palette.color(QPalette.ColorRole.WindowText)
    for size in (16, 22, 32, 48, 64, 128):
        pixmap = QPixmap(size, size)
        pixmap.fill(QColor(0, 0, 0, 0))
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        centre = QPointF(size / 2, size / 2)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(ring)
        painter.drawEllipse(centre, size * 0.46, size * 0.46)
        painter.setBrush(pupil)
        painter.drawEllipse(centre, size * 0.2, size * 0.2)
        painter.end()
        icon.addPixmap(pixmap)
    return icon


class IrisApp:
    """Everything the running desktop app owns, wired together (tests build it too)."""

    def __init__(
        self,
        qapp: QApplication,
        *,
        core: Core | None = None,
        dispatcher: MainThreadDispatcher | None = None,
        history: Any | None = None,
        start_hotkeys: bool = True,
        controller_options: dict[str, Any] | None = None,
        detect_screen_reader: Any | None = None,
    ) -> None:
        self.qapp = qapp
        self._detect_screen_reader = detect_screen_reader  # None: ask the platform (app.a11y.screen_reader)
        self.dispatcher = dispatcher or MainThreadDispatcher()
        if core is None:
            notifier = Notifier()
            settings = Settings.load(on_message=notifier.error)
            core = build_core(settings=settings, notifier=notifier, deliver=self.dispatcher.deliver,
                              screen_readers=self._screen_readers())
        self.core = core
        self.settings = core.settings
        self.notifier = core.notifier
        self.history = history if history is not None else _make_history(self.settings, self.notifier)
        self.controller = Controller(core, self.dispatcher.deliver, history=self.history,
                                     **(controller_options or {}))
        self.window = MainWindow(self.controller, history=self.history, make_engine=self._make_engine)
        self.icon = make_icon()
        self.window.setWindowIcon(self.icon)
        self.window.quit_requested.connect(self.quit)
        self.window.closed.connect(self.quit)
        self.tray = self._make_tray() if QSystemTrayIcon.isSystemTrayAvailable() else None
        self.window.can_hide_to_tray = lambda: self.tray is not None and bool(self.settings["close_to_tray"])
        self.hotkeys = HotkeyManager(self.settings, self.notifier)
        self.hotkeys.triggered.connect(self.run_action)
        self._start_hotkeys = start_hotkeys
        self.settings.subscribe(self._on_setting)
        from ..speech.watch import ScreenReaderWatch

        # A screen reader started (or quit) after Iris: "auto" moves speech to it (or back).
        self.screen_reader_watch = ScreenReaderWatch(
            lambda _running: self.dispatcher.deliver(self._screen_reader_changed), detect=detect_screen_reader)
        self._closed = False
        self.started = False  # True once the deferred start-up work has run

    # ---------------------------------------------------------------- start-up
    def show(self) -> None:
        self.window.show()
        self.window.question.setFocus(Qt.FocusReason.ActiveWindowFocusReason)
        QTimer.singleShot(0, self._after_show)

    def _after_show(self) -> None:
        if self._start_hotkeys:
            self.hotkeys.start()
        self.screen_reader_watch.start()
        if self.settings["warm_up_on_start"]:
            QTimer.singleShot(WARM_UP_DELAY_MS, self.controller.warm_up)
        shown = self.hotkeys.plan.shown.get("describe_screen")
        hint = f" Press {shown} in any application to hear the screen described." if shown else ""
        self.notifier.info(f"Iris is ready.{hint}", speak=False)
        self.started = True

    def _make_tray(self) -> QSystemTrayIcon:
        tray = QSystemTrayIcon(self.icon, self.window)
        tray.setToolTip("Iris")
        menu = QMenu(self.window)
        entries = (
            ("Show Iris", self.show_window),
            ("Describe screen", lambda: self.run_action("describe_screen")),
            ("Describe window", lambda: self.run_action("describe_window")),
            ("Read screen text", lambda: self.run_action("read_screen")),
            ("Ask about the screen", lambda: self.run_action("ask_about_screen")),
            ("Describe focused control", lambda: self.run_action("describe_focused")),
            ("What changed?", lambda: self.run_action("what_changed")),
            ("Repeat answer", lambda: self.run_action("repeat_last")),
            ("Stop", lambda: self.run_action("stop")),
            (None, None),
            ("Quit Iris", self.quit),
        )
        for text, slot in entries:
            if text is None:
                menu.addSeparator()
                continue
            action = QAction(text, menu)
            action.triggered.connect(lambda _checked=False, fn=slot: fn())
            menu.addAction(action)
        tray.setContextMenu(menu)
        tray.activated.connect(self._tray_activated)
        self._tray_menu = menu
        tray.show()
        return tray

    def _tray_activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason in (QSystemTrayIcon.ActivationReason.Trigger, QSystemTrayIcon.ActivationReason.DoubleClick):
            self.show_window()

    def show_window(self) -> None:
        self.window.bring_to_front(self.window.question)

    # ----------------------------------------------------------------- actions
    def run_action(self, action: str) -> None:
        """A hotkey or tray entry; capture actions step out of the way if Iris is in front."""
        c, w = self.controller, self.window
        capture = {"describe_screen": c.describe_screen, "describe_window": c.describe_window,
                   "read_screen": c.read_screen, "ask_about_screen": c.ask_about_screen,
                   "describe_focused": c.describe_focused, "what_changed": c.what_changed}
        if action in capture:
            w._capture_action(capture[action])
        elif action == "repeat_last":
            c.repeat_last()
        elif action == "stop":
            c.stop()
        else:  # pragma: no cover - the action table is fixed
            log.warning("unknown action %s", action)

    # -------------------------------------------------------- live settings
    def _make_engine(self):
        from ..engine.loading import create_engine

        return create_engine(self.settings["model"], self.settings["device"], self.settings, notify=self.notifier.info)

    def _on_setting(self, key: str, value: Any) -> None:
        try:
            if key in ("model", "device", "server_url", "server_model", "server_allow_remote"):
                self.controller.set_engine(self._make_engine())
                if self.settings["warm_up_on_start"]:
                    self.controller.warm_up()
            elif key in ("speech_engine", "speech_output"):
                self._replace_speaker()
            elif key == "history_enabled" and self.history is not None:
                self.history.set_enabled(bool(value))
            elif key == "history_limit" and self.history is not None:
                self.history.set_limit(int(value))
            elif key == "log_to_file":
                written = configure_logging(to_file=bool(value))
                self.notifier.done(f"Iris is keeping a log in {written}." if written else "Iris keeps no log file now.")
            elif key == "start_with_system":
                from ..autostart import set_autostart

                set_autostart(bool(value))
                self.notifier.done("Iris will start when you log in." if value
                                   else "Iris will no longer start when you log in.")
        except IrisError as exc:
            self.notifier.error(exc.message)

    def _screen_readers(self) -> list[Any]:
        """The GUI's own screen-reader output: Qt accessibility announcements from the main window."""
        from .announcer import QtAnnouncer

        return [lambda: QtAnnouncer(lambda: getattr(self, "window", None), self.dispatcher.deliver)]

    def _replace_speaker(self) -> None:
        """A new speech output; the router keeps listeners, so an answer in progress is not stalled."""
        from ..speech.factory import create_speaker
        from ..speech.router import SpeechRouter

        new = create_speaker(self.settings, on_message=self.notifier.error, on_info=self.notifier.info,
                             screen_readers=self._screen_readers(), detect=self._detect_screen_reader)
        router = self.core.speaker
        if isinstance(router, SpeechRouter):
            router.set_output(new)
            return
        self.core.speaker = self.core.assistant.speaker = SpeechRouter(new)
        self.notifier.set_speaker(self.core.speaker)
        try:
            router.close()
        except Exception:
            log.exception("could not close the old speaker")

    def _screen_reader_changed(self) -> None:
        if not self._closed and self.settings["speech_output"] == "auto":
            self._replace_speaker()

    # ---------------------------------------------------------------- shutdown
    def quit(self) -> None:
        self.shutdown()
        self.qapp.quit()

    def shutdown(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.hotkeys.stop()
        self.screen_reader_watch.stop()
        try:
            self.core.assistant.stop(self.core.runner.current_cancel_token())
        except Exception:
            pass
        self.window.can_hide_to_tray = lambda: False
        self.window.close()
        if self.tray is not None:
            self.tray.hide()
        self.dispatcher.close()
        self.core.close()


def _make_history(settings: Settings, notifier: Notifier) -> Any | None:
    from ..history import History

    return History(enabled=settings["history_enabled"], limit=settings["history_limit"], on_message=notifier.error)


def run(argv: list[str] | None = None) -> int:
    """Start the desktop app and run until the user quits; returns the exit code."""
    started = time.perf_counter()
    existing = QApplication.instance()
    qapp = existing if isinstance(existing, QApplication) else QApplication(["iris", *(argv or [])])
    qapp.setApplicationName("Iris")
    # No application display name: Qt would append " — Iris" to every window title ("Iris — Iris").
    qapp.setDesktopFileName("iris")
    qapp.setQuitOnLastWindowClosed(False)  # the window decides: hide to the tray, or quit
    iris = IrisApp(qapp)
    # One catcher for exceptions nothing else handled (Qt slots, threads): logged once,
    # details in crash.log, one sentence shown and spoken; and the opt-in log file.
    install_crash_hooks(iris.notifier.error)
    configure_logging(to_file=bool(iris.settings["log_to_file"]))
    qapp.aboutToQuit.connect(iris.shutdown)
    iris.show()
    log.info("window shown %.3f s after start", time.perf_counter() - started)
    code = qapp.exec()
    iris.shutdown()
    return int(code or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run(sys.argv[1:]))
