"""Model architectures for the benchmarks: real sizes, random weights, real tokenizer and processor.

Real weights cannot be fetched on these machines, so a benchmark builds the
architecture from its published configuration with random weights
(``from_config``), saves it as safetensors next to the real SmolVLM
tokenizer, chat template and image-processor files, and loads that folder
exactly as Iris loads a downloaded model. Latency and memory depend on the
shapes, not on the weight values.

Two architectures:

* ``smolvlm-256m``: SmolVLM-256M-Instruct, the config shipped in
  ``../shared/models/smolvlm-256m-instruct`` unchanged (256.5M parameters;
  SigLIP-base/16 at 512 px, pixel shuffle 4 -> 64 tokens per tile, SmolLM2-135M).
* ``smolvlm2-2.2b``: SmolVLM2-2.2B-Instruct from its published dimensions
  (checked against the hub's config.json of HuggingFaceTB/SmolVLM2-2.2B-Instruct
  and of its text model SmolLM2-1.7B): text hidden 2048, 24 layers, 32 heads,
  32 KV heads, head_dim 64, MLP 8192, vocab 49280, rope_theta 130000, untied
  lm_head; vision SigLIP so400m/14 (hidden 1152, 27 layers, 16 heads, MLP 4304)
  at 384 px; pixel shuffle 3 -> 81 tokens per 384 px tile; the processor
  resizes the longest edge to 4 x 384 = 1536 px by default. It keeps the
  ``idefics3`` model type of the 256M folder (the SmolVLM classes in
  transformers are the Idefics3 ones with the same layers), so the 256M
  tokenizer (same vocabulary and image token 49190) and processor class are
  reused with ``max_image_size``/``size``/``image_seq_len`` set to the 2.2B values.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
#: The real SmolVLM-256M config/tokenizer/processor folder; IRIS_BENCH_SOURCE overrides it (GPU machine).
SHARED_MODEL = Path(os.environ.get("IRIS_BENCH_SOURCE") or REPO.parent / "shared" / "models" / "smolvlm-256m-instruct")
CACHE_DIR = REPO / "benchmarks" / "out" / "latency" / "models"
MARKER = "iris-bench-arch.json"


@dataclass(frozen=True)
class Arch:
    name: str
    description: str
    text: dict[str, Any] = field(default_factory=dict)
    vision: dict[str, Any] = field(default_factory=dict)
    top: dict[str, Any] = field(default_factory=dict)
    #: preprocessor_config.json / processor_config.json overrides
    preprocessor: dict[str, Any] = field(default_factory=dict)
    processor: dict[str, Any] = field(default_factory=dict)

    def spec_hash(self) -> str:
        blob = json.dumps([self.text, self.vision, self.top, self.preprocessor, self.processor], sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


ARCHS: dict[str, Arch] = {
    "smolvlm-256m": Arch(
        name="smolvlm-256m",
        description="SmolVLM-256M-Instruct (real config, random weights)",
    ),
    "smolvlm2-2.2b": Arch(
        name="smolvlm2-2.2b",
        description="SmolVLM2-2.2B-Instruct dimensions (published config, random weights)",
        text={
            "hidden_size": 2048,
            "num_hidden_layers": 24,
            "num_attention_heads": 32,
            "num_key_value_heads": 32,
            "head_dim": 64,
            "intermediate_size": 8192,
            "vocab_size": 49280,
            "rope_theta": 130000,
            "max_position_embeddings": 8192,
            "tie_word_embeddings": False,
            "pixel_shuffle_factor": 3,
        },
        vision={
            "hidden_size": 1152,
            "num_hidden_layers": 27,
            "num_attention_heads": 16,
            "intermediate_size": 4304,
            "patch_size": 14,
            "image_size": 384,
            "max_image_size": {"longest_edge": 384},
            "size": {"longest_edge": 1536},
        },
        top={"scale_factor": 3, "vocab_size": 49280, "tie_word_embeddings": False},
        preprocessor={"max_image_size": {"longest_edge": 384}, "size": {"longest_edge": 1536}},
        processor={"image_seq_len": 81},
    ),
}


def config_dict(arch: Arch, source: Path = SHARED_MODEL) -> dict[str, Any]:
    """The config.json contents for ``arch``: the 256M config with the arch's overrides."""
    config = json.loads((source / "config.json").read_text(encoding="utf-8"))
    config = copy.deepcopy(config)
    config.setdefault("text_config", {}).update(arch.text)
    config.setdefault("vision_config", {}).update(arch.vision)
    config.update(arch.top)
    return config


