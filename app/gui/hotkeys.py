"""System-wide hotkeys (pynput ``GlobalHotKeys``), checked and explained in words.

Hotkeys are read from the ``hotkey_*`` settings, validated here without
needing a display (so the settings dialog and tests can use the checks), and
re-registered whenever one of those settings changes. pynput calls back on its
own listener thread; :class:`HotkeyManager` re-emits on the Qt main thread.
A hotkey that cannot be understood, that repeats another, or that a screen
reader or the desktop already uses is reported as one sentence that names the
alternative.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass
from typing import Any, Callable

from PySide6.QtCore import QObject, QTimer, Signal

from ..settings import SCHEMA_BY_KEY, Settings

log = logging.getLogger(__name__)

#: (setting key, controller action, what it does in words), in menu order.
HOTKEY_ACTIONS: tuple[tuple[str, str, str], ...] = (
    ("hotkey_describe_screen", "describe_screen", "Describe the screen"),
    ("hotkey_describe_window", "describe_window", "Describe the active window"),
    ("hotkey_read_screen", "read_screen", "Read the text on the screen"),
    ("hotkey_ask_screen", "ask_about_screen", "Ask about the screen"),
    ("hotkey_describe_focused", "describe_focused", "Describe the focused control"),
    ("hotkey_what_changed", "what_changed", "Say what changed"),
    ("hotkey_repeat", "repeat_last", "Repeat the last answer"),
    ("hotkey_stop", "stop", "Stop speaking"),
)

_MODIFIERS = {
    "ctrl": "ctrl", "ctrl_l": "ctrl", "ctrl_r": "ctrl", "control": "ctrl", "strg": "ctrl",
    "alt": "alt", "alt_l": "alt", "alt_r": "alt", "alt_gr": "alt_gr", "option": "alt",
    "shift": "shift", "shift_l": "shift", "shift_r": "shift",
    "cmd": "cmd", "cmd_l": "cmd", "cmd_r": "cmd", "win": "cmd", "super": "cmd", "meta": "cmd",
}
_MODIFIER_ORDER = ("ctrl", "alt", "alt_gr", "shift", "cmd", "insert", "caps_lock")
#: Keys that act as modifiers for screen readers (parsed as such so the conflict can be named).
_READER_MODIFIERS = ("insert", "caps_lock")
_NAMED_KEYS = {
    "backspace", "caps_lock", "delete", "down", "end", "enter", "esc", "home", "insert", "left",
    "menu", "num_lock", "page_down", "page_up", "pause", "print_screen", "right", "scroll_lock",
    "space", "tab", "up", "media_play_pause", "media_next", "media_previous", "media_volume_mute",
    "media_volume_up", "media_volume_down",
} | {f"f{n}" for n in range(1, 21)}
_ALIASES = {"escape": "esc", "return": "enter", "del": "delete", "ins": "insert", "pgup": "page_up",
            "pgdn": "page_down", "prtsc": "print_screen", "capslock": "caps_lock", "arrowup": "up",
            "arrowdown": "down", "arrowleft": "left", "arrowright": "right"}
_SHOWN = {"insert": "Insert", "ctrl": "Ctrl", "alt": "Alt", "alt_gr": "AltGr", "shift": "Shift", "cmd": "Windows",
          "esc": "Escape", "page_up": "Page Up", "page_down": "Page Down", "caps_lock": "Caps Lock",
          "print_screen": "Print Screen", "num_lock": "Num Lock", "scroll_lock": "Scroll Lock"}

_ARROWS = ("up", "down", "left", "right")
#: Gestures that screen readers or desktops already own, with who owns them.
KNOWN_CONFLICTS: dict[frozenset[str], str] = {
    **{frozenset({"ctrl", "alt", a}): "NVDA and JAWS table navigation (and workspace switching)" for a in _ARROWS},
    **{frozenset({"ctrl", "alt", "shift", a}): "moving windows between workspaces" for a in _ARROWS},
    frozenset({"ctrl", "alt", "n"}): "starting NVDA",
    frozenset({"ctrl", "alt", "j"}): "starting JAWS",
    frozenset({"ctrl", "alt", "home"}): "NVDA table navigation",
    frozenset({"ctrl", "alt", "end"}): "NVDA table navigation",
    frozenset({"ctrl", "alt", "l"}): "locking the screen on Linux desktops",
    frozenset({"ctrl", "alt", "t"}): "opening a terminal on Linux desktops",
    frozenset({"ctrl", "alt", "delete"}): "the system's security screen",
    frozenset({"ctrl", "alt", "backspace"}): "restarting the display server",
    frozenset({"ctrl", "alt", "tab"}): "switching system controls",
    frozenset({"ctrl", "alt", "shift", "r"}): "GNOME screen recording",
    frozenset({"cmd", "alt", "s"}): "turning Orca on and off",
    frozenset({"ctrl", "cmd", "enter"}): "turning Narrator on and off",
}
_SCREEN_READER_KEYS = {"insert": "the NVDA, JAWS and Orca key", "caps_lock": "the screen reader key on laptops"}


class HotkeyError(ValueError):
    """A hotkey text that cannot be used; ``str()`` is one sentence."""


@dataclass(frozen=True)
class Hotkey:
    modifiers: tuple[str, ...]
    key: str  # a single lower-case character or a named key

    @property
    def keys(self) -> frozenset[str]:
        return frozenset((*self.modifiers, self.key))

    def pynput(self) -> str:
        """The pynput ``GlobalHotKeys`` form, e.g. ``<ctrl>+<alt>+<shift>+d``."""
        main = self.key if len(self.key) == 1 else f"<{self.key}>"  # modifiers below include Insert
        return "+".join([*(f"<{m}>" for m in self.modifiers), main])

    def spoken(self) -> str:
        """How the hotkey is shown and said, e.g. ``Ctrl+Alt+Shift+D``."""
        return "+".join(_SHOWN.get(k, k.replace("_", " ").title() if len(k) > 1 else k.upper())
                        for k in (*self.modifiers, self.key))


def parse_hotkey(text: str) -> Hotkey:
    """Parse ``<ctrl>+<alt>+d`` (pynput syntax) or ``Ctrl+Alt+D``; raise HotkeyError."""
    raw = (text or "").strip()
    if not raw:
        raise HotkeyError("The hotkey is empty.")
    parts: list[str] = []
    for part in raw.replace(" ", "").split("+"):
        parts.append("+" if part == "" else part)
    if raw.endswith("++"):
        parts = parts[:-1]
    modifiers: set[str] = set()
    keys: list[str] = []
    for part in parts:
        name = part[1:-1] if len(part) > 2 and part[0] == "<" and part[-1] == ">" else part
        lower = _ALIASES.get(name.lower(), name.lower())
        if lower in _MODIFIERS:
            modifiers.add(_MODIFIERS[lower])
        elif len(name) == 1:
            keys.append(lower)
        elif lower in _NAMED_KEYS:
            keys.append(lower)
        else:
            raise HotkeyError(f"Iris does not know the key {name!r} in the hotkey {raw!r}.")
    for reader_key in _READER_MODIFIERS:
        if len(keys) > 1 and reader_key in keys:
            keys.remove(reader_key)
            modifiers.add(reader_key)
    if len(keys) != 1:
        raise HotkeyError(f"The hotkey {raw!r} must have exactly one key besides Ctrl, Alt, Shift or Windows.")
    key = keys[0]
    if len(key) == 1 and not modifiers & {"ctrl", "alt", "cmd", "alt_gr", *_READER_MODIFIERS}:
        raise HotkeyError(f"The hotkey {raw!r} needs Ctrl, Alt or the Windows key, or it would fire while typing.")
    ordered = tuple(m for m in _MODIFIER_ORDER if m in modifiers)
    return Hotkey(ordered, key)


def conflict_of(hotkey: Hotkey) -> str | None:
    """Who already uses this gesture, in words, or None."""
    for key in hotkey.keys:
        if key in _SCREEN_READER_KEYS:
            return _SCREEN_READER_KEYS[key]
    return KNOWN_CONFLICTS.get(hotkey.keys)


def default_hotkey(setting_key: str) -> str:
    return SCHEMA_BY_KEY[setting_key].default


@dataclass
class HotkeyPlan:
    """Which hotkeys to register (pynput text -> action) and what to tell the user."""

    bindings: dict[str, str]
    problems: list[str]
    shown: dict[str, str]  # action -> "Ctrl+Alt+Shift+D"


def plan_hotkeys(values: dict[str, Any]) -> HotkeyPlan:
    """Validate every hotkey setting; skip bad or duplicate ones with a sentence each."""
    bindings: dict[str, str] = {}
    owners: dict[frozenset[str], str] = {}
    problems: list[str] = []
    shown: dict[str, str] = {}
    for setting, action, words in HOTKEY_ACTIONS:
        text = values.get(setting, default_hotkey(setting))
        if not text:
            continue  # an empty hotkey means "off"
        alternative = _alternative(setting, owners)
        try:
            hotkey = parse_hotkey(text)
        except HotkeyError as exc:
            problems.append(f"{exc} {words} has no hotkey{alternative}.")
            continue
        if hotkey.keys in owners:
            problems.append(
                f"{hotkey.spoken()} is set for both {owners[hotkey.keys]} and {words.lower()}; "
                f"{words.lower()} has no hotkey{alternative}."
            )
            continue
        conflict = conflict_of(hotkey)
        if conflict:
            problems.append(f"{hotkey.spoken()}, for {words.lower()}, is also used for {conflict}{alternative}.")
        owners[hotkey.keys] = words.lower()
        bindings[hotkey.pynput()] = action
        shown[action] = hotkey.spoken()
    return HotkeyPlan(bindings, problems, shown)


def _alternative(setting: str, taken: dict[frozenset[str], str]) -> str:
    try:
        fallback = parse_hotkey(default_hotkey(setting))
    except HotkeyError:  # pragma: no cover - the defaults are tested
        return ". Choose one in Settings"
    if fallback.keys in taken or conflict_of(fallback):
        return ". Choose another in Settings"
    return f". Try {fallback.spoken()} in Settings"


ListenerFactory = Callable[[dict[str, Callable[[], None]]], Any]


def _pynput_listener(bindings: dict[str, Callable[[], None]]) -> Any:
    from pynput import keyboard

    return keyboard.GlobalHotKeys(bindings)


def unavailable_reason() -> str | None:
    """Why global hotkeys cannot work on this desktop, in words, or None."""
    if sys.platform.startswith("linux"):
        if not os.environ.get("DISPLAY"):
            if os.environ.get("WAYLAND_DISPLAY"):
                return ("Global hotkeys are not available on this Wayland desktop. Add keyboard shortcuts "
                        "in your desktop settings that run 'iris describe --screen' and 'iris read --screen'.")
            return "Global hotkeys are not available because there is no X display."
    return None


def _finish_x11_listener(listener: Any, timeout: float = 2.0) -> None:
    """Wait for pynput's thread to end, nudging its X11 RECORD context if it hangs.

    pynput's X11 ``stop()`` queues "disable recording" on the very connection its
    thread is blocked reading from, so the request can sit unsent until the next
    key event. Sending it again on the listener's second (idle) connection ends
    the recording at once. Python Xlib connections are thread-safe.
    """
    join = getattr(listener, "join", None)
    if not callable(join):
        return
    join(0.2)
    if getattr(listener, "is_alive", lambda: False)():
        display, context = getattr(listener, "_display_stop", None), getattr(listener, "_context", None)
        if display is not None and context is not None:
            try:
                display.record_disable_context(context)
                display.flush()
            except Exception:  # the connection may already be closing
                log.debug("could not nudge the hotkey listener", exc_info=True)
        join(timeout)


class HotkeyManager(QObject):
    """Registers the hotkeys from settings; ``triggered(action)`` fires on the main thread."""

    triggered = Signal(str)
    _fired = Signal(str)  # emitted on pynput's thread; queued to the main thread
    _restart_requested = Signal()  # from a settings listener, on whatever thread changed it

    def __init__(
        self,
        settings: Settings,
        notifier: Any,
        *,
        listener_factory: ListenerFactory = _pynput_listener,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._settings = settings
        self._notifier = notifier
        self._factory = listener_factory
        self._listener: Any = None
        self.plan = HotkeyPlan({}, [], {})
        self._fired.connect(self.triggered)
        self._subscribed = False
        # Several hotkeys changed together (one OK in Settings) re-register once.
        self._restart_timer = QTimer(self)
        self._restart_timer.setSingleShot(True)
        self._restart_timer.setInterval(0)
        self._restart_timer.timeout.connect(self.start)
        self._restart_requested.connect(self._restart_timer.start)

    @property
    def running(self) -> bool:
        return self._listener is not None

    def start(self) -> list[str]:
        """(Re-)register from the current settings; returns the sentences reported."""
        self.stop()
        if not self._subscribed:
            self._settings.subscribe(self._on_setting)
            self._subscribed = True
        if not self._settings["hotkeys_enabled"]:
            self.plan = HotkeyPlan({}, [], {})
            return []
        self.plan = plan_hotkeys(self._settings.as_dict())
        problems = list(self.plan.problems)
        reason = unavailable_reason() if self._factory is _pynput_listener else None
        if reason:
            problems = [reason]
        elif self.plan.bindings:
            callbacks = {text: self._emitter(action) for text, action in self.plan.bindings.items()}
            try:
                listener = self._factory(callbacks)
                listener.start()
                wait = getattr(listener, "wait", None)
                if callable(wait):
                    wait()
                self._listener = listener
            except Exception as exc:  # pynput raises many kinds here (Xlib, permissions, ImportError)
                log.warning("global hotkeys could not start: %r", exc)
                problems = [
                    "Global hotkeys could not be registered on this desktop. "
                    "Use the shortcuts in the Iris window instead."
                ]
        for sentence in problems:
            self._notifier.error(sentence)
        return problems

    def stop(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            try:
                listener.stop()
                _finish_x11_listener(listener)
            except Exception:
                log.exception("could not stop the hotkey listener")

    def _emitter(self, action: str) -> Callable[[], None]:
        def fire() -> None:
            try:
                self._fired.emit(action)
            except RuntimeError:  # the manager is gone (shutdown)
                pass

        return fire

    def _on_setting(self, key: str, _value: Any) -> None:
        if key.startswith("hotkey"):
            try:
                self._restart_requested.emit()
            except RuntimeError:  # the manager is gone (shutdown)
                pass
