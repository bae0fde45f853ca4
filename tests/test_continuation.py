"""continue_audio: the item's last whole bars as the prompt, exact new bars, no click at the join."""

from fractions import Fraction

import numpy as np
import pytest
import torch
from tiny_models import tiny_model

from musicgen_bridge.engine.errors import EngineError
from musicgen_bridge.engine.generation.continuation import continue_audio, smooth_join
from musicgen_bridge.engine.generation.reference import generate_reference
from musicgen_bridge.engine.timing.timeline import Grid

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def loaded():
    return tiny_model()


def item_audio(seconds: float, rate: int, channels: int = 2) -> np.ndarray:
    """A 3 Hz swell (large, slow: a naive join would step) plus a 220 Hz tone."""
    t = np.arange(round(seconds * rate)) / rate
    rows = [0.5 * np.sin(2 * np.pi * 3 * t + 1.4) + 0.1 * np.sin(2 * np.pi * 220 * t + c) for c in range(channels)]
    return np.stack(rows).astype(np.float32)


def join_metrics(before: np.ndarray, after: np.ndarray, rate: int) -> tuple[float, float]:
    """(|first new - last old|, high-pass spike): the largest first difference within 2 ms of the
    join over the 99th percentile of first differences in the new audio away from it."""
    cat = np.concatenate([before[-rate // 10:], after[:rate // 2]])
    diff = np.abs(np.diff(cat))
    j, w = rate // 10 - 1, rate // 500
    spike = diff[j - w:j + w].max() / np.percentile(diff[j + rate // 20:], 99)
    return float(abs(after[0] - before[-1])), float(spike)


def test_exact_span_channels_and_position(loaded):
    item = item_audio(12.0, 44100)  # 6 bars of 4/4 at 120
    grid = Grid.constant("4/4", 120)
    out = continue_audio(loaded, item, 44100, grid=grid, end_bar=6, context_bars=2, bars=2, prompt="funk",
                         seeds=[1, 2])
    assert out.start_bar == 6 and out.bars == 2 and out.sample_rate == 44100
    assert out.audio.shape == (2, 2, 176400)  # 2 takes, the item's 2 channels, 4 s at 44.1 kHz
    assert out.audio.dtype == np.float32
    assert not np.array_equal(out.audio[0], out.audio[1])  # one take per seed
    at48 = continue_audio(loaded, item, 44100, grid=grid, end_bar=6, context_bars=2, bars=2, out_rate=48000)
    assert at48.audio.shape == (1, 2, 192000) and at48.sample_rate == 48000


def test_non_integer_tempo_three_four(loaded):
    grid = Grid.constant("3/4", 93.5)  # one bar = 360/187 s
    seconds = float(grid.bar_seconds(5))
    item = item_audio(seconds, 48000, channels=1)
    out = continue_audio(loaded, item, 48000, grid=grid, end_bar=5, context_bars=3, bars=3)
    # bars 5..8: 48000 * 360/187 * 8 = 739251.3 -> 739251 minus 48000 * 360/187 * 5 = 462032.1 -> 462032
    assert out.audio.shape == (1, 1, 739251 - 462032)


def test_prompt_is_the_items_last_whole_bars(loaded):
    seen = []

    def recording(model, cond, frames, params, seeds, on_step=None, cancel=None):
        seen.append(cond)
        return generate_reference(model, cond, frames, params, seeds, on_step, cancel)

    item = item_audio(10.0, 32000, channels=1)
    grid = Grid.constant("4/4", 120)
    out = continue_audio(loaded, item, 32000, grid=grid, end_bar=5, context_bars=2, bars=1, prompt="dub",
                         generate=recording)
    assert len(seen) == 1 and seen[0].prompts == ["dub, 120 bpm"]
    codes = seen[0].audio_prompt_codes
    assert codes.shape == (1, 4, 200)  # 2 bars = 4 s = 200 frames
    with torch.inference_mode():
        expected = loaded.model.audio_encoder.encode(torch.from_numpy(item[None, :, -4 * 32000:])).audio_codes[0]
    assert torch.equal(codes, expected)
    assert out.tokens.shape[:2] == (1, 4) and out.tokens.shape[2] >= 100


def test_join_has_no_click(loaded):
    item = item_audio(12.0, 44100)
    grid = Grid.constant("4/4", 120)
    smooth = continue_audio(loaded, item, 44100, grid=grid, end_bar=6, context_bars=2, bars=2, seeds=[3])
    raw = continue_audio(loaded, item, 44100, grid=grid, end_bar=6, context_bars=2, bars=2, seeds=[3], join_s=0)
    for c in range(2):
        step, spike = join_metrics(item[c], smooth.audio[0, c], 44100)
        assert step < 0.02 and spike < 1.5
        # the detector does fire on the uncorrected join (the random codec's re-generation is far off)
        raw_step, raw_spike = join_metrics(item[c], raw.audio[0, c], 44100)
        assert raw_step > 0.2 and raw_spike > 3
    assert smooth.join_step[0] > 0.2  # what was removed
    # the correction is gone after join_s: from 10 ms on the clip is the model's audio untouched
    np.testing.assert_array_equal(smooth.audio[0, :, 441:], raw.audio[0, :, 441:])


def test_item_ending_mid_bar_and_short_items(loaded):
    grid = Grid.constant("4/4", 120)
    item = item_audio(13.0, 32000, channels=1)  # ends at bar 6.5
    out = continue_audio(loaded, item, 32000, grid=grid, end_bar=Fraction(13, 2), context_bars=8, bars=1)
    assert out.start_bar == 6 and out.audio.shape == (1, 1, 64000)
    # the item's sample just before bar 6 (index 12 s) is what the clip continues from
    step, _ = join_metrics(item[0, :12 * 32000], out.audio[0, 0], 32000)
    assert step < 0.02
    with pytest.raises(EngineError) as err:
        continue_audio(loaded, item_audio(1.5, 32000), 32000, grid=grid, end_bar=4, context_bars=2, bars=1)
    assert err.value.code == "bad_audio"


def test_smooth_join_removes_only_the_offset():
    after = np.zeros((1, 100), np.float32)
    out = smooth_join(np.array([0.5], np.float32), np.array([0.1], np.float32), after, fade=10)
    assert out[0, 0] == pytest.approx(0.4)
    assert np.all(np.diff(out[0, :10]) < 0) and not out[0, 10:].any()
