"""Settings dialog: built from the schema, round-trips values, and is fully labelled for screen readers."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QAccessible
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialogButtonBox,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QSpinBox,
    QWidget,
)

from app.gui.settings_dialog import SettingsDialog, hotkey_problem
from app.settings import SCHEMA, Settings, defaults

# The offscreen platform plugin warns whenever a window with a layout is shown.
pytestmark = pytest.mark.qt_log_ignore(r"This plugin does not support propagateSizeHints")

VOICES = [("en-gb", "English (UK)"), ("fr", "French")]


@pytest.fixture
def settings(tmp_path):
    store = Settings.load(tmp_path / "settings.json")
    store.changes = []
    store.subscribe(lambda key, value: store.changes.append((key, value)))
    return store


@pytest.fixture
def dialog(qtbot, settings):
    dlg = SettingsDialog(settings, voices=VOICES)
    qtbot.addWidget(dlg)
    dlg.show()
    return dlg


def _on_disk(settings):
    return json.loads(settings.path.read_text(encoding="utf-8"))["values"]


def test_every_schema_setting_has_a_control_of_the_right_kind(dialog):
    assert set(dialog.controls) == {s.key for s in SCHEMA}
    for spec in SCHEMA:
        control = dialog.controls[spec.key]
        if spec.type is bool:
            assert isinstance(control, QCheckBox), spec.key
        elif spec.choices is not None:
            assert isinstance(control, QComboBox), spec.key
            assert [control.itemData(i) for i in range(control.count())] == list(spec.choices)
        elif spec.type is int:
            assert isinstance(control, QSpinBox), spec.key
            assert (control.minimum(), control.maximum()) == (spec.minimum, spec.maximum)
        elif spec.key.startswith("prompt_"):
            assert isinstance(control, QPlainTextEdit) and control.tabChangesFocus()
        elif spec.type is str and spec.key != "voice":
            assert isinstance(control, (QLineEdit, QComboBox)), spec.key
        assert control.accessibleDescription() == spec.description


def test_opens_with_focus_on_first_control(qtbot, dialog):
    qtbot.waitUntil(lambda: dialog.focusWidget() is not None)
    first = dialog.controls[SCHEMA[0].key]
    focused = dialog.focusWidget()
    assert focused is first or first.isAncestorOf(focused)


def test_ok_saves_values_of_several_types_and_notifies(qtbot, dialog, settings):
    c = dialog.controls
    c["history_enabled"].setChecked(True)  # bool
    c["rate"].setValue(250)  # int
    c["volume"].setValue(40)  # float shown as percent
    c["preset"].setCurrentIndex(c["preset"].findData("detailed"))  # choice
    c["voice"].setCurrentIndex(c["voice"].findData("fr"))  # voice from the list
    c["answer_language"].setText("French")  # str
    c["prompt_read"].setPlainText("Read every word.")  # multi-line str
    c["hotkey_repeat"].setText("<ctrl>+<shift>+r")
    qtbot.mouseClick(dialog.buttons.button(QDialogButtonBox.StandardButton.Ok), Qt.MouseButton.LeftButton)
    assert dialog.result() == 1 and not dialog.isVisible()
    expected = {
        "history_enabled": True, "rate": 250, "volume": 0.4, "preset": "detailed", "voice": "fr",
        "answer_language": "French", "prompt_read": "Read every word.", "hotkey_repeat": "<ctrl>+<shift>+r",
    }
    for key, value in expected.items():
        assert settings.get(key) == value, key
    assert dict(settings.changes) == expected  # each listener call once, only for changed keys
    assert len(settings.changes) == len(expected)
    disk = _on_disk(settings)
    assert {k: disk[k] for k in expected} == expected
    reloaded = Settings.load(settings.path)
    assert reloaded.get("volume") == 0.4 and reloaded.get("preset") == "detailed"


def test_apply_keeps_dialog_open_and_applies_live(qtbot, dialog, settings):
    dialog.controls["speak_answers"].setChecked(False)
    dialog.buttons.button(QDialogButtonBox.StandardButton.Apply).click()
    assert dialog.isVisible()
    assert settings.get("speak_answers") is False
    assert settings.changes == [("speak_answers", False)]


def test_cancel_changes_nothing(qtbot, dialog, settings):
    before = settings.as_dict()
    dialog.controls["rate"].setValue(400)
    dialog.controls["device"].setCurrentIndex(dialog.controls["device"].findData("cpu"))
    dialog.controls["close_to_tray"].setChecked(False)
    qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    assert dialog.result() == 0 and not dialog.isVisible()
    assert settings.as_dict() == before
    assert settings.changes == []
    assert not settings.path.exists()  # nothing was even written


def test_restore_defaults(qtbot, settings, tmp_path):
    settings.update({"rate": 300, "preset": "balanced", "history_enabled": True, "voice": "old-voice",
                     "prompt_describe": "Say it short."})
    settings.changes.clear()
    dlg = SettingsDialog(settings, voices=VOICES)
    qtbot.addWidget(dlg)
    assert dlg.controls["rate"].value() == 300
    assert dlg.controls["voice"].currentData() == "old-voice"  # a saved voice not offered stays selectable
    dlg.buttons.button(QDialogButtonBox.StandardButton.RestoreDefaults).click()
    assert settings.get("rate") == 300  # nothing applied yet
    dlg.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    assert settings.as_dict() == defaults()
    assert {k for k, _ in settings.changes} == {"rate", "preset", "history_enabled", "voice", "prompt_describe"}


def test_invalid_values_are_reported_in_a_sentence(qtbot, dialog, settings):
    dialog.controls["hotkey_stop"].setText("ctrl alt")
    dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    assert dialog.isVisible() and dialog.result() == 0
    sentence = dialog.error_label.text()
    assert sentence.endswith(".") and dialog.error_label.isVisible()
    assert dialog.focusWidget() is dialog.controls["hotkey_stop"]
    assert dialog.controls["hotkey_stop"].accessibleDescription().startswith(sentence)
    assert settings.changes == []
    # Two actions on one hotkey is a conflict, also reported.
    dialog.controls["hotkey_stop"].setText(settings.get("hotkey_repeat"))
    dialog.buttons.button(QDialogButtonBox.StandardButton.Apply).click()
    assert dialog.error_label.text() and dialog.error_label.text() != sentence
    assert settings.changes == []
    # Fixed: the message goes away and the value is saved.
    dialog.controls["hotkey_stop"].setText("<ctrl>+<alt>+x")
    dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    assert not dialog.error_label.isVisible() and settings.get("hotkey_stop") == "<ctrl>+<alt>+x"


def test_a_failing_listener_is_reported_not_raised(qtbot, dialog, settings):
    def broken(key, value):
        raise OSError("registry locked")

    settings.subscribe(broken)
    dialog.controls["start_with_system"].setChecked(True)
    assert dialog.apply() is False
    assert settings.get("start_with_system") is True  # the value itself was stored
    assert dialog.error_label.text().endswith(".")


def test_spin_ranges_make_out_of_range_values_impossible(dialog):
    rate = dialog.controls["rate"]
    rate.setValue(10_000)
    assert rate.value() == 500
    rate.setValue(1)
    assert rate.value() == 80


def test_hotkey_problem():
    assert hotkey_problem("<ctrl>+<alt>+d") is None
    assert hotkey_problem("<ctrl>+<shift>+<f5>") is None
    assert hotkey_problem("") is None  # empty: this action has no hotkey
    for bad in ("d", "<ctrl>", "ctrl alt", "<ctrl>+<alt>+dd"):
        assert hotkey_problem(bad), bad
        assert hotkey_problem(bad).endswith(".")


def test_hotkeys_are_saved_in_pynput_form(qtbot, dialog, settings):
    dialog.controls["hotkey_describe_window"].setText("Ctrl+Alt+Shift+F9")
    dialog.controls["hotkey_read_screen"].setText("")
    assert dialog.apply()
    assert settings.get("hotkey_describe_window") == "<ctrl>+<alt>+<shift>+<f9>"
    assert settings.get("hotkey_read_screen") == ""


def test_same_hotkey_written_differently_is_a_conflict(qtbot, dialog, settings):
    dialog.controls["hotkey_stop"].setText("<ctrl>+<alt>+<shift>+x")
    dialog.controls["hotkey_repeat"].setText("Shift+Ctrl+Alt+X")
    assert dialog.apply() is False
    assert dialog.error_label.isVisible() and settings.changes == []


def _is_covered_by_parent(widget: QWidget) -> bool:
    """A spin box's inner line edit hands focus to the spin box (its focus proxy), which carries the name."""
    proxy = widget.focusProxy()
    return proxy is not None and proxy.isAncestorOf(widget)


