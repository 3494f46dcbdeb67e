"""Which precision should Iris use on a CPU? Measure it, do not guess.

Builds the real-size SmolVLM-256M architecture from the shared config with
random weights (``from_config``), saves it as safetensors beside the real
tokenizer and processor files, then loads it through the real
:class:`app.engine.transformers_engine.TransformersEngine` once per precision
(fp32, bf16, bnb nf4 with fp32 compute), each in a fresh process so peak RSS
is per precision. For each it prints load time, time to first token and decode
tokens/s for one 512 px tile (preset "fast"), and peak RSS.

Random weights make meaningless text, so the answer length is forced with
``min_new_tokens``. Usage::

    python benchmarks/cpu_precision.py [--threads 2] [--tokens 32] [--runs 2] [--rounds 2] [--json out.json]

To see a CPU without native bf16 on one that has it, limit the kernels:
``ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 python benchmarks/cpu_precision.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # the checkout's app/ package (installed, it is iris_assistant)
SHARED_MODEL = REPO.parent / "shared" / "models" / "smolvlm-256m-instruct"
IMAGE = REPO.parent / "shared" / "images" / "chelsea.png"
PRECISIONS = ("fp32", "bf16", "nf4")


def build_model(dest: Path, source: Path = SHARED_MODEL) -> Path:
    """Save a random-weight, real-size SmolVLM-256M (bf16 on disk, like the hub copy)."""
    import torch
    from transformers import AutoConfig, AutoModelForImageTextToText

    torch.manual_seed(0)
    config = AutoConfig.from_pretrained(source)
    model = AutoModelForImageTextToText.from_config(config, dtype=torch.bfloat16)
    model.save_pretrained(dest, safe_serialization=True)
    for item in source.iterdir():
        if item.is_file() and item.name not in ("config.json", "MODEL_CARD.md"):
            shutil.copy(item, dest / item.name)
    return dest


def measure_one(model_dir: Path, precision: str, threads: int, tokens: int, runs: int, image_path: Path) -> dict:
    """Run in a child process: load once, generate ``runs`` times, report figures."""
    import torch  # noqa: F401 - import cost kept out of the load time
    import transformers  # noqa: F401
    from PIL import Image

    from app.engine.base import Conversation
    from app.engine.transformers_engine import TransformersEngine

    settings = {"cpu_threads": threads, "preset": "fast", "max_new_tokens": tokens}
    engine = TransformersEngine(model_dir, device="cpu", settings=settings, precision=precision)
    start = time.perf_counter()
    engine.load()
    load_s = time.perf_counter() - start
    image = Image.open(image_path)
    results = []
    for _ in range(runs):
        conversation = Conversation(image=image)
        conversation.ask("Describe this image for a blind person.")
        for _piece in engine.stream(conversation, max_new_tokens=tokens, min_new_tokens=tokens):
            pass
        s = engine.last_stats
        decode_s = s.total_s - (s.first_token_s or s.total_s)
        results.append(
            {
                "first_token_s": round(s.first_token_s or 0.0, 2),
                "decode_tok_s": round((s.output_tokens - 1) / decode_s, 2) if decode_s > 0 else None,
                "input_tokens": s.input_tokens,
                "output_tokens": s.output_tokens,
            }
        )
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "precision": precision,
        "quantization": engine.quantization,
        "load_s": round(load_s, 2),
        "runs": results,
        "peak_rss_mb": round(peak_rss_mb),
    }


def summarise(precision: str, results: list[dict]) -> dict:
    """Medians over every round and run (the shared CPU makes single runs noisy)."""
    good = [r for r in results if "error" not in r]
    if not good:
        return {"precision": precision, "error": results[-1].get("error") if results else "no runs"}
    runs = [run for r in good for run in r["runs"]]
    return {
        "precision": precision,
        "load_s": round(statistics.median(r["load_s"] for r in good), 2),
        "first_token_s": round(statistics.median(r["first_token_s"] for r in runs), 2),
        "decode_tok_s": round(statistics.median(r["decode_tok_s"] or 0 for r in runs), 1),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in good),
        "input_tokens": runs[0]["input_tokens"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--runs", type=int, default=2, help="generations per load")
    parser.add_argument("--rounds", type=int, default=2, help="loads per precision, in alternating order")
    parser.add_argument("--precisions", default=",".join(PRECISIONS))
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--source", type=Path, default=SHARED_MODEL, help="folder with the real config and tokenizer")
    parser.add_argument("--image", type=Path, default=IMAGE)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--model-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.one:
        print(json.dumps(measure_one(args.model_dir, args.one, args.threads, args.tokens, args.runs, args.image)))
        return 0
    if not args.source.is_dir():
        print(f"missing {args.source}", file=sys.stderr)
        return 2
    raw: dict[str, list[dict]] = {p: [] for p in args.precisions.split(",")}
    with tempfile.TemporaryDirectory(prefix="iris-bench-") as tmp:
        model_dir = build_model(Path(tmp) / "smolvlm-256m-random", args.source)
        for round_no in range(args.rounds):
            # Alternate the order each round so a burst of load on the shared CPU
            # does not always land on the same precision.
            order = list(raw) if round_no % 2 == 0 else list(reversed(raw))
            for precision in order:
                cmd = [sys.executable, __file__, "--one", precision, "--model-dir", str(model_dir),
                       "--threads", str(args.threads), "--tokens", str(args.tokens), "--runs", str(args.runs),
                       "--image", str(args.image)]
                pythonpath = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
                env = dict(os.environ, PYTHONPATH=pythonpath, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
                done = subprocess.run(cmd, capture_output=True, text=True, env=env)
                if done.returncode != 0:
                    row = {"precision": precision, "error": done.stderr.strip().splitlines()[-1:]}
                else:
                    row = json.loads(done.stdout.strip().splitlines()[-1])
                raw[precision].append(row)
                print(json.dumps(row), flush=True)
    rows = [summarise(p, results) for p, results in raw.items()]
    print(f"\nthreads={args.threads}, tokens={args.tokens}, {args.rounds} rounds x {args.runs} runs; medians")
    print(f"{'precision':<10}{'load s':>8}{'first token s':>15}{'decode tok/s':>14}{'peak RSS MB':>13}")
    for row in rows:
        if "error" in row:
            print(f"{row['precision']:<10} failed: {row['error']}")
            continue
        print(f"{row['precision']:<10}{row['load_s']:>8}{row['first_token_s']:>15}{row['decode_tok_s']:>14}"
              f"{row['peak_rss_mb']:>13}")
    ok = [r for r in rows if "error" not in r]
    if ok:
        best = min(ok, key=lambda r: r["first_token_s"])
        print(f"fastest to the first token: {best['precision']}")
    if args.json:
        args.json.write_text(json.dumps({"summary": rows, "raw": raw}, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
