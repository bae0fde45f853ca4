"""Tempo conform on synthetic click tracks (no model output): tempo, grid alignment, exact length."""

import itertools
from fractions import Fraction

import numpy as np
import pytest

from musicgen_bridge.engine.errors import EngineError
from musicgen_bridge.engine.render.resample import resample
from musicgen_bridge.engine.timing.conform import conform, estimate_beats, fit_length, tempo_hint, warm_up
from musicgen_bridge.engine.timing.timeline import Grid


def click_track(bpm: float, offset: float, seconds: float, rate: int, accent_every: int = 4) -> np.ndarray:
    """1 kHz clicks (15 ms, 4 ms decay) on every beat from ``offset``; louder on each bar's first beat."""
    out = np.zeros(int(seconds * rate), np.float32)
    t = np.arange(int(0.015 * rate)) / rate
    click = np.sin(2 * np.pi * 1000 * t) * np.exp(-t / 0.004)
    for i in range(10_000):
        start = round((offset + i * 60.0 / bpm) * rate)
        if start >= out.size:
            break
        amp = 1.0 if i % accent_every == 0 else 0.5
        n = min(click.size, out.size - start)
        out[start:start + n] += amp * click[:n]
    return out


def click_onsets(audio: np.ndarray, rate: int) -> np.ndarray:
    """Seconds where a click starts: |x| above 5 % of the peak after >= 100 ms below it."""
    loud = np.flatnonzero(np.abs(audio) > 0.05 * np.abs(audio).max())
    starts = [loud[0]] + [b for a, b in itertools.pairwise(loud) if b - a > 0.1 * rate]
    return np.asarray(starts) / rate


@pytest.fixture(scope="module", autouse=True)
def compiled():
    warm_up()


def test_warm_up_loads_and_compiles_the_beat_tracker():
    import sys

    assert warm_up() >= 0.0
    # importing librosa compiles its numba kernels (the cost warm_up moves out of the first request)
    assert "librosa.beat" in sys.modules and "librosa.onset" in sys.modules


def test_117_bpm_80ms_late_comes_out_at_120_on_the_grid():
    src = click_track(117, 0.080, 9.0, 32000)
    grid = Grid.constant("4/4", 120)
    out = conform(src, 32000, grid=grid, bars=4, out_rate=48000)
    assert out.audio.shape == (1, 384000)  # 4 bars * 2 s * 48 kHz
    assert out.sample_rate == 48000
    assert out.estimate is not None and abs(out.estimate.bpm - 117) < 0.1
    assert out.stretch_factor == pytest.approx(120 / 117, rel=0.005)
    onsets = click_onsets(out.audio[0], 48000)
    onsets = onsets[onsets < 8.0 - 0.1]
    assert len(onsets) == 16
    beats = np.arange(16) * 0.5
    assert np.abs(onsets - beats).max() < 0.005
    slope = np.polyfit(np.arange(16), onsets, 1)[0]
    assert abs(60 / slope - 120) < 0.5


def test_non_integer_tempo_in_three_four():
    # 96 bpm source, 300 ms late; session 93.5 bpm in 3/4 (bar = 360/187 s)
    src = click_track(96, 0.300, 10.0, 32000, accent_every=3)
    grid = Grid.constant("3/4", 93.5)
    out = conform(src, 32000, grid=grid, bars=4, out_rate=44100)
    assert out.audio.shape == (1, grid.span_frames(0, 4, 44100))
    assert out.audio.shape[1] == 339594  # 12 quarters * 60 / 93.5 s * 44100 = 339593.58
    onsets = click_onsets(out.audio[0], 44100)
    period = 60 / 93.5
    onsets = onsets[onsets < 4 * 3 * period - 0.1]
    assert len(onsets) == 12
    assert np.abs(onsets - np.arange(12) * period).max() < 0.005