def test_every_focusable_widget_has_an_accessible_name(qtbot, dialog):
    unnamed = []
    checked = 0
    for widget in dialog.findChildren(QWidget):
        if widget.window() is not dialog or not widget.focusPolicy() & Qt.FocusPolicy.TabFocus:
            continue  # popups are separate windows; labels and frames take no focus
        if _is_covered_by_parent(widget):
            continue
        iface = QAccessible.queryAccessibleInterface(widget)
        assert iface is not None and iface.isValid()
        checked += 1
        if not iface.text(QAccessible.Text.Name).strip():
            unnamed.append(f"{type(widget).__name__} {widget.objectName()!r}")
    assert checked >= len(SCHEMA) + 4
    assert unnamed == []
    for key, control in dialog.controls.items():
        assert control.accessibleName(), key  # explicit, not only inferred from the label
        iface = QAccessible.queryAccessibleInterface(control)
        assert iface.text(QAccessible.Text.Description), key


def test_every_control_has_a_label_with_a_unique_mnemonic(dialog):
    for page_index in range(dialog.tabs.count()):
        page = dialog.tabs.widget(page_index)
        letters = []
        for key, control in dialog.controls.items():
            if not page.isAncestorOf(control):
                continue
            if isinstance(control, QCheckBox):
                text = control.text()
            else:
                labels = [lab for lab in page.findChildren(QLabel) if lab.buddy() is control]
                assert len(labels) == 1, key
                text = labels[0].text()
            assert "&" in text, key
            letters.append(text[text.index("&") + 1].lower())
        assert len(letters) == len(set(letters)), dialog.tabs.tabText(page_index)
        assert not {"a", "r"} & set(letters)  # Apply and Restore defaults keep theirs


def test_api_key_goes_to_the_keyring_never_the_settings_file(dialog, settings, tmp_path, monkeypatch):
    saved: list[tuple[str, str]] = []
    monkeypatch.setattr("app.secrets.set_api_key", lambda host, key: saved.append((host, key)))
    dialog.controls["server_url"].setText("https://gpu.example.org/v1")
    dialog.api_key.setText("k-secret-42")
    assert dialog.api_key.echoMode() == QLineEdit.EchoMode.Password and dialog.api_key.accessibleName()
    assert dialog.apply()
    assert saved == [("gpu.example.org", "k-secret-42")] and dialog.api_key.text() == ""
    assert settings["server_url"] == "https://gpu.example.org/v1"
    assert "k-secret-42" not in (tmp_path / "settings.json").read_text()
