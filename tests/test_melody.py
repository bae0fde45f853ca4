"""Melody -> chroma: the reference recipe, notes read directly, and window alignment."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
import torch
from transformers.audio_utils import chroma_filter_bank

from musicgen_bridge.engine.conditioning import (
    CHROMA_LENGTH,
    AudioMelody,
    Melody,
    audio_chroma,
    chroma_features,
    chroma_for_window,
    loop_length_beats,
    melody_from_notes,
    num_chroma_frames,
    one_hot,
    pitch_track,
)
from musicgen_bridge.engine.errors import EngineError

torch.set_num_threads(1)

SR, N_FFT, HOP = 32000, 16384, 4096


def notes(*spec: tuple[int, float, float], velocity: int = 100) -> Melody:
    return melody_from_notes([{"pitch": p, "start_beats": s, "duration_beats": d,
                               "velocity": velocity, "muted": False} for p, s, d in spec])


def frame_seconds(t: int) -> Fraction:
    return Fraction(t * HOP, SR)


# --- the reference recipe, written straight in numpy -------------------------------------

def reference_chroma(wave: np.ndarray) -> np.ndarray:
    """MusicgenMelodyFeatureExtractor's chroma before the argmax, in float64 numpy."""
    wave = np.asarray(wave, dtype=np.float64)
    if len(wave) < N_FFT:
        pad = N_FFT - len(wave)
        wave = np.pad(wave, (pad // 2, pad // 2 + pad % 2))
    padded = np.pad(wave, N_FFT // 2, mode="reflect")
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)  # periodic Hann
    count = 1 + len(wave) // HOP
    frames = np.stack([padded[t * HOP:t * HOP + N_FFT] * window for t in range(count)])
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2 / np.sum(window ** 2)
    bank = chroma_filter_bank(num_frequency_bins=N_FFT, num_chroma=12, sampling_rate=SR, tuning=0)
    raw = power @ bank.T
    return raw / np.maximum(np.abs(raw).max(axis=1, keepdims=True), 1e-6)


@pytest.mark.parametrize("length", [3 * SR + 123, 5000, N_FFT, 40 * HOP])
def test_chroma_features_match_numpy_reference(length: int) -> None:
    rng = np.random.default_rng(length)
    t = np.arange(length) / SR
    wave = (0.3 * np.sin(2 * np.pi * 329.63 * t) + 0.05 * rng.standard_normal(length))
    wave = wave.astype(np.float32)
    ours = chroma_features(wave)
    ref = reference_chroma(wave)
    assert ours.dtype == torch.float32
    assert ours.shape == ref.shape == (num_chroma_frames(length), 12)
    np.testing.assert_allclose(ours.numpy(), ref, atol=1e-5, rtol=0)
    assert torch.equal(one_hot(ours).argmax(-1), torch.from_numpy(ref.argmax(-1)))


def test_frame_count_for_thirty_seconds() -> None:
    assert num_chroma_frames(30 * SR) == 235 == CHROMA_LENGTH
    assert audio_chroma(np.zeros(30 * SR, np.float32)).shape == (235, 12)


def test_silence_reads_as_pitch_class_zero() -> None:
    chroma = chroma_features(np.zeros(2 * SR, np.float32))
    assert torch.count_nonzero(chroma) == 0
    hot = one_hot(chroma)
    assert hot[:, 0].tolist() == [1.0] * hot.shape[0] and hot.sum().item() == hot.shape[0]


def test_single_tone_pitch_class() -> None:
    t = np.arange(SR) / SR
    for pitch in (57, 61, 66, 70):  # A3 C#4 F#4 A#4
        wave = np.sin(2 * np.pi * 440 * 2 ** ((pitch - 69) / 12) * t).astype(np.float32)
        assert set(audio_chroma(wave).argmax(-1).tolist()) == {pitch % 12}


# --- notes -> chroma directly -------------------------------------------------------------

def test_c_major_scale_frames_at_120_bpm() -> None:
    scale = [60, 62, 64, 65, 67, 69, 71, 72]
    melody = notes(*[(p, i, 1) for i, p in enumerate(scale)])
    frames = math.ceil(4 * Fraction(SR, HOP))  # 4 s = 8 beats at 120 bpm
    got = chroma_for_window(melody, bpm=120, num_frames=frames)
    assert got.shape == (frames, 12) and got.sum(-1).tolist() == [1.0] * frames
    got_classes = got.argmax(-1).tolist()
    for t in range(frames):
        beat = int(frame_seconds(t) / Fraction(1, 2))  # 0.5 s per beat
        expected = scale[beat] % 12
        nearby = got_classes[max(0, t - 1):t + 2]
        assert expected in nearby, (t, expected, nearby)
    assert [got_classes[t] for t in (0, 4, 8, 12, 16, 20, 24, 28)] == [0, 2, 4, 5, 7, 9, 11, 0]


def render_sines(spec: list[tuple[int, float, float]], bpm: float, beats: float) -> np.ndarray:
    seconds_per_beat = 60 / bpm
    wave = np.zeros(round(beats * seconds_per_beat * SR))
    for pitch, start, dur in spec:
        a = round(start * seconds_per_beat * SR)
        b = round((start + dur) * seconds_per_beat * SR)
        n = np.arange(b - a)
        fade = np.minimum(1.0, np.minimum(n, n[::-1]) / 64)  # no clicks at note edges
        wave[a:b] += 0.5 * np.sin(2 * np.pi * 440 * 2 ** ((pitch - 69) / 12) * n / SR) * fade
    return wave.astype(np.float32)


@pytest.mark.parametrize("bpm", [120, 93])
def test_sine_rendering_agrees_with_notes(bpm: float) -> None:
    spec = [(60, 0, 1), (64, 1, 1), (67, 2, 0.5), (72, 2.5, 0.5), (71, 3, 1), (69, 4, 2),
            (57, 6, 1), (62, 7, 1), (65, 8, 1.5), (76, 10, 2), (55, 12, 1), (60, 13, 3)]
    from_audio = audio_chroma(render_sines(spec, bpm, 16)).argmax(-1).numpy()
    track = pitch_track(notes(*spec), bpm, len(from_audio))
    voiced = track >= 0
    assert voiced.sum() >= 0.9 * len(track)
    agreement = np.mean(from_audio[voiced] == track[voiced] % 12)
    assert agreement >= 0.9, agreement


def test_modes_pick_highest_lowest_loudest() -> None:
    chord = melody_from_notes([
        {"pitch": 60, "start_beats": 0, "duration_beats": 4, "velocity": 50},
        {"pitch": 64, "start_beats": 0, "duration_beats": 4, "velocity": 120},
        {"pitch": 67, "start_beats": 0, "duration_beats": 4, "velocity": 80},
    ])
    assert set(pitch_track(chord, 120, 10).tolist()) == {67}
    assert set(pitch_track(chord, 120, 10, mode="lowest").tolist()) == {60}
    assert set(pitch_track(chord, 120, 10, mode="loudest").tolist()) == {64}
    with pytest.raises(EngineError) as err:
        pitch_track(chord, 120, 10, mode="middle")
    assert err.value.code == "invalid_field"


def test_note_edges_follow_session_tempo_exactly() -> None:
    # At 100 bpm a beat is 0.6 s; E on the second beat is [0.6 s, 1.2 s), C on the fourth
    # [1.8 s, 2.4 s), and the bar (2.4 s) loops.
    melody = notes((64, 1, 1), (60, 3, 1))
    track = pitch_track(melody, 100, 40)
    expected = []
    for t in range(40):
        at = frame_seconds(t) % Fraction(12, 5)
        expected.append(64 if Fraction(3, 5) <= at < Fraction(6, 5) else
                        60 if Fraction(9, 5) <= at else -1)
    assert track.tolist() == expected
    assert expected.count(64) == 10 and track[19] == -1 and track[24] == 64  # 2.432 s, 3.072 s


def test_overlapping_and_rest_frames() -> None:
    melody = notes((62, 0, 2), (62, 1, 2), (65, 4, 1))
    track = pitch_track(melody, 120, 31).tolist()
    # beats 0-3 sound D, beat 3-4 is a rest, 4-5 F, rest to the bar end at beat 8
    for t, pitch in enumerate(track):
        beat = frame_seconds(t) * 2
        assert pitch == (62 if beat < 3 else 65 if 4 <= beat < 5 else -1)
    chroma = chroma_for_window(melody, 120, 31)
    assert chroma[track.index(-1)].tolist() == [1.0] + [0.0] * 11  # a rest is C, as silence


# --- alignment: repeat, cut, loop length ----------------------------------------------------

def test_short_melody_repeats_every_bar() -> None:
    melody = notes((64, 0, 1))  # one bar of 4/4 with E on beat 1 -> loops every 4 beats
    got = chroma_for_window(melody, 120, CHROMA_LENGTH).argmax(-1).tolist()
    # frame t is at 32t/125 beats; in the loop when (32t mod 500) < 125
    expected = [4 if (32 * t) % 500 < 125 else 0 for t in range(CHROMA_LENGTH)]
    assert len(got) == CHROMA_LENGTH and got == expected
    assert got.count(4) == sum(1 for t in range(235) if (32 * t) % 500 < 125)


def test_loop_length_rounds_up_to_whole_bars() -> None:
    phrase = notes((60, 0, 1.5), (67, 2, 1.5))  # ends at 3.5 beats
    assert loop_length_beats(phrase, 4) == 4
    assert loop_length_beats(phrase, 3) == 6
    assert loop_length_beats(phrase, Fraction(7, 2)) == Fraction(7, 2)
    assert loop_length_beats(notes((60, 0, 4.5)), 4) == 8
    track_44 = pitch_track(phrase, 120, 60, beats_per_bar=4).tolist()
    track_34 = pitch_track(phrase, 120, 60, beats_per_bar=3).tolist()
    for t in range(60):
        beat = frame_seconds(t) * 2
        for loop, track in ((4, track_44), (6, track_34)):
            phase = beat % loop
            assert track[t] == (60 if phase < Fraction(3, 2) else
                                67 if 2 <= phase < Fraction(7, 2) else -1)


def test_clip_length_sets_loop() -> None:
    melody = melody_from_notes([{"pitch": 69, "start_beats": 10, "duration_beats": 1,
                                 "velocity": 90}], clip_start_beats=10, clip_length_beats=2)
    assert melody.length_beats == 2
    track = pitch_track(melody, 60, 50).tolist()  # 1 beat per second
    assert track == [69 if frame_seconds(t) % 2 < 1 else -1 for t in range(50)]


def test_long_melody_is_cut() -> None:
    long_line = notes(*[(48 + (i % 24), i, 1) for i in range(64)])  # 16 bars
    full = chroma_for_window(long_line, 120, CHROMA_LENGTH)
    short = chroma_for_window(long_line, 120, 10)
    assert full.shape == (235, 12) and short.shape == (10, 12)
    assert torch.equal(full[:10], short)
    # 235 frames at 120 bpm reach beat 60.16 of 64: no repeat inside the window
    assert full.argmax(-1).tolist() == [(48 + int(Fraction(32 * t, 125))) % 12 for t in range(235)]


def test_offset_beats_starts_inside_the_loop() -> None:
    melody = notes((60, 0, 1), (62, 1, 1), (64, 2, 1), (65, 3, 1))
    plain = chroma_for_window(melody, 120, 80)
    shifted = chroma_for_window(melody, 120, 40, offset_beats=8)  # 8 beats = 31.25 frames
    expected = [[0, 2, 4, 5][int((8 + Fraction(32 * t, 125)) % 4)] for t in range(40)]
    assert shifted.argmax(-1).tolist() == expected
    assert torch.equal(chroma_for_window(melody, 120, 40, offset_beats=4), plain[:40])
    assert not torch.equal(chroma_for_window(melody, 120, 40, offset_beats=1), plain[:40])


def test_audio_melody_repeats_and_cuts() -> None:
    frames = 8  # 32000 samples -> 1 + 32000 // 4096 frames
    chroma = torch.zeros(frames, 12)
    chroma[torch.arange(frames), torch.arange(frames)] = 1  # frame i -> bin i, to trace it
    melody = AudioMelody(chroma=chroma, num_samples=SR)
    got = chroma_for_window(melody, 120, 30).argmax(-1).tolist()
    expected = [min(math.floor(Fraction((t * HOP) % SR, HOP) + Fraction(1, 2)), frames - 1)
                for t in range(30)]
    assert got == expected
    assert got[:8] == list(range(8)) and got[8] == 0  # 32768 % 32000 = 768 samples -> frame 0
    assert torch.equal(chroma_for_window(melody, 120, 5), chroma[:5])


def test_window_validation() -> None:
    melody = notes((60, 0, 1))
    for kwargs in ({"bpm": 0, "num_frames": 10}, {"bpm": float("nan"), "num_frames": 10},
                   {"bpm": 120, "num_frames": 0}, {"bpm": 120, "num_frames": 2.5},
                   {"bpm": 120, "num_frames": 10, "beats_per_bar": -1}):
        with pytest.raises(EngineError) as err:
            chroma_for_window(melody, **kwargs)
        assert err.value.code == "invalid_field"
