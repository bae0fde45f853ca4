"""Live mode's scheduling core: which bars to generate next, from the DAW's transport.

Pure bookkeeping, no threads or sockets: the server feeds it transport updates and window
completions and asks it for the next window. Windows are whole bars that tile the timeline from
``start_bar`` with no gap or overlap; at most one is in flight (each one's context is the audio
before it). A tempo change reaches the next window issued, never one already generated or in
flight. When the playhead passes the end of the generated audio that is an underrun: it is
reported once, and generation resumes a margin ahead of the playhead (the gap is reported).

    sched = LiveScheduler(window_bars=4, context_bars=4, ahead_bars=8, start_bar=16, ts=TimeSignature(4, 4), bpm=120)
    win = sched.next_window()          # LiveWindow(index=0, start_bar=16, bars=4, bpm=120, ...)
    sched.window_done(win)
    sched.transport(beat=66, bpm=120, playing=True)   # playhead at bar 16.5

Bars and beats are 0-based from the session start; a beat is a quarter note (the DAW's song position).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from ..errors import EngineError
from ..timing.timeline import TimeSignature, beat_to_bar, check_bpm, exact


@dataclass(frozen=True)
class LiveWindow:
    """Bars [start_bar, start_bar + bars) to generate at ``bpm`` with ``context_bars`` bars of context."""

    index: int
    start_bar: int
    bars: int
    bpm: Fraction
    context_bars: int  # bars of previously generated audio to continue from (0: start fresh)
    after_gap: bool  # True when an underrun skipped bars: the context is the last audio made, not adjacent

    @property
    def end_bar(self) -> int:
        return self.start_bar + self.bars


@dataclass(frozen=True)
class Underrun:
    """The playhead reached ``generated_until`` before the next window was ready."""

    playhead_bar: Fraction
    generated_until: int  # first bar with no audio
    resume_bar: int  # where generation goes on; bars in between stay silent


class LiveScheduler:
    """Decides the next live window from transport updates and completions (see module doc)."""

    def __init__(self, window_bars: int, context_bars: int, ahead_bars: int, start_bar: int, ts: TimeSignature,
                 bpm: float | str | Fraction, resume_margin_bars: int = 1) -> None:
        for name, value, low in (("window_bars", window_bars, 1), ("context_bars", context_bars, 0),
                                 ("ahead_bars", ahead_bars, 1), ("start_bar", start_bar, 0),
                                 ("resume_margin_bars", resume_margin_bars, 0)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise EngineError("invalid_field", f"{name} must be an integer >= {low}, got {value!r}", field=name)
        self.window_bars = window_bars
        self.context_bars = context_bars
        self.ahead_bars = ahead_bars
        self.start_bar = start_bar
        self.ts = TimeSignature.parse(ts)
        self.bpm = check_bpm(bpm)
        self.resume_margin_bars = resume_margin_bars
        self.playhead_bar = Fraction(start_bar)
        self.playing = False
        self.generated_until = start_bar  # audio exists for [start_bar.., generated_until) except gaps
        self.generated_bars = 0  # bars of audio made so far (context available)
        self.in_flight: LiveWindow | None = None
        self.done: list[LiveWindow] = []
        self.underruns: list[Underrun] = []
        self._next_index = 0
        self._gap_pending = False
        self._in_underrun = False

    def transport(self, beat: float | str | Fraction, bpm: float | str | Fraction,
                  playing: bool) -> Underrun | None:
        """Take a transport report (song position in quarter-note beats); returns a new underrun, if any."""
        if exact(beat, "beat") < 0:
            raise EngineError("invalid_field", "beat must not be negative", field="beat")
        self.playhead_bar = beat_to_bar(exact(beat, "beat"), self.ts)
        self.bpm = check_bpm(bpm)  # used from the next window issued
        self.playing = bool(playing)
        return self._check_underrun()

    def _check_underrun(self) -> Underrun | None:
        behind = self.playing and self.playhead_bar >= self.generated_until
        if not behind:
            self._in_underrun = False
            return None
        if self._in_underrun:
            return None
        self._in_underrun = True
        until = self.generated_until
        # with a window in flight we wait for it (part of it may still be heard); else skip ahead now
        resume = until if self.in_flight is not None else self._skip()
        event = Underrun(self.playhead_bar, until, resume)
        self.underruns.append(event)
        return event

    def _skip(self) -> int:
        """Move the frontier to a bar line ahead of the playhead; the skipped bars stay empty."""
        resume = math.floor(self.playhead_bar) + 1 + self.resume_margin_bars
        if resume > self.generated_until:
            self.generated_until = resume
            self._gap_pending = True
        return resume

    @property
    def ahead(self) -> Fraction:
        """Bars of generated audio ahead of the playhead (negative while behind)."""
        return self.generated_until - self.playhead_bar

    def next_window(self) -> LiveWindow | None:
        """The window to generate now, or None (one is in flight, or enough is generated ahead)."""
        if self.in_flight is not None or self.ahead >= self.ahead_bars:
            return None
        if self.playing and self.playhead_bar >= self.generated_until:
            self._skip()  # a window starting behind the playhead would never be heard
        win = LiveWindow(index=self._next_index, start_bar=self.generated_until, bars=self.window_bars,
                         bpm=self.bpm, context_bars=min(self.context_bars, self.generated_bars),
                         after_gap=self._gap_pending)
        self._next_index += 1
        self._gap_pending = False
        self.in_flight = win
        return win

    def window_done(self, window: LiveWindow) -> None:
        """Record that ``window`` (the one in flight) is generated and placed."""
        if window != self.in_flight:
            raise ValueError(f"window {window.index} is not the one in flight")
        self.in_flight = None
        self.done.append(window)
        self.generated_until = window.end_bar
        self.generated_bars += window.bars
        self._check_underrun()

    def window_failed(self, window: LiveWindow) -> None:
        """Forget the in-flight ``window`` (error or cancel); the same bars are asked for again."""
        if window != self.in_flight:
            raise ValueError(f"window {window.index} is not the one in flight")
        self.in_flight = None

    def seconds_until(self, bar: int | Fraction) -> Fraction:
        """Seconds before the playhead reaches ``bar`` at the current tempo (negative: passed)."""
        return (Fraction(bar) - self.playhead_bar) * self.ts.quarters_per_bar * 60 / self.bpm
