"""An Idefics3/SmolVLM vision encoder in torch, read from the model's own ``mmproj`` GGUF file.

Why (issue 10, benchmarks/README.md "hybrid"): llama.cpp loses the first
spoken word in its vision encoder. On the 2-core build VM one 384 px tile of
SmolVLM2-2.2B took 8.2 s in llama.cpp's encoder (no-AMX build, bf16 mmproj,
flash attention) and 0.8-1.0 s in torch bf16, which uses the CPU's bf16
matrix units through oneDNN; SmolVLM-256M's 512 px tile 1.8 s against 0.34 s.
Even in float32 held to AVX2 torch took 4.8 s for that tile, against 6.7 s for
llama.cpp's best (f16 mmproj, flash attention, AVX-512). So on x86-64 processors
where torch is installed (bf16 where the CPU computes it natively, float32
elsewhere: emulated bf16 took 31 s), the llama.cpp engine asks this module for
the picture's embeddings and gives them to
llama.cpp's 4-bit decoder as input embeddings (llama.cpp's batch API takes
embeddings); the mmproj file is then not loaded by llama.cpp at all, so the
weights are held once.

The forward pass is SigLIP's (pre-norm ViT, learned position embeddings, tanh
GELU) followed by Idefics3's pixel shuffle and linear projection, written out
with torch functionals on the GGUF tensors; ``tests/test_torch_vision.py``
checks it against llama.cpp's own encoder on the same pixels. A cancel is
seen between layers (tens of milliseconds apart).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Callable

from .gguf_tensors import BF16, load_tensor, read_tensor_table

log = logging.getLogger(__name__)


class VisionFileError(ValueError):
    """The mmproj file is not an Idefics3 vision encoder this module can run."""


def bf16_is_fast() -> bool:
    """True when the CPU has native bf16 matrix instructions (AVX512-BF16 or AMX), as torch reports them."""
    import torch

    cpu = getattr(torch, "cpu", None)
    checks = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    return any(bool(getattr(cpu, name, lambda: False)()) for name in checks)


class TorchIdefics3Vision:
    """Picture in, ``n_tokens`` x ``n_embd`` float32 embeddings out (what llama.cpp's decoder takes)."""

    def __init__(self, mmproj: Path, *, threads: int, dtype: str = "auto") -> None:
        import torch

        start = time.perf_counter()
        meta, table = read_tensor_table(mmproj)
        if meta.get("clip.projector_type") != "idefics3":
            raise VisionFileError(f"projector {meta.get('clip.projector_type')!r} is not idefics3")
        self.image_size = int(meta["clip.vision.image_size"])
        self.patch = int(meta["clip.vision.patch_size"])
        self.scale = int(meta.get("clip.vision.projector.scale_factor") or 1)
        self.heads = int(meta["clip.vision.attention.head_count"])
        self.eps = float(meta.get("clip.vision.attention.layer_norm_epsilon") or 1e-6)
        self.mean = [float(v) for v in (meta.get("clip.vision.image_mean") or [0.5, 0.5, 0.5])]
        self.std = [float(v) for v in (meta.get("clip.vision.image_std") or [0.5, 0.5, 0.5])]
        layers = int(meta["clip.vision.block_count"])
        if dtype == "auto":
            dtype = "bfloat16" if bf16_is_fast() else "float32"
        self.dtype = getattr(torch, dtype)
        self.threads = max(1, threads)

        def tensor(name: str, required: bool = True) -> Any:
            info = table.get(name)
            if info is None:
                if required:
                    raise VisionFileError(f"the vision file has no tensor {name}")
                return None
            data = torch.from_numpy(load_tensor(mmproj, info))
            if info.ggml_type == BF16:
                data = data.view(torch.bfloat16)
            return data.to(self.dtype)

        self.patch_w, self.patch_b = tensor("v.patch_embd.weight"), tensor("v.patch_embd.bias", False)
        self.position = tensor("v.position_embd.weight")
        self.pre_ln = (tensor("v.pre_ln.weight", False), tensor("v.pre_ln.bias", False))
        self.post_ln = (tensor("v.post_ln.weight", False), tensor("v.post_ln.bias", False))
        self.blocks = []
        for i in range(layers):
            p = f"v.blk.{i}."
            self.blocks.append({
                key + suffix: tensor(p + key + suffix, suffix == ".weight")
                for key in ("ln1", "ln2", "attn_q", "attn_k", "attn_v", "attn_out", "ffn_up", "ffn_down")
                for suffix in (".weight", ".bias")
            })
        self.fc = tensor("mm.model.fc.weight")
        self.grid = self.image_size // self.patch
        if self.grid % self.scale:
            raise VisionFileError(f"a {self.grid}x{self.grid} patch grid does not divide by {self.scale}")
        self.n_tokens = (self.grid // self.scale) ** 2
        self.n_embd = int(self.fc.shape[0])
        self.load_s = time.perf_counter() - start
        log.info("torch vision encoder: %d layers, %s, %d tokens a tile, read in %.1f s", layers, dtype, self.n_tokens, self.load_s)

    def pixels(self, image: Any) -> Any:
        """The picture as one normalized ``image_size`` square tile (the overview tile llama.cpp would make)."""
        import numpy as np
        import torch
        from PIL import Image

        tile = image.convert("RGB").resize((self.image_size, self.image_size), Image.Resampling.BICUBIC)
        scaled = np.asarray(tile, dtype=np.float32) / np.float32(255.0)
        array = (scaled - np.array(self.mean, dtype=np.float32)) / np.array(self.std, dtype=np.float32)
        return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))[None]

    def encode(self, image: Any, cancelled: Callable[[], bool] = lambda: False) -> Any:
        """Embeddings as a C-contiguous float32 numpy array, or None when cancelled."""
        return self.encode_pixels(self.pixels(image), cancelled)

    def encode_pixels(self, pixels: Any, cancelled: Callable[[], bool] = lambda: False) -> Any:
        import torch
        import torch.nn.functional as fn

        previous = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        try:
            with torch.inference_mode():
                x = fn.conv2d(pixels.to(self.dtype), self.patch_w, self.patch_b, stride=self.patch)
                x = x.flatten(2).transpose(1, 2) + self.position[: self.grid * self.grid]
                if self.pre_ln[0] is not None:
                    x = fn.layer_norm(x, x.shape[-1:], *self.pre_ln, eps=self.eps)
                for block in self.blocks:
                    if cancelled():
                        return None
                    x = self._block(x, block)
                if self.post_ln[0] is not None:
                    x = fn.layer_norm(x, x.shape[-1:], *self.post_ln, eps=self.eps)
                x = fn.linear(self._pixel_shuffle(x), self.fc)
                return x[0].float().numpy().copy(order="C")
        finally:
            torch.set_num_threads(previous)

    def _block(self, x: Any, w: dict[str, Any]) -> Any:
        import torch.nn.functional as fn

        batch, n, width = x.shape
        h = fn.layer_norm(x, (width,), w["ln1.weight"], w["ln1.bias"], eps=self.eps)
        q, k, v = (
            fn.linear(h, w[f"attn_{name}.weight"], w[f"attn_{name}.bias"]).view(batch, n, self.heads, -1).transpose(1, 2)
            for name in ("q", "k", "v")
        )
        attended = fn.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(batch, n, width)
        x = x + fn.linear(attended, w["attn_out.weight"], w["attn_out.bias"])
        h = fn.layer_norm(x, (width,), w["ln2.weight"], w["ln2.bias"], eps=self.eps)
        h = fn.gelu(fn.linear(h, w["ffn_up.weight"], w["ffn_up.bias"]), approximate="tanh")
        return x + fn.linear(h, w["ffn_down.weight"], w["ffn_down.bias"])

    def _pixel_shuffle(self, x: Any) -> Any:
        """Idefics3's space-to-depth: every scale x scale block of patches becomes one token."""
        batch, n, width = x.shape
        side, s = self.grid, self.scale
        x = x.view(batch, side, side // s, width * s).permute(0, 2, 1, 3)
        x = x.reshape(batch, side // s, side // s, width * s * s).permute(0, 2, 1, 3)
        return x.reshape(batch, n // (s * s), width * s * s)
