"""Exact bar/beat/second/sample conversion under time signatures and tempo maps."""

import math
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from musicgen_bridge.engine.errors import EngineError
from musicgen_bridge.engine.timing.timeline import (
    Grid,
    TempoMap,
    TimeSignature,
    bar_to_beat,
    beat_to_bar,
    position_to_beat,
    span_frames,
)


def rounded(seconds: Fraction, rate: int) -> int:
    """Independent reference: nearest sample, halves up."""
    return math.floor(seconds * rate + Fraction(1, 2))


# Hand-worked lengths of ONE bar (quarter-note tempo, as DAWs report it):
#   3/4 and 6/8 hold 3 quarters: 3 * 60 / 93.5 s = 360/187 s
#       48 kHz: 17280000/187 = 92406.42 -> 92406;  44.1 kHz: 15876000/187 = 84898.40 -> 84898
#   7/8 holds 3.5 quarters: 210/93.5 s = 420/187 s
#       48 kHz: 20160000/187 = 107807.49 -> 107807; 44.1 kHz: 18522000/187 = 99048.13 -> 99048
#   5/4 at 137.25 bpm: 300/137.25 s = 400/183 s
#       44.1 kHz: 17640000/183 = 96393.44 -> 96393;  96 kHz: 38400000/183 = 209836.07 -> 209836
@pytest.mark.parametrize("ts, bpm, rate, frames", [
    ("3/4", 93.5, 48000, 92406), ("3/4", 93.5, 44100, 84898),
    ("6/8", 93.5, 48000, 92406), ("6/8", 93.5, 44100, 84898),
    ("7/8", 93.5, 48000, 107807), ("7/8", 93.5, 44100, 99048),
    ("5/4", 137.25, 44100, 96393), ("5/4", 137.25, 96000, 209836),
    ("4/4", 120, 48000, 96000),
])
def test_one_bar_exact_length(ts, bpm, rate, frames):
    grid = Grid.constant(ts, bpm)
    assert grid.span_frames(0, 1, rate) == frames
    assert span_frames(1, TimeSignature.parse(ts), grid.bpm_at_bar(0), rate) == frames


def test_bpm_from_float_is_exact():
    assert Grid.constant("7/8", 93.5).bpm_at_bar(3) == Fraction(187, 2)


@pytest.mark.parametrize("ts, bpm, rate", [
    ("3/4", "93.5", 48000), ("6/8", "93.5", 44100), ("7/8", "93.5", 44100),
    ("5/4", "137.25", 48000), ("4/4", "121.7", 44100), ("7/8", "173.3", 96000),
])
def test_no_drift_over_1000_bars(ts, bpm, rate):
    grid = Grid.constant(ts, bpm)
    q = TimeSignature.parse(ts).quarters_per_bar
    tempo = Fraction(bpm)
    one_bar_spans = [grid.span_frames(b, 1, rate) for b in range(1000)]
    assert sum(one_bar_spans) == grid.span_frames(0, 1000, rate)
    offsets = grid.bar_offsets(0, 1000, rate)
    for b in range(1001):
        assert offsets[b] == rounded(b * q * 60 / tempo, rate)
    # the 1000-bar total, worked independently
    assert offsets[-1] == rounded(1000 * q * 60 / tempo, rate)
    # a window that starts mid-song tiles with its neighbours too
    assert grid.span_frames(0, 500, rate) + grid.span_frames(500, 500, rate) == offsets[-1]


def test_bar_beat_conversions():
    assert bar_to_beat(2, TimeSignature(7, 8)) == 7
    assert bar_to_beat(Fraction(1, 2), TimeSignature(6, 8)) == Fraction(3, 2)
    assert beat_to_bar(10, TimeSignature(5, 4)) == 2
    assert beat_to_bar(Fraction(7, 2), TimeSignature(7, 8)) == 1
    assert position_to_beat(3, Fraction(5, 2), TimeSignature(3, 4)) == Fraction(23, 2)
    with pytest.raises(EngineError) as err:
        position_to_beat(3, Fraction(7, 2), TimeSignature(3, 4))
    assert err.value.code == "invalid_field"


def test_tempo_map_bar_spans():
    # 3/4: bars 0-1 (beats 0..6) at 120 bpm = 3 s; bars 2.. at 93.5 bpm = 360/187 s each
    grid = Grid(TimeSignature(3, 4), TempoMap([(0, 120), (6, 93.5)]))
    assert grid.bar_seconds(2) == 3
    assert grid.bar_seconds(5) == 3 + 3 * Fraction(360, 187)
    assert grid.span_frames(0, 2, 48000) == 144000
    assert grid.span_frames(2, 1, 48000) == 92406
    assert grid.bpm_at_bar(1) == 120 and grid.bpm_at_bar(2) == Fraction(187, 2)
    # a change in the middle of a bar: 4/4, 120 -> 60 at beat 2: bar 0 = 1 s + 2 s
    mid = Grid(TimeSignature(4, 4), TempoMap([(0, 120), (2, 60)]))
    assert mid.bar_seconds(1) == 3
    # 1.5 s = 2 beats at 120 (1 s) + 0.5 beat at 60 (0.5 s) = 2.5 beats = 5/8 bar
    assert mid.bar_at_seconds(Fraction(3, 2)) == Fraction(5, 8)


def test_tempo_map_no_drift_over_1000_bars():
    grid = Grid(TimeSignature(7, 8), TempoMap([(0, 93.5), (70, 141.25), (700, 77.7)]))
    spans = [grid.span_frames(b, 1, 44100) for b in range(1000)]
    assert sum(spans) == grid.span_frames(0, 1000, 44100)
    # boundary 1000 worked independently: 20 bars (70 beats) at 93.5, then 630 beats at 141.25,
    # then 3500 - 700 = 2800 beats at 77.7
    seconds = Fraction(70 * 60) / Fraction("93.5") + Fraction(630 * 60) / Fraction("141.25") \
        + Fraction(2800 * 60) / Fraction("77.7")
    assert grid.bar_frame(1000, 44100) == rounded(seconds, 44100)


@settings(max_examples=200, deadline=None)
@given(beat=st.fractions(min_value=0, max_value=5000, max_denominator=96))
def test_beat_at_seconds_inverts_seconds_at(beat):
    tm = TempoMap([(0, 93.5), (16, 140), (64, 77.7), (100, 200)])
    assert tm.beat_at_seconds(tm.seconds_at(beat)) == beat


def test_tempo_map_rejects_bad_input():
    with pytest.raises(EngineError):
        TempoMap([(4, 120)])
    with pytest.raises(EngineError):
        TempoMap([(0, 120), (0, 100)])
    with pytest.raises(EngineError):
        TempoMap([(0, 120)]).beat_at_seconds(-1)
    with pytest.raises(EngineError):
        Grid.constant("4/4", 500)
