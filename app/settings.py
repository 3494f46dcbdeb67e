"""One declarative settings schema, stored as JSON under the platform config dir.

Every setting is declared once in :data:`SCHEMA` with its type, default, range
or choices and a description (as NVDA's configSpec does). The store validates
on load and on set; a corrupt file is backed up and replaced by defaults, and
the reason is reported through ``on_message`` so the user hears it.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from . import paths
from .atomic import write_text_atomic

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Setting:
    key: str
    type: type
    default: Any
    description: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[Any, ...] | None = None

    def validate(self, value: Any) -> Any:
        """Return the value coerced to this setting's type, or raise ValueError."""
        if self.type is bool:
            if not isinstance(value, bool):
                raise ValueError(f"{self.key} must be true or false")
        elif self.type is int:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
                raise ValueError(f"{self.key} must be a whole number")
            value = int(value)
        elif self.type is float:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"{self.key} must be a number")
            value = float(value)
        elif self.type is str:
            if not isinstance(value, str):
                raise ValueError(f"{self.key} must be text")
        if self.minimum is not None and value < self.minimum:
            raise ValueError(f"{self.key} must be at least {self.minimum}")
        if self.maximum is not None and value > self.maximum:
            raise ValueError(f"{self.key} must be at most {self.maximum}")
        if self.choices is not None and value not in self.choices:
            raise ValueError(f"{self.key} must be one of {', '.join(map(str, self.choices))}")
        return value


DEFAULT_DESCRIBE_PROMPT = (
    "Describe this image for a blind person. Start with the most important thing in one short "
    "sentence, then give details. Read out any important text exactly."
)
DEFAULT_SCREEN_PROMPT = (
    "This is a screenshot. Say which application and window it shows, then describe the main "
    "content and read the most important text exactly. Be brief."
)
DEFAULT_READ_PROMPT = "Read all the text in this image exactly, in reading order."

SCHEMA: tuple[Setting, ...] = (
    # Model
    Setting("model", str, "auto", "Catalogue name, hub id or local folder of the vision model; 'auto' picks by device."),
    Setting("device", str, "auto", "Where the model runs.", choices=("auto", "cpu", "cuda")),
    Setting("preset", str, "fast", "Speed/quality preset: controls image size and tiling.", choices=("fast", "balanced", "detailed")),
    Setting("max_new_tokens", int, 256, "Longest answer, in tokens.", minimum=16, maximum=2048),
    Setting(
        "kv_cache", str, "auto",
        "Model memory for the answer so far: 'auto' uses a static cache for 4-bit models on a graphics card "
        "(faster there), a dynamic one elsewhere.",
        choices=("auto", "static", "dynamic"),
    ),
    Setting("cpu_threads", int, 0, "Threads for the model on CPU; 0 means one per core.", minimum=0, maximum=256),
    Setting(
        "vision_encoder", str, "auto",
        "What reads the picture for a llama.cpp (GGUF) SmolVLM model on the processor: 'auto' uses torch on "
        "x86-64 processors where it is installed (measured several times faster there), else llama.cpp's own.",
        choices=("auto", "torch", "llama.cpp"),
    ),
    # Model server (Ollama, LM Studio, vLLM, llama.cpp server). The API key is never stored here:
    # it comes from IRIS_API_KEY or the system keyring (app/secrets.py).
    Setting("server_url", str, "", "OpenAI-compatible model server address, e.g. http://localhost:11434/v1; empty means a local model."),
    Setting("server_model", str, "", "Model name on the server; empty means the first one it lists."),
    Setting("server_allow_remote", bool, False, "Allow sending pictures to a model server on another computer."),
    Setting("server_timeout", int, 60, "Seconds to wait for the server's next words before giving up.", minimum=5, maximum=600),
    Setting("warm_up_on_start", bool, True, "Load the model in the background when the app starts."),
    # Speech
    Setting(
        "speech_output", str, "auto",
        "Who speaks: 'auto' uses your running screen reader (its voice and braille), else Iris's own voice.",
        choices=("auto", "screen-reader", "iris-voice", "both", "text-only"),
    ),
    Setting("speech_engine", str, "auto", "Iris's own voice: speech engine.", choices=("auto", "pyttsx3", "espeak-ng", "silent")),
    Setting("voice", str, "", "Voice id or name; empty means the system default."),
    Setting("rate", int, 190, "Speaking rate in words per minute.", minimum=80, maximum=500),
    Setting("volume", float, 1.0, "Speech volume from 0 to 1.", minimum=0.0, maximum=1.0),
    Setting("speak_answers", bool, True, "Speak answers aloud as they arrive."),
    Setting("progress_sound", bool, True, "Play a soft tick while Iris is working."),
    # Prompts and language
    Setting("prompt_describe", str, DEFAULT_DESCRIBE_PROMPT, "Prompt used to describe a photo."),
    Setting("prompt_screen", str, DEFAULT_SCREEN_PROMPT, "Prompt used to describe the screen or a window."),
    Setting("prompt_read", str, DEFAULT_READ_PROMPT, "Prompt used when the model is asked to read text."),
    Setting("answer_language", str, "", "Language of answers, e.g. 'French'; empty means English."),
    Setting("ocr_language", str, "auto",
            "Language of the text Iris reads (OCR): 'auto' is the system's language; or codes such as 'de' or 'de+fr'."),
    # Hotkeys (pynput GlobalHotKeys syntax). Ctrl+Alt+Shift: Ctrl+Alt+letter types characters
    # (AltGr) on many keyboard layouts, Ctrl+Alt+L locks Linux desktops, and NVDA/JAWS own
    # Ctrl+Alt+arrows, Ctrl+Alt+N/J and every Insert/CapsLock gesture.
    Setting("hotkey_describe_screen", str, "<ctrl>+<alt>+<shift>+d", "Describe the whole screen."),
    Setting("hotkey_describe_window", str, "<ctrl>+<alt>+<shift>+w", "Describe the active window."),
    Setting("hotkey_read_screen", str, "<ctrl>+<alt>+<shift>+t", "Read the text on screen."),
    Setting("hotkey_ask_screen", str, "<ctrl>+<alt>+<shift>+a", "Ask a question about the screen."),
    Setting("hotkey_describe_focused", str, "<ctrl>+<alt>+<shift>+f", "Describe the control that has the keyboard focus."),
    Setting("hotkey_what_changed", str, "<ctrl>+<alt>+<shift>+c", "Say what changed on the screen or window since the last look."),
    Setting("hotkey_repeat", str, "<ctrl>+<alt>+<shift>+l", "Repeat the last answer."),
    Setting("hotkey_stop", str, "<ctrl>+<alt>+<shift>+s", "Stop speaking and cancel the current job."),
    Setting("hotkeys_enabled", bool, True, "Listen for global hotkeys."),
    # App
    Setting("start_with_system", bool, False, "Start Iris when you log in."),
    Setting("history_enabled", bool, False, "Keep a history of descriptions and their images."),
    Setting("history_limit", int, 50, "How many history entries to keep.", minimum=1, maximum=1000),
    Setting("close_to_tray", bool, True, "Keep running in the tray when the window closes."),
    Setting("log_to_file", bool, False,
            "Keep a log file for troubleshooting (what Iris did and any errors; never answers, questions, "
            "screen text or pictures)."),
    Setting("screen_monitors", str, "focused",
            "What 'describe the screen' shows in the app: the monitor that holds the focused window, or all monitors.",
            choices=("focused", "all")),
)

