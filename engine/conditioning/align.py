"""Align a melody to a request's window as the model's one-hot chroma, ``float32[frames, 12]``.

Frame ``t`` of the window is centred at ``t * 4096 / 32000`` s after bar 1 of the request
(frame centres, as the reference's centred STFT puts them). Note melodies are read there
directly, no audio is synthesised: the note sounding at that beat (``start <= beat < end``)
gives the frame's pitch class; with several, the highest (default), lowest or loudest wins.
Notes follow the session tempo exactly (Fraction arithmetic throughout). A frame with no
note gets pitch class 0 (C), as silence does in the reference and as the model's own
"no melody" input.

A melody shorter than the window repeats, a longer one is cut. Notes loop every
``length_beats`` when the melody carries one (a clip length or MIDI range), otherwise every
"notes' end rounded up to whole bars": a 3.5-beat phrase in 4/4 loops each bar, so the
repeats stay on the bar grid. Audio melodies loop at their own length in samples.

>>> from musicgen_bridge.engine.conditioning.melody import melody_from_notes
>>> line = melody_from_notes([{"pitch": 64, "start_beats": 0, "duration_beats": 2,
...                            "velocity": 100}])
>>> chroma_for_window(line, bpm=120, num_frames=16).argmax(-1).tolist()
[4, 4, 4, 4, 4, 4, 4, 4, 0, 0, 0, 0, 0, 0, 0, 0]
"""

from __future__ import annotations

import heapq
import math
from collections import Counter
from fractions import Fraction
from typing import Any, Literal

import numpy as np
import torch

from ..errors import EngineError
from .melody import (
    CHROMA_FRAME_RATE,
    CHROMA_HOP,
    CHROMA_SAMPLE_RATE,
    NUM_CHROMA,
    AudioMelody,
    Melody,
    MelodySource,
    to_fraction,
)

Mode = Literal["highest", "lowest", "loudest"]
MODES: tuple[str, ...] = ("highest", "lowest", "loudest")
#: Longest window, in chroma frames (about 21 minutes); the model uses 235.
MAX_FRAMES = 10_000
MAX_BPM = 1000


def _check_bpm(bpm: Any) -> Fraction:
    value = to_fraction(bpm, "bpm", minimum=Fraction(0), exclusive_min=True)
    if value > MAX_BPM:
        raise EngineError("invalid_field", f"bpm must be at most {MAX_BPM}, got {bpm}",
                          field="bpm")
    return value


def _check_frames(num_frames: Any) -> int:
    if isinstance(num_frames, bool) or not isinstance(num_frames, int) \
            or not 1 <= num_frames <= MAX_FRAMES:
        raise EngineError("invalid_field", f"num_frames must be an integer 1-{MAX_FRAMES}, "
                          f"got {num_frames!r}", field="num_frames")
    return num_frames


def beats_per_frame(bpm: Any) -> Fraction:
    """Beats between chroma frames at ``bpm``; 0.256 at 120 bpm.

    >>> beats_per_frame(120)
    Fraction(32, 125)
    """
    return _check_bpm(bpm) / 60 / CHROMA_FRAME_RATE


def loop_length_beats(melody: Melody, beats_per_bar: Any = 4) -> Fraction:
    """The melody's loop length: its own ``length_beats``, else its end rounded up to bars.

    ``beats_per_bar`` counts quarter-note beats (4/4 -> 4, 3/4 -> 3, 6/8 -> 3, 7/8 -> 3.5).

    >>> from musicgen_bridge.engine.conditioning.melody import Melody, Note
    >>> loop_length_beats(Melody((Note(60, Fraction(0), Fraction(9, 2), 100),)), 4)
    Fraction(8, 1)
    """
    if melody.length_beats is not None:
        return melody.length_beats
    bar = to_fraction(beats_per_bar, "beats_per_bar", minimum=Fraction(0), exclusive_min=True)
    return max(1, math.ceil(melody.end_beats / bar)) * bar


def _score(pitch: int, velocity: int, mode: str) -> int:
    # One integer per note whose maximum is the winner; ties in "loudest" go to the higher pitch.
    if mode == "highest":
        return pitch
    if mode == "lowest":
        return 127 - pitch
    return velocity * 128 + pitch


