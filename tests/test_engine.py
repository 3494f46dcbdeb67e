"""The real TransformersEngine on a tiny random SmolVLM: streaming, turns, cancel, limits, tiling, memory errors."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import threading
import time
import weakref

import pytest
from PIL import Image

from app.engine.base import CancelToken, Conversation, ImagePolicy
from app.engine.prompting import build_messages, fit_image, image_kwargs
from app.errors import BadInputError, ModelLoadError, OutOfMemoryError
from tests.conftest import TINY_ENGINE_SETTINGS as SETTINGS


def conversation(image, question="Describe this picture.") -> Conversation:
    conv = Conversation(image=image)
    conv.ask(question)
    return conv


def generate_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "iris-generate"]


def test_stream_yields_several_pieces_and_fills_stats(tiny_engine, photo_image):
    pieces = list(tiny_engine.stream(conversation(photo_image), max_new_tokens=24, min_new_tokens=24))
    assert len(pieces) > 1
    assert all(isinstance(p, str) and p for p in pieces)
    stats = tiny_engine.last_stats
    assert stats.output_tokens == 24
    assert stats.input_tokens > 64  # the 64 image tokens of one tile plus the prompt
    assert stats.first_token_s is not None and 0 <= stats.first_token_s <= stats.total_s
    from app.engine.transformers_engine import cpu_default_precision

    assert tiny_engine.quantization == cpu_default_precision()
    assert tiny_engine.device == "cpu"


def test_lazy_load_on_first_stream_and_unload_frees_the_model(tiny_model_dir, photo_image):
    from app.engine.transformers_engine import TransformersEngine

    eng = TransformersEngine(tiny_model_dir, settings=dict(SETTINGS))
    assert not eng.is_loaded
    list(eng.stream(conversation(photo_image), max_new_tokens=3))
    assert eng.is_loaded
    assert eng.last_stats.load_s > 0
    model_ref = weakref.ref(eng._model)
    eng.unload()
    gc.collect()
    assert not eng.is_loaded
    assert model_ref() is None


def test_max_and_min_new_tokens_are_honoured(tiny_engine, photo_image):
    list(tiny_engine.stream(conversation(photo_image), max_new_tokens=5))
    assert 1 <= tiny_engine.last_stats.output_tokens <= 5
    list(tiny_engine.stream(conversation(photo_image), max_new_tokens=40, min_new_tokens=40))
    assert tiny_engine.last_stats.output_tokens == 40
    # min above max: the answer is never cut below the minimum a benchmark asked for.
    list(tiny_engine.stream(conversation(photo_image), max_new_tokens=4, min_new_tokens=9))
    assert tiny_engine.last_stats.output_tokens == 9


def test_follow_up_question_includes_earlier_turns(tiny_engine, photo_image):
    first = conversation(photo_image)
    list(tiny_engine.stream(first, max_new_tokens=4))
    first_tokens = tiny_engine.last_stats.input_tokens

    answer = "A ginger cat is sleeping on a grey blanket next to a window."
    follow = conversation(photo_image)
    follow.answer(answer)
    follow.ask("What colour is the blanket?")
    list(tiny_engine.stream(follow, max_new_tokens=4))
    tokenizer = tiny_engine._processor.tokenizer
    extra = len(tokenizer(answer, add_special_tokens=False)["input_ids"])
    assert tiny_engine.last_stats.input_tokens >= first_tokens + extra

    messages = build_messages(follow)
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert messages[0]["content"][0] == {"type": "image"}
    assert all(part["type"] == "text" for m in messages[1:] for part in m["content"])
    assert messages[1]["content"][0]["text"] == answer


def test_conversation_without_a_question_is_bad_input(photo_image):
    with pytest.raises(BadInputError):
        build_messages(Conversation(image=photo_image))


def test_cancel_mid_generation_stops_within_200ms_without_leaking_threads(tiny_engine, photo_image):
    before = threading.active_count()
    token = CancelToken()
    count = 0
    for _piece in tiny_engine.stream(conversation(photo_image), token, max_new_tokens=4000, min_new_tokens=4000):
        count += 1
        if count == 5:
            token.cancel()
    stopped_after = time.perf_counter() - token.cancelled_at
    assert stopped_after < 0.2
    assert count == 5
    assert tiny_engine.last_stats.output_tokens < 4000
    assert not generate_threads()
    assert threading.active_count() == before


def test_cancel_from_another_thread_while_waiting(tiny_engine, photo_image):
    token = CancelToken()
    timer = threading.Timer(0.3, token.cancel)
    timer.start()
    start = time.perf_counter()
    list(tiny_engine.stream(conversation(photo_image), token, max_new_tokens=4000, min_new_tokens=4000))
    ended = time.perf_counter()
    timer.join()
    assert ended - token.cancelled_at < 0.2
    assert ended - start < 5
    assert not generate_threads()


def test_cancel_during_prefill_interrupts_the_forward_pass(tiny_engine, photo_image):
    """A cancel that lands inside the vision encoder stops before any token is produced."""
    token = CancelToken()
    vision_layer = tiny_engine._model.model.vision_model.encoder.layers[0]
    handle = vision_layer.register_forward_hook(lambda *_: token.cancel())
    try:
        pieces = list(tiny_engine.stream(conversation(photo_image), token, max_new_tokens=50, min_new_tokens=50))
    finally:
        handle.remove()
    assert pieces == []
    assert tiny_engine.last_stats.output_tokens == 0
    assert not generate_threads()


def test_closing_the_stream_early_stops_generation(tiny_engine, photo_image):
    stream = tiny_engine.stream(conversation(photo_image), max_new_tokens=4000, min_new_tokens=4000)
    next(stream)
    start = time.perf_counter()
    stream.close()
    assert time.perf_counter() - start < 0.2
    assert not generate_threads()
    assert tiny_engine.last_stats.output_tokens < 4000


def test_image_policy_one_tile_on_cpu_fast_versus_split(tiny_model_dir, photo_image):
    from app.engine.transformers_engine import TransformersEngine

    counts = {}
    for preset in ("fast", "balanced"):
        eng = TransformersEngine(tiny_model_dir, settings=dict(SETTINGS, preset=preset))
        list(eng.stream(conversation(photo_image), max_new_tokens=1))
        counts[preset] = eng.last_stats.input_tokens
        eng.unload()
    image_seq = 64  # tokens per 512 px tile for SmolVLM-256M
    assert counts["fast"] < 2 * image_seq  # exactly one tile
    assert counts["balanced"] >= counts["fast"] + 3 * image_seq  # several tiles plus the global view


def test_fit_image_bounds_the_longest_edge(photo_image):
    small = fit_image(photo_image, 256)
    assert max(small.size) == 256
    assert abs(small.width / small.height - photo_image.width / photo_image.height) < 0.02
    tiny = Image.new("L", (40, 30))
    assert fit_image(tiny, 512).size == (40, 30)
    assert fit_image(tiny, 512).mode == "RGB"


def test_qwen_pixel_budget_limits_patches(photo_image):
    from transformers import Qwen2VLImageProcessor

    processor = Qwen2VLImageProcessor()
    big = photo_image.resize((1600, 1200))
    counts = {}
    for edge in (512, 1024):
        kwargs = image_kwargs("qwen2_vl", ImagePolicy(max_edge=edge, split=True), processor)
        out = processor(images=[fit_image(big, edge)], return_tensors="pt", **kwargs)
        t, h, w = out["image_grid_thw"][0].tolist()
        counts[edge] = t * h * w
        assert counts[edge] * 14 * 14 <= edge * edge
    assert counts[512] < counts[1024]


def test_cuda_out_of_memory_during_generation_becomes_an_iris_error(tiny_engine, photo_image, monkeypatch):
    import torch

    def boom(*args, **kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(tiny_engine._model, "generate", boom)
    with pytest.raises(OutOfMemoryError):
        list(tiny_engine.stream(conversation(photo_image), max_new_tokens=5))
    assert not generate_threads()


def test_precision_chains_fall_back_to_unquantized():
    from app.engine.transformers_engine import precision_chain

    assert precision_chain("cuda") == ["nf4", "int8", "bf16"]
    assert precision_chain("cuda", "int8") == ["int8", "bf16"]
    assert precision_chain("cuda", "bf16") == ["bf16"]
    cpu = precision_chain("cpu")
    assert cpu[0] in ("bf16", "fp32") and cpu[-1] == "fp32"
    forced = precision_chain("cpu", "nf4")
    assert forced[0] == "nf4" and forced[-1] == "fp32" and "int8" not in forced
    with pytest.raises(ModelLoadError):
        precision_chain("cpu", "fp8")


def test_cpu_without_hardware_bf16_defaults_to_fp32():
    code = "from app.engine.transformers_engine import cpu_default_precision as c; print('PRECISION', c())"
    env = dict(os.environ, ONEDNN_MAX_CPU_ISA="AVX2", ATEN_CPU_CAPABILITY="avx2")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "PRECISION fp32" in out.stdout


@pytest.mark.slow
def test_bitsandbytes_nf4_on_cpu_loads_and_streams(tiny_model_dir, photo_image):
    pytest.importorskip("bitsandbytes", reason="bitsandbytes is not installed")
    from bitsandbytes.nn import Linear4bit

    from app.engine.transformers_engine import TransformersEngine

    eng = TransformersEngine(tiny_model_dir, settings=dict(SETTINGS), precision="nf4")
    eng.load()
    try:
        if eng.quantization != "nf4":
            pytest.skip("bitsandbytes could not quantize to 4-bit on this CPU")
        assert any(isinstance(m, Linear4bit) for m in eng._model.modules())
        pieces = list(eng.stream(conversation(photo_image), max_new_tokens=8, min_new_tokens=8))
        assert pieces and eng.last_stats.output_tokens == 8
    finally:
        eng.unload()


def test_warm_up_loads_then_runs_one_tiny_generation_and_keeps_the_last_stats(tiny_model_dir, photo_image):
    from app.engine.transformers_engine import TransformersEngine

    eng = TransformersEngine(tiny_model_dir, device="cpu", settings=dict(SETTINGS))
    eng.load()
    answered = list(eng.stream(conversation(photo_image), max_new_tokens=5, min_new_tokens=5))
    assert answered
    before = eng.last_stats
    calls: list[int] = []
    original = eng._model.generate

    def counting_generate(*args, **kwargs):
        calls.append(kwargs.get("max_new_tokens"))
        return original(*args, **kwargs)

    eng._model.generate = counting_generate
    try:
        eng.warm_up()
        assert calls == [2]  # one tiny answer, not a full one
        assert eng.last_stats is before  # the user's last figures are not replaced by the probe's
        cancelled = CancelToken()
        cancelled.cancel()
        eng.warm_up(cancelled)
        assert calls == [2]  # a cancelled warm-up loads but does not generate
    finally:
        eng.unload()


def test_warm_up_of_an_unloaded_engine_loads_it(tiny_model_dir):
    from app.engine.loading import create_engine

    eng = create_engine(str(tiny_model_dir), "cpu", dict(SETTINGS))
    assert not eng.is_loaded
    eng.warm_up()
    assert eng.is_loaded
    eng.unload()
