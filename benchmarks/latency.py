"""Time to the first spoken word: Iris's real pipeline against a naive transformers script.

Usage::

    python benchmarks/latency.py [--device cpu|cuda] [--arch smolvlm-256m|smolvlm2-2.2b]
                                 [--json] [--quick] [--runs N] [--levers] [--out FILE]
    python benchmarks/latency.py --engine transformers,llamacpp [--arch ...] [--server URL]
                                 (engines side by side: benchmarks/engines.py)

Same machine, same run, same model folder (real-size architecture, random
weights, real tokenizer and processor: see benchmarks/archs.py), same image,
same answer length, same espeak-ng voice:

* **iris**: ``app.pipeline.Assistant`` with the real ``TransformersEngine``
  (device default precision, preset "fast"), the real streaming chunker and
  ``create_speaker(settings, wav_path=...)`` synthesizing into a WAV sink.
  First audio is the speaker's ``audio`` event for the first chunk.
* **naive**: AutoProcessor with its default image handling (default tiling),
  ``generate()`` to the end, then the whole answer synthesized at once by the
  same espeak-ng backend; first audio is when that WAV is ready.

Random weights produce text without punctuation, so a chunker would never
find a clause to speak early. Both sides therefore force the argmax, token by
token, to the same realistic description (a LogitsProcessor added to
``generate``): every step still runs the full forward pass, only the choice of
token is scripted. Answers are ``--tokens`` long (min_new_tokens = max_new_tokens).

Each (side, input) runs in its own process, so peak RSS / VRAM are per side:
the model is loaded, one warm-up request runs (its figures are kept as
``cold``: the first request after loading), then ``--runs`` measured requests
(medians reported). ``--quick`` is one measured run with a 2-token naive warm-up.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(1, str(REPO))

import archs  # noqa: E402

INPUTS = {
    "screenshot": BENCH / "data" / "screenshot-1280x800.png",
    "photo": Path(os.environ.get("IRIS_BENCH_PHOTO") or REPO.parent / "shared" / "images" / "chelsea.png"),
}
#: What a good model would say; the first clause ends at the first comma.
SCRIPTS = {
    "screenshot": (
        "This is a mail program showing the inbox, with seven messages listed. The selected message is from "
        "Dr. Amelia Hart: the appointment has moved to Thursday 11 April at 14:15, in room 204. Bring your "
        "insurance card and a list of your medicines, or call the clinic on 555-0142 before Wednesday noon."
    ),
    "photo": (
        "A tabby cat sits on a wooden floor, looking straight at the camera. Its fur is striped grey and brown, "
        "its eyes are green and its ears point up. Behind it is a plain, pale wall, and the light comes from "
        "the left, so its right side is in soft shadow."
    ),
}
SHORT_PROMPT = "Describe this briefly."


# --------------------------------------------------------------- shared helpers
def peak_rss_mb() -> float:
    """Peak resident memory of this process (VmHWM), in MB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def scripted_ids(tokenizer: Any, text: str, count: int) -> list[int]:
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    while len(ids) < count:
        ids = ids + ids
    return ids[:count]


def make_forcer(token_ids: list[int], clock: dict[str, float] | None = None) -> Any:
    """A LogitsProcessor that makes step i choose ``token_ids[i]``; records when step 0 ran."""
    import torch
    from transformers import LogitsProcessor

    class Forcer(LogitsProcessor):
        def __init__(self) -> None:
            self.step = 0

        def __call__(self, input_ids: Any, scores: Any) -> Any:
            if clock is not None and self.step == 0:
                clock.setdefault("first_token", time.perf_counter())
            target = token_ids[min(self.step, len(token_ids) - 1)]
            self.step += 1
            forced = torch.full_like(scores, float("-inf"))
            forced[:, target] = 0.0
            return forced

    return Forcer()


def force_answers(model: Any, token_ids: list[int]) -> None:
    """Make every ``model.generate`` call (the engine's too) produce ``token_ids``."""
    from transformers import LogitsProcessorList

    original = model.generate

    @functools.wraps(original)
    def generate(*args: Any, **kwargs: Any) -> Any:
        processors = LogitsProcessorList(kwargs.pop("logits_processor", None) or [])
        processors.append(make_forcer(token_ids))
        return original(*args, logits_processor=processors, **kwargs)

    model.generate = generate


