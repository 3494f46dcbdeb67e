"""Earcons: a tick timer while working, silent when disabled or without a sound device, no Qt warnings."""

from __future__ import annotations

import wave

import pytest

from app.gui import earcons
from app.gui.earcons import SOUNDS, WorkingTicker, earcons_dir
from app.settings import Settings


def test_wavs_are_tiny_short_and_soft():
    for name in SOUNDS:
        path = earcons_dir() / f"{name}.wav"
        assert path.is_file(), name
        assert path.stat().st_size < 40_000
        with wave.open(str(path)) as handle:
            seconds = handle.getnframes() / handle.getframerate()
            frames = handle.readframes(handle.getnframes())
        assert 0.02 < seconds < 0.6
        import numpy as np

        samples = np.frombuffer(frames, dtype="<i2").astype(float) / 32768
        assert 0.05 < np.abs(samples).max() < 0.6  # audible but soft
        assert abs(samples[0]) < 0.01 and abs(samples[-1]) < 0.01  # no click at either end


def test_start_stop_toggles_timer_and_ticks(qtbot):
    ticker = WorkingTicker(interval_ms=20)
    assert not ticker.running
    ticker.start()
    assert ticker.running
    qtbot.waitUntil(lambda: ticker.counts["tick"] >= 3, timeout=2000)
    ticker.stop()
    assert not ticker.running
    ticks = ticker.counts["tick"]
    qtbot.wait(80)
    assert ticker.counts["tick"] == ticks  # no tick after stop


def test_first_tick_waits_one_interval(qtbot):
    ticker = WorkingTicker(interval_ms=500)
    ticker.start()
    qtbot.wait(50)
    assert ticker.counts["tick"] == 0  # a quick job makes no sound
    ticker.stop()


def test_done_and_error_stop_the_tick(qtbot):
    ticker = WorkingTicker(interval_ms=1000)
    ticker.start()
    ticker.play_done()
    assert not ticker.running and ticker.counts["done"] == 1
    ticker.start()
    ticker.play_error()
    assert not ticker.running and ticker.counts["error"] == 1


def test_disabled_flag_suppresses_everything(qtbot):
    ticker = WorkingTicker(enabled=False, interval_ms=10)
    ticker.start()
    assert not ticker.running
    ticker.play_done()
    ticker.play_error()
    qtbot.wait(40)
    assert sum(ticker.counts.values()) == 0
    ticker.set_enabled(True)
    ticker.start()
    assert ticker.running
    ticker.set_enabled(False)  # switching off while working stops at once
    assert not ticker.running


def test_follows_the_progress_sound_setting(qtbot, tmp_path):
    settings = Settings.load(tmp_path / "settings.json")
    settings.set("progress_sound", False)
    ticker = WorkingTicker(interval_ms=10)
    ticker.bind_settings(settings)
    ticker.start()
    assert not ticker.running
    settings.set("progress_sound", True)
    ticker.start()
    assert ticker.running
    settings.set("progress_sound", False)
    assert not ticker.running


def test_no_sound_device_is_silent_and_quiet(qtbot, monkeypatch):
    """Without an audio device nothing is created or played; no Qt warning escapes (pytest fails on one)."""
    monkeypatch.setattr(earcons, "audio_output_available", lambda **_: False)
    ticker = WorkingTicker(interval_ms=10)
    assert ticker.has_sound is False
    ticker.start()
    qtbot.waitUntil(lambda: ticker.counts["tick"] >= 2, timeout=2000)
    ticker.play_done()
    assert ticker.counts["done"] == 1


def test_real_backend_probe_emits_no_warning(qtbot):
    """Whatever this machine has (a device or none), loading the sounds logs no Qt warning."""
    ticker = WorkingTicker(interval_ms=10)
    has_sound = ticker.has_sound  # probes the real multimedia backend
    ticker.play_done()
    qtbot.wait(20)
    assert isinstance(has_sound, bool)


@pytest.mark.parametrize("missing", ["tick"])
def test_missing_wav_is_tolerated(qtbot, tmp_path, monkeypatch, missing):
    monkeypatch.setattr(earcons, "audio_output_available", lambda **_: True)
    for name in SOUNDS:
        if name != missing:
            (tmp_path / f"{name}.wav").write_bytes((earcons_dir() / f"{name}.wav").read_bytes())
    ticker = WorkingTicker(interval_ms=10, directory=tmp_path)
    effects = ticker._ensure_effects()
    assert missing not in effects and set(effects) == set(SOUNDS) - {missing}
    ticker._tick()  # no sound for the missing one, and no exception
    assert ticker.counts["tick"] == 1
