"""Models with a fixed trained window (MAGNeT): which requests fit, and the refusal that names the maximum.

MAGNeT fills its whole trained window (10 s or 30 s) in one generation and cannot continue audio,
so every clip is cut from one window: the clip's bars at the session tempo are the window's first
seconds, trimmed to the exact span by the render step. With non-overlapping spans the window's
tail that is not a whole span is dropped (500 frames -> 498), and a clip keeps the same two-frame
margin every generation keeps (``generate_job.model_frames_for``), so a 10 s MAGNeT holds 9.92 s.
A longer request is refused with ``too_large``, naming the most bars that fit at its tempo; the
engine checks this when the request arrives (an error reply, not a failed job).

>>> from fractions import Fraction
>>> from musicgen_bridge.engine.timing.timeline import TimeSignature
>>> usable_seconds(10, "nonoverlap")
Fraction(248, 25)
>>> max_bars(usable_seconds(10, "nonoverlap"), TimeSignature(4, 4), Fraction(120))
4
>>> check_fits("facebook/magnet-small-10secs", 10, "nonoverlap", Fraction(12), TimeSignature(4, 4),
...            Fraction(120), bars=6)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
musicgen_bridge.engine.errors.EngineError: too_large: facebook/magnet-small-10secs generates one ... at most 4 bars ...
"""

from __future__ import annotations

import math
from fractions import Fraction

from ..errors import EngineError
from ..generation.magnet import MagnetParams, output_frames
from ..generation.magnet_options import check_for_model
from ..models.specs import ModelSpec
from ..request import GenerateRequest
from ..timing.timeline import TimeSignature, bars_to_seconds

#: every published MAGNeT (and tiny-magnet): EnCodec at 50 frames/s, spans of 3 frames
FRAME_RATE = 50
SPAN_LEN = 3
#: frames a generation makes beyond the clip (generate_job.model_frames_for)
MARGIN_FRAMES = 2
#: codebooks of every MAGNeT (one decoding_steps entry each)
CODEBOOKS = 4


def usable_seconds(window_s: int, span_arrangement: str, frame_rate: int = FRAME_RATE,
                   span_len: int = SPAN_LEN) -> Fraction:
    """The longest clip one window gives, exactly."""
    frames = output_frames(window_s * frame_rate, span_len, MagnetParams(span_arrangement=span_arrangement))
    return Fraction(frames - MARGIN_FRAMES, frame_rate)


def max_bars(seconds: Fraction, ts: TimeSignature, bpm: Fraction) -> int:
    """Whole bars of ``ts`` at ``bpm`` that fit in ``seconds``."""
    return math.floor(seconds / bars_to_seconds(1, ts, bpm))


def check_fits(model: str, window_s: int, span_arrangement: str, duration: Fraction, ts: TimeSignature,
               bpm: Fraction, bars: int | None, field: str | None = None, frame_rate: int = FRAME_RATE,
               span_len: int = SPAN_LEN) -> None:
    """Refuse (``too_large``) a clip of ``duration`` seconds that one window cannot hold.

    ``bars`` is the request's length in bars (None: it asked in seconds); ``field`` names the
    request field to blame (default ``bars`` or ``seconds``).
    """
    usable = usable_seconds(window_s, span_arrangement, frame_rate, span_len)
    if duration <= usable:
        return
    most = max_bars(usable, ts, bpm)
    asked = f"{bars} bars of {ts} at {float(bpm):g} bpm ({float(duration):.2f} s)" if bars is not None \
        else f"{float(duration):.2f} s"
    fits = f"at most {most} bar{'s' if most != 1 else ''} fit at this tempo" if most else \
        "not even one bar fits at this tempo"
    raise EngineError("too_large", f"{model} generates one {window_s} s window ({float(usable):.2f} s usable) and "
                      f"cannot continue it; {asked} is longer: {fits}. Ask for less, or use a MusicGen model "
                      f"for longer clips", field=field or ("bars" if bars is not None else "seconds"),
                      max_bars=most, max_seconds=float(usable))


def check_request(spec: ModelSpec, req: GenerateRequest, kind: str = "generate") -> None:
    """What the engine refuses when a request for a fixed-window model arrives (nothing for others):
    ``continue`` (``unsupported``), ``decoding_steps`` of the wrong length, a clip longer than the window."""
    if spec.window_s is None:
        return
    if kind == "continue":
        raise EngineError("unsupported", f"{spec.name} fills a whole window at once and cannot continue audio; "
                          f"use a MusicGen model to continue", model=spec.name)
    params = req.sampling.magnet or MagnetParams()
    check_for_model(params, spec.name, CODEBOOKS)
    check_fits(spec.name, spec.window_s, params.span_arrangement, req.duration, req.time_signature, req.bpm,
               req.bars)


def check_live(spec: ModelSpec, req: GenerateRequest, seed_audio: bool) -> None:
    """``live_start`` with a fixed-window model: each window must fit (``window_bars``), no seed audio."""
    if spec.window_s is None:
        return
    if seed_audio:
        raise EngineError("unsupported", f"{spec.name} cannot continue audio, so a live session with it takes no "
                          f"seed_audio", field="seed_audio")
    params = req.sampling.magnet or MagnetParams()
    check_for_model(params, spec.name, CODEBOOKS)
    check_fits(spec.name, spec.window_s, params.span_arrangement, req.duration, req.time_signature, req.bpm,
               req.bars, field="window_bars")