def cuda_peaks() -> dict[str, float]:
    import torch

    if not torch.cuda.is_available():
        return {}
    return {
        "peak_vram_mb": round(torch.cuda.max_memory_allocated() / 2**20, 1),
        "peak_vram_reserved_mb": round(torch.cuda.max_memory_reserved() / 2**20, 1),
    }


def median(rows: list[dict], key: str) -> float | None:
    values = [r[key] for r in rows if r.get(key) is not None]
    return round(statistics.median(values), 4) if values else None


# ------------------------------------------------------------------ iris side
def run_iris(args: argparse.Namespace) -> dict[str, Any]:
    started = time.perf_counter()
    import torch  # noqa: F401 - imported before timing the load, as the app's warm-up does
    import transformers  # noqa: F401

    import_s = time.perf_counter() - started

    from app.engine.transformers_engine import TransformersEngine
    from app.images import load_image
    from app.notifier import Notifier
    from app.pipeline import Assistant
    from app.settings import Settings
    from app.speech.factory import create_speaker

    levers = dict(item.split("=", 1) for item in args.lever)
    if levers.get("chunking") == "sentence":
        import app.pipeline as pipeline

        pipeline.SentenceChunker = functools.partial(pipeline.SentenceChunker, first_clause_words=10**9)
    work = Path(tempfile.mkdtemp(prefix="iris-latency-"))
    settings = Settings.load(path=work / "settings.json")
    settings.update({
        "preset": levers.get("preset", "fast"),
        "cpu_threads": args.threads,
        "speech_engine": levers.get("speech", "espeak-ng"),
        "max_new_tokens": args.tokens,
        "kv_cache": levers.get("cache", "auto"),
    })
    messages: list[str] = []
    speaker = create_speaker(settings, wav_path=work / "answer.wav", on_message=messages.append)
    speaker.wait_ready(30)
    audio_times: list[float] = []
    speaker.add_listener(lambda event, _text: audio_times.append(time.perf_counter()) if event == "audio" else None)

    engine = TransformersEngine(args.model_dir, device=args.device, settings=settings, precision=args.precision)
    started = time.perf_counter()
    engine.load()
    load_s = time.perf_counter() - started
    model, processor = engine._model, engine._processor
    apply_engine_levers(model, processor, levers)
    tokenizer = getattr(processor, "tokenizer", processor)
    force_answers(model, scripted_ids(tokenizer, SCRIPTS[args.input], args.tokens))
    if levers.get("stream") == "thread":
        use_threaded_stream(engine)
    assistant = Assistant(engine=engine, speaker=speaker, notifier=Notifier(), settings=settings)
    image = load_image(args.image)
    prompt = SHORT_PROMPT if levers.get("prompt") == "short" else None

    def one() -> dict[str, Any]:
        audio_times.clear()
        start = time.perf_counter()
        answer = assistant.describe(image, is_screen=args.input == "screenshot", prompt=prompt,
                                    min_new_tokens=args.tokens)
        speaker.wait(120)
        all_audio = (audio_times[-1] - start) if audio_times else None
        stats = engine.last_stats
        decode_s = stats.total_s - (stats.first_token_s or stats.total_s)
        return {
            "first_token_s": answer.timings["first_token"],
            "first_audio_s": answer.timings["first_audio"],
            "all_audio_s": None if all_audio is None else round(all_audio, 4),
            "total_s": answer.timings["total"],
            "tokens_per_s": round((stats.output_tokens - 1) / decode_s, 2) if decode_s > 0 else None,
            "input_tokens": stats.input_tokens,
            "output_tokens": stats.output_tokens,
            "chunks": len(audio_times),
        }

    cold = one()
    runs = [one() for _ in range(args.runs)]
    result = summarise(runs)
    result.update({
        "side": "iris",
        "import_s": round(import_s, 3),
        "load_s": round(load_s, 3),
        "cold": cold,
        "unwarmed_first_audio_s": round(import_s + load_s + (cold["first_audio_s"] or 0), 3),
        "quantization": engine.quantization,
        "speech": getattr(speaker, "name", "?"),
        "speech_messages": messages,
        "peak_rss_mb": peak_rss_mb(),
        "preprocess_s": time_preprocess(processor, engine, image, args.input, prompt, settings),
        "weights": archs.decode_weight_bytes(model),
        "runs": runs,
        "levers": levers,
        "attn_implementation": getattr(model.config, "_attn_implementation", None),
    })
    result.update(cuda_peaks())
    speaker.close()
    shutil.rmtree(work, ignore_errors=True)
    return result


