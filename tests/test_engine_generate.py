"""The callback form of generation: pieces arrive on the caller's thread; cancel, unload and
errors behave as with the iterator; the static KV cache gives the same answer and falls back."""

from __future__ import annotations

import threading
import time

import pytest
from PIL import Image

from app.engine.base import CancelToken, Conversation, stream_in_thread
from app.errors import InternalError
from tests.conftest import TINY_ENGINE_SETTINGS as SETTINGS
from tests.mock_engine import MockEngine


def ask(image, question: str = "Describe this picture.") -> Conversation:
    conv = Conversation(image=image)
    conv.ask(question)
    return conv


def test_pieces_arrive_on_the_calling_thread_without_a_helper_thread(tiny_engine, photo_image):
    caller = threading.get_ident()
    threads: set[int] = set()
    pieces: list[str] = []
    helpers_seen: list[str] = []

    def take(piece: str) -> None:
        threads.add(threading.get_ident())
        pieces.append(piece)
        helpers_seen.extend(t.name for t in threading.enumerate() if t.name == "iris-generate")

    tiny_engine.generate(ask(photo_image), None, take, max_new_tokens=24, min_new_tokens=24)
    assert len(pieces) > 1 and all(pieces)
    assert threads == {caller}
    assert helpers_seen == []
    assert tiny_engine.last_stats.output_tokens == 24
    assert tiny_engine.last_stats.first_token_s is not None


def test_generate_and_stream_give_the_same_greedy_answer(tiny_engine, photo_image):
    collected: list[str] = []
    tiny_engine.generate(ask(photo_image), None, collected.append, max_new_tokens=16, min_new_tokens=16)
    streamed = list(tiny_engine.stream(ask(photo_image), max_new_tokens=16, min_new_tokens=16))
    assert "".join(collected) == "".join(streamed)
    assert tiny_engine.last_stats.output_tokens == 16


def test_an_error_in_the_callback_stops_generation_and_propagates_unchanged(tiny_engine, photo_image):
    class SpeakerBroke(RuntimeError):
        pass

    calls = 0

    def take(_piece: str) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise SpeakerBroke("boom")

    with pytest.raises(SpeakerBroke):
        tiny_engine.generate(ask(photo_image), None, take, max_new_tokens=4000, min_new_tokens=4000)
    assert calls == 2
    assert tiny_engine.last_stats.output_tokens < 4000
    # The engine is usable afterwards.
    pieces: list[str] = []
    tiny_engine.generate(ask(photo_image), None, pieces.append, max_new_tokens=4, min_new_tokens=4)
    assert pieces


def test_cancel_from_another_thread_stops_the_callback_generation(tiny_engine, photo_image):
    token = CancelToken()
    pieces: list[str] = []
    after_cancel: list[str] = []

    def take(piece: str) -> None:
        (after_cancel if token.cancelled else pieces).append(piece)

    timer = threading.Timer(0.3, token.cancel)
    timer.start()
    tiny_engine.generate(ask(photo_image), token, take, max_new_tokens=4000, min_new_tokens=4000)
    ended = time.perf_counter()
    timer.join()
    assert pieces, "some words should have arrived in 0.3 s"
    assert after_cancel == []
    assert ended - token.cancelled_at < 0.2
    assert tiny_engine.last_stats.output_tokens < 4000


def test_unload_during_generation_stops_it_without_cancelling_the_callers_token(tiny_model_dir, photo_image):
    from app.engine.transformers_engine import TransformersEngine

    eng = TransformersEngine(tiny_model_dir, device="cpu", settings=dict(SETTINGS))
    eng.load()
    token = CancelToken()
    started = threading.Event()

    def take(_piece: str) -> None:
        started.set()

    def unload_soon() -> None:
        started.wait(10)
        eng.unload()

    unloader = threading.Thread(target=unload_soon)
    unloader.start()
    begun = time.perf_counter()
    eng.generate(ask(photo_image), token, take, max_new_tokens=4000, min_new_tokens=4000)
    unloader.join()
    assert started.is_set()
    assert not token.cancelled
    assert not eng.is_loaded
    assert eng.last_stats.output_tokens < 4000
    assert time.perf_counter() - begun < 30


