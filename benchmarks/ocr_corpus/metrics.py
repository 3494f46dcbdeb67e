"""The OCR corpus and how a reading of it is scored (used by benchmarks/ocr_bench.py and tests/test_ocr_corpus.py).

* word recall: the share of the true words (case and accents kept, surrounding
  punctuation stripped) that the reading contains, counted with multiplicity.
  A glued "Thecouncilvoted" finds none of its three words.
* CER: character edit distance between the true text and the reading (lines
  joined by newlines, runs of spaces collapsed), over the true text's length.
  Lines read out of order or merged cost here too.
* lines in order: the share of true lines found, nearly verbatim, as their own
  output line, in order (a longest common subsequence over lines).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

CORPUS = Path(__file__).resolve().parent
PUNCT = ".,;:!?\"'()[]{}«»“”„‘’¿¡"


@dataclass(frozen=True)
class Sample:
    name: str
    language: str
    path: Path
    truth: list[str]

    def image(self) -> Image.Image:
        with Image.open(self.path) as im:
            return im.convert("RGB")


def load_corpus() -> list[Sample]:
    index = json.loads((CORPUS / "corpus.json").read_text(encoding="utf-8"))
    samples = []
    for item in index:
        truth = (CORPUS / f"{item['name']}.txt").read_text(encoding="utf-8").splitlines()
        samples.append(Sample(item["name"], item["language"], CORPUS / f"{item['name']}.png", truth))
    return samples


def words(lines: list[str]) -> list[str]:
    out = []
    for line in lines:
        for token in line.split():
            token = token.strip(PUNCT)
            if token:
                out.append(token)
    return out


def word_recall(truth: list[str], got: list[str]) -> float:
    want = Counter(words(truth))
    have = Counter(words(got))
    total = sum(want.values())
    return sum(min(n, have[w]) for w, n in want.items()) / total if total else 1.0


def _normal(lines: list[str]) -> str:
    return "\n".join(" ".join(line.split()) for line in lines if line.strip())


def edit_distance(a: str, b: str) -> int:
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def cer(truth: list[str], got: list[str]) -> float:
    want = _normal(truth)
    return edit_distance(want, _normal(got)) / max(1, len(want))


def _close(a: str, b: str) -> bool:
    a, b = " ".join(a.split()), " ".join(b.split())
    return edit_distance(a, b) <= max(1, len(a) // 20)


def lines_in_order(truth: list[str], got: list[str]) -> float:
    """Longest common subsequence of (nearly) equal lines, over the number of true lines."""
    want = [t for t in truth if t.strip()]
    if not want:
        return 1.0
    table = [[0] * (len(got) + 1) for _ in range(len(want) + 1)]
    for i, a in enumerate(want, start=1):
        for j, b in enumerate(got, start=1):
            table[i][j] = table[i - 1][j - 1] + 1 if _close(a, b) else max(table[i - 1][j], table[i][j - 1])
    return table[-1][-1] / len(want)