def apply_engine_levers(model: Any, processor: Any, levers: dict[str, str]) -> None:
    """Benchmark-only knobs the engine does not expose (yet)."""
    if "policy" in levers:  # e.g. policy=512:nosplit replaces the "fast" image policy of this device
        from app.engine import base

        edge, split = levers["policy"].split(":")
        device = "cuda" if str(model.device).startswith("cuda") else "cpu"
        base.IMAGE_POLICIES[device]["fast"] = base.ImagePolicy(max_edge=int(edge), split=split == "split")
    if "tile" in levers:  # e.g. tile=384: a smaller single tile, image tokens scaled to match
        edge = int(levers["tile"])
        vision = model.config.vision_config
        patches = (edge // vision.patch_size) ** 2
        processor.image_processor.max_image_size = {"longest_edge": edge}
        processor.image_seq_len = patches // (model.config.scale_factor ** 2)
    if levers.get("compile") == "1":
        import torch

        model.forward = torch.compile(model.forward, mode="reduce-overhead", dynamic=False)


def use_threaded_stream(engine: Any) -> None:
    """The engine's earlier design: generate() on a helper thread, the caller reading a queue."""
    from types import SimpleNamespace

    from app.engine.base import stream_in_thread

    native = SimpleNamespace(generate=engine.generate)

    def generate(conversation: Any, cancel: Any, on_text: Any, **kwargs: Any) -> None:
        for piece in stream_in_thread(native, conversation, cancel, **kwargs):
            on_text(piece)

    engine.generate = generate


def time_preprocess(processor: Any, engine: Any, image: Any, kind: str, prompt: str | None, settings: Any) -> float:
    """Seconds to fit, template and tokenize one request (what could overlap the capture)."""
    from app.engine.base import Conversation, image_policy
    from app.engine.prompting import build_messages, fit_image, image_kwargs

    conversation = Conversation(image=image, is_screen=kind == "screenshot")
    conversation.ask(prompt or settings["prompt_screen" if kind == "screenshot" else "prompt_describe"])
    policy = image_policy(engine.device, settings["preset"])
    start = time.perf_counter()
    text = processor.apply_chat_template(build_messages(conversation), add_generation_prompt=True, tokenize=False)
    extra = image_kwargs(engine._folder.model_type, policy, processor.image_processor)
    processor(text=[text], images=[fit_image(image, policy.max_edge)], return_tensors="pt", **extra)
    return round(time.perf_counter() - start, 4)


def summarise(runs: list[dict]) -> dict[str, Any]:
    keys = ("first_token_s", "first_audio_s", "all_audio_s", "total_s", "tokens_per_s", "input_tokens")
    return {key: median(runs, key) for key in keys}


# ----------------------------------------------------------------- naive side
def run_naive(args: argparse.Namespace) -> dict[str, Any]:
    import torch
    import transformers
    from PIL import Image

    from app.engine.transformers_engine import load_kwargs
    from app.settings import DEFAULT_DESCRIBE_PROMPT, DEFAULT_SCREEN_PROMPT
    from app.speech.base import VoiceSettings
    from app.speech.espeak_engine import EspeakNgBackend

    torch.set_num_threads(args.threads or os.cpu_count() or 1)
    started = time.perf_counter()
    processor = transformers.AutoProcessor.from_pretrained(args.model_dir)
    model = transformers.AutoModelForImageTextToText.from_pretrained(
        args.model_dir, **load_kwargs(args.precision, args.device, torch, transformers)).eval()
    load_s = time.perf_counter() - started
    backend = EspeakNgBackend()
    backend.start(device=False)
    work = Path(tempfile.mkdtemp(prefix="iris-naive-"))
    ids = scripted_ids(processor.tokenizer, SCRIPTS[args.input], args.tokens)
    prompt = DEFAULT_SCREEN_PROMPT if args.input == "screenshot" else DEFAULT_DESCRIBE_PROMPT

    def one(tokens: int) -> dict[str, Any]:
        clock: dict[str, float] = {}
        start = time.perf_counter()
        image = Image.open(args.image).convert("RGB")
        messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}]
        text = processor.apply_chat_template(messages, add_generation_prompt=True)
        inputs = processor(text=text, images=[image], return_tensors="pt").to(model.device)
        inputs["pixel_values"] = inputs["pixel_values"].to(model.dtype)
        with torch.inference_mode():
            out = model.generate(**inputs, max_new_tokens=tokens, min_new_tokens=tokens, do_sample=False,
                                 logits_processor=[make_forcer(ids, clock)])
        answer = processor.batch_decode(out[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)[0]
        generated = time.perf_counter()
        backend.synthesize(answer, work / "answer.wav", VoiceSettings(), threading.Event())
        done = time.perf_counter()
        first = clock.get("first_token", generated) - start
        n = int(out.shape[1] - inputs["input_ids"].shape[1])
        return {
            "first_token_s": round(first, 4),
            "first_audio_s": round(done - start, 4),
            "all_audio_s": round(done - start, 4),
            "total_s": round(done - start, 4),
            "generate_s": round(generated - start, 4),
            "synth_s": round(done - generated, 4),
            "tokens_per_s": round((n - 1) / (generated - start - first), 2) if n > 1 else None,
            "input_tokens": int(inputs["input_ids"].shape[1]),
            "output_tokens": n,
        }

    cold = one(2 if args.quick else args.tokens)
    runs = [one(args.tokens) for _ in range(args.runs)]
    result = summarise(runs)
    result.update({"side": "naive", "load_s": round(load_s, 3), "cold": cold, "runs": runs,
                   "peak_rss_mb": peak_rss_mb(), "synth_s": median(runs, "synth_s")})
    result.update(cuda_peaks())
    backend.close()
    shutil.rmtree(work, ignore_errors=True)
    return result


# ------------------------------------------------------------------ GPU terms
def gpu_summary(report: dict[str, Any], bandwidth: dict[str, Any], model_dir: Path, tokens: int) -> dict[str, Any]:
    summary: dict[str, Any] = {"bandwidth": bandwidth, "decode": {}}
    rows = {"default": report.get("iris", {})}
    rows.update(report.get("levers", {}))
    for label, result in rows.items():
        bound = archs.decode_bound(result, model_dir, bandwidth["gb_per_s"], tokens)
        if bound:
            summary["decode"][label] = {"quantization": result.get("quantization"), **bound}
    bf16 = report.get("levers", {}).get("precision=bf16", {})
    four = report.get("iris", {})
    if bf16.get("peak_vram_mb") and four.get("peak_vram_mb") and four.get("quantization") == "nf4":
        summary["vram_4bit_over_bf16"] = round(four["peak_vram_mb"] / bf16["peak_vram_mb"], 3)
    return summary


# --------------------------------------------------------------------- parent
def child(args: argparse.Namespace, side: str, input_name: str, precision: str, levers: list[str]) -> dict:
    cmd = [sys.executable, __file__, "--child", side, "--input", input_name, "--model-dir", str(args.model_dir),
           "--device", args.device, "--precision", precision, "--tokens", str(args.tokens),
           "--runs", str(args.runs), "--threads", str(args.threads)]
    cmd += ["--quick"] if args.quick else []
    for lever in levers:
        cmd += ["--lever", lever]
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false",
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="iris-home-") as home:
        env["IRIS_HOME"] = home
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=args.child_timeout)
        except subprocess.TimeoutExpired:
            return {"side": side, "error": f"timed out after {args.child_timeout} s", "levers": levers}
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        return {"side": side, "error": " | ".join(tail), "levers": levers}
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["wall_s"] = round(time.perf_counter() - started, 1)
    return result


