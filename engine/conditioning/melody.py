"""The melody a request conditions on, in one internal form.

A melody comes from a DAW note list, a MIDI file or an audio file. Note sources become a
:class:`Melody` (notes in quarter-note beats, beat 0 = the start of the clip or range), which
follows the session tempo. Audio becomes an :class:`AudioMelody` whose chroma is computed once
at load time and plays at the audio's own speed. Both are resolved into a one-hot chroma
``FloatTensor[frames, 12]`` by :func:`engine.conditioning.align.chroma_for_window`.

>>> melody = melody_from_notes([{"pitch": 60, "start_beats": 0, "duration_beats": 1,
...                              "velocity": 100, "muted": False}])
>>> melody.notes[0].pitch, melody.end_beats
(60, Fraction(1, 1))
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import torch

from .. import limits
from ..errors import EngineError

#: The reference chroma recipe (MusicGen-Melody): 32 kHz mono, n_fft 16384, hop 4096, 12 bins.
CHROMA_SAMPLE_RATE = 32000
CHROMA_N_FFT = 16384
CHROMA_HOP = 4096
NUM_CHROMA = 12
#: Chroma frames per second, exactly 7.8125.
CHROMA_FRAME_RATE = Fraction(CHROMA_SAMPLE_RATE, CHROMA_HOP)
#: Frames the model was trained on (30 s); it repeats shorter chroma and cuts longer.
CHROMA_LENGTH = 235

#: Most notes one melody may carry (a safety limit for client-sent lists and MIDI files).
MAX_NOTES = limits.MAX_MELODY_NOTES
#: Floats (beats, bpm) are read as the nearest fraction with at most this denominator, so
#: triplets sent as 0.3333333 stay exactly 1/3 while 0.25 stays 1/4.
MAX_DENOMINATOR = 100_000


@dataclass(frozen=True)
class Note:
    """One note: MIDI pitch, position and length in quarter-note beats, velocity 1-127."""

    pitch: int
    start_beats: Fraction
    duration_beats: Fraction
    velocity: int

    @property
    def end_beats(self) -> Fraction:
        return self.start_beats + self.duration_beats


@dataclass(frozen=True)
class Melody:
    """Notes sorted by start; beat 0 is bar 1 of the request.

    ``length_beats`` is the loop length when the melody repeats; ``None`` means "the notes'
    end rounded up to whole bars" (decided at alignment, where the time signature is known).
    """

    notes: tuple[Note, ...]
    length_beats: Fraction | None = None

    @property
    def end_beats(self) -> Fraction:
        return max((n.end_beats for n in self.notes), default=Fraction(0))


@dataclass(frozen=True)
class AudioMelody:
    """Chroma of an audio melody at the model frame rate, computed directly from the audio.

    ``chroma`` is one-hot ``float32[frames, 12]`` for the 32 kHz mono signal of
    ``num_samples`` samples; frame ``t`` is centred on sample ``t * CHROMA_HOP``.
    """

    chroma: torch.Tensor
    num_samples: int


#: What a request's melody resolves to before alignment.
MelodySource = Melody | AudioMelody


def to_fraction(value: Any, field: str, *, minimum: Fraction | None = None,
                exclusive_min: bool = False) -> Fraction:
    """Read a finite JSON number as a Fraction (floats via the nearest small-denominator one).

    >>> to_fraction(0.3333333333, "x")
    Fraction(1, 3)
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, Fraction)):
        raise EngineError("invalid_field", f"{field} must be a number, got {type(value).__name__}",
                          field=field)
    if isinstance(value, float) and not math.isfinite(value):
        raise EngineError("invalid_field", f"{field} must be finite, got {value}", field=field)
    frac = Fraction(value).limit_denominator(MAX_DENOMINATOR) if isinstance(value, float) \
        else Fraction(value)
    if minimum is not None and (frac <= minimum if exclusive_min else frac < minimum):
        relation = "greater than" if exclusive_min else "at least"
        raise EngineError("invalid_field", f"{field} must be {relation} {minimum}, got {value}",
                          field=field)
    return frac


