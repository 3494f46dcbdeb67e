"""A shrunk SmolVLM with random weights that loads through the real engine in about a second.

Keeps the real tokenizer, chat template, image processor, vocabulary and
image-token ids (so prompts, tiling and token counts behave exactly as with
the real model) but uses tiny hidden sizes and two layers. Sizes are multiples
of 64 so bitsandbytes' 4-bit blocks fit.
"""

from __future__ import annotations

import shutil
from pathlib import Path

SKIP_FILES = ("config.json", "MODEL_CARD.md")
SMOLVLM_DIR = Path(__file__).resolve().parent.parent.parent / "shared" / "models" / "smolvlm-256m-instruct"


def build_tiny_smolvlm(dest: Path, source: Path | None = None) -> Path:
    """Write a tiny safetensors SmolVLM (plus the shared processor files) to ``dest``."""
    import torch
    from transformers import AutoConfig, AutoModelForImageTextToText

    source = source or SMOLVLM_DIR
    config = AutoConfig.from_pretrained(source)
    text = config.text_config
    text.hidden_size, text.intermediate_size = 64, 128
    text.num_hidden_layers, text.num_attention_heads, text.num_key_value_heads, text.head_dim = 2, 4, 2, 16
    vision = config.vision_config
    vision.hidden_size, vision.intermediate_size = 64, 128
    vision.num_hidden_layers, vision.num_attention_heads = 1, 2
    torch.manual_seed(0)
    model = AutoModelForImageTextToText.from_config(config, dtype=torch.float32)
    dest = Path(dest)
    model.save_pretrained(dest, safe_serialization=True)
    # The real generation config (eos = <end_of_utterance>) replaces the derived one.
    for item in Path(source).iterdir():
        if item.is_file() and item.name not in SKIP_FILES:
            shutil.copy(item, dest / item.name)
    return dest