LEVERS_CPU = [
    ("precision=fp32", ["--precision", "fp32"], []),
    ("precision=nf4", ["--precision", "nf4"], []),
    ("threads=1", ["--threads", "1"], []),
    ("chunking=sentence", [], ["chunking=sentence"]),
    ("prompt=short", [], ["prompt=short"]),
    ("tile=384", [], ["tile=384"]),
    ("preset=balanced", [], ["preset=balanced"]),
    ("speech=pyttsx3", [], ["speech=pyttsx3"]),
    ("cache=static", [], ["cache=static"]),
    ("stream=thread", [], ["stream=thread"]),
]
LEVERS_CUDA = [  # in priority order: a short lease may end before the last
    ("stream=thread+cache=dynamic", [], ["stream=thread", "cache=dynamic"]),  # the first build's default
    ("cache=dynamic", [], ["cache=dynamic"]),
    ("stream=thread", [], ["stream=thread"]),
    ("compile", [], ["compile=1"]),
    ("policy=512:nosplit", [], ["policy=512:nosplit"]),
    ("precision=bf16", ["--precision", "bf16"], []),
    ("bf16+cache=static", ["--precision", "bf16"], ["cache=static"]),
    ("chunking=sentence", [], ["chunking=sentence"]),
    ("preset=balanced", [], ["preset=balanced"]),
    ("precision=int8", ["--precision", "int8"], []),
]