def test_child_tokens_follow_their_parent_but_not_the_reverse():
    parent = CancelToken()
    child = parent.child()
    assert not child.cancelled
    child.cancel()
    assert child.cancelled and not parent.cancelled

    other = parent.child()
    threading.Timer(0.05, parent.cancel).start()
    start = time.perf_counter()
    assert other.wait(5) is True
    assert time.perf_counter() - start < 1
    assert other.cancelled
    assert CancelToken().child().wait(0.01) is False


def test_stream_in_thread_reraises_errors_and_stops_when_closed():
    failing = MockEngine(fail=InternalError("The description model failed while answering."))
    with pytest.raises(InternalError):
        list(stream_in_thread(failing, ask(Image.new("RGB", (8, 8))), None))

    slow = MockEngine(" ".join(["word"] * 1000), token_delay=0.01)
    stream = stream_in_thread(slow, ask(Image.new("RGB", (8, 8))), None)
    next(stream)
    start = time.perf_counter()
    stream.close()
    assert time.perf_counter() - start < 0.5
    assert not [t for t in threading.enumerate() if t.name == "iris-generate"]
    assert slow.last_stats.output_tokens < 1000


def test_the_mock_engine_generates_through_the_default_callback_form():
    mock = MockEngine("one two three")
    pieces: list[str] = []
    mock.generate(ask(Image.new("RGB", (8, 8))), None, pieces.append)
    assert "".join(pieces) == "one two three"


# ------------------------------------------------------------------ KV cache
def test_auto_cache_is_static_only_for_quantized_models_on_cuda(tiny_model_dir):
    from app.engine.transformers_engine import TransformersEngine

    def choice(device: str, quantization: str, setting: str = "auto") -> str | None:
        eng = TransformersEngine(tiny_model_dir, device=device, settings={"kv_cache": setting})
        eng.quantization = quantization
        return eng._cache_implementation()

    assert choice("cuda", "nf4") == "static"
    assert choice("cuda", "int8") == "static"
    assert choice("cuda", "bf16") is None
    assert choice("cpu", "nf4") is None
    assert choice("cpu", "fp32") is None
    assert choice("cpu", "fp32", "static") == "static"
    assert choice("cuda", "nf4", "dynamic") is None


def test_static_cache_gives_the_same_greedy_answer_as_the_dynamic_one(tiny_model_dir, photo_image, monkeypatch):
    import transformers

    from app.engine.transformers_engine import TransformersEngine

    built: list[str] = []
    real_init = transformers.StaticCache.__init__

    def counting_init(self, *args, **kwargs):
        built.append(type(self).__name__)
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(transformers.StaticCache, "__init__", counting_init)
    answers = {}
    caches = {}
    for kind in ("dynamic", "static"):
        built.clear()
        eng = TransformersEngine(tiny_model_dir, device="cpu", settings=dict(SETTINGS, kv_cache=kind))
        pieces: list[str] = []
        eng.generate(ask(photo_image), None, pieces.append, max_new_tokens=20, min_new_tokens=20)
        assert eng.last_stats.output_tokens == 20
        assert not eng._static_cache_failed
        answers[kind], caches[kind] = "".join(pieces), list(built)
        eng.unload()
    assert caches == {"dynamic": [], "static": ["StaticCache"]}
    assert answers["static"] == answers["dynamic"]