def _pitch_of(score: int, mode: str) -> int:
    return {"highest": score, "lowest": 127 - score}.get(mode, score % 128)


def pitch_track(melody: Melody, bpm: Any, num_frames: int, *, beats_per_bar: Any = 4,
                mode: Mode = "highest", offset_beats: Any = 0) -> np.ndarray:
    """MIDI pitch chosen for each frame, ``int64[num_frames]``, -1 where no note sounds.

    ``offset_beats`` starts the window that many beats into the (looped) melody.
    """
    if mode not in MODES:
        raise EngineError("invalid_field", f"mode must be one of {', '.join(MODES)}, got "
                          f"{mode!r}", field="mode")
    step = beats_per_frame(bpm)
    frames = _check_frames(num_frames)
    offset = to_fraction(offset_beats, "offset_beats", minimum=Fraction(0))
    loop = loop_length_beats(melody, beats_per_bar)
    # Sweep both sorted frame phases and note edges once: O((notes + frames) log notes), exact.
    phases = sorted(((offset + t * step) % loop, t) for t in range(frames))
    starts = sorted((n.start_beats, _score(n.pitch, n.velocity, mode)) for n in melody.notes)
    ends = sorted((n.end_beats, _score(n.pitch, n.velocity, mode)) for n in melody.notes)
    active: list[int] = []  # max-heap of scores (negated), with lazy removal
    removed: Counter[int] = Counter()
    out = np.full(frames, -1, dtype=np.int64)
    i = j = 0
    for phase, t in phases:
        while i < len(starts) and starts[i][0] <= phase:
            heapq.heappush(active, -starts[i][1])
            i += 1
        while j < len(ends) and ends[j][0] <= phase:
            removed[ends[j][1]] += 1
            j += 1
        while active and removed[-active[0]]:
            removed[-active[0]] -= 1
            heapq.heappop(active)
        if active:
            out[t] = _pitch_of(-active[0], mode)
    return out


def pitch_classes_to_chroma(pitches: np.ndarray) -> torch.Tensor:
    """One-hot ``float32[frames, 12]`` of pitch ``% 12``; -1 (no note) -> bin 0, as silence."""
    classes = torch.from_numpy(np.where(pitches < 0, 0, pitches % NUM_CHROMA))
    out = torch.zeros(len(pitches), NUM_CHROMA, dtype=torch.float32)
    out.scatter_(1, classes[:, None], 1.0)
    return out


def _audio_window(melody: AudioMelody, num_frames: int, offset_samples: int) -> torch.Tensor:
    # Frame t sits at sample t*hop of the looped audio; take the source frame nearest to that.
    n, last = melody.num_samples, melody.chroma.shape[0] - 1
    pos = (offset_samples + np.arange(num_frames, dtype=np.int64) * CHROMA_HOP) % n
    index = np.minimum((2 * pos + CHROMA_HOP) // (2 * CHROMA_HOP), last)
    return melody.chroma[torch.from_numpy(index)].clone()


def chroma_for_window(melody: MelodySource, bpm: Any, num_frames: int, *,
                      beats_per_bar: Any = 4, mode: Mode = "highest",
                      offset_beats: Any = 0) -> torch.Tensor:
    """One-hot chroma ``float32[num_frames, 12]`` of ``melody`` from bar 1 of the request.

    Pass ``num_frames=CHROMA_LENGTH`` (235) for a MusicGen-Melody request: the model reads
    chroma frame ``t`` at ``t / 7.8125`` s of its output. ``mode`` applies to notes only;
    audio melodies keep their own speed (``bpm`` only converts ``offset_beats``).
    """
    frames = _check_frames(num_frames)
    if isinstance(melody, AudioMelody):
        offset = to_fraction(offset_beats, "offset_beats", minimum=Fraction(0))
        seconds = offset * 60 / _check_bpm(bpm)
        return _audio_window(melody, frames, round(seconds * CHROMA_SAMPLE_RATE))
    if isinstance(melody, Melody):
        return pitch_classes_to_chroma(pitch_track(melody, bpm, frames, beats_per_bar=beats_per_bar,
                                                   mode=mode, offset_beats=offset_beats))
    raise TypeError(f"melody must be a Melody or AudioMelody, not {type(melody).__name__}")