def machine_info(device: str) -> dict[str, Any]:
    import torch
    import transformers

    info: dict[str, Any] = {
        "cpu": _cpu_name(), "cores": os.cpu_count(), "python": platform.python_version(),
        "torch": torch.__version__, "transformers": transformers.__version__,
        "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }
    try:
        import bitsandbytes

        info["bitsandbytes"] = bitsandbytes.__version__
    except Exception:  # noqa: BLE001 - optional
        pass
    if device == "cuda" and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if any(a == "--engine" or a.startswith("--engine=") or a == "--server" for a in argv):
        # Engines side by side (transformers, llama.cpp, a model server): benchmarks/engines.py.
        import engines

        return int(engines.main(argv))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--arch", default="smolvlm-256m", choices=sorted(archs.ARCHS))
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    parser.add_argument("--quick", action="store_true", help="one measured run each (under 5 minutes on CPU)")
    parser.add_argument("--runs", type=int, default=None, help="measured runs per side and input (default 3)")
    parser.add_argument("--tokens", type=int, default=48, help="answer length, forced")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads; 0 = one per core (the app default)")
    parser.add_argument("--precision", default="auto", help="engine precision (auto = the app's default)")
    parser.add_argument("--inputs", default="screenshot,photo")
    parser.add_argument("--levers", action="store_true", help="also measure the levers (screenshot, Iris side)")
    parser.add_argument("--lever-names", help="comma-separated subset of the levers' labels")
    parser.add_argument("--no-naive", action="store_true", help="skip the naive baseline")
    parser.add_argument("--model-dir", type=Path, help="use this model folder instead of building --arch")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    parser.add_argument("--child-timeout", type=int, default=1800)
    parser.add_argument("--child", choices=("iris", "naive"), help=argparse.SUPPRESS)
    parser.add_argument("--input", help=argparse.SUPPRESS)
    parser.add_argument("--lever", action="append", default=[], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.runs = args.runs if args.runs is not None else (1 if args.quick else 3)

    if args.child:
        args.image = INPUTS[args.input]
        result = run_iris(args) if args.child == "iris" else run_naive(args)
        print(json.dumps(result))
        return 0

    return orchestrate(args)


def orchestrate(args: argparse.Namespace) -> int:
    """Build the model folder, run every (side, input) and lever child, save after each one."""
    started = time.perf_counter()
    if args.model_dir is None:
        args.model_dir = archs.build_model_dir(args.arch, device=args.device)
    report: dict[str, Any] = {
        "device": args.device, "model": args.arch, "model_dir": str(args.model_dir),
        "parameters": archs.parameter_count(args.model_dir), "tokens": args.tokens, "runs": args.runs,
        "quick": args.quick, "machine": machine_info(args.device), "inputs": {},
    }
    bandwidth = archs.measure_bandwidth() if args.device == "cuda" else None

    def save() -> None:
        if bandwidth:
            report["gpu"] = gpu_summary(report, bandwidth, args.model_dir, args.tokens)
        report["machine"]["load_average_end"] = os.getloadavg()[0]
        report["wall_s"] = round(time.perf_counter() - started, 1)
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(report, indent=2) + "\n")
        log(f"saved at {report['wall_s']:.0f} s")

    names = args.inputs.split(",")
    report["main_input"] = "screenshot" if "screenshot" in names else names[0]
    for name in names:
        entry: dict[str, Any] = report["inputs"].setdefault(name, {})
        entry["iris"] = iris = child(args, "iris", name, args.precision, [])
        if name == report["main_input"]:
            report["iris"] = iris
        if not args.no_naive:
            entry["naive"] = naive = child(args, "naive", name, iris.get("quantization") or "fp32", [])
            if iris.get("first_audio_s") and naive.get("first_audio_s"):
                entry["ratio_first_audio"] = round(naive["first_audio_s"] / iris["first_audio_s"], 2)
            if name == report["main_input"]:
                report["naive"], report["ratio_first_audio"] = naive, entry.get("ratio_first_audio")
        save()
    if args.levers:
        wanted = set(args.lever_names.split(",")) if args.lever_names else None
        report["levers"] = {}
        for label, extra, levers in (LEVERS_CUDA if args.device == "cuda" else LEVERS_CPU):
            if wanted is not None and label not in wanted:
                continue
            sub = argparse.Namespace(**vars(args))
            for flag, value in zip(extra[::2], extra[1::2]):
                setattr(sub, flag.lstrip("-"), int(value) if value.isdigit() else value)
            report["levers"][label] = child(sub, "iris", report["main_input"], sub.precision, levers)
            save()
    save()
    print(json.dumps(report) if args.json else table(report))
    return 0


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def table(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = [f"{report['model']} on {report['device']} ({m.get('gpu') or m['cpu']}, {m['cores']} cores; "
             f"torch {m['torch']}, transformers {m['transformers']}); {report['tokens']} tokens, "
             f"median of {report['runs']} run(s); load average {m['load_average']:.2f} -> {m['load_average_end']:.2f}",
             "",
             "| input | side | first token s | first audio s | all audio s | tok/s | input tokens | load s | "
             "peak RSS MB | peak VRAM MB |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, entry in report["inputs"].items():
        for side in ("iris", "naive"):
            r = entry.get(side)
            if not r:
                continue
            if "error" in r:
                lines.append(f"| {name} | {side} | error: {r['error'][:80]} |")
                continue
            lines.append(f"| {name} | {side} | {_fmt(r['first_token_s'])} | {_fmt(r['first_audio_s'])} | "
                         f"{_fmt(r['all_audio_s'])} | {_fmt(r['tokens_per_s'], 1)} | {_fmt(r['input_tokens'], 0)} | "
                         f"{_fmt(r['load_s'])} | {_fmt(r['peak_rss_mb'], 0)} | {_fmt(r.get('peak_vram_mb'), 0)} |")
        lines.append(f"| {name} | naive/iris first audio | **{_fmt(entry.get('ratio_first_audio'))}x** | | | | | | | |")
    if report.get("levers"):
        lines += ["", "| lever (Iris, " + report["main_input"] + ") | first token s | first audio s | tok/s | "
                  "input tokens | peak RSS MB | peak VRAM MB |", "| --- | --- | --- | --- | --- | --- | --- |"]
        base = report["iris"]
        lines.append(f"| default | {_fmt(base.get('first_token_s'))} | {_fmt(base.get('first_audio_s'))} | "
                     f"{_fmt(base.get('tokens_per_s'), 1)} | {_fmt(base.get('input_tokens'), 0)} | "
                     f"{_fmt(base.get('peak_rss_mb'), 0)} | {_fmt(base.get('peak_vram_mb'), 0)} |")
        for label, r in report["levers"].items():
            if "error" in r:
                lines.append(f"| {label} | error: {r['error'][:100]} |")
                continue
            lines.append(f"| {label} | {_fmt(r['first_token_s'])} | {_fmt(r['first_audio_s'])} | "
                         f"{_fmt(r['tokens_per_s'], 1)} | {_fmt(r['input_tokens'], 0)} | {_fmt(r['peak_rss_mb'], 0)} | "
                         f"{_fmt(r.get('peak_vram_mb'), 0)} |")
    gpu = report.get("gpu")
    if gpu:
        lines += ["", f"device-to-device copy: {gpu['bandwidth']['gb_per_s']} GB/s (read + write)",
                  "| decode | quantization | bytes/token (weights + KV) | limit tok/s | measured tok/s | fraction |",
                  "| --- | --- | --- | --- | --- | --- |"]
        for label, d in gpu["decode"].items():
            lines.append(f"| {label} | {d['quantization']} | {d['bytes_per_token'] / 1e6:.0f} MB | {d['limit_tok_s']} | "
                         f"{d['measured_tok_s']} | {100 * d['fraction']:.1f}% |")
        if "vram_4bit_over_bf16" in gpu:
            lines.append(f"4-bit peak VRAM / bf16 peak VRAM: {100 * gpu['vram_4bit_over_bf16']:.0f}%")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
