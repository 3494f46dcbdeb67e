"""Generate Iris's earcons: short, soft, non-speech sounds (run once; the WAVs are committed).

* ``tick.wav``  - a soft wooden tick played every ~1.5 s while Iris works.
* ``done.wav``  - a gentle rising two-note chime when an answer is ready.
* ``error.wav`` - a low falling two-note tone when something failed.

Mono, 16-bit, 22050 Hz, with smooth attack/decay envelopes so nothing clicks.
Usage: ``python resources/earcons/make_earcons.py [OUTPUT_DIR]``.
"""

from __future__ import annotations

import sys
import wave
from pathlib import Path

import numpy as np

RATE = 22050


def _tone(freq: float, seconds: float, *, decay: float, level: float, harmonics=((2.0, 0.25),)) -> np.ndarray:
    t = np.arange(int(RATE * seconds)) / RATE
    wave_ = np.sin(2 * np.pi * freq * t)
    for ratio, gain in harmonics:
        wave_ += gain * np.sin(2 * np.pi * freq * ratio * t)
    envelope = np.exp(-t / decay)
    attack = min(len(t), int(RATE * 0.004))  # 4 ms fade-in: no click
    envelope[:attack] *= np.linspace(0.0, 1.0, attack)
    release = min(len(t), int(RATE * 0.010))
    envelope[-release:] *= np.linspace(1.0, 0.0, release)
    return level * wave_ * envelope / (1 + sum(g for _, g in harmonics))


def tick() -> np.ndarray:
    return _tone(1400.0, 0.045, decay=0.010, level=0.30, harmonics=((2.7, 0.3),))


def done() -> np.ndarray:
    a = _tone(660.0, 0.14, decay=0.06, level=0.35)
    b = _tone(880.0, 0.22, decay=0.09, level=0.35)
    return np.concatenate([a, b])


def error() -> np.ndarray:
    a = _tone(440.0, 0.16, decay=0.08, level=0.40, harmonics=((1.5, 0.2),))
    b = _tone(311.1, 0.26, decay=0.12, level=0.40, harmonics=((1.5, 0.2),))
    return np.concatenate([a, b])


SOUNDS = {"tick": tick, "done": done, "error": error}


def write_wav(path: Path, samples: np.ndarray) -> None:
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(RATE)
        handle.writeframes(pcm.tobytes())


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else Path(__file__).resolve().parent
    out.mkdir(parents=True, exist_ok=True)
    for name, make in SOUNDS.items():
        path = out / f"{name}.wav"
        write_wav(path, make())
        print(f"{path} {path.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
