"""The hybrid llama.cpp path: torch reads the picture from the mmproj file, llama.cpp's decoder answers.

Real parts: llama-cpp-python, torch and the tiny random SmolVLM GGUF. The claim under test is that
the torch path gives llama.cpp's decoder what llama.cpp's own encoder would (same embeddings, same
prompt layout, the same first-token logits), while keeping the engine's contract: streaming,
follow-ups from the KV cache, cancel inside the encoder, and a fallback to llama.cpp's encoder.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import pytest
from PIL import Image

pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (pip install 'iris-assistant[llama]')")
pytest.importorskip("torch")

import numpy as np  # noqa: E402

from app.engine import llamacpp_hybrid  # noqa: E402
from app.engine.base import CancelToken, Conversation  # noqa: E402
from app.engine.llamacpp_engine import LlamaCppEngine  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
TINY = REPO.parent / "shared" / "models" / "tiny-smolvlm-gguf"
SETTINGS = {"cpu_threads": 2, "preset": "fast", "max_new_tokens": 24}

if not TINY.is_dir():  # pragma: no cover
    pytest.skip("the tiny GGUF model is not in ../shared/models", allow_module_level=True)


def make(encoder: str, **extra) -> LlamaCppEngine:
    engine = LlamaCppEngine(TINY, settings=dict(SETTINGS, vision_encoder=encoder, **extra))
    engine.load()
    return engine


@pytest.fixture(scope="module")
def hybrid():
    engine = make("torch")
    yield engine
    engine.unload()


@pytest.fixture(scope="module")
def native():
    engine = make("llama.cpp")
    yield engine
    engine.unload()


def ask(image: Image.Image, question: str = "Describe this picture.") -> Conversation:
    conv = Conversation(image=image, is_screen=True)
    conv.ask(question)
    return conv


def uniform(colour: tuple[int, int, int]) -> Image.Image:
    """A one-colour tile: every resize (llama.cpp's chain, Pillow's bicubic) leaves its pixels exact."""
    return Image.new("RGB", (512, 512), colour)


def llama_cpp_embeddings(engine: LlamaCppEngine, image: Image.Image) -> np.ndarray:
    """What llama.cpp's own encoder makes of the picture's overview tile (the chunk the engine evaluates)."""
    from llama_cpp import mtmd_cpp

    _units, chunks = engine._tokenize(ask(image))
    try:
        (chunk,) = [value for kind, value in chunks if kind == "image"]
        assert mtmd_cpp.mtmd_encode_chunk(engine._mtmd, chunk) == 0
        count = int(mtmd_cpp.mtmd_input_chunk_get_n_tokens(chunk))
        width = engine._llama.n_embd()
        data = mtmd_cpp.mtmd_get_output_embd(engine._mtmd)
        return np.ctypeslib.as_array(ctypes.cast(data, ctypes.POINTER(ctypes.c_float)), shape=(count * width,)).reshape(count, width).copy()
    finally:
        engine._free_chunks(chunks)


def test_torch_reads_the_picture_as_llama_cpp_does(native, hybrid):
    from app.engine.torch_vision import TorchIdefics3Vision

    exact = TorchIdefics3Vision(hybrid.mmproj_path, threads=2, dtype="float32")
    for colour in ((120, 30, 200), (10, 250, 90)):
        theirs = llama_cpp_embeddings(native, uniform(colour))
        ours = exact.encode(uniform(colour))
        assert ours.shape == theirs.shape == (exact.n_tokens, native._llama.n_embd())
        # Tokens differ from one another (position embeddings), so a wrong pixel-shuffle order would show.
        assert np.abs(theirs - theirs[:1]).max() > 0.1
        assert np.linalg.norm(ours - theirs) / np.linalg.norm(theirs) < 1e-3


def test_the_prompt_around_the_picture_is_laid_out_as_llama_cpp_lays_it_out(native, hybrid):
    conv = ask(Image.new("RGB", (1280, 800), (40, 90, 200)), "What is on the screen?")
    ours, our_chunks = hybrid._tokenize(conv)
    theirs, their_chunks = native._tokenize(conv)
    native._free_chunks(their_chunks)
    assert [kind for kind, _ in our_chunks] == ["text", "pixels", "text"]
    assert [u.key for u in ours if u.key[0] == "t"] == [u.key for u in theirs if u.key[0] == "t"]
    assert [(i, u.n_pos) for i, u in enumerate(ours) if u.key[0] == "i"] == [
        (i, u.n_pos) for i, u in enumerate(theirs) if u.key[0] == "i"
    ]


def first_logits(engine: LlamaCppEngine, image: Image.Image) -> tuple[np.ndarray, str]:
    seen: list[np.ndarray] = []

    def keep(step, logits) -> None:
        if step == 0:
            seen.append(np.array(logits, copy=True))

    engine.logits_processors[:] = [keep]
    pieces: list[str] = []
    try:
        engine.generate(ask(image), None, pieces.append, min_new_tokens=8, max_new_tokens=8)
    finally:
        engine.logits_processors[:] = []
    return seen[0], "".join(pieces)


def test_the_decoder_sees_the_same_thing_either_way(native, hybrid):
    picture = uniform((200, 120, 40))
    ours, our_answer = first_logits(hybrid, picture)
    theirs, their_answer = first_logits(native, picture)
    assert np.abs(ours - theirs).max() < 1e-2 * np.abs(theirs).max()
    assert our_answer == their_answer and our_answer.strip()


def test_the_hybrid_answers_without_llama_cpp_s_encoder(hybrid, monkeypatch):
    from llama_cpp import mtmd_cpp

    def forbidden(*_args):
        raise AssertionError("llama.cpp's encoder ran")

    monkeypatch.setattr(mtmd_cpp, "mtmd_encode_chunk", forbidden)
    pieces: list[str] = []
    hybrid.generate(ask(Image.new("RGB", (900, 700), (10, 20, 30))), None, pieces.append, min_new_tokens=10, max_new_tokens=10)
    assert hybrid.vision_encoder == "torch" and hybrid._mtmd is None  # the vision file is held once, by torch
    assert len(pieces) >= 5 and hybrid.last_stats.output_tokens == 10


def test_a_follow_up_does_not_read_the_picture_again(hybrid, monkeypatch):
    calls: list[int] = []
    real = hybrid._vision.encode
    monkeypatch.setattr(hybrid._vision, "encode", lambda *a, **k: calls.append(1) or real(*a, **k))
    conv = ask(Image.new("RGB", (800, 600), (90, 10, 60)))
    out: list[str] = []
    hybrid.generate(conv, None, out.append, min_new_tokens=6, max_new_tokens=6)
    conv.answer("".join(out))
    conv.ask("And the colours?")
    hybrid.generate(conv, None, out.append, min_new_tokens=6, max_new_tokens=6)
    assert calls == [1]
    assert hybrid.last_stats.input_tokens > 80  # the whole conversation, of which only the tail was evaluated


def test_cancel_inside_the_torch_encoder_stops_between_layers(hybrid, monkeypatch):
    cancel = CancelToken()
    ran: list[int] = []
    real = hybrid._vision._block

    def block(x, weights):
        ran.append(1)
        cancel.cancel()  # the user pressed a new key while the first layer ran
        return real(x, weights)

    monkeypatch.setattr(hybrid._vision, "_block", block)
    pieces: list[str] = []
    hybrid.generate(ask(Image.new("RGB", (640, 480), (1, 2, 3))), cancel, pieces.append, max_new_tokens=8)
    assert pieces == [] and ran == [1] and len(hybrid._vision.blocks) > 1
    monkeypatch.setattr(hybrid._vision, "_block", real)
    again: list[str] = []
    hybrid.generate(ask(Image.new("RGB", (640, 480), (1, 2, 3))), None, again.append, min_new_tokens=6, max_new_tokens=6)
    assert hybrid.last_stats.output_tokens == 6  # nothing half-evaluated was kept in the cache


def test_split_presets_use_llama_cpp_for_the_slices():
    engine = make("torch", preset="balanced")
    try:
        pieces: list[str] = []
        engine.generate(ask(Image.new("RGB", (1280, 800), (5, 50, 100))), None, pieces.append, min_new_tokens=4, max_new_tokens=4)
        assert engine._mtmd is not None and engine.last_stats.input_tokens > 2 * engine._vision.n_tokens
    finally:
        engine.unload()


def test_a_vision_file_torch_cannot_read_falls_back_to_llama_cpp(monkeypatch):
    from app.engine import torch_vision

    def unreadable(*_args, **_kwargs):
        raise torch_vision.VisionFileError("a layout this module does not know")

    monkeypatch.setattr(torch_vision, "TorchIdefics3Vision", unreadable)
    engine = make("torch")
    try:
        pieces: list[str] = []
        engine.generate(ask(Image.new("RGB", (320, 240), (9, 9, 9))), None, pieces.append, min_new_tokens=4, max_new_tokens=4)
        assert engine.vision_encoder == "llama.cpp" and engine._mtmd is not None and pieces
    finally:
        engine.unload()


@pytest.mark.parametrize(
    ("choice", "device", "projector", "machine", "expected"),
    [
        ("auto", "cpu", "idefics3", "x86_64", True),
        ("auto", "cpu", "idefics3", "AMD64", True),  # Windows spells it so
        ("auto", "cpu", "idefics3", "arm64", False),  # not measured there: llama.cpp's encoder
        ("torch", "cpu", "idefics3", "arm64", True),
        ("llama.cpp", "cpu", "idefics3", "x86_64", False),
        ("auto", "cuda", "idefics3", "x86_64", False),  # on a GPU llama.cpp's encoder runs there
        ("torch", "cpu", "qwen3vl_merger", "x86_64", False),  # only Idefics3 vision files are read by torch
    ],
)
def test_which_encoder_reads_the_picture(choice, device, projector, machine, expected):
    assert llamacpp_hybrid.choose_torch_vision(choice, device, {"clip.projector_type": projector}, machine) is expected


def test_torch_is_not_chosen_when_it_is_not_installed(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a))
    assert llamacpp_hybrid.choose_torch_vision("auto", "cpu", {"clip.projector_type": "idefics3"}, "x86_64") is False


def test_bf16_only_where_the_processor_computes_it(monkeypatch, hybrid):
    """bf16 without native support was 15x slower than float32 in torch (31 s against 4.8 s a tile)."""
    import torch

    from app.engine import torch_vision

    monkeypatch.setattr(torch_vision, "bf16_is_fast", lambda: False)
    assert torch_vision.TorchIdefics3Vision(hybrid.mmproj_path, threads=1).dtype == torch.float32
    monkeypatch.setattr(torch_vision, "bf16_is_fast", lambda: True)
    assert torch_vision.TorchIdefics3Vision(hybrid.mmproj_path, threads=1).dtype == torch.bfloat16


def test_the_diagnostic_report_says_what_reads_the_picture(hybrid, native):
    from app.diagnostics import report

    assert "vision_encoder=torch" in report(engine=hybrid)
    assert "vision_encoder=llama.cpp" in report(engine=native)


def test_a_prompt_without_its_picture_is_one_sentence(hybrid, monkeypatch):
    from app.errors import InternalError

    monkeypatch.setattr(hybrid, "_render", lambda conversation: "User: no picture here<end_of_utterance>\nAssistant:")
    with pytest.raises(InternalError) as info:
        hybrid.generate(ask(Image.new("RGB", (64, 64))), None, lambda _piece: None, max_new_tokens=4)
    assert "\n" not in info.value.message
