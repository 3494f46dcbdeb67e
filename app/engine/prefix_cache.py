"""Keep the picture and earlier turns in the transformers engine's KV cache between requests.

A follow-up question repeats the whole conversation: the picture's tokens, the
first question, the answer, the new question. Re-reading it costs the vision
encoder and a prefill of the picture each time (the largest part of the first
token on a CPU). Here the cache of the previous request is kept, the new prompt
is compared token by token with what the cache holds, the cache is cut back to
the common prefix, and ``generate`` computes only the rest. The picture is
reused only when it is the same picture (a hash of its pixels) and all of its
tokens are in the common prefix; then ``pixel_values`` are left out so the
vision encoder does not run at all.

Only for Idefics3/SmolVLM-style models, whose image tokens have ordinary
positions; Qwen-VL's multimodal rotary positions depend on the picture's grid
and are not reused (those requests simply run in full).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from PIL import Image

#: Model types whose cache can be reused across requests (positions are plain token counts).
REUSABLE_FAMILIES = frozenset({"idefics3", "smolvlm"})
#: Inputs that feed the vision encoder; left out when the picture is already in the cache.
VISION_INPUTS = ("pixel_values", "pixel_attention_mask", "image_grid_thw", "image_sizes")


def image_key(image: Image.Image, extra: object) -> str:
    digest = hashlib.blake2b(image.tobytes(), digest_size=16)
    digest.update(repr((image.size, image.mode, extra)).encode())
    return digest.hexdigest()


@dataclass
class _Held:
    key: str
    tokens: list[int]
    cache: Any


class PrefixCache:
    """The previous request's KV cache and the tokens it holds."""

    def __init__(self) -> None:
        self._held: _Held | None = None
        self.reused_tokens = 0  # how many prompt tokens the last request took from the cache

    def clear(self) -> None:
        self._held = None

    def prepare(self, inputs: dict[str, Any], key: str, image_token_id: int | None) -> dict[str, Any]:
        """Arguments for ``generate``: the cut-back cache (and no vision inputs) when the prefix matches."""
        self.reused_tokens = 0
        held, self._held = self._held, None  # a failed or cancelled request leaves nothing behind
        if held is None or held.key != key:
            return {}
        ids = inputs["input_ids"][0].tolist()
        common = 0
        for a, b in zip(held.tokens, ids):
            if a != b:
                break
            common += 1
        common = min(common, len(ids) - 1)  # generate needs at least one new token
        last_image = max((i for i, t in enumerate(ids) if t == image_token_id), default=-1)
        if common <= last_image or common <= 0:
            return {}
        surplus = int(held.cache.get_seq_length()) - common
        if surplus > 0:
            held.cache.crop(-surplus)  # transformers 5: a negative count removes tokens from the end
        self.reused_tokens = common
        for name in VISION_INPUTS:
            inputs.pop(name, None)
        return {"past_key_values": held.cache}

    def keep(self, key: str, output: Any) -> None:
        """Remember the cache ``generate`` returned and the tokens it covers."""
        cache = getattr(output, "past_key_values", None)
        sequences = getattr(output, "sequences", None)
        if cache is None or sequences is None or not hasattr(cache, "crop"):
            return
        length = int(cache.get_seq_length())
        self._held = _Held(key=key, tokens=sequences[0][:length].tolist(), cache=cache)
