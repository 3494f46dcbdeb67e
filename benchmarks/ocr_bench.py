"""OCR on the screen corpus: word recall, character error rate, lines in order, seconds per screen, per engine.

Reads every screen of benchmarks/ocr_corpus (rendered by Chromium, with its
true text) with each OCR engine Iris can use, through Iris's own reader
(``app.ocr.TextReader``: the engine plus Iris's reading order), and with the
plain ``tesseract`` program on the raw screenshot as the reference. Also times
a warm 1920x1080 screen (five corpus screens on one desktop) and the CLI's
cold start (``python -m app read FILE --json``, a new process each time).

    python benchmarks/ocr_bench.py                      # every engine installed here
    python benchmarks/ocr_bench.py --engines tesseract,reference --detail
    python benchmarks/ocr_bench.py --save benchmarks/results/ocr.json   # merge into the saved results
    python benchmarks/ocr_bench.py --table benchmarks/results/ocr.json  # print the saved table

An engine in another virtual environment (rapidocr 3.x, whose OpenCV clashes
with rapidocr-onnxruntime's) is measured by running this script with that
environment's python and ``--save`` to the same file.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import mean

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks" / "ocr_corpus"))

import metrics  # noqa: E402
from PIL import Image  # noqa: E402

FULL_SCREEN = [("mail_list", (0, 0)), ("form_de", (1120, 0)), ("settings_page", (0, 480)),
               ("spreadsheet", (1120, 470)), ("status_bar", (1020, 780))]


def reference_lines(image: Image.Image, language: str) -> list[str]:
    """The plain tesseract program on the raw screenshot, its own layout (what a user of tesseract gets)."""
    from app.ocr.languages import TESSERACT_CODES

    langs = "+".join(dict.fromkeys([TESSERACT_CODES.get(language, "eng"), "eng"]))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "screen.png"
        image.save(path)
        out = subprocess.run(["tesseract", str(path), "-", "-l", langs], capture_output=True, text=True, check=True)
    return [line for line in out.stdout.splitlines() if line.strip()]


def make_reader(engine: str, language: str):
    from app.ocr import TextReader
    from app.ocr.platform import MacOcrEngine, WindowsOcrEngine
    from app.ocr.ppocr import PPOcrEngine
    from app.ocr.tesseract import TesseractCliEngine, TesseractEngine

    engines = {"tesseract": TesseractEngine, "tesseract-cli": TesseractCliEngine, "ppocr": PPOcrEngine,
               "windows": WindowsOcrEngine, "vision": MacOcrEngine}
    made = engines[engine]()
    if not made.available():
        return None, made.reason
    return TextReader(engines=[made], language=language), ""


def full_screen(samples: dict[str, metrics.Sample]) -> tuple[Image.Image, list[str]]:
    canvas = Image.new("RGB", (1920, 1080), "white")
    truth: list[str] = []
    for name, where in FULL_SCREEN:
        canvas.paste(samples[name].image(), where)
        truth += samples[name].truth
    return canvas, truth


def measure(engine: str, samples: list[metrics.Sample], detail: bool) -> dict | None:
    rows = []
    readers: dict[str, object] = {}
    load_s = 0.0
    for sample in samples:
        image = sample.image()
        if engine == "reference":
            read = lambda im, lang=sample.language: reference_lines(im, lang)  # noqa: E731
        else:
            if sample.language not in readers:
                reader, reason = make_reader(engine, sample.language)
                if reader is None:
                    print(f"{engine}: not available here: {reason}")
                    return None
                start = time.perf_counter()
                reader.load()
                load_s = max(load_s, time.perf_counter() - start)
                reader.read_lines(image)  # warm: first-use costs are the load's, not the read's
                readers[sample.language] = reader
            read = readers[sample.language].read_lines
        start, cpu = time.perf_counter(), time.process_time()
        lines = read(image)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
        row = {"name": sample.name, "recall": metrics.word_recall(sample.truth, lines),
               "cer": metrics.cer(sample.truth, lines), "order": metrics.lines_in_order(sample.truth, lines),
               "seconds": wall, "cpu_seconds": cpu}
        rows.append(row)
        if detail:
            print(f"  {engine:13s} {sample.name:14s} recall {row['recall']:.3f}  CER {row['cer']:.3f}  "
                  f"order {row['order']:.2f}  {wall:.2f} s")
            for line in lines:
                print(f"      | {line}")
    by_name = {s.name: s for s in samples}
    full = None
    if all(name in by_name for name, _ in FULL_SCREEN):
        canvas, truth = full_screen(by_name)
        if engine == "reference":
            read = lambda im: reference_lines(im, "de")  # noqa: E731
        else:
            reader, _ = make_reader(engine, "de")
            reader.read_lines(canvas)
            read = reader.read_lines
        times, cpus = [], []
        for _ in range(5):
            start, cpu = time.perf_counter(), time.process_time()
            lines = read(canvas)
            times.append(time.perf_counter() - start)
            cpus.append(time.process_time() - cpu)
        full = {"seconds": min(times), "median_seconds": sorted(times)[2], "cpu_seconds": min(cpus),
                "recall": metrics.word_recall(truth, lines)}
    return {
        "engine": engine,
        "screens": len(rows),
        "recall": mean(r["recall"] for r in rows),
        "cer": mean(r["cer"] for r in rows),
        "order": mean(r["order"] for r in rows),
        "seconds": mean(r["seconds"] for r in rows),
        "cpu_seconds": mean(r["cpu_seconds"] for r in rows),
        "load_seconds": load_s,
        "full_screen": full,
        "python": sys.version.split()[0],
        "per_screen": rows,
    }


def cli_cold_start(samples: list[metrics.Sample], runs: int = 3) -> dict:
    """``python -m app read FILE --json --no-speak``: a new process each time (imports + engine load + read)."""
    path = next(s.path for s in samples if s.name == "error_dialog")
    times, engine = [], "?"
    env = dict(os.environ, IRIS_HOME=tempfile.mkdtemp())
    for _ in range(runs):
        start = time.perf_counter()
        out = subprocess.run([sys.executable, "-m", "app", "read", str(path), "--json", "--no-speak"], cwd=REPO,
                             capture_output=True, text=True, env=env, timeout=300)
        times.append(time.perf_counter() - start)
        if out.returncode == 0:
            engine = json.loads(out.stdout.splitlines()[-1]).get("engine", "?")
    return {"seconds": sorted(times)[len(times) // 2], "engine": engine}


def table(results: dict) -> str:
    lines = ["| engine | word recall | CER | lines in order | s / screen (CPU s) | warm 1920x1080, best of 5 | load |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for name, r in results.get("engines", {}).items():
        full = r.get("full_screen") or {}
        full_text = f"{full['seconds']:.2f} s (median {full['median_seconds']:.2f})" if full else "-"
        lines.append(f"| {name} | {r['recall']:.3f} | {r['cer']:.3f} | {r['order']:.2f} | "
                     f"{r['seconds']:.2f} ({r['cpu_seconds']:.2f}) | {full_text} | {r['load_seconds']:.2f} s |")
    cold = results.get("cli_cold_start")
    if cold:
        lines.append("")
        lines.append(f"`iris read` cold start (new process, engine {cold['engine']}): {cold['seconds']:.2f} s")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", default="tesseract,tesseract-cli,ppocr,reference")
    parser.add_argument("--detail", action="store_true", help="print every screen's reading")
    parser.add_argument("--save", type=Path, help="merge the results into this JSON file")
    parser.add_argument("--table", type=Path, help="only print the table of a saved JSON file")
    parser.add_argument("--no-cli", action="store_true", help="skip the CLI cold-start timing")
    args = parser.parse_args()
    if args.table:
        print(table(json.loads(args.table.read_text())))
        return 0
    samples = metrics.load_corpus()
    results: dict = {"engines": {}}
    if args.save and args.save.exists():
        results = json.loads(args.save.read_text())
    for engine in [e.strip() for e in args.engines.split(",") if e.strip()]:
        measured = measure(engine, samples, args.detail)
        if measured is not None:
            key = engine if engine != "ppocr" else _ppocr_name()
            results["engines"][key] = measured
    if not args.no_cli:
        results["cli_cold_start"] = cli_cold_start(samples)
    results["cores"] = os.cpu_count()
    print(table(results))
    if args.save:
        args.save.write_text(json.dumps(results, indent=1) + "\n")
    return 0


def _ppocr_name() -> str:
    from app.ocr.ppocr import PPOcrEngine

    engine = PPOcrEngine()
    engine.available()
    return "ppocr-v6 (rapidocr 3)" if engine._module == "rapidocr" else "ppocr (rapidocr-onnxruntime 1.4)"


if __name__ == "__main__":
    sys.exit(main())
