"""Follow-ups reuse the picture in the transformers engine's KV cache (issue 10, item 3):
the vision encoder does not run again, and the answer is the same as without the cache."""

from __future__ import annotations

from PIL import Image

from app.engine.base import Conversation
from app.engine.transformers_engine import TransformersEngine
from tests.conftest import TINY_ENGINE_SETTINGS


def vision_runs(engine: TransformersEngine) -> list[int]:
    calls: list[int] = []
    engine._model.model.vision_model.register_forward_hook(lambda *_: calls.append(1))
    return calls


def converse(engine: TransformersEngine, image: Image.Image) -> tuple[str, str]:
    conv = Conversation(image=image)
    conv.ask("Describe this picture.")
    first: list[str] = []
    engine.generate(conv, None, first.append, max_new_tokens=12, min_new_tokens=12)
    conv.answer("".join(first).strip())
    conv.ask("What colour is the square?")
    second: list[str] = []
    engine.generate(conv, None, second.append, max_new_tokens=12, min_new_tokens=12)
    return "".join(first), "".join(second)


def test_follow_up_skips_the_vision_encoder_and_answers_the_same(tiny_model_dir):
    image = Image.new("RGB", (640, 480), (200, 40, 40))
    cached = TransformersEngine(tiny_model_dir, settings=dict(TINY_ENGINE_SETTINGS))
    uncached = TransformersEngine(tiny_model_dir, settings=dict(TINY_ENGINE_SETTINGS, kv_cache="dynamic"))
    try:
        cached.load()
        uncached.load()
        runs = vision_runs(cached)
        uncached._prefix.prepare = lambda inputs, key, image_token: {}  # the same engine, never reusing
        with_cache = converse(cached, image)
        assert len(runs) == 1  # the follow-up did not re-read the picture
        assert cached._prefix.reused_tokens > 64  # the picture's tokens came from the cache
        assert with_cache == converse(uncached, image)  # and greedy decoding gave the same words
    finally:
        cached.unload()
        uncached.unload()


def test_a_new_picture_is_read_again(tiny_model_dir):
    engine = TransformersEngine(tiny_model_dir, settings=dict(TINY_ENGINE_SETTINGS))
    try:
        engine.load()
        runs = vision_runs(engine)
        converse(engine, Image.new("RGB", (300, 300), (0, 0, 255)))
        converse(engine, Image.new("RGB", (300, 300), (0, 255, 0)))
        assert len(runs) == 2
    finally:
        engine.unload()
