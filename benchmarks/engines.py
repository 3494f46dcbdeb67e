"""Engines side by side: transformers, llama.cpp (4-bit GGUF) and a model server, through Iris's real pipeline.

Usage (also reachable as ``benchmarks/latency.py --engine ...``)::

    python benchmarks/engines.py --engine transformers,llamacpp[:torch|:llama.cpp] [--arch smolvlm-256m|smolvlm2-2.2b]
                                 [--server URL --server-model NAME] [--runs N] [--tokens N] [--json]

Every side runs in its own process (peak RSS is per side) on the same 1280x800
screenshot, the ``fast`` preset (one tile), the real streaming chunker and an
espeak-ng voice writing to a WAV sink. Both local engines are forced, token by
token, to the same realistic answer (random weights never end a sentence), so
first audio is as a user would hear it. Figures per side: load, first token,
first audio, decode tok/s, peak RSS, and the follow-up's first audio (a second
question about the same picture: the llama.cpp engine keeps the picture in its
KV cache, the transformers engine re-reads it).

``llamacpp:torch`` and ``llamacpp:llama.cpp`` choose what reads the picture for
the llama.cpp engine (the ``vision_encoder`` setting: torch, the hybrid path,
or llama.cpp's own encoder); plain ``llamacpp`` is the app's ``auto``.

The llama.cpp files for ``--arch`` are made once from the same random-weight
folder (benchmarks/archs.py) with llama.cpp's converter, which needs
transformers 4.57 in a separate virtual environment (``--convert-python``):
the text model is quantized to Q4_K_M, the mmproj kept in bf16 (faster than the
default f16 in the issue's measurements). See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(1, str(REPO))

import archs  # noqa: E402

GGUF_DIR = BENCH / "out" / "latency" / "gguf"
IMAGE = BENCH / "data" / "screenshot-1280x800.png"
SCRIPT = (
    "This is a mail program showing the inbox, with seven messages listed. The selected message is from "
    "Dr. Amelia Hart: the appointment has moved to Thursday 11 April at 14:15, in room 204. Bring your "
    "insurance card and a list of your medicines, or call the clinic on 555-0142 before Wednesday noon."
)
FOLLOW_UP = "What time is the appointment?"
FOLLOW_SCRIPT = "The appointment is on Thursday at 14:15, in room 204. Please bring your insurance card."
SIDES = ("transformers", "llamacpp", "server")


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


# ------------------------------------------------------------------ GGUF files
def ensure_gguf(arch: str, convert_python: str | None, mmproj_type: str = "bf16") -> Path:
    """The Q4_K_M text model + mmproj for ``arch`` (made once from the random-weight folder)."""
    out = GGUF_DIR / arch
    text_q4 = out / f"{arch}-Q4_K_M.gguf"
    mmproj = out / f"mmproj-{arch}-{mmproj_type}.gguf"
    if text_q4.is_file() and mmproj.is_file():
        return out
    if not convert_python:
        raise SystemExit(f"No GGUF files in {out}; pass --convert-python (a venv with transformers 4.57 and gguf).")
    convert = os.environ.get("CONVERT") or str(
        next(Path(tempfile.gettempdir()).glob("**/vendor/llama.cpp/convert_hf_to_gguf.py"), "")
    )
    if not convert:
        raise SystemExit("Set CONVERT to llama.cpp's convert_hf_to_gguf.py (in the llama-cpp-python sdist).")
    src = archs.build_model_dir(arch)
    out.mkdir(parents=True, exist_ok=True)
    text_f16 = out / f"{arch}-f16.gguf"
    subprocess.run([convert_python, convert, str(src), "--outfile", str(text_f16), "--outtype", "f16"], check=True)
    subprocess.run([convert_python, convert, str(src), "--mmproj", "--outfile", str(mmproj), "--outtype", mmproj_type],
                   check=True)
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_K_M
    params.nthread = os.cpu_count() or 1
    if llama_cpp.llama_model_quantize(str(text_f16).encode(), str(text_q4).encode(), params) != 0:
        raise SystemExit("quantization failed")
    text_f16.unlink()
    return out


# ------------------------------------------------------------------ one side
def run_side(args: argparse.Namespace) -> dict[str, Any]:
    from app.images import load_image
    from app.notifier import Notifier
    from app.pipeline import Assistant
    from app.settings import Settings
    from app.speech.factory import create_speaker

    work = Path(tempfile.mkdtemp(prefix="iris-engines-"))
    settings = Settings.load(path=work / "settings.json")
    settings.update({"preset": "fast", "cpu_threads": args.threads, "speech_engine": "espeak-ng",
                     "max_new_tokens": args.tokens, "vision_encoder": args.vision_encoder})
    speaker = create_speaker(settings, wav_path=work / "answer.wav")
    speaker.wait_ready(30)
    started = time.perf_counter()
    engine, force = make_engine(args, settings)
    engine.load()
    load_s = time.perf_counter() - started
    force(SCRIPT)
    assistant = Assistant(engine=engine, speaker=speaker, notifier=Notifier(), settings=settings)
    image = load_image(IMAGE)

    shots = iter(range(10_000))

    def one(follow_up: bool) -> dict[str, Any]:
        # A new picture each time (one pixel differs), as after every key press: the engines keep the last
        # picture in their KV cache, and describing the very same picture again would be served from it.
        picture = image.copy()
        picture.putpixel((next(shots), 0), (255, 0, 255))
        force(SCRIPT)
        answer = assistant.describe(picture, is_screen=True, min_new_tokens=args.tokens)
        speaker.wait(120)
        row = figures(answer, engine)
        if follow_up:
            force(FOLLOW_SCRIPT)
            again = assistant.ask(FOLLOW_UP)
            speaker.wait(120)
            follow = figures(again, engine)
            row.update({f"follow_up_{k}": v for k, v in follow.items() if k in ("first_token_s", "first_audio_s",
                                                                                 "input_tokens")})
        return row

    cold = one(False)
    runs = [one(True) for _ in range(args.runs)]
    result = {key: _median(runs, key) for key in runs[0] if key != "engine"}
    result.update({"side": args.child, "engine": engine.engine_name, "model": engine.model_name,
                   "quantization": engine.quantization, "load_s": round(load_s, 3), "cold": cold,
                   "peak_rss_mb": peak_rss_mb(), "runs": runs,
                   "vision_encoder": getattr(engine, "vision_encoder", None)})
    speaker.close()
    engine.unload()
    return result


def figures(answer: Any, engine: Any) -> dict[str, Any]:
    stats = engine.last_stats
    decode_s = stats.total_s - (stats.first_token_s or stats.total_s)
    return {
        "first_token_s": answer.timings["first_token"],
        "first_audio_s": answer.timings["first_audio"],
        "tokens_per_s": round((stats.output_tokens - 1) / decode_s, 2) if decode_s > 0 and stats.output_tokens > 1 else None,
        "input_tokens": stats.input_tokens,
        "output_tokens": stats.output_tokens,
    }


def make_engine(args: argparse.Namespace, settings: Any) -> tuple[Any, Any]:
    """The side's engine and a function that forces its next answer to a text."""
    if args.child == "transformers":
        from latency import force_answers, scripted_ids

        from app.engine.transformers_engine import TransformersEngine

        engine = TransformersEngine(archs.build_model_dir(args.arch, device=args.device), device=args.device,
                                    settings=settings)
        original: list[Any] = []

        def force(text: str) -> None:
            if engine._model is None:
                return
            if not original:
                original.append(engine._model.generate)
            engine._model.generate = original[0]
            tokenizer = getattr(engine._processor, "tokenizer", engine._processor)
            force_answers(engine._model, scripted_ids(tokenizer, text, args.tokens))

        return engine, force
    if args.child == "llamacpp":
        from app.engine.llamacpp_engine import LlamaCppEngine

        engine = LlamaCppEngine(ensure_gguf(args.arch, args.convert_python), device=args.device, settings=settings)

        def force(text: str) -> None:
            if engine._llama is None:
                return
            ids = engine._llama.tokenize(text.encode(), add_bos=False, special=False)
            while len(ids) < args.tokens:
                ids = ids + ids

            def processor(step: int, logits: Any) -> None:
                target = ids[min(step, len(ids) - 1)]
                logits[:] = -1e30
                logits[target] = 0.0

            engine.logits_processors[:] = [processor]

        return engine, force
    from app.engine.server_engine import ServerEngine

    return ServerEngine(args.server, args.server_model or "auto", settings=settings), lambda text: None


