"""Exact musical time: bars and beats to seconds and samples, with ``fractions.Fraction``.

Every span is computed as an exact Fraction of seconds and turned into samples once, at the
output rate, so a clip of N bars is exactly the length the DAW expects and 1000 windows laid
end to end add up to exactly the length of one 1000-bar clip (no drift).

>>> ts = TimeSignature.parse("6/8")
>>> span_frames(bars=2, time_signature=ts, bpm=Fraction(120), sample_rate=48000)
144000
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction

from ..errors import EngineError

#: Bounds that keep requests sane; the protocol documents them.
MIN_BPM = Fraction(20)
MAX_BPM = Fraction(400)
SUPPORTED_SAMPLE_RATES = (32000, 44100, 48000, 88200, 96000)


#: numbers given as integers or text are refused beyond these before any arithmetic (digits, exponent)
MAX_DIGITS = 30
MAX_EXPONENT = 99  # two exponent digits
MAX_EXACT_INT = 10**18
_NUMBER_TEXT = re.compile(rf"[+-]?(?:\d{{1,{MAX_DIGITS}}}(?:\.\d{{0,{MAX_DIGITS}}})?|\.\d{{1,{MAX_DIGITS}}})"
                          rf"(?:[eE][+-]?\d{{1,2}})?|[+-]?\d{{1,{MAX_DIGITS}}}/\d{{1,{MAX_DIGITS}}}")


def exact(value: float | str | Fraction, name: str = "value") -> Fraction:
    """A finite number as an exact Fraction; floats keep their decimal meaning (93.5 -> 187/2).

    >>> exact(93.5)
    Fraction(187, 2)
    """
    if isinstance(value, bool):
        raise EngineError("invalid_field", f"{name} must be a number, got a boolean", field=name)
    if isinstance(value, Fraction):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise EngineError("invalid_field", f"{name} must be a finite number, got {value}", field=name)
        # repr() gives the shortest decimal that round-trips, so 93.5 stays 187/2, 0.1 stays 1/10.
        return Fraction(repr(value))
    if isinstance(value, int):
        if abs(value) > MAX_EXACT_INT:
            raise EngineError("invalid_field", f"{name} is out of range", field=name)
        return Fraction(value)
    if isinstance(value, str):
        # the shape is checked before Fraction() sees it: "1e10000000" would build a 10-million-digit number
        text = value.strip()
        if len(text) > 64 or not _NUMBER_TEXT.fullmatch(text):
            raise EngineError("invalid_field", f"{name} must be a number (at most {MAX_DIGITS} digits and an "
                              f"exponent of at most {MAX_EXPONENT}), got {value[:40]!r}", field=name)
        try:
            out = Fraction(text)
        except (ValueError, ZeroDivisionError):
            raise EngineError("invalid_field", f"{name} must be a number, got {value[:40]!r}", field=name) from None
        if abs(out) > MAX_EXACT_INT:
            raise EngineError("invalid_field", f"{name} is out of range", field=name)
        return out
    raise EngineError("invalid_field", f"{name} must be a number, got {type(value).__name__}", field=name)


@dataclass(frozen=True)
class TimeSignature:
    """A time signature such as 4/4, 3/4, 6/8 or 7/8.

    A beat is one quarter note: ``quarters_per_bar`` is what tempo (quarter notes per minute, as
    every DAW reports it) multiplies. 6/8 holds 3 quarter notes, 7/8 holds 7/2.
    """

    numerator: int = 4
    denominator: int = 4

    def __post_init__(self) -> None:
        if not (isinstance(self.numerator, int) and 1 <= self.numerator <= 64):
            raise EngineError("invalid_field", f"time signature numerator must be 1..64, got {self.numerator!r}",
                              field="time_signature")
        if self.denominator not in (1, 2, 4, 8, 16, 32):
            raise EngineError("invalid_field",
                              f"time signature denominator must be 1, 2, 4, 8, 16 or 32, got {self.denominator!r}",
                              field="time_signature")

    @classmethod
    def parse(cls, text: str | Sequence[int] | TimeSignature) -> TimeSignature:
        """Parse "7/8", [7, 8] or (7, 8)."""
        if isinstance(text, TimeSignature):
            return text
        if isinstance(text, str):
            parts = text.strip().split("/")
            if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
                raise EngineError("invalid_field", f"time signature must look like 4/4, got {text!r}",
                                  field="time_signature")
            return cls(int(parts[0]), int(parts[1]))
        if isinstance(text, (list, tuple)) and len(text) == 2 and all(
                isinstance(p, int) and not isinstance(p, bool) for p in text):
            return cls(text[0], text[1])
        raise EngineError("invalid_field", f"time signature must look like 4/4, got {text!r}", field="time_signature")

    @property
    def quarters_per_bar(self) -> Fraction:
        return Fraction(self.numerator * 4, self.denominator)

    def __str__(self) -> str:
        return f"{self.numerator}/{self.denominator}"


def check_bpm(bpm: float | str | Fraction, name: str = "bpm") -> Fraction:
    """Validate a tempo in quarter notes per minute and return it exactly."""
    value = exact(bpm, name)
    if not MIN_BPM <= value <= MAX_BPM:
        raise EngineError("invalid_field", f"{name} must be between {MIN_BPM} and {MAX_BPM}, got {float(value):g}",
                          field=name)
    return value


def check_sample_rate(rate: int) -> int:
    if isinstance(rate, bool) or not isinstance(rate, int) or rate not in SUPPORTED_SAMPLE_RATES:
        raise EngineError("invalid_field",
                          f"sample_rate must be one of {', '.join(map(str, SUPPORTED_SAMPLE_RATES))}, got {rate!r}",
                          field="sample_rate")
    return rate


def beats_to_seconds(beats: Fraction | int, bpm: Fraction | int) -> Fraction:
    """Quarter-note beats at a constant tempo to exact seconds."""
    return Fraction(beats) * 60 / Fraction(bpm)


def bars_to_seconds(bars: Fraction | int, time_signature: TimeSignature, bpm: Fraction | int) -> Fraction:
    return beats_to_seconds(Fraction(bars) * time_signature.quarters_per_bar, bpm)


def seconds_to_frames(seconds: Fraction, sample_rate: int) -> int:
    """Round an exact time to the nearest sample (halves round up), the one place rounding happens."""
    return math.floor(Fraction(seconds) * sample_rate + Fraction(1, 2))


def span_frames(bars: Fraction | int, time_signature: TimeSignature, bpm: Fraction | int, sample_rate: int,
                start_bar: Fraction | int = 0) -> int:
    """Frames of the span [start_bar, start_bar + bars) at a constant tempo.

    Computed as the difference of the two rounded boundary positions, so consecutive spans tile
    exactly: the sum of the frames of bars 0..k equals the frames of one span of k bars.
    """
    start = seconds_to_frames(bars_to_seconds(start_bar, time_signature, bpm), sample_rate)
    end = seconds_to_frames(bars_to_seconds(Fraction(start_bar) + Fraction(bars), time_signature, bpm), sample_rate)
    return end - start


@dataclass(frozen=True)
class TempoMap:
    """Piecewise-constant tempo: (beat, bpm) change points, as a DAW's tempo map sends them.

    >>> tm = TempoMap([(0, 120), (8, 60)])
    >>> tm.seconds_at(10)   # 8 beats at 120 (4 s) + 2 beats at 60 (2 s)
    Fraction(6, 1)
    """

    points: tuple[tuple[Fraction, Fraction], ...]

    def __init__(self, points: Iterable[tuple[float | int | Fraction, float | int | Fraction]]) -> None:
        pts = sorted((exact(b, "tempo_map.beat"), check_bpm(t, "tempo_map.bpm")) for b, t in points)
        if not pts or pts[0][0] != 0:
            raise EngineError("invalid_field", "tempo_map must start at beat 0", field="tempo_map")
        if len({b for b, _ in pts}) != len(pts):
            raise EngineError("invalid_field", "tempo_map has two tempos at the same beat", field="tempo_map")
        object.__setattr__(self, "points", tuple(pts))

    @classmethod
    def constant(cls, bpm: float | Fraction) -> TempoMap:
        return cls([(0, bpm)])

    def bpm_at(self, beat: Fraction | int) -> Fraction:
        current = self.points[0][1]
        for b, t in self.points:
            if b <= beat:
                current = t
        return current

    def seconds_at(self, beat: Fraction | int) -> Fraction:
        """Exact seconds from beat 0 to ``beat``."""
        beat = Fraction(beat)
        if beat < 0:
            raise EngineError("invalid_field", "beat positions must not be negative", field="beat")
        total = Fraction(0)
        for i, (b, bpm) in enumerate(self.points):
            if b >= beat:
                break
            end = self.points[i + 1][0] if i + 1 < len(self.points) else beat
            total += beats_to_seconds(min(end, beat) - b, bpm)
        return total

    def frame_at(self, beat: Fraction | int, sample_rate: int) -> int:
        return seconds_to_frames(self.seconds_at(beat), sample_rate)

    def span_frames(self, start_beat: Fraction | int, beats: Fraction | int, sample_rate: int) -> int:
        return self.frame_at(Fraction(start_beat) + Fraction(beats), sample_rate) - self.frame_at(start_beat, sample_rate)

    def beat_at_seconds(self, seconds: Fraction | int) -> Fraction:
        """Exact beat reached after ``seconds`` (the inverse of :meth:`seconds_at`).

        >>> TempoMap([(0, 120), (8, 60)]).beat_at_seconds(6)
        Fraction(10, 1)
        """
        seconds = Fraction(seconds)
        if seconds < 0:
            raise EngineError("invalid_field", "time positions must not be negative", field="seconds")
        elapsed = Fraction(0)
        for i, (b, bpm) in enumerate(self.points):
            if i + 1 < len(self.points):
                seg = beats_to_seconds(self.points[i + 1][0] - b, bpm)
                if elapsed + seg <= seconds:
                    elapsed += seg
                    continue
            return b + (seconds - elapsed) * bpm / 60
        raise AssertionError("unreachable: the last segment is open-ended")


# --- bars under a time signature -------------------------------------------------------------
# Bars are counted from 0 at the session's beat 0; a beat is one quarter note (what DAWs report
# as song position). The protocol's 1-based bar numbers are converted at the edge, not here.

def bar_to_beat(bar: Fraction | int, time_signature: TimeSignature) -> Fraction:
    """Quarter-note beat where ``bar`` starts (fractional bars allowed).

    >>> bar_to_beat(2, TimeSignature(7, 8))
    Fraction(7, 1)
    """
    return Fraction(bar) * time_signature.quarters_per_bar


def beat_to_bar(beat: Fraction | int, time_signature: TimeSignature) -> Fraction:
    """Bar position (fractional) of a quarter-note beat; ``floor()`` of it is the bar index.

    >>> beat_to_bar(Fraction(9, 2), TimeSignature(6, 8))
    Fraction(3, 2)
    """
    return Fraction(beat) / time_signature.quarters_per_bar


def position_to_beat(bar: int, beat_in_bar: Fraction | int, time_signature: TimeSignature) -> Fraction:
    """(bar, quarter-note beat within the bar) to an absolute beat; the beat must lie inside the bar."""
    beat_in_bar = Fraction(beat_in_bar)
    if not 0 <= beat_in_bar < time_signature.quarters_per_bar:
        raise EngineError("invalid_field", f"beat within a {time_signature} bar must be >= 0 and below "
                          f"{time_signature.quarters_per_bar}, got {beat_in_bar}", field="beat")
    return bar_to_beat(bar, time_signature) + beat_in_bar


@dataclass(frozen=True)
class Grid:
    """The bar grid of a session: a time signature over a tempo map (or one tempo).

    Every boundary is an exact Fraction of seconds rounded once to a sample, so spans of
    consecutive bars tile exactly at any sample rate.

    >>> grid = Grid(TimeSignature(3, 4), TempoMap.constant(Fraction(187, 2)))
    >>> grid.span_frames(0, 4, 48000), grid.bar_frame(4, 48000)
    (369626, 369626)
    """

    time_signature: TimeSignature
    tempo: TempoMap

    @classmethod
    def constant(cls, time_signature: TimeSignature | str, bpm: float | str | Fraction) -> Grid:
        return cls(TimeSignature.parse(time_signature), TempoMap.constant(check_bpm(bpm)))

    def bar_seconds(self, bar: Fraction | int) -> Fraction:
        """Exact seconds from bar 0 to the (possibly fractional) bar position ``bar``."""
        return self.tempo.seconds_at(bar_to_beat(bar, self.time_signature))

    def bar_at_seconds(self, seconds: Fraction | int) -> Fraction:
        """Exact (fractional) bar position reached after ``seconds``."""
        return beat_to_bar(self.tempo.beat_at_seconds(seconds), self.time_signature)

    def bar_frame(self, bar: Fraction | int, sample_rate: int) -> int:
        """Sample index of a bar position, counted from bar 0."""
        return seconds_to_frames(self.bar_seconds(bar), sample_rate)

    def span_seconds(self, start_bar: Fraction | int, bars: Fraction | int) -> Fraction:
        return self.bar_seconds(Fraction(start_bar) + Fraction(bars)) - self.bar_seconds(start_bar)

    def span_frames(self, start_bar: Fraction | int, bars: Fraction | int, sample_rate: int) -> int:
        """Frames of [start_bar, start_bar + bars): the difference of the two rounded boundaries."""
        end = self.bar_frame(Fraction(start_bar) + Fraction(bars), sample_rate)
        return end - self.bar_frame(start_bar, sample_rate)

    def bar_offsets(self, start_bar: int, bars: int, sample_rate: int) -> list[int]:
        """Sample offsets of the bar lines start_bar..start_bar+bars inside a clip starting at start_bar.

        The first is 0 and the last is the clip's length: ``offsets[i+1] - offsets[i]`` is bar i's length.
        """
        origin = self.bar_frame(start_bar, sample_rate)
        return [self.bar_frame(start_bar + i, sample_rate) - origin for i in range(bars + 1)]

    def bpm_at_bar(self, bar: Fraction | int) -> Fraction:
        return self.tempo.bpm_at(bar_to_beat(bar, self.time_signature))
