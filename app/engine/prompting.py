"""Turn a Conversation into chat messages and size the image for the model family.

Kept free of torch so the rules (where the image goes, how big it is, which
processor switches control tiling) can be tested without loading a model.
"""

from __future__ import annotations

import math
from typing import Any

from PIL import Image

from ..errors import BadInputError
from .base import Conversation, ImagePolicy

#: Idefics3-style processors: the image is cut into square tiles plus a global view.
TILING_FAMILIES = frozenset({"idefics3", "smolvlm"})
#: Qwen-VL processors: a pixel budget decides the number of 14/16 px patches.
PIXEL_BUDGET_FAMILIES = frozenset({"qwen2_vl", "qwen2_5_vl", "qwen3_vl", "qwen3_vl_moe"})


def build_messages(conversation: Conversation) -> list[dict[str, Any]]:
    """Chat messages with the image in the first user turn and every earlier Q/A kept.

    Follow-up questions only make sense with the earlier answers in context.
    """
    turns = conversation.turns
    if not turns or turns[-1].role != "user":
        raise BadInputError("There is no question to answer about this picture.")
    messages: list[dict[str, Any]] = []
    image_placed = False
    for turn in turns:
        if turn.role == "user":
            content: list[dict[str, Any]] = []
            if not image_placed:
                content.append({"type": "image"})
                image_placed = True
            content.append({"type": "text", "text": turn.text})
            messages.append({"role": "user", "content": content})
        else:
            messages.append({"role": "assistant", "content": [{"type": "text", "text": turn.text}]})
    return messages


def fit_image(image: Image.Image, max_edge: int) -> Image.Image:
    """RGB copy whose longest edge is at most ``max_edge`` (never upscaled)."""
    image = image.convert("RGB") if image.mode != "RGB" else image
    longest = max(image.size)
    if longest <= max_edge:
        return image
    scale = max_edge / longest
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    # reducing_gap first shrinks by whole factors (cheap box filter), then
    # resamples: a 4K screenshot to 512 px takes a third of the time, with no visible loss.
    return image.resize(size, Image.Resampling.BICUBIC, reducing_gap=2.0)


def image_kwargs(model_type: str, policy: ImagePolicy, image_processor: Any | None = None) -> dict[str, Any]:
    """Processor keyword arguments that make the model see the image the policy allows.

    Idefics3/SmolVLM: no splitting means one square tile; splitting resizes the
    longest edge to a whole number of tiles first. Qwen-VL: the pixel budget
    (max_pixels) is max_edge squared.
    """
    if model_type in TILING_FAMILIES:
        tile = _tile_edge(image_processor)
        if not policy.split:
            return {"do_image_splitting": False, "size": {"longest_edge": tile}}
        edge = max(tile, math.ceil(policy.max_edge / tile) * tile)
        return {"do_image_splitting": True, "size": {"longest_edge": edge}}
    if model_type in PIXEL_BUDGET_FAMILIES:
        max_pixels = policy.max_edge * policy.max_edge
        min_pixels = 56 * 56
        size = getattr(image_processor, "size", None)
        if isinstance(size, dict) and size.get("shortest_edge"):
            min_pixels = int(size["shortest_edge"])
        return {"size": {"shortest_edge": min(min_pixels, max_pixels), "longest_edge": max_pixels}}
    return {}


def _tile_edge(image_processor: Any | None) -> int:
    max_size = getattr(image_processor, "max_image_size", None)
    if isinstance(max_size, dict) and max_size.get("longest_edge"):
        return int(max_size["longest_edge"])
    return 512
