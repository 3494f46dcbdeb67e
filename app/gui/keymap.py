"""Every window action in one table: menu text, shortcut, and what it does in words.

The menus, the buttons, the accessible descriptions, the Keyboard shortcuts
dialog (F1) and the README keyboard map all come from :data:`WINDOW_ACTIONS`, so the
keyboard map a blind user hears is the one the window really has.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QPlainTextEdit, QVBoxLayout, QWidget

from .hotkeys import HOTKEY_ACTIONS, HotkeyError, parse_hotkey


@dataclass(frozen=True)
class ActionSpec:
    name: str
    text: str  # menu text with its & accelerator
    shortcut: str  # QKeySequence portable text
    tip: str  # one sentence: what it does
    menu: str  # which menu it lives in
    button: bool = True  # also a button in the window

    @property
    def plain(self) -> str:
        return self.text.replace("&", "").rstrip(".…")


WINDOW_ACTIONS: tuple[ActionSpec, ...] = (
    ActionSpec("describe_screen", "Describe &screen", "Ctrl+D",
               "Describe everything on the screen behind Iris.", "describe"),
    ActionSpec("describe_window", "Describe &window", "Ctrl+Shift+D",
               "Describe the window that was in front before Iris.", "describe"),
    ActionSpec("read_screen", "&Read screen text", "Ctrl+R",
               "Read the text on the screen behind Iris, line by line.", "describe"),
    ActionSpec("describe_focused", "Describe &focused control", "Ctrl+F",
               "Describe the control that had the keyboard focus before Iris, with its role and name.", "describe"),
    ActionSpec("what_changed", "What chan&ged?", "Ctrl+G",
               "Look at the same screen or window again and say what changed since the last picture.", "describe"),
    ActionSpec("camera", "Ca&mera picture", "Ctrl+M",
               "Take a picture with the camera and describe it.", "describe"),
    *(ActionSpec(f"zoom_{part.replace(' ', '_')}", f"Zoom {part}", f"Ctrl+{key}",
                 f"Describe the {part} ninth of the current picture at full size; questions are then about it.",
                 "zoom", button=False)
      for part, key in (("top left", 7), ("top", 8), ("top right", 9), ("left", 4), ("centre", 5),
                        ("right", 6), ("bottom left", 1), ("bottom", 2), ("bottom right", 3))),
    ActionSpec("zoom_out", "Zoom &out", "Ctrl+0",
               "Go back to the larger picture; questions are then about it again.", "zoom", button=False),
    ActionSpec("open_image", "&Open image…", "Ctrl+O",
               "Choose one or more image files to describe.", "file"),
    ActionSpec("paste", "&Paste image", "Ctrl+Shift+V",
               "Describe the image, or the image file, on the clipboard.", "file"),
    ActionSpec("save_image", "&Save image…", "Ctrl+S",
               "Save the current image to a file.", "file"),
    ActionSpec("repeat", "R&epeat answer", "Ctrl+L",
               "Say the last answer again.", "answer"),
    ActionSpec("stop", "S&top", "Esc",
               "Stop speaking and cancel the answer being worked on.", "answer"),
    ActionSpec("copy_answer", "&Copy answer", "Ctrl+Shift+C",
               "Copy the last answer to the clipboard.", "answer"),
    ActionSpec("history", "&History", "Ctrl+H",
               "Show or hide earlier descriptions and their images.", "answer"),
    ActionSpec("switch_focus", "Switch between &question and conversation", "F6",
               "Move the focus between the question box and the conversation.", "answer", button=False),
    ActionSpec("settings", "Se&ttings…", "Ctrl+,",
               "Change the model, voice, hotkeys, prompts and more.", "tools"),
    ActionSpec("download_model", "&Download model…", "Ctrl+Shift+M",
               "Download the recommended description model.", "tools", button=False),
    ActionSpec("shortcuts", "&Keyboard shortcuts", "F1",
               "List every keyboard shortcut and global hotkey.", "help", button=False),
    ActionSpec("copy_diagnostics", "Copy &diagnostic information", "Ctrl+Shift+F1",
               "Copy versions, device, engines and settings (never answers or pictures) for a question or bug report.",
               "help", button=False),
    ActionSpec("quit", "&Quit", "Ctrl+Q",
               "Close Iris completely, including the tray icon and hotkeys.", "file", button=False),
)

MENUS: tuple[tuple[str, str], ...] = (
    ("file", "&File"), ("describe", "&Describe"), ("zoom", "&Zoom"), ("answer", "&Answer"), ("tools", "&Tools"), ("help", "&Help"),
)

FIELD_KEYS = (
    ("Alt+Q", "Go to the question box; type a question about the current image and press Enter."),
    ("Alt+N", "Go to the conversation: every question and answer as text."),
    ("Tab", "Move through the buttons, the image, the conversation and the question box."),
)


def shortcut_text(spec: ActionSpec) -> str:
    return QKeySequence(spec.shortcut).toString(QKeySequence.SequenceFormat.NativeText)


def hotkey_lines(values: dict) -> list[tuple[str, str]]:
    rows = []
    for setting, _action, words in HOTKEY_ACTIONS:
        text = values.get(setting) or ""
        try:
            shown = parse_hotkey(text).spoken() if text else "off"
        except HotkeyError:
            shown = f"{text} (not valid)"
        rows.append((shown, words + "."))
    return rows


def keyboard_map(values: dict) -> str:
    """The keyboard map as plain text, for the F1 dialog and the docs."""
    lines = ["Global hotkeys (work in any application):"]
    lines += [f"  {keys}: {words}" for keys, words in hotkey_lines(values)]
    lines += ["", "In the Iris window:"]
    lines += [f"  {shortcut_text(s)}: {s.plain}. {s.tip}" for s in WINDOW_ACTIONS]
    lines += [f"  {keys}: {words}" for keys, words in FIELD_KEYS]
    return "\n".join(lines)


class ShortcutsDialog(QDialog):
    """The keyboard map as reviewable text (not a table: easier to read line by line)."""

    def __init__(self, values: dict, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts - Iris")
        self.text = QPlainTextEdit(self)
        self.text.setReadOnly(True)
        self.text.setTabChangesFocus(True)
        self.text.setPlainText(keyboard_map(values))
        self.text.setAccessibleName("Keyboard shortcuts")
        self.text.setAccessibleDescription("Every global hotkey and window shortcut, one per line.")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        buttons.button(QDialogButtonBox.StandardButton.Close).setAccessibleName("Close")
        layout = QVBoxLayout(self)
        layout.addWidget(self.text)
        layout.addWidget(buttons)
        self.resize(self.fontMetrics().averageCharWidth() * 90, self.fontMetrics().height() * 30)
        self.text.setFocus()
