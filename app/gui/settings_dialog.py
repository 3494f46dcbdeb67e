"""The settings dialog, built from the declarative :data:`app.settings.SCHEMA`.

Keyboard and screen reader first: one tab per group, every control has a
label with a unique mnemonic (its buddy), an accessible name and an accessible
description (the schema's sentence); ranges and choices come from the schema,
so most invalid values cannot be typed. OK/Apply go through ``settings.set``,
so the app's listeners apply each change live; Cancel changes nothing.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from PySide6.QtCore import Qt
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QScrollArea,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ..errors import as_user_error
from ..settings import SCHEMA, SCHEMA_BY_KEY, Setting, Settings
from .hotkeys import HotkeyError, parse_hotkey

# (group title, keys) in the order they appear; keys not listed go to "Other".
GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Model and device", ("model", "device", "max_new_tokens", "cpu_threads")),
    ("Speed and quality", ("preset", "kv_cache")),
    # The API key is not a setting: IRIS_API_KEY or the system keyring (app/secrets.py).
    ("Model server", ("server_url", "server_model", "server_allow_remote", "server_timeout")),
    ("Speech", ("speech_output", "speech_engine", "voice", "rate", "volume", "speak_answers", "progress_sound")),
    ("Hotkeys", (
        "hotkeys_enabled", "hotkey_describe_screen", "hotkey_describe_window", "hotkey_read_screen",
        "hotkey_ask_screen", "hotkey_describe_focused", "hotkey_what_changed", "hotkey_repeat", "hotkey_stop",
    )),
    ("Prompts and language", ("prompt_describe", "prompt_screen", "prompt_read", "answer_language", "ocr_language")),
    ("App", ("start_with_system", "history_enabled", "history_limit", "close_to_tray", "warm_up_on_start",
             "screen_monitors", "log_to_file")),
)

LABELS: dict[str, str] = {
    "model": "Model",
    "device": "Run the model on",
    "preset": "Speed and quality",
    "max_new_tokens": "Longest answer (tokens)",
    "cpu_threads": "Processor threads",
    "kv_cache": "Answer cache",
    "warm_up_on_start": "Load the model when Iris starts",
    "server_url": "Model server address (empty: use a model on this computer)",
    "server_model": "Model on the server (empty: the first it offers)",
    "server_allow_remote": "Allow sending pictures to a server on another computer",
    "server_timeout": "Seconds to wait for the server",
    "speech_output": "Speak through",
    "speech_engine": "Iris's own voice: speech engine",
    "voice": "Voice",
    "rate": "Speaking rate (words per minute)",
    "volume": "Volume",
    "speak_answers": "Speak answers aloud",
    "progress_sound": "Play a soft tick while working",
    "prompt_describe": "Prompt to describe a photo",
    "prompt_screen": "Prompt to describe the screen",
    "prompt_read": "Prompt to read text",
    "answer_language": "Language of answers",
    "ocr_language": "Language of text to read (OCR; auto: the system's, or codes such as de or de+fr)",
    "hotkey_describe_screen": "Describe the screen",
    "hotkey_describe_window": "Describe the active window",
    "hotkey_read_screen": "Read text on screen",
    "hotkey_ask_screen": "Ask about the screen",
    "hotkey_describe_focused": "Describe the focused control",
    "hotkey_what_changed": "What changed?",
    "screen_monitors": "Describe the screen shows",
    "hotkey_repeat": "Repeat the last answer",
    "hotkey_stop": "Stop speaking",
    "hotkeys_enabled": "Use global hotkeys",
    "start_with_system": "Start Iris when I log in",
    "history_enabled": "Keep a history of descriptions",
    "history_limit": "History entries to keep",
    "close_to_tray": "Keep running in the tray when the window closes",
    "log_to_file": "Keep a log file for troubleshooting (never answers or pictures)",
}

CHOICE_LABELS: dict[str, dict[Any, str]] = {
    "device": {"auto": "Automatic", "cpu": "Processor (CPU)", "cuda": "Graphics card (CUDA)"},
    "preset": {"fast": "Fast", "balanced": "Balanced", "detailed": "Detailed (slower)"},
    "kv_cache": {"auto": "Automatic", "static": "Static (faster on graphics cards)", "dynamic": "Dynamic"},
    "screen_monitors": {"focused": "The monitor with the focused window", "all": "All monitors"},
    "speech_output": {"auto": "Automatic: my screen reader if one is running, else Iris's voice",
                      "screen-reader": "My screen reader (speech and braille)", "iris-voice": "Iris's own voice",
                      "both": "Both my screen reader and Iris's voice", "text-only": "No speech (text only)"},
    "speech_engine": {"auto": "Automatic", "pyttsx3": "System voices (pyttsx3)", "espeak-ng": "eSpeak NG",
                      "silent": "Silent (text only)"},
}

MULTILINE = ("prompt_",)
_RESERVED_MNEMONICS = {"a", "r"}  # &Apply, &Restore defaults
def normalise_hotkey(text: str) -> tuple[str, frozenset[str] | None, str | None]:
    """(value to store, its keys for duplicate checks, problem sentence or None).

    Empty means "no hotkey for this action". Uses the hotkey module's parser
    (the same one that registers them).
    """
    text = text.strip()
    if not text:
        return "", None, None
    try:
        hotkey = parse_hotkey(text)
    except HotkeyError as exc:
        return text, None, str(exc)
    return hotkey.pynput(), hotkey.keys, None


def hotkey_problem(text: str) -> str | None:
    """Why a hotkey such as ``<ctrl>+<alt>+d`` is unusable (one sentence), or None."""
    return normalise_hotkey(text)[2]


def _plain(label: str) -> str:
    return label.replace("&&", "\0").replace("&", "").replace("\0", "&")


def _with_mnemonic(label: str, used: set[str]) -> str:
    """Put & before the first letter not yet used on this page (word starts first)."""
    starts = [i for i, c in enumerate(label) if c.isalnum() and (i == 0 or not label[i - 1].isalnum())]
    others = [i for i, c in enumerate(label) if c.isalnum() and i not in starts]
    for i in starts + others:
        letter = label[i].lower()
        if letter not in used:
            used.add(letter)
            return label[:i] + "&" + label[i:]
    return label


class SettingsDialog(QDialog):
    """Edit every setting; ``controls[key]`` is the widget for one setting."""

    def __init__(
        self,
        settings: Settings,
        *,
        voices: Sequence[tuple[str, str]] = (),
        parent: QWidget | None = None,
        notifier: Any | None = None,
        model_names: Sequence[str] | None = None,
    ) -> None:
        super().__init__(parent)
        self.settings = settings
        self.notifier = notifier
        self.setWindowTitle("Iris settings")
        self.setAccessibleName("Iris settings")
        self.controls: dict[str, QWidget] = {}
        # Callable[..., Any]: the lambdas bind their widget through a default argument.
        self._getters: dict[str, Callable[..., Any]] = {}
        self._setters: dict[str, Callable[..., Any]] = {}
        self._voices = list(voices)
        self._model_names = list(model_names) if model_names is not None else _catalogue_names()

        self.tabs = QTabWidget(self)
        self.tabs.setAccessibleName("Settings categories")
        grouped = [key for _, keys in GROUPS for key in keys]
        groups = list(GROUPS)
        rest = tuple(s.key for s in SCHEMA if s.key not in grouped)
        if rest:
            groups.append(("Other", rest))
        for title, keys in groups:
            specs = [SCHEMA_BY_KEY[k] for k in keys if k in SCHEMA_BY_KEY]
            if specs:
                self._add_page(title, specs)

        self.error_label = QLabel(self)
        self.error_label.setWordWrap(True)
        self.error_label.setAccessibleName("Problem")
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByKeyboard
                                                 | Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label.hide()

        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok
            | QDialogButtonBox.StandardButton.Cancel
            | QDialogButtonBox.StandardButton.Apply
            | QDialogButtonBox.StandardButton.RestoreDefaults,
            parent=self,
        )
        names = {
            QDialogButtonBox.StandardButton.Ok: ("OK", "Save the settings and close."),
            QDialogButtonBox.StandardButton.Cancel: ("Cancel", "Close without changing anything."),
            QDialogButtonBox.StandardButton.Apply: ("&Apply", "Save the settings and keep this window open."),
            QDialogButtonBox.StandardButton.RestoreDefaults: (
                "&Restore defaults", "Put every setting back to its default; press OK or Apply to keep them."),
        }
        for which, (text, description) in names.items():
            button = self.buttons.button(which)
            button.setText(text)
            button.setAccessibleName(_plain(text))
            button.setAccessibleDescription(description)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.buttons.button(QDialogButtonBox.StandardButton.Apply).clicked.connect(self.apply)
        self.buttons.button(QDialogButtonBox.StandardButton.RestoreDefaults).clicked.connect(self.restore_defaults)

        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs)
        layout.addWidget(self.error_label)
        layout.addWidget(self.buttons)
        self.load_values()

    # -- building ---------------------------------------------------------
    def _add_page(self, title: str, specs: list[Setting]) -> None:
        page = QWidget()
        form = QFormLayout(page)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        used = set(_RESERVED_MNEMONICS)
        for spec in specs:
            label_text = LABELS.get(spec.key) or spec.key.replace("_", " ").capitalize()
            control = self._make_control(spec)
            control.setObjectName(f"setting_{spec.key}")
            control.setAccessibleName(label_text)
            control.setAccessibleDescription(spec.description)
            control.setToolTip(spec.description)
            self.controls[spec.key] = control
            if isinstance(control, QCheckBox):
                control.setText(_with_mnemonic(label_text, used))
                form.addRow(control)
            else:
                label = QLabel(_with_mnemonic(label_text, used) + ":", page)
                label.setBuddy(control)
                form.addRow(label, control)
        if any(spec.key == "server_url" for spec in specs):
            self._add_api_key_row(form, page, used)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # the controls inside take focus, not the frame
        scroll.setWidget(page)
        self.tabs.addTab(scroll, title)  # Ctrl+Tab switches pages; no mnemonic clashes

    def _make_control(self, spec: Setting) -> QWidget:
        key = spec.key
        if spec.type is bool:
            box = QCheckBox()
            self._getters[key] = box.isChecked
            self._setters[key] = lambda v, b=box: b.setChecked(bool(v))
            return box
        if spec.choices is not None:
            combo = QComboBox()
            for value in spec.choices:
                combo.addItem(CHOICE_LABELS.get(key, {}).get(value, str(value)), value)
            self._getters[key] = combo.currentData
            self._setters[key] = lambda v, c=combo: c.setCurrentIndex(max(0, c.findData(v)))
            return combo
        if key == "voice":
            return self._voice_combo()
        if key == "model" and self._model_names:
            combo = QComboBox()
            combo.setEditable(True)
            combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
            for name in ["auto", *[n for n in self._model_names if n != "auto"]]:
                combo.addItem(name)
            line_edit = combo.lineEdit()
            if line_edit is not None:
                line_edit.setAccessibleName(LABELS["model"])
            self._getters[key] = lambda c=combo: c.currentText().strip()
            self._setters[key] = lambda v, c=combo: c.setCurrentText(str(v))
            return combo
        if spec.type is int:
            spin = QSpinBox()
            spin.setRange(int(spec.minimum if spec.minimum is not None else -(2**31)),
                          int(spec.maximum if spec.maximum is not None else 2**31 - 1))
            spin.setAccelerated(True)
            if key == "cpu_threads":
                spin.setSpecialValueText("Automatic (one per core)")
            self._getters[key] = spin.value
            self._setters[key] = lambda v, s=spin: s.setValue(int(v))
            return spin
        if spec.type is float:
            if spec.minimum == 0.0 and spec.maximum == 1.0:  # a fraction: show it as a percentage
                spin = QSpinBox()
                spin.setRange(0, 100)
                spin.setSingleStep(5)
                spin.setSuffix(" %")
                self._getters[key] = lambda s=spin: s.value() / 100.0
                self._setters[key] = lambda v, s=spin: s.setValue(round(float(v) * 100))
                return spin
            dspin = QDoubleSpinBox()
            dspin.setDecimals(2)
            dspin.setRange(spec.minimum if spec.minimum is not None else -1e9,
                           spec.maximum if spec.maximum is not None else 1e9)
            self._getters[key] = dspin.value
            self._setters[key] = lambda v, s=dspin: s.setValue(float(v))
            return dspin
        if key.startswith(MULTILINE):
            edit = QPlainTextEdit()
            edit.setTabChangesFocus(True)  # Tab must move on, not type a tab character
            edit.setFixedHeight(edit.fontMetrics().lineSpacing() * 5 + 12)
            self._getters[key] = lambda e=edit: e.toPlainText().strip()
            self._setters[key] = lambda v, e=edit: e.setPlainText(str(v))
            return edit
        line = QLineEdit()
        if key == "answer_language":
            line.setPlaceholderText("English")
        self._getters[key] = lambda e=line: e.text().strip()
        self._setters[key] = lambda v, e=line: e.setText(str(v))
        return line

    def _voice_combo(self) -> QComboBox:
        combo = QComboBox()
        combo.addItem("System default", "")
        for voice_id, name in self._voices:
            if voice_id:
                combo.addItem(name or voice_id, voice_id)

        def set_voice(value: Any, c: QComboBox = combo) -> None:
            index = c.findData(value)
            if index < 0:  # a voice saved earlier that is not offered now: keep it selectable
                c.addItem(f"{value} (not available now)", value)
                index = c.count() - 1
            c.setCurrentIndex(index)

        self._getters["voice"] = combo.currentData
        self._setters["voice"] = set_voice
        return combo

    # -- values -----------------------------------------------------------
    def load_values(self, values: dict[str, Any] | None = None) -> None:
        """Show ``values`` (default: the current settings) in the controls."""
        values = values if values is not None else self.settings.as_dict()
        for key, setter in self._setters.items():
            setter(values[key])
        self._show_problem(None)

    def values(self) -> dict[str, Any]:
        """The controls' values as they would be saved (hotkeys in pynput form)."""
        values = {key: getter() for key, getter in self._getters.items()}
        for key in values:
            if key.startswith("hotkey_") and isinstance(values[key], str):
                normal, _keys, problem = normalise_hotkey(values[key])
                if problem is None:
                    values[key] = normal
        return values

    def restore_defaults(self) -> None:
        self.load_values({s.key: s.default for s in SCHEMA})

    def problems(self) -> list[tuple[str, str]]:
        """(key, sentence) for every value that cannot be saved."""
        found: list[tuple[str, str]] = []
        values = self.values()
        for key, value in values.items():
            try:
                SCHEMA_BY_KEY[key].validate(value)
            except ValueError:
                found.append((key, f"{LABELS.get(key, key)} has a value that is not allowed."))
                continue
            if key.startswith("prompt_") and not value:
                found.append((key, f"{LABELS.get(key, key)} cannot be empty."))
        if values.get("hotkeys_enabled", True):
            seen: dict[frozenset[str], str] = {}
            for key in (k for k in values if k.startswith("hotkey_")):
                _value, keys, problem = normalise_hotkey(values[key])
                if problem:
                    found.append((key, f"{LABELS.get(key, key)}: {problem}"))
                elif keys is not None and keys in seen:
                    found.append((key, f"{LABELS.get(key, key)} uses the same hotkey as "
                                       f"{LABELS.get(seen[keys], seen[keys]).lower()}; choose another."))
                elif keys is not None:
                    seen[keys] = key
        return found

    def _add_api_key_row(self, form: QFormLayout, page: QWidget, used: set[str]) -> None:
        """The server's API key: a password field saved to the system keyring, never to settings."""
        self.api_key = QLineEdit(page)
        self.api_key.setObjectName("server_api_key")
        self.api_key.setEchoMode(QLineEdit.EchoMode.Password)
        text = "API key for this server (kept in the system password store)"
        self.api_key.setAccessibleName(text)
        self.api_key.setAccessibleDescription(
            "Leave empty to keep the saved key. It is never written to the settings file; "
            "the environment variable IRIS_API_KEY takes precedence.")
        label = QLabel(_with_mnemonic(text, used) + ":", page)
        label.setBuddy(self.api_key)
        form.addRow(label, self.api_key)

    def _save_api_key(self) -> str | None:
        """Store a typed key under the server's host; the sentence to show if that failed."""
        key = self.api_key.text().strip() if hasattr(self, "api_key") else ""
        if not key:
            return None
        from urllib.parse import urlsplit

        from ..secrets import set_api_key

        url = str(self.values().get("server_url") or "")
        host = urlsplit(url if "://" in url else f"http://{url}").hostname
        if not host:
            return "Enter the model server's address before its API key."
        try:
            set_api_key(host, key)
        except Exception as exc:  # noqa: BLE001 - no keyring: one sentence
            return as_user_error(exc).message
        self.api_key.clear()
        return None

    def apply(self) -> bool:
        """Save every changed value through ``settings.set``; False (and a sentence) if one is invalid."""
        found = self.problems()
        if found:
            key, sentence = found[0]
            self._show_problem(sentence, key)
            return False
        self._show_problem(None)
        current = self.settings.as_dict()
        failures: list[str] = []
        for key, value in self.values().items():
            if value == current.get(key):
                continue
            try:
                self.settings.set(key, value, save=False)
            except Exception as exc:  # noqa: BLE001 - a listener failed; say so, keep going
                failures.append(as_user_error(exc).message)
        self.settings.save()  # a failed save is reported by Settings itself; values still apply now
        key_problem = self._save_api_key()
        if key_problem:
            failures.append(key_problem)
        if failures:
            self._show_problem(failures[0])
            return False
        return True

    def accept(self) -> None:
        if self.apply():
            super().accept()

    # -- focus and messages ------------------------------------------------
    def _show_problem(self, sentence: str | None, key: str | None = None) -> None:
        for k, control in self.controls.items():
            control.setAccessibleDescription(SCHEMA_BY_KEY[k].description)
        if not sentence:
            self.error_label.clear()
            self.error_label.hide()
            return
        self.error_label.setText(sentence)
        self.error_label.show()
        if self.notifier is not None:
            self.notifier.error(sentence)
        if key in self.controls:
            control = self.controls[key]
            # Focus moves to the bad control; its description now starts with the problem,
            # so the screen reader says both when it lands there.
            control.setAccessibleDescription(f"{sentence} {SCHEMA_BY_KEY[key].description}")
            self.tabs.setCurrentIndex(self._page_of(control))
            control.setFocus(Qt.FocusReason.OtherFocusReason)

    def _page_of(self, control: QWidget) -> int:
        for index in range(self.tabs.count()):
            page = self.tabs.widget(index)
            if page is not None and page.isAncestorOf(control):
                return index
        return self.tabs.currentIndex()

    def first_control(self) -> QWidget | None:
        page = self.tabs.currentWidget()
        for control in self.controls.values():
            if page is not None and page.isAncestorOf(control):
                return control
        return None

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt name
        super().showEvent(event)
        first = self.first_control()
        if first is not None:
            first.setFocus(Qt.FocusReason.ActiveWindowFocusReason)


def _catalogue_names() -> list[str]:
    """Model names from the catalogue, when it is available (it is optional here)."""
    try:
        from ..catalogue import load_catalogue  # noqa: PLC0415

        return [entry.name for entry in load_catalogue()]
    except Exception:  # noqa: BLE001 - no catalogue: the model field is free text
        return []


__all__ = ["SettingsDialog", "GROUPS", "LABELS", "hotkey_problem"]
