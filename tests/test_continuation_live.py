"""LiveScheduler against a simulated DAW transport and a simulated generator."""

import itertools
from fractions import Fraction

import pytest

from musicgen_bridge.engine.errors import EngineError
from musicgen_bridge.engine.live.schedule import LiveScheduler, LiveWindow
from musicgen_bridge.engine.timing.timeline import TimeSignature


def simulate(sched: LiveScheduler, seconds: float, gen_seconds_per_bar: float, tempo_at=None, dt=Fraction(1, 20),
             start_playing_at: float = 0.0):
    """Advance a transport in dt steps; a window takes gen_seconds_per_bar * bars to generate.

    Returns (windows in completion order, underrun events). ``tempo_at(t)`` gives the DAW tempo.
    """
    t, beat = Fraction(0), Fraction(sched.start_bar) * sched.ts.quarters_per_bar
    busy_until, current = None, None
    events = []
    while t < seconds:
        bpm = Fraction(tempo_at(t)) if tempo_at else sched.bpm
        playing = t >= start_playing_at
        ev = sched.transport(beat, bpm, playing)
        if ev is not None:
            events.append(ev)
        if current is not None and t >= busy_until:
            sched.window_done(current)
            current = None
        if current is None:
            current = sched.next_window()
            if current is not None:
                busy_until = t + Fraction(gen_seconds_per_bar) * current.bars
        if playing:
            beat += bpm / 60 * dt
        t += dt
    return sched.done, events


def test_windows_tile_and_stay_ahead_without_underrun():
    sched = LiveScheduler(window_bars=4, context_bars=4, ahead_bars=8, start_bar=16, ts=TimeSignature(4, 4), bpm=120)
    done, events = simulate(sched, 60, gen_seconds_per_bar=0.5, start_playing_at=3)
    assert events == [] and sched.underruns == []
    assert [w.start_bar for w in done] == list(range(16, 16 + 4 * len(done), 4))  # no gap, no overlap
    assert all(w.bars == 4 and not w.after_gap for w in done)
    assert done[0].context_bars == 0 and all(w.context_bars == 4 for w in done[1:])
    assert 0 < sched.ahead <= 8 + 4
    # 57 s of playing at 120 bpm = 28.5 bars: generation kept up to at least there
    assert sched.generated_until >= 16 + 28


def test_no_generation_beyond_ahead_before_play():
    sched = LiveScheduler(window_bars=2, context_bars=2, ahead_bars=6, start_bar=0, ts=TimeSignature(3, 4), bpm=90)
    done, _ = simulate(sched, 10, gen_seconds_per_bar=0.1, start_playing_at=100)
    assert [w.start_bar for w in done] == [0, 2, 4]
    assert sched.next_window() is None and sched.in_flight is None


def test_tempo_change_applies_from_the_next_window():
    sched = LiveScheduler(window_bars=4, context_bars=4, ahead_bars=8, start_bar=0, ts=TimeSignature(7, 8), bpm=120)
    first = sched.next_window()
    assert first.bpm == 120
    sched.transport(0, 93.5, True)  # tempo changes while the first window is in flight
    sched.window_done(first)
    assert first.bpm == 120  # the window in flight kept its tempo
    second = sched.next_window()
    assert second.bpm == Fraction(187, 2) and second.start_bar == first.end_bar


def test_playing_before_anything_is_generated_is_an_underrun():
    sched = LiveScheduler(window_bars=2, context_bars=2, ahead_bars=4, start_bar=8, ts=TimeSignature(4, 4), bpm=120)
    ev = sched.transport(beat=32, bpm=120, playing=True)
    assert ev is not None and ev.generated_until == 8 and ev.resume_bar == 10
    assert sched.next_window().start_bar == 10


def test_underrun_is_detected_once_and_generation_skips_ahead():
    sched = LiveScheduler(window_bars=4, context_bars=4, ahead_bars=4, start_bar=0, ts=TimeSignature(4, 4), bpm=120)
    # generating a bar takes 3 s, playing one takes 2 s: the playhead must catch up
    done, events = simulate(sched, 60, gen_seconds_per_bar=3.0, start_playing_at=13)
    assert len(events) >= 1
    first = events[0]
    assert first.playhead_bar >= first.generated_until
    later = [w for w in done if w.after_gap]
    assert later, "generation must resume after the gap"
    gap_window = later[0]
    assert gap_window.start_bar > first.generated_until  # bars were skipped, not generated late
    prev = done[done.index(gap_window) - 1]
    assert gap_window.start_bar > prev.end_bar
    # outside gaps the windows still tile
    for a, b in itertools.pairwise(done):
        assert b.start_bar == a.end_bar or b.after_gap


def test_underrun_direct():
    sched = LiveScheduler(window_bars=2, context_bars=1, ahead_bars=2, start_bar=4, ts=TimeSignature(4, 4), bpm=100,
                          resume_margin_bars=1)
    w = sched.next_window()
    sched.window_done(w)  # audio for bars 4..5
    assert sched.transport(beat=4 * 4 + 3, bpm=100, playing=True) is None  # bar 4.75
    ev = sched.transport(beat=6 * 4 + 2, bpm=100, playing=True)  # bar 6.5, audio ends at 6
    assert ev is not None and ev.generated_until == 6 and ev.resume_bar == 8  # floor(6.5) + 1 + margin 1
    assert sched.transport(beat=6 * 4 + 3, bpm=100, playing=True) is None  # reported once
    nxt = sched.next_window()
    assert nxt.start_bar == 8 and nxt.after_gap and nxt.context_bars == 1
    assert sched.seconds_until(8) == Fraction(5, 4) * 4 * 60 / 100  # 1.25 bars of 4/4 at 100 bpm


def test_completion_bookkeeping_and_validation():
    sched = LiveScheduler(window_bars=2, context_bars=2, ahead_bars=4, start_bar=0, ts=TimeSignature(4, 4), bpm=120)
    w = sched.next_window()
    assert sched.next_window() is None  # one in flight at a time
    with pytest.raises(ValueError):
        sched.window_done(LiveWindow(5, 0, 2, Fraction(120), 0, False))
    sched.window_failed(w)
    again = sched.next_window()
    assert again.start_bar == 0 and again.index == 1
    with pytest.raises(EngineError):
        LiveScheduler(window_bars=0, context_bars=2, ahead_bars=4, start_bar=0, ts=TimeSignature(4, 4), bpm=120)
    with pytest.raises(EngineError):
        sched.transport(beat=-1, bpm=120, playing=True)
    with pytest.raises(EngineError):
        sched.transport(beat=0, bpm=0, playing=True)