def test_a_failing_static_cache_falls_back_to_dynamic_for_good(tiny_model_dir, photo_image):
    from app.engine.transformers_engine import TransformersEngine

    eng = TransformersEngine(tiny_model_dir, device="cpu", settings=dict(SETTINGS, kv_cache="static"))
    eng.load()
    real_generate = eng._model.generate
    seen: list[str | None] = []

    def generate(**kwargs):
        seen.append(kwargs.get("cache_implementation"))
        if kwargs.get("cache_implementation") == "static":
            raise ValueError("this model does not support a static cache")
        return real_generate(**kwargs)

    eng._model.generate = generate
    first: list[str] = []
    eng.generate(ask(photo_image), None, first.append, max_new_tokens=6, min_new_tokens=6)
    second: list[str] = []
    eng.generate(ask(photo_image), None, second.append, max_new_tokens=6, min_new_tokens=6)
    eng.unload()
    assert seen == ["static", None, None]
    assert first and "".join(first) == "".join(second)
    assert eng.last_stats.output_tokens == 6


def test_a_failure_after_words_were_spoken_is_not_retried(tiny_model_dir, photo_image):
    """A retry would repeat words the user already heard: report the failure instead."""
    from app.engine.transformers_engine import TransformersEngine

    eng = TransformersEngine(tiny_model_dir, device="cpu", settings=dict(SETTINGS, kv_cache="static"))
    eng.load()
    real_generate = eng._model.generate
    attempts = 0

    def generate(**kwargs):
        nonlocal attempts
        attempts += 1
        streamer = kwargs["streamer"]

        class Breaking:
            count = 0

            def put(self, value):
                streamer.put(value)
                Breaking.count += 1
                if Breaking.count == 4:
                    raise RuntimeError("static cache index out of range")

            def end(self):
                streamer.end()

        return real_generate(**dict(kwargs, streamer=Breaking()))

    eng._model.generate = generate
    pieces: list[str] = []
    with pytest.raises(InternalError):
        eng.generate(ask(photo_image), None, pieces.append, max_new_tokens=20, min_new_tokens=20)
    eng.unload()
    assert attempts == 1
    assert not eng._static_cache_failed


def test_the_gpu_default_architecture_qwen3_vl_gives_the_same_answer_with_a_static_cache():
    """qwen3-vl-2b (the catalogue's CUDA default) gets "auto" = static there: check its
    architecture (multimodal rotary positions, deepstack) on a tiny random copy. There are
    no Qwen3-VL processor files here, so the image inputs are built by hand."""
    import torch
    from transformers import Qwen3VLConfig, Qwen3VLForConditionalGeneration

    config = Qwen3VLConfig()
    text, vision = config.text_config, config.vision_config
    text.hidden_size, text.intermediate_size, text.num_hidden_layers = 64, 128, 2
    text.num_attention_heads, text.num_key_value_heads, text.head_dim = 4, 2, 16
    vision.hidden_size, vision.intermediate_size, vision.depth, vision.num_heads = 64, 128, 2, 2
    vision.out_hidden_size, vision.deepstack_visual_indexes = 64, [0]
    torch.manual_seed(0)
    model = Qwen3VLForConditionalGeneration(config).eval()
    grid_h = grid_w = 8
    image_tokens = grid_h * grid_w // vision.spatial_merge_size**2
    ids = [1, 2, config.vision_start_token_id] + [config.image_token_id] * image_tokens + [config.vision_end_token_id, 5, 6]
    input_ids = torch.tensor([ids])
    inputs = dict(
        input_ids=input_ids,
        attention_mask=torch.ones_like(input_ids),
        pixel_values=torch.randn(grid_h * grid_w, 3 * vision.temporal_patch_size * vision.patch_size**2),
        image_grid_thw=torch.tensor([[1, grid_h, grid_w]]),
        max_new_tokens=16,
        min_new_tokens=16,
        do_sample=False,
    )
    with torch.inference_mode():
        dynamic = model.generate(**inputs)[0, len(ids):].tolist()
        static = model.generate(**inputs, cache_implementation="static")[0, len(ids):].tolist()
    assert len(dynamic) == 16
    assert static == dynamic
