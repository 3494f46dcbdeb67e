"""Describe what the user is on: the focused control, a part of the picture, what changed.

Shared by the command line and the desktop app; the captures themselves are
taken by the caller at the moment of the request (:mod:`app.capture`), so
these functions only decide what to ask the model, or answer without it.
"""

from __future__ import annotations

from typing import Callable

from PIL import Image

from .a11y.base import FocusedElement, Rect
from .capture.changes import Change, ChangeTracker
from .capture.focused import focus_prompt
from .capture.region import GRID, describe_path
from .engine.base import CancelToken
from .pipeline import Answer, Assistant

TextCallback = Callable[[str], None]

NOTHING_CHANGED = "Nothing has changed."


def describe_focused(
    assistant: Assistant, image: Image.Image, element: FocusedElement, region: Rect, *,
    instruction: str | None = None,
    cancel: CancelToken | None = None, on_text: TextCallback | None = None, speak: bool | None = None,
) -> Answer:
    """Describe the picture of the focused control, with its role, name and application as context."""
    answer = assistant.describe(
        image, is_screen=False, label=f"the focused {element.role or 'control'}",
        prompt=focus_prompt(element, instruction),
        cancel=cancel, on_text=on_text, speak=speak,
    )
    answer.region = region.to_json()
    answer.element = element.to_json()
    return answer


def part_name(box: Rect, size: tuple[int, int]) -> str:
    """Which ninth of a picture of ``size`` holds the centre of ``box`` ("top right", "centre", ...)."""
    cx, cy = box.x + box.width / 2, box.y + box.height / 2
    column = min(2, int(3 * cx / max(1, size[0])))
    row = min(2, int(3 * cy / max(1, size[1])))
    return next(name for name, c, r in GRID if (c, r) == (column, row))


def zoom_prompt(parts: list[str], label: str) -> str:
    return (
        f"This picture is {describe_path(parts)} of {label}, enlarged (the picture was cut into a 3 by 3 grid). "
        "Describe everything in it in detail, and read any text exactly."
    )


def describe_zoom(
    assistant: Assistant, whole: Image.Image, box: Rect, parts: list[str], label: str, *,
    origin: tuple[int, int] | None = None,
    cancel: CancelToken | None = None, on_text: TextCallback | None = None, speak: bool | None = None,
) -> Answer:
    """Describe one part of the current picture at full resolution; it becomes the follow-up subject."""
    crop = whole.crop((box.x, box.y, box.right, box.bottom))
    answer = assistant.describe(crop, is_screen=False, label=f"{describe_path(parts)} of {label}",
                                prompt=zoom_prompt(parts, label), cancel=cancel, on_text=on_text, speak=speak)
    if origin is not None:
        answer.region = Rect(origin[0] + box.x, origin[1] + box.y, box.width, box.height).to_json()
    return answer


def change_prompt(change: Change, where: str, label: str) -> str:
    if change.resized:
        return (f"{label[:1].upper()}{label[1:]} changed size since the last look. "
                "Describe what it shows now, starting with what is new.")
    return (
        f"This picture is the part of {label}, near the {where}, that changed since the last look. "
        "Say in one sentence what kind of change it is (for example: a dialog appeared, a message arrived, "
        "a button changed), then describe what is there now and read any text exactly."
    )


def what_changed(
    assistant: Assistant, tracker: ChangeTracker, key: str, image: Image.Image, label: str, *,
    origin: tuple[int, int] | None = None,
    cancel: CancelToken | None = None, on_text: TextCallback | None = None, speak: bool | None = None,
) -> Answer:
    """Compare with the last picture of ``key``: "Nothing has changed." without the model, else describe the change."""
    change = tracker.check(key, image)
    if change.first:
        assistant.notifier.info(f"This is the first picture of {label}; from now on Iris can say what changed.")
        return assistant.describe(image, is_screen=True, label=label, cancel=cancel, on_text=on_text, speak=speak)
    if not change.changed or change.box is None:
        return assistant.say(NOTHING_CHANGED, "unchanged", cancel=cancel, on_text=on_text, speak=speak)
    box = change.box
    where = part_name(box, image.size)
    others = len(change.areas) - 1
    if others > 0:
        assistant.notifier.info(
            f"{others} smaller part{'s' if others > 1 else ''} changed too; this is the largest change.", speak=False)
    crop = image.crop((box.x, box.y, box.right, box.bottom))
    answer = assistant.describe(crop, is_screen=False, label=f"the changed part of {label}",
                                prompt=change_prompt(change, where, label), cancel=cancel, on_text=on_text, speak=speak)
    answer.kind = "changed"
    if origin is not None:
        answer.region = Rect(origin[0] + box.x, origin[1] + box.y, box.width, box.height).to_json()
    return answer
