"""The llama.cpp engine with the real llama-cpp-python and the tiny random SmolVLM GGUF (text + mmproj).

Random weights answer nonsense: these tests check streaming, cancel, the KV-cache reuse for
follow-ups, the image-size policy, unload and the one-sentence errors, never wording.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from PIL import Image

pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (pip install 'iris-assistant[llama]')")

from app.engine.base import CancelToken, Conversation  # noqa: E402
from app.engine.llamacpp_engine import LlamaCppEngine  # noqa: E402
from app.engine.loading import create_engine  # noqa: E402
from app.errors import ModelLoadError, ModelMissingError  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
TINY = REPO.parent / "shared" / "models" / "tiny-smolvlm-gguf"
# llama.cpp's own encoder (mtmd): the hybrid torch path has its own tests (test_llamacpp_hybrid.py).
SETTINGS = {"cpu_threads": 2, "preset": "fast", "max_new_tokens": 24, "vision_encoder": "llama.cpp"}

if not TINY.is_dir():  # pragma: no cover - the shared folder ships with the checkout
    pytest.skip("the tiny GGUF model is not in ../shared/models", allow_module_level=True)


@pytest.fixture(scope="module")
def engine():
    engine = LlamaCppEngine(TINY, settings=dict(SETTINGS))
    engine.load()
    yield engine
    engine.unload()


@pytest.fixture(scope="module")
def picture() -> Image.Image:
    return Image.new("RGB", (1280, 800), (40, 90, 200))


def ask(image: Image.Image, question: str = "Describe this picture.") -> Conversation:
    conv = Conversation(image=image, is_screen=True)
    conv.ask(question)
    return conv


def run(engine, conv, cancel=None, **kwargs) -> list[str]:
    pieces: list[str] = []
    engine.generate(conv, cancel, pieces.append, **kwargs)
    return pieces


@pytest.fixture
def encodes(monkeypatch):
    """Counts vision-encoder runs (the real function still runs)."""
    from llama_cpp import mtmd_cpp

    real = mtmd_cpp.mtmd_encode_chunk
    calls: list[int] = []

    def counted(ctx, chunk):
        calls.append(1)
        return real(ctx, chunk)

    monkeypatch.setattr(mtmd_cpp, "mtmd_encode_chunk", counted)
    return calls


def test_streams_an_answer_with_stats(engine, picture):
    pieces = run(engine, ask(picture), min_new_tokens=12, max_new_tokens=12)
    assert len(pieces) >= 6 and "".join(pieces).strip()
    stats = engine.last_stats
    assert stats.output_tokens == 12 and stats.first_token_s is not None and stats.input_tokens > 0
    assert engine.engine_name == "llama.cpp" and engine.device == "cpu" and engine.is_loaded


def test_fast_preset_evaluates_one_tile_and_balanced_more(picture):
    fast = LlamaCppEngine(TINY, settings=dict(SETTINGS))
    balanced = LlamaCppEngine(TINY, settings=dict(SETTINGS, preset="balanced"))
    try:
        run(fast, ask(picture), max_new_tokens=2)
        run(balanced, ask(picture), max_new_tokens=2)
        # one 512 px tile is 64 image tokens for SmolVLM; "balanced" allows up to 2x2 tiles plus the overview
        assert fast.last_stats.input_tokens < 64 + 40
        assert balanced.last_stats.input_tokens >= fast.last_stats.input_tokens + 2 * 64
    finally:
        fast.unload()
        balanced.unload()


def test_follow_up_reuses_the_picture_in_the_kv_cache(engine, encodes):
    conv = ask(Image.new("RGB", (1000, 700), (123, 45, 67)))
    conv.answer("".join(run(engine, conv, max_new_tokens=8)))
    assert len(encodes) == 1
    conv.ask("What colour is it?")
    assert run(engine, conv, max_new_tokens=8)
    assert len(encodes) == 1  # the follow-up did not re-encode the picture
    run(engine, ask(Image.new("RGB", (640, 480), (250, 250, 0))), max_new_tokens=4)
    assert len(encodes) == 2  # a new picture is encoded


def test_cancel_between_tokens_is_quick(engine, picture):
    cancel = CancelToken()
    pieces: list[str] = []

    def take(piece: str) -> None:
        pieces.append(piece)
        if len(pieces) == 3:
            cancel.cancel()

    engine.generate(ask(picture), cancel, take, max_new_tokens=200, min_new_tokens=200)
    assert cancel.cancelled_at is not None and time.perf_counter() - cancel.cancelled_at < 0.2
    assert len(pieces) == 3


def test_cancel_inside_the_vision_encoder_stops_its_graph(engine, monkeypatch):
    from llama_cpp import mtmd_cpp

    real = mtmd_cpp.mtmd_encode_chunk
    cancel = CancelToken()

    def cancel_then_encode(ctx, chunk):
        cancel.cancel()  # as if the user pressed Stop while the picture is being read
        return real(ctx, chunk)

    monkeypatch.setattr(mtmd_cpp, "mtmd_encode_chunk", cancel_then_encode)
    before = engine.graph_stops
    image = Image.new("RGB", (900, 700), (10, 200, 10))
    assert run(engine, ask(image), cancel, max_new_tokens=8) == []
    assert engine.graph_stops > before  # the encoder's graph was stopped, not run to its end
    monkeypatch.setattr(mtmd_cpp, "mtmd_encode_chunk", real)
    assert run(engine, ask(image), max_new_tokens=4)  # the abandoned picture is encoded afresh


def test_unload_during_an_answer_stops_it_and_frees_the_model(picture):
    engine = LlamaCppEngine(TINY, settings=dict(SETTINGS))
    engine.load()
    pieces: list[str] = []
    started = threading.Event()

    def take(piece: str) -> None:
        pieces.append(piece)
        started.set()
        time.sleep(0.01)

    worker = threading.Thread(target=engine.generate, args=(ask(picture), None, take),
                              kwargs={"max_new_tokens": 2000, "min_new_tokens": 2000})
    worker.start()
    assert started.wait(30)
    engine.unload()
    worker.join(5)
    assert not worker.is_alive() and not engine.is_loaded and len(pieces) < 2000


def test_warm_up_loads_and_keeps_the_last_stats():
    engine = LlamaCppEngine(TINY, settings=dict(SETTINGS))
    try:
        engine.warm_up()
        assert engine.is_loaded and engine.last_stats.output_tokens == 0
    finally:
        engine.unload()


def test_model_argument_accepts_a_gguf_file_or_its_folder(picture):
    for target in (TINY, TINY / "tiny-smolvlm-f16.gguf"):
        engine = create_engine(str(target), "auto", dict(SETTINGS))
        try:
            assert run(engine, ask(picture), max_new_tokens=3)
            assert engine.engine_name == "llama.cpp" and engine.device == "cpu"
        finally:
            engine.unload()


def test_broken_or_incomplete_gguf_is_one_sentence(tmp_path):
    only_text = tmp_path / "only-text"
    only_text.mkdir()
    shutil.copy(TINY / "tiny-smolvlm-f16.gguf", only_text)
    with pytest.raises(ModelMissingError):
        LlamaCppEngine(only_text)
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / "model.gguf").write_bytes(b"GGUF" + b"\x03\x00\x00\x00" + b"\x00" * 7)
    shutil.copy(TINY / "mmproj-tiny-smolvlm-f16.gguf", damaged)
    with pytest.raises(ModelLoadError) as info:
        LlamaCppEngine(damaged).load()
    assert "\n" not in info.value.message


def test_without_llama_cpp_a_gguf_model_names_the_pip_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "llama_cpp", None)
    with pytest.raises(ModelMissingError) as info:
        LlamaCppEngine(TINY).load()
    assert "pip install" in info.value.message


def test_cli_json_reports_the_llama_cpp_engine(photo_path):
    result = subprocess.run(
        [sys.executable, "-m", "app", "describe", str(photo_path), "--model", str(TINY), "--no-speak", "--json",
         "--max-new-tokens", "16"],
        cwd=REPO, capture_output=True, text=True, timeout=180, env=dict(os.environ, IRIS_DEBUG=""),
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["engine"] == "llama.cpp" and data["output_tokens"] > 0
    assert "Traceback" not in result.stderr and "clip_" not in result.stderr  # no library logs for a screen reader


def test_a_preset_with_a_bigger_picture_gets_room(picture):
    settings = dict(SETTINGS)
    engine = LlamaCppEngine(TINY, settings=settings)
    try:
        engine.load()
        small = engine._n_ctx
        settings["preset"] = "detailed"
        assert run(engine, ask(picture), max_new_tokens=2)
        assert engine._n_ctx > small and engine.last_stats.input_tokens > 64 + 40
    finally:
        engine.unload()
