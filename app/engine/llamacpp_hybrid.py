"""The hybrid path of the llama.cpp engine: torch reads the picture, llama.cpp's 4-bit decoder answers.

Why: see :mod:`app.engine.torch_vision` (llama.cpp's vision encoder was 5-10x
slower than torch bf16 on the build VM). This module holds the two pieces the
engine needs for it without ``mtmd``: the prompt laid out as mtmd lays out an
Idefics3 overview tile, and the embeddings given to ``llama_decode``.
"""

from __future__ import annotations

import ctypes
import importlib.util
import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

#: Values of the ``vision_encoder`` setting.
CHOICES = ("auto", "torch", "llama.cpp")


#: Processors where torch's encoder was measured faster than llama.cpp's (benchmarks/README.md):
#: x86-64, in bf16 where the CPU has native bf16 and in float32 elsewhere (even held to AVX2).
MEASURED_MACHINES = ("x86_64", "amd64")


def choose_torch_vision(choice: str, device: str, mmproj_meta: dict[str, Any], machine: str | None = None) -> bool:
    """Whether to read pictures with torch: never on a GPU build (llama.cpp's encoder runs there),
    only for Idefics3/SmolVLM vision files and where torch is installed; with ``auto`` only on the
    processor family where torch was measured faster (ARM, e.g. Apple silicon, was not measured)."""
    if choice == "llama.cpp" or device != "cpu" or mmproj_meta.get("clip.projector_type") != "idefics3":
        return False
    if importlib.util.find_spec("torch") is None:
        return False
    if choice == "torch":
        return True
    import platform

    return (machine or platform.machine()).lower() in MEASURED_MACHINES


def load_torch_vision(mmproj: Path, threads: int) -> Any:
    """The torch encoder, or None (logged) when the file cannot be read that way: llama.cpp's encoder then."""
    from .torch_vision import TorchIdefics3Vision, VisionFileError

    try:
        return TorchIdefics3Vision(mmproj, threads=threads)
    except (VisionFileError, ValueError, KeyError, OSError, RuntimeError) as exc:
        log.warning("torch cannot read the vision file %s (%r); using llama.cpp's encoder", mmproj.name, exc)
        return None


def overview_layout(llama: Any, prompt: str, marker: str) -> tuple[list[int], list[int]]:
    """Tokens before and after the picture's embeddings, as mtmd lays out one Idefics3 overview tile.

    ``... <fake_token_around_image><global-img>`` [embeddings] ``<fake_token_around_image> ...``:
    the same tokens the llama.cpp-encoder path keeps (``LlamaCppEngine._select``) and transformers'
    one-tile prompt uses.
    """
    if prompt.count(marker) != 1:
        raise ValueError(f"the prompt holds {prompt.count(marker)} pictures, not one")
    left, right = prompt.split(marker)

    def tokens(text: str, bos: bool) -> list[int]:
        return [int(t) for t in llama.tokenize(text.encode("utf-8"), add_bos=bos, special=True)] if text or bos else []

    before = tokens(left, True) + tokens("<fake_token_around_image><global-img>", False)
    after = tokens("<fake_token_around_image>", False) + tokens(right, False)
    return before, after


def decode_embeddings(llama: Any, embeddings: Any) -> None:
    """Evaluate ``n x n_embd`` float32 embeddings at the next positions of sequence 0, ``n_batch`` at a time.

    Raises RuntimeError when ``llama_decode`` fails or is aborted (the engine's cancel).
    """
    import llama_cpp

    count, width = embeddings.shape
    if width != llama.n_embd():
        raise RuntimeError(f"the picture's embeddings are {width} wide, the model takes {llama.n_embd()}")
    step = max(1, int(llama.n_batch))
    batch = llama_cpp.llama_batch_init(step, width, 1)
    try:
        for start in range(0, count, step):
            size = min(step, count - start)
            part = embeddings[start : start + size]
            ctypes.memmove(batch.embd, part.ctypes.data, part.nbytes)
            for i in range(size):
                batch.pos[i] = llama.n_tokens + i
                batch.n_seq_id[i] = 1
                batch.seq_id[i][0] = 0
                batch.logits[i] = 0
            batch.n_tokens = size
            result = llama_cpp.llama_decode(llama._ctx.ctx, batch)
            if result != 0:
                raise RuntimeError(f"llama_decode returned {result}")
            llama.n_tokens += size
    finally:
        llama_cpp.llama_batch_free(batch)
