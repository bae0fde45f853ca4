"""The render stage end to end: exact frames, loudness and true peak on disk, streaming, tails."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pedalboard
import pyloudnorm
import pytest
import soundfile as sf
from scipy.signal import resample_poly

from musicgen_bridge.engine.errors import EngineError
from musicgen_bridge.engine.paths import PathPolicy
from musicgen_bridge.engine.render import dsp
from musicgen_bridge.engine.render.output import write_clip
from musicgen_bridge.engine.render.presets import SHIPPED_PRESETS, resolve_chain
from musicgen_bridge.engine.render.renderer import Renderer, RenderSpec
from musicgen_bridge.engine.render.stream import run_chain

MODEL_RATE = 32000
SEED = 20240501


def music_like(seconds: float = 3.0, channels: int = 2, rate: int = MODEL_RATE) -> np.ndarray:
    """Chord + noise bursts with a fixed seed: dynamic enough for compressor and limiter to act."""
    rng = np.random.default_rng(SEED)
    t = np.arange(int(seconds * rate)) / rate
    chord = sum(0.2 * np.sin(2 * np.pi * f * t) for f in (110.0, 220.0, 277.2, 329.6))
    bursts = rng.standard_normal((channels, t.size)) * (0.3 * (np.sin(2 * np.pi * 2 * t) > 0.6))
    return (chord[None, :] + bursts).astype(np.float32)


def true_peak_dbtp(samples: np.ndarray) -> float:
    """Independent BS.1770-style true peak: 4x polyphase oversampling, frames on axis 0."""
    return 20 * np.log10(np.max(np.abs(resample_poly(samples, 4, 1, axis=0))))


def spec_for(**fields) -> RenderSpec:
    if isinstance(fields.get("fx"), str):
        fields["fx"] = resolve_chain(fields["fx"], preset_dirs=[SHIPPED_PRESETS])
    return RenderSpec(**fields)


def test_master_lite_48k_24bit_on_disk_meets_frames_peak_and_loudness(tmp_path: Path) -> None:
    audio = music_like(4.0)
    frames = 192_007  # what a timeline might ask for: not exactly 4 s
    spec = spec_for(sample_rate=48000, fx="master-lite", loudness_lufs=-10.0, true_peak_dbtp=-1.0,
                    fade_in_s=0.005, fade_out_s=0.25, format="wav24")
    clip, report = Renderer(spec).render_with_report(audio, MODEL_RATE, frames=frames)
    path = PathPolicy(tmp_path).resolve(None, "master.wav")
    files = write_clip(clip, 48000, path, fmt=spec.format,
                       sidecar={"render": spec.to_dict(), "report": report.to_dict()})
    back, rate = sf.read(str(files.audio), dtype="float64", always_2d=True)
    assert rate == 48000 and back.shape == (frames, 2) and sf.info(str(files.audio)).subtype == "PCM_24"
    assert true_peak_dbtp(back) <= -1.0
    loudness = pyloudnorm.Meter(48000).integrated_loudness(back)
    assert abs(loudness - (-10.0)) <= 0.5
    assert not report.peak_limited and report.frames == frames
    assert back[0].tolist() == [0.0, 0.0]  # the fade-in starts from silence
    assert RenderSpec.from_dict(spec.to_dict(), preset_dirs=[SHIPPED_PRESETS]) == spec


@pytest.mark.parametrize("preset", ["master-lite", "lofi", "wide-verb"])
@pytest.mark.parametrize("tail", ["cut", "keep"])
def test_chain_in_one_piece_equals_chain_in_blocks(preset: str, tail: str) -> None:
    chain = resolve_chain(preset, preset_dirs=[SHIPPED_PRESETS])
    audio = dsp.resample(music_like(2.0), MODEL_RATE, 48000)

    def run(chunk: int | None) -> tuple[np.ndarray, int]:
        board = pedalboard.Pedalboard([item.make() for item in chain])
        return run_chain(board, audio, 48000, tail=tail, max_tail_s=3.0, chunk_frames=chunk)

    whole, whole_tail = run(None)
    for chunk in (777, 8192, 10_000):
        part, part_tail = run(chunk)
        assert part_tail == whole_tail
        np.testing.assert_array_equal(part, whole)  # exact: state carried across blocks
    assert whole.shape[1] == audio.shape[1] + whole_tail
    if tail == "cut":
        assert whole_tail == 0


@pytest.mark.parametrize("preset", ["master-lite", "wide-verb"])
def test_streamed_chain_matches_pedalboards_own_one_call(preset: str) -> None:
    chain = resolve_chain(preset, preset_dirs=[SHIPPED_PRESETS])
    audio = dsp.resample(music_like(2.0), MODEL_RATE, 48000)
    streamed, _ = run_chain(pedalboard.Pedalboard([i.make() for i in chain]), audio, 48000, chunk_frames=1000)
    reference = pedalboard.Pedalboard([i.make() for i in chain])(audio, 48000)
    np.testing.assert_array_equal(streamed, reference)


def test_renderer_output_does_not_depend_on_chunking() -> None:
    spec = spec_for(fx="lofi", loudness_lufs=-16.0)
    audio = music_like(2.0)
    whole = Renderer(spec).render(audio, MODEL_RATE, frames=96_000)
    chunked = Renderer(spec, chunk_frames=1234).render(audio, MODEL_RATE, frames=96_000)
    np.testing.assert_array_equal(whole, chunked)


def test_resampler_keeps_timing_and_is_block_independent() -> None:
    impulse = np.zeros((1, 32000), np.float32)
    impulse[0, 1000] = 1.0
    out = dsp.resample(impulse, 32000, 48000)
    assert int(np.argmax(out[0])) == 1500 and abs(out.shape[1] - 48000) <= 1
    audio = music_like(3.0)
    np.testing.assert_array_equal(dsp.resample(audio, 32000, 44100, block_frames=1000),
                                  dsp.resample(audio, 32000, 44100))
    t = np.arange(32000) / 32000
    tone = dsp.resample(np.sin(2 * np.pi * 1000 * t)[None].astype(np.float32), 32000, 96000)
    spectrum = np.abs(np.fft.rfft(tone[0, 9600:-9600] * np.hanning(96000 - 19200)))
    assert round(np.argmax(spectrum) * 96000 / (96000 - 19200)) == 1000


@pytest.mark.parametrize("rate", [32000, 44100, 48000, 88200, 96000])
def test_exact_frames_at_every_rate(rate: int) -> None:
    spec = RenderSpec(sample_rate=rate, fx=resolve_chain("wide-verb", preset_dirs=[SHIPPED_PRESETS]))
    audio = music_like(1.0)
    for frames in (rate - 1, rate + 333):
        assert Renderer(spec).render(audio, MODEL_RATE, frames=frames).shape == (2, frames)


def test_identity_settings_pass_audio_through_exactly() -> None:
    audio = music_like(1.0, rate=48000) * 0.5
    clip = Renderer(RenderSpec(true_peak_dbtp=None)).render(audio, 48000)
    np.testing.assert_array_equal(clip, audio)
    padded = Renderer(RenderSpec(true_peak_dbtp=None)).render(audio, 48000, frames=48010)
    np.testing.assert_array_equal(padded[:, :48000], audio)
    assert not padded[:, 48000:].any()


def test_channel_conversion() -> None:
    mono = music_like(1.0, channels=1, rate=48000) * 0.5
    stereo = Renderer(RenderSpec(channels=2, true_peak_dbtp=None)).render(mono, 48000)
    assert stereo.shape == (2, 48000)
    np.testing.assert_array_equal(stereo[0], mono[0])
    np.testing.assert_array_equal(stereo[1], mono[0])
    pair = music_like(1.0, rate=48000) * 0.5
    down = Renderer(RenderSpec(channels=1, true_peak_dbtp=None)).render(pair, 48000)
    np.testing.assert_allclose(down[0], (pair[0] + pair[1]) / 2, atol=1e-7)
    assert Renderer(RenderSpec(channels=1)).render(music_like(1.0), MODEL_RATE).shape == (1, 48000)


def test_fades_start_and_end_at_silence() -> None:
    audio = np.full((2, 48000), 0.5, np.float32)
    clip = Renderer(RenderSpec(fade_in_s=0.1, fade_out_s=0.2, true_peak_dbtp=None)).render(audio, 48000)
    assert clip[0, 0] == 0.0 and clip[0, -1] == 0.0
    np.testing.assert_array_equal(clip[:, 4800:38400], audio[:, 4800:38400])  # untouched between fades
    assert np.all(np.diff(clip[0, :4800]) >= 0) and np.all(np.diff(clip[0, -9600:]) <= 0)


def test_tail_keep_appends_the_ring_out_and_cut_keeps_frames() -> None:
    chain = resolve_chain("wide-verb", preset_dirs=[SHIPPED_PRESETS])
    audio = music_like(1.0)
    cut = Renderer(RenderSpec(fx=chain, tail="cut", true_peak_dbtp=None)).render(audio, MODEL_RATE)
    keep, report = Renderer(RenderSpec(fx=chain, tail="keep", true_peak_dbtp=None)).render_with_report(
        audio, MODEL_RATE)
    assert cut.shape == (2, 48000) and report.tail_frames > 48000  # a large room rings for seconds
    assert keep.shape == (2, 48000 + report.tail_frames)
    np.testing.assert_array_equal(keep[:, :48000], cut)
    end = np.max(np.abs(keep[:, -4800:]))
    assert 0 < end < np.max(np.abs(keep)) * 10 ** (-60 / 20)  # rang out to far below the peak
    capped = Renderer(RenderSpec(fx=chain, tail="keep", max_tail_s=0.5)).render(audio, MODEL_RATE)
    assert capped.shape == (2, 48000 + 24000)
    dry = Renderer(RenderSpec(tail="keep")).render(audio, MODEL_RATE)
    assert dry.shape == (2, 48000)


def test_ceiling_wins_over_a_loud_target() -> None:
    spec = RenderSpec(loudness_lufs=-3.0, true_peak_dbtp=-1.0)
    clip, report = Renderer(spec).render_with_report(music_like(2.0), MODEL_RATE)
    assert report.peak_limited and true_peak_dbtp(clip.T.astype(np.float64)) <= -1.0
    measured = pyloudnorm.Meter(48000).integrated_loudness(clip.T.astype(np.float64))
    assert measured < -3.5 and abs(measured - report.loudness_lufs) < 0.01


def test_silence_and_short_clips_are_handled() -> None:
    silent, report = Renderer(RenderSpec(loudness_lufs=-14.0)).render_with_report(
        np.zeros((2, 32000), np.float32), MODEL_RATE)
    assert not silent.any() and report.loudness_lufs is None and report.gain_db == 0.0
    short = np.full((1, 3200), 0.99, np.float32)  # 0.1 s: loudness undefined, ceiling still applies
    clip, report = Renderer(RenderSpec(loudness_lufs=-14.0, true_peak_dbtp=-6.0)).render_with_report(short, 32000)
    assert report.loudness_lufs is None and clip.shape == (2, 4800)
    assert true_peak_dbtp(clip.T.astype(np.float64)) <= -6.0


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"sample_rate": 22050}, "sample_rate"),
        ({"sample_rate": True}, "sample_rate"),
        ({"channels": 3}, "channels"),
        ({"loudness_lufs": 3.0}, "loudness_lufs"),
        ({"loudness_lufs": float("nan")}, "loudness_lufs"),
        ({"true_peak_dbtp": -40.0}, "true_peak_dbtp"),
        ({"fade_in_s": -1.0}, "fade_in_s"),
        ({"tail": "long"}, "tail"),
        ({"max_tail_s": 60.0}, "max_tail_s"),
        ({"format": "mp3"}, "format"),
        ({"volume": 1}, "volume"),
    ],
)
def test_bad_spec_fields_are_invalid_field(fields: dict, field: str) -> None:
    with pytest.raises(EngineError) as info:
        RenderSpec.from_dict(fields)
    assert info.value.code == "invalid_field" and info.value.details["field"] == field


def test_bad_audio_frames_and_cancel() -> None:
    renderer = Renderer(RenderSpec(fx=resolve_chain("master-lite", preset_dirs=[SHIPPED_PRESETS])))
    nan = np.full((2, 100), np.nan, np.float32)
    cases = [((nan, MODEL_RATE), {}, "bad_audio"), ((np.zeros((3, 100), np.float32), MODEL_RATE), {}, "bad_audio"),
             ((np.zeros((2, 100), np.int16), MODEL_RATE), {}, "bad_audio"),
             ((np.zeros((2, 100), np.float32), MODEL_RATE), {"frames": 0}, "invalid_field"),
             ((np.zeros((2, 100), np.float32), 0), {}, "invalid_field"),
             ((music_like(1.0), MODEL_RATE), {"cancelled": lambda: True}, "cancelled")]
    for args, kwargs, code in cases:
        with pytest.raises(EngineError) as info:
            renderer.render(*args, **kwargs)
        assert info.value.code == code