def test_downbeat_is_chosen_by_accent():
    # a weak pickup click at 80 ms, then bars whose accented first beat falls at 0.58 s, 2.58 s, ...
    pickup = click_track(120, 0.080, 0.5, 32000) * 0.5
    src = click_track(120, 0.580, 10.0, 32000)
    src[:pickup.size] += pickup
    est = estimate_beats(src, 32000, 120)
    assert est is not None
    assert est.downbeat == pytest.approx(0.58, abs=0.003)
    out = conform(src, 32000, grid=Grid.constant("4/4", 120), bars=2)
    assert out.shift_s == pytest.approx(0.58, abs=0.003)
    onsets = click_onsets(out.audio[0], 32000)
    assert abs(onsets[0]) < 0.003


def test_on_tempo_audio_is_not_stretched():
    src = click_track(120, 0.0, 5.0, 48000)
    out = conform(src, 48000, grid=Grid.constant("4/4", 120), bars=2)
    assert out.stretch_factor == 1.0
    assert abs(out.shift_s) < 0.001
    onsets = click_onsets(out.audio[0], 48000)
    assert np.abs(onsets - np.arange(len(onsets)) * 0.5).max() < 0.001


def test_no_beat_means_only_trim_or_pad():
    rate = 32000
    tone = (0.3 * np.sin(2 * np.pi * 220 * np.arange(int(1.5 * rate)) / rate)).astype(np.float32)
    out = conform(tone, rate, grid=Grid.constant("4/4", 120), bars=1)  # 2 s
    assert out.estimate is None and out.stretch_factor == 1.0 and out.shift_s == 0.0
    assert out.audio.shape == (1, 64000)
    np.testing.assert_array_equal(out.audio[0, :tone.size], tone)
    assert not out.audio[0, tone.size:].any()
    silent = conform(np.zeros((2, 3 * rate), np.float32), rate, grid=Grid.constant("6/8", 90), bars=1)
    assert silent.audio.shape == (2, 64000) and not silent.audio.any()  # 6/8 bar = 3 quarters = 2 s at 90


def test_fit_length_offsets_and_fades():
    audio = np.ones((1, 100), np.float32)
    late = fit_length(audio, 120, offset=-10)
    assert late.shape == (1, 120) and not late[0, :10].any() and late[0, 10:110].all() and not late[0, 110:].any()
    early = fit_length(audio, 50, offset=30, edge_fade=4)
    assert early.shape == (1, 50)
    assert early[0, 0] < 0.2 and early[0, -1] < 0.2  # both edges cut through the audio: faded
    np.testing.assert_array_equal(early[0, 4:46], 1.0)
    whole = fit_length(audio, 100, edge_fade=4)  # nothing cut: no fade
    np.testing.assert_array_equal(whole, audio)


def test_resample_lengths_and_pitch():
    rate = 32000
    tone = np.sin(2 * np.pi * 1000 * np.arange(rate) / rate).astype(np.float32)
    up = resample(tone, rate, 48000)
    assert up.shape == (1, 48000)
    spectrum = np.abs(np.fft.rfft(up[0] * np.hanning(48000)))
    assert np.argmax(spectrum) == 1000  # 1 Hz bins at 48000 samples
    fast = resample(tone, rate * 1.01, rate)  # varispeed 1 % faster
    assert fast.shape[1] == int(np.ceil(rate / 1.01))


def test_tempo_hint():
    assert tempo_hint("dusty lofi drums", 120) == "dusty lofi drums, 120 bpm"
    assert tempo_hint("dusty lofi drums,", Fraction(187, 2)) == "dusty lofi drums, 93.5 bpm"
    assert tempo_hint("", 90) == "90 bpm"
    assert tempo_hint("techno at 128 BPM", 120) == "techno at 128 BPM"
    assert tempo_hint("dusty lofi drums", 120, enabled=False) == "dusty lofi drums"
    with pytest.raises(EngineError):
        tempo_hint("x", 1000)