def build_model_dir(
    arch_name: str,
    dest: Path | None = None,
    *,
    source: Path = SHARED_MODEL,
    device: str = "cpu",
    force: bool = False,
) -> Path:
    """A loadable model folder for ``arch_name`` (built once, then reused).

    Weights are random (seed 0), stored in bf16 like the hub copies; tokenizer,
    chat template and processor files come from ``source``.
    """
    arch = ARCHS[arch_name]
    dest = Path(dest) if dest is not None else CACHE_DIR / arch.name
    marker = dest / MARKER
    if not force and marker.is_file():
        try:
            if json.loads(marker.read_text())["hash"] == arch.spec_hash():
                return dest
        except (ValueError, KeyError, OSError):
            pass
    if not (source / "config.json").is_file():
        raise FileNotFoundError(f"no model config at {source}")
    import torch
    from transformers import AutoConfig, AutoModelForImageTextToText

    started = time.perf_counter()
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    config_path = dest / "config.json"
    config_path.write_text(json.dumps(config_dict(arch, source), indent=2), encoding="utf-8")
    config = AutoConfig.from_pretrained(dest)
    torch.manual_seed(0)
    with torch.device(device):
        model = AutoModelForImageTextToText.from_config(config, dtype=torch.bfloat16)
    model.save_pretrained(dest, safe_serialization=True)
    params = sum(p.numel() for p in model.parameters())
    del model
    if device != "cpu":
        torch.cuda.empty_cache()
    for item in source.iterdir():
        if item.is_file() and item.name not in ("config.json", "MODEL_CARD.md"):
            shutil.copyfile(item, dest / item.name)
    _override_json(dest / "preprocessor_config.json", arch.preprocessor)
    _override_json(dest / "processor_config.json", arch.processor)
    marker.write_text(json.dumps({"arch": arch.name, "hash": arch.spec_hash(), "parameters": params,
                                  "build_s": round(time.perf_counter() - started, 1)}))
    return dest


def _override_json(path: Path, values: dict[str, Any]) -> None:
    if not values:
        return
    data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    data.update(values)
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")


def parameter_count(model_dir: Path) -> int | None:
    try:
        return int(json.loads((Path(model_dir) / MARKER).read_text())["parameters"])
    except (OSError, ValueError, KeyError):
        return None


def decode_weight_bytes(model: Any) -> dict[str, int]:
    """Bytes of weights one decode step must read: the text model and the LM head.

    The vision tower and connector run once per image (prefill), and only one
    row of the input embedding is read per token, so they are left out. For
    bitsandbytes 4-bit layers the packed weight plus its quantization
    constants (absmax, nested absmax and code) are counted.
    """
    text_model, lm_head = _text_parts(model)
    total = 0
    embed = 0
    for name, param in text_model.named_parameters():
        if "embed_tokens" in name:
            embed += param.numel() * param.element_size()
            continue
        total += _param_bytes(param)
    head = sum(_param_bytes(p) for p in lm_head.parameters()) if lm_head is not None else 0
    return {"text_layers": total, "lm_head": head, "decode_total": total + head, "embed_tokens": embed}


def _text_parts(model: Any) -> tuple[Any, Any]:
    inner = getattr(model, "model", model)
    text_model = getattr(inner, "text_model", None) or getattr(inner, "language_model", None) or inner
    lm_head = getattr(model, "lm_head", None)
    return text_model, lm_head


def _param_bytes(param: Any) -> int:
    size = param.numel() * param.element_size()
    state = getattr(param, "quant_state", None)
    if state is not None:
        for attr in ("absmax", "code"):
            t = getattr(state, attr, None)
            if t is not None and hasattr(t, "numel"):
                size += t.numel() * t.element_size()
        nested = getattr(state, "state2", None)
        if nested is not None:
            for attr in ("absmax", "code"):
                t = getattr(nested, attr, None)
                if t is not None and hasattr(t, "numel"):
                    size += t.numel() * t.element_size()
    return size


def measure_bandwidth(size_mb: int = 1024, reps: int = 20) -> dict[str, Any]:
    """Device memory rate from a large device-to-device copy (bytes read + written) / time."""
    import torch

    n = size_mb * 2**20
    src = torch.randint(0, 255, (n,), dtype=torch.uint8, device="cuda")  # random, never zeros
    dst = torch.empty_like(src)
    for _ in range(3):
        dst.copy_(src)
    torch.cuda.synchronize()
    begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    times = []
    for _ in range(reps):
        begin.record()
        dst.copy_(src)
        end.record()
        end.synchronize()
        times.append(begin.elapsed_time(end) / 1000)
    if not torch.equal(src[:4096], dst[:4096]):
        raise RuntimeError("copy check failed")
    seconds = statistics.median(times)
    del src, dst
    torch.cuda.empty_cache()
    return {"bytes_moved": 2 * n, "copy_s": round(seconds, 6), "gb_per_s": round(2 * n / seconds / 1e9, 1)}


def decode_bound(result: dict[str, Any], model_dir: Path, gb_per_s: float, tokens: int) -> dict[str, Any] | None:
    """Decode tokens/s if every byte a step must read (weights + KV cache) moved at ``gb_per_s``."""
    if "weights" not in result or not result.get("tokens_per_s"):
        return None
    text = json.loads((Path(model_dir) / "config.json").read_text())["text_config"]
    head_dim = text.get("head_dim") or text["hidden_size"] // text["num_attention_heads"]
    context = (result.get("input_tokens") or 0) + tokens / 2
    kv = text["num_hidden_layers"] * 2 * text["num_key_value_heads"] * head_dim * context * 2  # bf16 cache
    per_token = result["weights"]["decode_total"] + kv
    limit = gb_per_s * 1e9 / per_token
    return {"weight_bytes": result["weights"]["decode_total"], "kv_bytes": int(kv), "bytes_per_token": int(per_token),
            "limit_tok_s": round(limit, 1), "measured_tok_s": result["tokens_per_s"],
            "fraction": round(result["tokens_per_s"] / limit, 4)}


if __name__ == "__main__":  # pragma: no cover - manual use: python benchmarks/archs.py NAME
    import sys

    name = sys.argv[1] if len(sys.argv) > 1 else "smolvlm-256m"
    print(build_model_dir(name))
