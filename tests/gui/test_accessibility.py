"""What a screen reader gets: every focusable thing has a name, nothing hard-codes colours or fonts.

Walks ``QAccessible.queryAccessibleInterface`` over every widget of every
window and dialog the desktop app creates (main window with its history
panel, keyboard shortcuts, settings, first-run model dialog) and also walks
the accessibility tree itself, failing on any focusable object without an
accessible name.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QAccessible, QColor, QFont, QPalette
from PySide6.QtWidgets import QApplication, QWidget

from app.gui.keymap import ShortcutsDialog

pytestmark = pytest.mark.qt_log_ignore(r"This plugin does not support (propagateSizeHints|raise)\(\)")


def _name(widget: QWidget) -> str:
    iface = QAccessible.queryAccessibleInterface(widget)
    assert iface is not None and iface.isValid(), f"{type(widget).__name__} has no accessible interface"
    return (iface.text(QAccessible.Text.Name) or "").strip()


def unnamed_focusable_widgets(top: QWidget) -> list[str]:
    """Widgets a keyboard user can Tab to whose accessible name is empty."""
    missing = []
    for widget in [top, *top.findChildren(QWidget)]:
        if widget.window() is not top:
            continue  # a dialog parented to the window is checked on its own
        if widget.focusPolicy() & Qt.FocusPolicy.TabFocus and not _name(widget):
            parent = widget.parentWidget()
            if widget.objectName().startswith("qt_") and parent is not None and _name(parent):
                continue  # Qt's own inner part (a spin box's line edit): read as its named parent
            missing.append(f"{type(widget).__name__} {widget.objectName()!r} in {type(top).__name__}")
    return missing


def unnamed_focusable_interfaces(top: QWidget) -> list[str]:
    """The same check on the accessibility tree (covers children that are not widgets)."""
    missing: list[str] = []

    def walk(iface, depth: int) -> None:
        if iface is None or not iface.isValid() or depth > 40:
            return
        state = iface.state()
        if state.focusable and not state.invisible and not (iface.text(QAccessible.Text.Name) or "").strip():
            missing.append(f"{iface.role().name} under {top.windowTitle()!r}")
        for index in range(iface.childCount()):
            walk(iface.child(index), depth + 1)

    walk(QAccessible.queryAccessibleInterface(top), 0)
    return missing


def assert_accessible(top: QWidget) -> None:
    assert unnamed_focusable_widgets(top) == []
    assert unnamed_focusable_interfaces(top) == []


@dataclass
class Windows:
    main: QWidget
    others: dict[str, QWidget]


@pytest.fixture
def windows(make_app, qtbot, tmp_path):
    from app.history import History

    history = History(tmp_path / "history", enabled=True, limit=5)
    h = make_app(history=history, settings={"history_enabled": True})
    window = h.window
    window.actions["history"].trigger()
    window.actions["shortcuts"].trigger()
    others = {"shortcuts": window._dialogs["shortcuts"]}
    try:
        import app.gui.settings_dialog  # noqa: F401

        window.actions["settings"].trigger()
        others["settings"] = window._dialogs["settings"]
    except ImportError:
        pass
    try:
        import app.gui.model_dialog  # noqa: F401

        window.open_model_dialog()
        if "model" in window._dialogs:
            others["model"] = window._dialogs["model"]
    except ImportError:
        pass
    for dialog in others.values():
        qtbot.waitExposed(dialog)
    return Windows(window, others)


def test_every_focusable_widget_of_the_main_window_has_a_name(windows):
    assert windows.main.history_dock is not None and windows.main.history_dock.isVisible()
    assert_accessible(windows.main)


@pytest.mark.parametrize("name", ["shortcuts", "settings", "model"])
def test_every_focusable_widget_of_each_dialog_has_a_name(windows, name):
    if name not in windows.others:
        pytest.skip(f"the {name} dialog is not in this build")
    assert_accessible(windows.others[name])


def test_the_walk_really_fails_on_an_unnamed_button(qtbot):
    """Guard against a check that can never fail."""
    from PySide6.QtWidgets import QPushButton, QVBoxLayout

    top = QWidget()
    qtbot.addWidget(top)
    layout = QVBoxLayout(top)
    layout.addWidget(QPushButton("", top))
    top.show()
    assert unnamed_focusable_widgets(top) and unnamed_focusable_interfaces(top)


def test_buttons_explain_themselves_and_the_views_are_described(windows):
    window = windows.main
    for name, button in window.buttons.items():
        assert button.accessibleDescription(), name
    for widget in (window.conversation, window.question, window.preview, window.ask_button):
        assert widget.accessibleDescription() or widget is window.ask_button
    conversation = QAccessible.queryAccessibleInterface(window.conversation)
    assert conversation.state().readOnly and conversation.state().focusable
    # The conversation can be reviewed as text by the screen reader.
    assert conversation.textInterface() is not None


def test_status_changes_are_readable_in_the_status_bar(windows, qtbot):
    windows.main.notifier.info("Reading the screen.")
    status = windows.main.status_label
    qtbot.waitUntil(lambda: status.text() == "Reading the screen.", timeout=2000)
    assert _name(status) == "Reading the screen."  # what a screen reader's "read status bar" says


def test_no_hard_coded_colours_or_fonts(windows):
    for top in (windows.main, *windows.others.values()):
        for widget in [top, *top.findChildren(QWidget)]:
            assert widget.styleSheet() == "", type(widget).__name__
            assert not widget.testAttribute(Qt.WidgetAttribute.WA_SetPalette), type(widget).__name__
            assert not widget.testAttribute(Qt.WidgetAttribute.WA_SetFont), type(widget).__name__


def test_high_contrast_palette_and_a_large_system_font_are_followed(make_app, qapp):
    old_palette, old_font = qapp.palette(), qapp.font()
    palette = QPalette(QColor("black"))
    palette.setColor(QPalette.ColorRole.Base, QColor("black"))
    palette.setColor(QPalette.ColorRole.Text, QColor("yellow"))
    big = QFont(old_font)
    big.setPointSize(24)
    try:
        QApplication.setPalette(palette)
        QApplication.setFont(big)
        h = make_app()
        view = h.window.conversation
        assert view.palette().color(QPalette.ColorRole.Text) == QColor("yellow")
        assert view.palette().color(QPalette.ColorRole.Base) == QColor("black")
        assert view.font().pointSize() == 24 and h.window.question.font().pointSize() == 24
        assert h.window.width() > h.window.fontMetrics().averageCharWidth() * 80  # sized from the font
    finally:
        QApplication.setPalette(old_palette)
        QApplication.setFont(old_font)


def test_the_keyboard_map_lists_every_window_action_and_hotkey(qtbot):
    from app.gui.hotkeys import HOTKEY_ACTIONS, parse_hotkey
    from app.gui.keymap import WINDOW_ACTIONS, shortcut_text
    from app.settings import defaults

    dialog = ShortcutsDialog(defaults())
    qtbot.addWidget(dialog)
    text = dialog.text.toPlainText()
    for spec in WINDOW_ACTIONS:
        assert f"{shortcut_text(spec)}: {spec.plain}" in text
    for setting, _action, words in HOTKEY_ACTIONS:
        assert f"{parse_hotkey(defaults()[setting]).spoken()}: {words}" in text


def test_the_documented_keyboard_map_matches_the_window():
    from app.gui.hotkeys import HOTKEY_ACTIONS, parse_hotkey
    from app.gui.keymap import WINDOW_ACTIONS, shortcut_text
    from app.settings import defaults
    from tests.conftest import REPO

    doc = (REPO / "README.md").read_text(encoding="utf-8")
    for spec in WINDOW_ACTIONS:
        assert f"| {shortcut_text(spec)} |" in doc, spec.name
    for setting, _action, _words in HOTKEY_ACTIONS:
        assert f"| {parse_hotkey(defaults()[setting]).spoken()} |" in doc, setting