def _median(rows: list[dict[str, Any]], key: str) -> Any:
    values = [r[key] for r in rows if isinstance(r.get(key), (int, float))]
    return round(statistics.median(values), 4) if values else None


# ------------------------------------------------------------------ driver
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", default="transformers,llamacpp", help="comma-separated: " + ", ".join(SIDES))
    parser.add_argument("--arch", default="smolvlm-256m", choices=sorted(archs.ARCHS))
    parser.add_argument("--server", help="an OpenAI-compatible server for the server side")
    parser.add_argument("--server-model", help="the model name on that server")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=48)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--convert-python", help="python of a venv with transformers 4.57 + gguf (to make GGUF files)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", choices=SIDES, help=argparse.SUPPRESS)
    parser.add_argument("--vision-encoder", default="auto", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print("RESULT " + json.dumps(run_side(args)), flush=True)
        return 0
    sides = [s.strip() for s in args.engine.split(",") if s.strip()]
    if any(s.startswith("llamacpp") for s in sides):
        ensure_gguf(args.arch, args.convert_python)
    results = []
    for spec in sides:
        side, _, encoder = spec.partition(":")
        cmd = [sys.executable, __file__, "--child", side, "--arch", args.arch, "--runs", str(args.runs),
               "--tokens", str(args.tokens), "--threads", str(args.threads), "--device", args.device,
               "--vision-encoder", encoder or "auto"]
        if args.server:
            cmd += ["--server", args.server] + (["--server-model", args.server_model] if args.server_model else [])
        out = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=3600)
        line = next((x for x in out.stdout.splitlines() if x.startswith("RESULT ")), None)
        if line is None:
            print(f"{side}: failed\n{out.stderr[-2000:]}", file=sys.stderr)
            continue
        results.append(json.loads(line[7:]))
    if args.json:
        print(json.dumps({"arch": args.arch, "tokens": args.tokens, "results": results}, indent=2))
        return 0
    print(f"{args.arch}, {args.tokens} forced tokens, fast preset, medians of {args.runs} runs (s = seconds)")
    header = ("engine", "vision", "quant", "load s", "first token s", "first audio s", "decode tok/s", "peak RSS MB",
              "follow-up first audio s", "input tokens")
    print(" | ".join(header))
    for r in results:
        print(" | ".join(str(x) for x in (r["engine"], r.get("vision_encoder") or "-", r["quantization"], r["load_s"], r["first_token_s"],
                                          r["first_audio_s"], r["tokens_per_s"], r["peak_rss_mb"],
                                          r.get("follow_up_first_audio_s"), r["input_tokens"])))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