SCHEMA_BY_KEY = {s.key: s for s in SCHEMA}


def defaults() -> dict[str, Any]:
    return {s.key: s.default for s in SCHEMA}


@dataclass
class Settings:
    """Validated settings backed by a JSON file. Thread-safe; notifies listeners on change."""

    path: Path
    on_message: Callable[[str], None] | None = None
    _values: dict[str, Any] = field(default_factory=defaults)
    _listeners: list[Callable[[str, Any], None]] = field(default_factory=list)
    _lock: threading.RLock = field(default_factory=threading.RLock)

    @classmethod
    def load(cls, path: Path | None = None, on_message: Callable[[str], None] | None = None) -> "Settings":
        store = cls(path=path or (paths.config_dir() / "settings.json"), on_message=on_message)
        store.reload()
        return store

    def _say(self, text: str) -> None:
        if self.on_message:
            self.on_message(text)

    def reload(self) -> None:
        values = defaults()
        text = self._read_text()
        if text is not None:
            try:
                raw = json.loads(text)
                if not isinstance(raw, dict) or not isinstance(raw.get("values"), dict):
                    raise ValueError("not a settings object")
            except (ValueError, UnicodeDecodeError) as exc:
                backup = self._backup_corrupt()
                where = f" A copy was kept as {backup.name}." if backup else ""
                self._say(f"Your settings file could not be read, so Iris is using default settings.{where}")
                del exc
            else:
                dropped = []
                for key, value in raw["values"].items():
                    spec = SCHEMA_BY_KEY.get(key)
                    if spec is None:
                        continue  # a setting from another version: ignore
                    try:
                        values[key] = spec.validate(value)
                    except ValueError:
                        dropped.append(key)
                if dropped:
                    self._say(f"Some settings were out of range and were reset: {', '.join(dropped)}.")
        with self._lock:
            self._values = values

    def _read_text(self) -> str | None:
        """The file's text; None when there is none or it cannot be read (then the user is told).

        A file Iris may not read is not a corrupt one: it is left where it is.
        """
        try:
            return self.path.read_bytes().decode("utf-8")
        except (FileNotFoundError, NotADirectoryError):
            return None
        except UnicodeDecodeError:
            return "\ufffd"  # not text: handled as a corrupt file
        except OSError as exc:
            why = "it is not allowed to" if isinstance(exc, PermissionError) else "it could not"
            self._say(f"Iris is using default settings because {why} read your settings file.")
            return None

    def _backup_corrupt(self) -> Path | None:
        for n in range(1, 100):
            backup = self.path.with_name(f"{self.path.name}.corrupt-{n}")
            if not backup.exists():
                try:
                    self.path.replace(backup)
                    return backup
                except OSError:
                    return None
        return None

    def get(self, key: str) -> Any:
        with self._lock:
            return self._values[key]

    def __getitem__(self, key: str) -> Any:
        return self.get(key)

    def as_dict(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._values)

    def set(self, key: str, value: Any, *, save: bool = True) -> None:
        """Validate and store one value; raises KeyError/ValueError for a bad one."""
        spec = SCHEMA_BY_KEY[key]
        value = spec.validate(value)
        with self._lock:
            changed = self._values.get(key) != value
            self._values[key] = value
        if save:
            self.save()
        if changed:
            for listener in list(self._listeners):
                listener(key, value)

    def update(self, values: dict[str, Any]) -> None:
        for key, value in values.items():
            self.set(key, value, save=False)
        self.save()

    def reset(self) -> None:
        self.update(defaults())

    def save(self) -> bool:
        """Write atomically; on failure keep the old file, report, return False."""
        payload = {"schema_version": SCHEMA_VERSION, "values": self.as_dict()}
        try:
            write_text_atomic(self.path, json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
        except OSError as exc:
            self._say(f"Iris could not save your settings: {exc.strerror or exc}. Your earlier settings are kept.")
            return False
        return True

    def subscribe(self, listener: Callable[[str, Any], None]) -> None:
        self._listeners.append(listener)