def _int_in_range(value: Any, field: str, low: int, high: int) -> int:
    # JSON from Max/JS may carry 60.0 for 60; accept integral floats, nothing else.
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise EngineError("invalid_field",
                          f"{field} must be an integer {low}-{high}, got {value!r}", field=field)
    return value


def _velocity(value: Any, field: str) -> int:
    # Live 11+ sends float velocities; keep the nearest integer, 0 means a silent note.
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value) or not 0 <= value <= 127:
        raise EngineError("invalid_field", f"{field} must be a number 0-127, got {value!r}",
                          field=field)
    return round(value)


def clip_notes(notes: Sequence[Note], start: Fraction, end: Fraction | None) -> list[Note]:
    """Notes sounding in [start, end), cut to that range and shifted so ``start`` is beat 0."""
    out = []
    for note in notes:
        lo = max(note.start_beats, start)
        hi = note.end_beats if end is None else min(note.end_beats, end)
        if hi > lo:
            out.append(Note(note.pitch, lo - start, hi - lo, note.velocity))
    out.sort(key=lambda n: (n.start_beats, n.pitch))
    return out


def melody_from_notes(notes: Sequence[Mapping[str, Any]], clip_start_beats: Any = 0,
                      clip_length_beats: Any = None) -> Melody:
    """Build a Melody from a DAW script's note list.

    Each note is ``{pitch, start_beats, duration_beats, velocity, muted}`` (``muted`` optional,
    muted notes are dropped, as are velocity-0 notes). Positions are in quarter-note beats on
    the same axis as ``clip_start_beats``, which becomes beat 0; notes straddling the clip start
    (or end, when ``clip_length_beats`` is given) are cut there. A given clip length is the
    loop length. Bad types or ranges raise ``EngineError("invalid_field")``; an empty result
    raises ``EngineError("bad_midi")``.

    >>> m = melody_from_notes([{"pitch": 62, "start_beats": 8.5, "duration_beats": 0.5,
    ...                         "velocity": 90}], clip_start_beats=8)
    >>> m.notes[0].start_beats
    Fraction(1, 2)
    """
    if not isinstance(notes, (list, tuple)):
        raise EngineError("invalid_field", "notes must be a list of note objects", field="notes")
    if len(notes) > MAX_NOTES:
        raise EngineError("too_large", f"notes has {len(notes)} entries; at most {MAX_NOTES} "
                          "are allowed", field="notes")
    start = to_fraction(clip_start_beats, "clip_start_beats")
    length = None if clip_length_beats is None else to_fraction(
        clip_length_beats, "clip_length_beats", minimum=Fraction(0), exclusive_min=True)
    parsed: list[Note] = []
    for i, raw in enumerate(notes):
        where = f"notes[{i}]"
        if not isinstance(raw, Mapping):
            raise EngineError("invalid_field", f"{where} must be an object", field=where)
        for key in ("pitch", "start_beats", "duration_beats", "velocity"):
            if key not in raw:
                raise EngineError("missing_field", f"{where}.{key} is required",
                                  field=f"{where}.{key}")
        muted = raw.get("muted", False)
        if muted not in (True, False, 0, 1):  # Max/JS may send 0/1 for booleans
            raise EngineError("invalid_field", f"{where}.muted must be true or false, "
                              f"got {muted!r}", field=f"{where}.muted")
        note = Note(
            pitch=_int_in_range(raw["pitch"], f"{where}.pitch", 0, 127),
            start_beats=to_fraction(raw["start_beats"], f"{where}.start_beats"),
            duration_beats=to_fraction(raw["duration_beats"], f"{where}.duration_beats",
                                       minimum=Fraction(0), exclusive_min=True),
            velocity=_velocity(raw["velocity"], f"{where}.velocity"),
        )
        if not muted and note.velocity > 0:
            parsed.append(note)
    kept = clip_notes(parsed, start, None if length is None else start + length)
    if not kept:
        raise EngineError("bad_midi", "the note list has no unmuted notes after the clip start; "
                          "select a clip with notes", field="notes")
    return Melody(tuple(kept), length)
