"""Soak test: many describe/ask cycles through the real core; does anything leak?

Runs N cycles, each "describe a picture, then ask a follow-up question" (and,
every ``--read-every`` cycles, "read the text on it"), submitted to the core's
JobRunner exactly as the desktop app does, with the real engine and real
speech (espeak-ng into a WAV file when it is installed, else silent). Then it
reports:

* resident memory (RSS) after the warm-up cycles and at the end, the growth in
  percent, and the trend (KiB per cycle, least squares over samples);
* Python and OS thread counts and open file descriptors at both points;
* files left in the temp folder (Iris's temp files go to a private temp folder
  so other programs' files cannot blur the count) and in Iris's home.

Models: by default the tiny random SmolVLM of the test suite (built once);
``--real-size N`` instead runs N cycles with the real-size SmolVLM-256M
architecture (random weights from the shared config, built with
``from_config`` and saved once under the system temp folder). Usage::

    python benchmarks/soak.py [--cycles 200] [--json] [--check]
    python benchmarks/soak.py --real-size 20 --max-new-tokens 16

``--check`` exits with 1 when RSS grew more than 5 %, the thread count or file
descriptors grew, or temp files were left behind.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # the checkout's app/ package (installed, it is iris_assistant)
SHARED = REPO.parent / "shared"
SHARED_MODEL = SHARED / "models" / "smolvlm-256m-instruct"
SYSTEM_TMP = Path(tempfile.gettempdir())
MODEL_CACHE = SYSTEM_TMP / "iris-soak-models"
QUESTIONS = ("What colours do you see?", "Is there any text?", "What is in the corner?", "How many objects are there?")
GROWTH_LIMIT_PCT = 5.0


# --------------------------------------------------------------------- models
def build_model(kind: str, dest: Path) -> Path:
    """Build (once) the tiny or the real-size random-weight SmolVLM beside the real processor files."""
    if (dest / "config.json").exists() and list(dest.glob("*.safetensors")):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    if kind == "tiny":
        from tests.tiny_model import build_tiny_smolvlm

        build_tiny_smolvlm(partial)
    else:
        import torch
        from transformers import AutoConfig, AutoModelForImageTextToText

        torch.manual_seed(0)
        config = AutoConfig.from_pretrained(SHARED_MODEL)
        model = AutoModelForImageTextToText.from_config(config, dtype=torch.bfloat16)  # bf16 on disk, as on the hub
        model.save_pretrained(partial, safe_serialization=True)
        del model
        for item in SHARED_MODEL.iterdir():
            if item.is_file() and item.name not in ("config.json", "MODEL_CARD.md"):
                shutil.copy(item, partial / item.name)
    shutil.rmtree(dest, ignore_errors=True)
    partial.rename(dest)
    return dest


# -------------------------------------------------------------------- probes
def process_figures() -> dict:
    import psutil

    gc.collect()
    proc = psutil.Process()
    figures = {
        "rss_mb": proc.memory_info().rss / 2**20,
        "threads_python": threading.active_count(),
        "threads_os": proc.num_threads(),
    }
    try:
        figures["open_fds"] = proc.num_fds()
    except AttributeError:  # Windows
        figures["open_fds"] = len(proc.open_files())
    return figures


def listing(root: Path, *, files_only: bool = False) -> set[str]:
    if not root.exists():
        return set()
    return {str(p.relative_to(root)) for p in root.rglob("*") if not files_only or not p.is_dir()}


def trend_kib_per_cycle(samples: list[tuple[int, float]]) -> float:
    """Least-squares slope of RSS (MB) against cycle number, in KiB per cycle."""
    if len(samples) < 2:
        return 0.0
    xs, ys = [s[0] for s in samples], [s[1] for s in samples]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return 0.0 if den == 0 else sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den * 1024


def pictures() -> list:
    from PIL import Image, ImageDraw

    found = []
    for name in ("chelsea.png", "coffee.png", "astronaut.png"):
        path = SHARED / "images" / name
        if path.exists():
            with Image.open(path) as image:
                found.append(image.convert("RGB"))
    screen = Image.new("RGB", (1280, 800), "white")
    draw = ImageDraw.Draw(screen)
    for row, line in enumerate(("Inbox (3 unread)", "Meeting moved to 3 pm", "Invoice 42: total 17 euros")):
        draw.text((60, 60 + row * 60), line, fill="black")
    found.append(screen)
    return found


# ----------------------------------------------------------------------- run
def run(args: argparse.Namespace) -> dict:
    private_tmp = Path(tempfile.mkdtemp(prefix="iris-soak-tmp-"))
    home = Path(tempfile.mkdtemp(prefix="iris-soak-home-"))
    os.environ["TMPDIR"] = str(private_tmp)
    tempfile.tempdir = str(private_tmp)
    os.environ["IRIS_HOME"] = str(home)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        return _run(args, private_tmp, home)
    finally:
        shutil.rmtree(private_tmp, ignore_errors=True)
        shutil.rmtree(home, ignore_errors=True)


def _run(args: argparse.Namespace, private_tmp: Path, home: Path) -> dict:
    import torch

    torch.set_num_threads(args.threads)
    from app.compose import build_core
    from app.engine.loading import create_engine
    from app.notifier import Notifier
    from app.settings import Settings
    from app.speech.base import SilentSpeaker
    from app.speech.factory import create_speaker

    kind = "real-size" if args.real_size else "tiny"
    cycles = args.real_size or args.cycles
    model_dir = Path(args.model) if args.model else build_model(kind, MODEL_CACHE / f"{kind}-smolvlm-256m")
    notifier = Notifier()
    messages: list = []
    notifier.add_sink(messages.append)
    settings = Settings.load(on_message=notifier.error)
    settings.update({"max_new_tokens": args.max_new_tokens, "cpu_threads": args.threads, "preset": "fast"})
    wav = home / "soak.wav"  # outside the watched temp folder; grows with every answer
    use_espeak = args.speech == "wav" and shutil.which("espeak-ng") is not None
    speaker = (create_speaker({"speech_engine": "espeak-ng"}, wav_path=wav, on_message=notifier.error)
               if use_espeak else SilentSpeaker())
    ocr = None
    if args.read_every:
        from app.ocr import TextReader

        ocr = TextReader(threads=args.threads)
    core = build_core(settings=settings, notifier=notifier, speaker=speaker, ocr=ocr, with_ocr=ocr is not None,
                      engine=create_engine(str(model_dir), "cpu", settings))
    images = pictures()
    failures: list[str] = []
    durations: list[float] = []
    samples: list[tuple[int, float]] = []
    # The baseline is taken once every kind of work has run on every picture (the OCR runtime and
    # the model grow their buffers to the largest input once, then reuse them).
    warmup = max(args.warmup, len(images), args.read_every * len(images) if args.read_every else 0)
    warmup = min(warmup, max(1, cycles // 2))
    tmp_before = listing(private_tmp)
    baseline: dict | None = None
    started = time.perf_counter()

    def submit(fn) -> None:
        box: dict = {}
        core.runner.submit(fn, on_done=lambda r: box.setdefault("ok", r),
                           on_error=lambda e: box.setdefault("error", e.message))
        if not core.runner.wait_idle(600):
            raise RuntimeError("a job did not finish in 10 minutes")
        if "error" in box:
            failures.append(box["error"])

    for cycle in range(1, cycles + 1):
        t0 = time.perf_counter()
        image = images[cycle % len(images)]
        submit(lambda cancel, image=image: core.assistant.describe(image.copy(), cancel=cancel))
        submit(lambda cancel, cycle=cycle: core.assistant.ask(QUESTIONS[cycle % len(QUESTIONS)], cancel=cancel))
        if args.read_every and cycle % args.read_every == 0:
            page = images[(cycle // args.read_every) % len(images)]
            submit(lambda cancel, page=page: core.assistant.read_text(page, cancel=cancel))
        if use_espeak:
            speaker.wait(120)
        durations.append(time.perf_counter() - t0)
        if cycle == warmup:
            baseline = process_figures()
        if cycle >= warmup and (cycle % max(1, cycles // 20) == 0 or cycle == cycles):
            samples.append((cycle, process_figures()["rss_mb"]))
        if args.progress and cycle % max(1, cycles // 10) == 0:
            rss = f"{samples[-1][1]:.0f} MB" if samples else "(warming up)"
            print(f"  cycle {cycle}/{cycles}: {durations[-1]:.2f} s, RSS {rss}", file=sys.stderr, flush=True)
    end = process_figures()
    cancel = measure_cancel(core, images[0], args.cancel_trials) if args.cancel_trials else None
    tmp_live = sorted(listing(private_tmp, files_only=True) - tmp_before)  # the speaker's empty work folder aside
    core.close()
    left = sorted(listing(private_tmp) - tmp_before)
    # torch's compiler stack creates an empty shared cache folder, torchinductor_<user>, on import
    # (not Iris's, never holds a picture): reported apart, not counted as a leftover.
    torch_dirs = [n for n in left if n.startswith("torchinductor_") and (private_tmp / n).is_dir()
                  and not any((private_tmp / n).iterdir())]
    tmp_after_close = [n for n in left if n not in torch_dirs]
    home_files = sorted(f for f in listing(home) if f not in ("soak.wav",) and not f.startswith("config"))
    assert baseline is not None
    growth = (end["rss_mb"] - baseline["rss_mb"]) / baseline["rss_mb"] * 100
    return {
        "model": kind,
        "model_dir": str(model_dir),
        "cycles": cycles,
        "warmup_cycles": warmup,
        "actions": cycles * 2 + (cycles // args.read_every if args.read_every else 0),
        "speech": "espeak-ng to WAV" if use_espeak else "silent",
        "max_new_tokens": args.max_new_tokens,
        "threads_torch": args.threads,
        "seconds": round(time.perf_counter() - started, 1),
        "cycle_seconds_mean": round(sum(durations) / len(durations), 3),
        "rss_after_warmup_mb": round(baseline["rss_mb"], 1),
        "rss_end_mb": round(end["rss_mb"], 1),
        "rss_growth_pct": round(growth, 2),
        "rss_trend_kib_per_cycle": round(trend_kib_per_cycle(samples), 1),
        "rss_max_mb": round(max(s[1] for s in samples), 1) if samples else None,
        "threads_python": [baseline["threads_python"], end["threads_python"]],
        "threads_os": [baseline["threads_os"], end["threads_os"]],
        "open_fds": [baseline["open_fds"], end["open_fds"]],
        "temp_files_left_while_running": tmp_live,
        "temp_files_left_after_close": tmp_after_close,
        "empty_torch_cache_folders": torch_dirs,
        "unexpected_files_in_iris_home": home_files,
        "failures": failures[:5],
        "failure_count": len(failures),
        "error_messages": [m.text for m in messages if m.level.value == "error"][:5],
        "cancel": cancel,
    }


def measure_cancel(core, image, trials: int) -> dict:
    """Press Stop at spread-out moments of a long answer (prefill and decoding); seconds until the
    worker is free again. The stop sequence is the desktop app's (assistant.stop + runner.cancel)."""
    import random

    rng = random.Random(0)
    # How long the prefill takes (time to the first piece), to aim half the stops inside it.
    first: list[float] = []
    t0 = time.perf_counter()
    core.runner.submit(lambda cancel: core.assistant.describe(
        image, cancel=cancel, speak=False, on_text=lambda p: first.append(time.perf_counter() - t0) if not first
        else None))
    core.runner.wait_idle(600)
    prefill = first[0] if first else 1.0
    results = {"prefill": [], "decode": []}
    for trial in range(trials):
        pieces: list[float] = []
        start = time.perf_counter()
        core.runner.submit(lambda cancel, pieces=pieces: core.assistant.describe(
            image, cancel=cancel, speak=False, min_new_tokens=100_000,
            on_text=lambda p: pieces.append(time.perf_counter())))
        delay = prefill * rng.uniform(0.2, 0.8) if trial % 2 == 0 else prefill + rng.uniform(0.3, 1.5)
        time.sleep(max(0.0, start + delay - time.perf_counter()))
        pressed = time.perf_counter()
        core.assistant.stop(core.runner.current_cancel_token())
        core.runner.cancel()
        core.runner.wait_idle(600)
        phase = "decode" if pieces and pieces[0] < pressed else "prefill"
        results[phase].append(time.perf_counter() - pressed)
    return {
        "first_piece_s": round(prefill, 3),
        **{f"cancel_{k}_ms": [round(v * 1000, 1) for v in vals] for k, vals in results.items()},
    }


def verdict(result: dict) -> list[str]:
    problems = []
    if result["rss_growth_pct"] > GROWTH_LIMIT_PCT:
        problems.append(f"RSS grew {result['rss_growth_pct']} % (limit {GROWTH_LIMIT_PCT} %)")
    if result["threads_python"][1] > result["threads_python"][0]:
        problems.append(f"Python threads grew {result['threads_python']}")
    if result["threads_os"][1] > result["threads_os"][0] + 2:
        problems.append(f"OS threads grew {result['threads_os']}")
    if result["open_fds"][1] > result["open_fds"][0] + 2:
        problems.append(f"open file descriptors grew {result['open_fds']}")
    if result["temp_files_left_while_running"] or result["temp_files_left_after_close"]:
        problems.append("temp files were left behind")
    if result["failure_count"]:
        problems.append(f"{result['failure_count']} actions failed: {result['failures']}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cycles", type=int, default=200, help="describe/ask cycles with the tiny model")
    parser.add_argument("--real-size", type=int, metavar="N", default=0,
                        help="instead: N cycles with the real-size SmolVLM-256M architecture")
    parser.add_argument("--model", help="use this model folder instead of building one")
    parser.add_argument("--warmup", type=int, default=10, help="cycles before the RSS baseline")
    parser.add_argument("--max-new-tokens", type=int, default=24)
    parser.add_argument("--read-every", type=int, default=10, help="also read the text every N cycles (0: never)")
    parser.add_argument("--speech", choices=("wav", "silent"), default="wav")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--check", action="store_true", help="exit 1 if a limit is exceeded")
    parser.add_argument("--progress", action="store_true")
    parser.add_argument("--cancel-trials", type=int, default=0,
                        help="afterwards, press Stop N times during long answers and time it")
    args = parser.parse_args(argv)
    result = run(args)
    problems = verdict(result)
    result["problems"] = problems
    if args.json:
        print(json.dumps(result))
    else:
        print(f"soak: {result['cycles']} cycles ({result['actions']} actions) with the {result['model']} model, "
              f"speech {result['speech']}, max_new_tokens {result['max_new_tokens']}, {result['seconds']} s "
              f"({result['cycle_seconds_mean']} s per cycle)")
        print(f"RSS after {result['warmup_cycles']} warm-up cycles {result['rss_after_warmup_mb']} MB, at the end "
              f"{result['rss_end_mb']} MB: growth {result['rss_growth_pct']} % "
              f"(trend {result['rss_trend_kib_per_cycle']} KiB/cycle, max {result['rss_max_mb']} MB)")
        print(f"threads: Python {result['threads_python'][0]} -> {result['threads_python'][1]}, "
              f"OS {result['threads_os'][0]} -> {result['threads_os'][1]}; open files "
              f"{result['open_fds'][0]} -> {result['open_fds'][1]}")
        print(f"temp files left: {len(result['temp_files_left_while_running'])} while running, "
              f"{len(result['temp_files_left_after_close'])} after close; failed actions: {result['failure_count']}")
        if result["cancel"]:
            c = result["cancel"]
            print(f"cancel: first piece after {c['first_piece_s']} s; stop during prefill "
                  f"{c['cancel_prefill_ms']} ms, during decoding {c['cancel_decode_ms']} ms")
        print("verdict: " + ("OK" if not problems else "; ".join(problems)))
    return 1 if (args.check and problems) else 0


if __name__ == "__main__":
    sys.exit(main())
