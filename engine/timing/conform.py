"""Tempo conform: put generated audio on the session's bar grid.

MusicGen follows a tempo only loosely and starts wherever it likes. ``conform`` estimates the
tempo and beat phase of a clip with librosa's beat tracker (the session tempo as its prior),
time-stretches it with ``pedalboard.time_stretch`` when the estimated tempo would drift off the
grid by more than ``max_drift_s`` over the clip, moves the first downbeat onto a bar line, and
trims or pads to the exact span of the requested bars::

    out = conform(audio, 32000, grid=Grid.constant("4/4", 120), bars=4, out_rate=48000)
    out.audio.shape[1]      # 384000: exactly 4 bars of 4/4 at 120 bpm at 48 kHz

The beat tracker is compiled by numba on its first call (seconds); the engine calls
:func:`warm_up` once at start so no request pays for it.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import pedalboard

from ..render.resample import as_channels_first, resample
from .timeline import Grid, TimeSignature, check_bpm

FOUR_FOUR = TimeSignature()  # frozen: safe to share as a default

#: octave (and dotted) confusions a beat tracker makes; the estimate is moved to the nearest of these
_TEMPO_FACTORS = (Fraction(1, 2), Fraction(2, 3), Fraction(1), Fraction(3, 2), Fraction(2))
_MIN_BEATS = 4
#: beats must carry this many times the envelope's median onset strength to count as a pulse
_MIN_CLARITY = 3.0
#: ... and rise by this much (dB, averaged over mel bands): a steady tone's flux ripples by ~0.05
_MIN_STRENGTH = 0.5


@dataclass(frozen=True)
class BeatEstimate:
    """Tempo and beat grid found in a clip. Times are seconds from the clip's first sample."""

    bpm: float  # quarter notes per minute, moved to the octave nearest the prior
    phase: float  # time of the fitted grid's first beat (>= 0)
    downbeat: float  # time of the beat judged to be the first downbeat
    beats: np.ndarray  # beat times that matched an onset, refined to that onset


@dataclass
class Conformed:
    """The conformed clip and what was done to it (for the sidecar and the logs)."""

    audio: np.ndarray  # (channels, frames) float32 at ``sample_rate``, exactly the span
    sample_rate: int
    estimate: BeatEstimate | None  # None: no steady beat found, only trimmed/padded
    stretch_factor: float  # overall speed-up (stretch times the varispeed trim); 1.0: untouched
    shift_s: float  # > 0: audio moved earlier (its start cut), < 0: moved later (silence added)


def _analysis(sample_rate: int) -> tuple[int, int]:
    """(hop, n_fft): ~2 ms hops and ~32 ms windows keep onset times within a millisecond or two."""
    hop = 64 if sample_rate < 64000 else 128
    n_fft = 1024 if sample_rate < 40000 else 2048
    return hop, n_fft


def _onsets(mono: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Onset-strength envelope, peak-picked onset times (s) and the hop they were computed at."""
    import librosa

    hop, n_fft = _analysis(sample_rate)
    env = librosa.onset.onset_strength(y=mono, sr=sample_rate, hop_length=hop, n_fft=n_fft)
    onsets = librosa.onset.onset_detect(onset_envelope=env, sr=sample_rate, hop_length=hop, units="time")
    return env, np.asarray(onsets, dtype=np.float64), hop


def _attacks(mono: np.ndarray, sample_rate: int, times: np.ndarray) -> np.ndarray:
    """Each onset moved to where its attack starts: the first point, within 30 ms before its peak,
    where the 0.5 ms RMS rises a quarter of the way from the level before it to the peak.

    Spectral-flux peaks lag the attack by a few ms, and a time-stretcher's pre-echo drags
    backtracked onsets early; the attack in the waveform is what a listener hears as "on the beat".
    """
    win = max(1, int(0.0005 * sample_rate))
    power = np.concatenate([[0.0], np.cumsum(mono.astype(np.float64) ** 2)])
    rms = np.sqrt(np.maximum(power[win:] - power[:-win], 0.0) / win)  # rms[i] covers [i, i + win)
    reach, pre = int(0.030 * sample_rate), int(0.060 * sample_rate)
    out = times.copy()
    for k, t in enumerate(times):
        centre = round(t * sample_rate)
        lo, hi = max(0, centre - reach), min(rms.size, centre + reach)
        if hi - lo < 2:
            continue
        peak_at = lo + int(np.argmax(rms[lo:hi]))
        before = rms[max(0, centre - pre):lo]
        floor = float(np.percentile(before, 20)) if before.size else 0.0
        level = floor + 0.25 * (rms[peak_at] - floor)
        above = np.flatnonzero(rms[lo:peak_at + 1] >= level)
        if above.size:
            # rms[i] looks ahead by the window: credit the crossing to the window's end
            out[k] = (lo + above[0] + win - 1) / sample_rate
    return out


def _snap(times: np.ndarray, onsets: np.ndarray, reach: float) -> np.ndarray:
    """Each time moved to its nearest onset within ``reach`` seconds; NaN where there is none."""
    if onsets.size == 0:
        return np.full(times.shape, np.nan)
    idx = np.searchsorted(onsets, times)
    before = onsets[np.clip(idx - 1, 0, onsets.size - 1)]
    after = onsets[np.clip(idx, 0, onsets.size - 1)]
    best = np.where(np.abs(before - times) <= np.abs(after - times), before, after)
    return np.where(np.abs(best - times) <= reach, best, np.nan)


def _fit_grid(beats: np.ndarray, period: float) -> tuple[float, float] | None:
    """Least-squares (period, phase) of beats that may skip some grid positions; outliers dropped."""
    if beats.size < _MIN_BEATS:
        return None
    steps = np.maximum(1, np.round(np.diff(beats) / period))
    index = np.concatenate([[0.0], np.cumsum(steps)])
    keep = np.ones(beats.size, bool)
    for _ in range(2):
        if keep.sum() < _MIN_BEATS:
            return None
        slope, icept = np.polyfit(index[keep], beats[keep], 1)
        keep = np.abs(beats - (icept + slope * index)) <= period / 8
    if keep.sum() < _MIN_BEATS:
        return None
    slope, icept = np.polyfit(index[keep], beats[keep], 1)
    return float(slope), float(icept)


def _nearest_octave(bpm: float, prior: float) -> float:
    return min((bpm * float(f) for f in _TEMPO_FACTORS), key=lambda b: abs(math.log(b / prior)))


def _accent(env: np.ndarray, hop: int, sample_rate: int, t: float) -> float:
    """Onset strength just after time t (the envelope peaks a few ms into an attack)."""
    lo = max(0, int((t - 0.010) * sample_rate / hop))
    hi = min(env.size, int((t + 0.030) * sample_rate / hop) + 1)
    return float(env[lo:hi].max()) if hi > lo else 0.0


def _first_downbeat(env: np.ndarray, hop: int, sample_rate: int, phase: float, period: float,
                    quarters_per_bar: float, duration: float) -> float:
    """The grid beat in the first bar whose bar-periodic positions carry the most accent.

    Candidates are quarter-note beats only; when no candidate stands out (a flat click track,
    say) the earliest one wins.
    """
    bar = quarters_per_bar * period
    # the envelope is blind for half a window at the very start (it has no earlier frame to compare)
    blind = _analysis(sample_rate)[1] / sample_rate
    scores = []
    for j in range(max(1, math.ceil(quarters_per_bar))):
        start = phase + j * period
        points = np.arange(start, duration, bar)
        points = points[points >= blind]
        scores.append(np.mean([_accent(env, hop, sample_rate, t) for t in points]) if points.size else 0.0)
    best = max(scores)
    chosen = next(j for j, s in enumerate(scores) if s >= 0.9 * best)
    return phase + chosen * period


def estimate_beats(audio: np.ndarray, sample_rate: int, prior_bpm: float | Fraction,
                   time_signature: TimeSignature = FOUR_FOUR) -> BeatEstimate | None:
    """Estimate tempo, beat phase and first downbeat; None when no steady beat is found::

        est = estimate_beats(clicks_117bpm_80ms_late, 32000, prior_bpm=120)
        round(est.bpm, 1), round(est.phase, 3)      # (117.0, 0.08)
    """
    import librosa

    mono = as_channels_first(audio).mean(axis=0)
    if mono.size < sample_rate or not np.any(mono):
        return None
    prior = float(prior_bpm)
    env, onsets, hop = _onsets(mono, sample_rate)
    # the tempo comes from a coarse envelope (the tempogram is slow at 2 ms hops); beats from the fine one
    coarse = env[: env.size // 8 * 8].reshape(-1, 8).max(axis=1)
    tempo = float(np.atleast_1d(librosa.feature.tempo(onset_envelope=coarse, sr=sample_rate, hop_length=hop * 8,
                                                      start_bpm=prior))[0])
    if tempo <= 0:
        return None
    _, frames = librosa.beat.beat_track(onset_envelope=env, sr=sample_rate, hop_length=hop, bpm=tempo, trim=False)
    if len(frames) < _MIN_BEATS:
        return None
    period = 60.0 / tempo
    tracked = librosa.frames_to_time(frames, sr=sample_rate, hop_length=hop)
    snapped = _snap(tracked, onsets, period / 4)
    snapped = snapped[~np.isnan(snapped)]
    # a steady tone or noise still yields "onsets" (the envelope is normalised): demand a clear pulse
    strength = np.median([_accent(env, hop, sample_rate, t) for t in snapped]) if snapped.size else 0.0
    if strength < _MIN_STRENGTH or strength < _MIN_CLARITY * float(np.median(env)):
        return None
    beats = _attacks(mono, sample_rate, snapped)
    fit = _fit_grid(beats, period)
    if fit is None:
        return None
    fitted_period, first = fit
    bpm = _nearest_octave(60.0 / fitted_period, prior)
    period = 60.0 / bpm
    phase = first % period
    downbeat = _first_downbeat(env, hop, sample_rate, phase, period, float(time_signature.quarters_per_bar),
                               mono.size / sample_rate)
    return BeatEstimate(bpm=bpm, phase=phase, downbeat=downbeat, beats=beats)


def _refit(audio: np.ndarray, sample_rate: int, bpm: float, phase: float) -> tuple[float, float] | None:
    """(bpm, phase) of a clip expected near ``bpm`` with a beat near ``phase``, from its onsets."""
    mono = as_channels_first(audio).mean(axis=0)
    _, onsets, _ = _onsets(mono, sample_rate)
    period = 60.0 / bpm
    grid = np.arange(phase % period, mono.size / sample_rate, period)
    snapped = _snap(grid, onsets, period / 4)
    fit = _fit_grid(_attacks(mono, sample_rate, snapped[~np.isnan(snapped)]), period)
    if fit is None:
        return None
    fitted_period, first = fit
    return 60.0 / fitted_period, first % fitted_period


def _fade(audio: np.ndarray, n: int, at_start: bool) -> None:
    n = min(n, audio.shape[1])
    if n <= 0:
        return
    ramp = (0.5 - 0.5 * np.cos(np.pi * (np.arange(n) + 0.5) / n)).astype(np.float32)
    if at_start:
        audio[:, :n] *= ramp
    else:
        audio[:, -n:] *= ramp[::-1]


def fit_length(audio: np.ndarray, frames: int, offset: int = 0, edge_fade: int = 0) -> np.ndarray:
    """``frames`` samples of ``audio`` starting at ``offset`` (negative: silence first), zero-padded.

    Edges that cut through the audio get a raised-cosine fade of ``edge_fade`` samples so the clip
    neither starts nor ends with a click.
    """
    audio = as_channels_first(audio)
    out = np.zeros((audio.shape[0], frames), np.float32)
    src_lo, dst_lo = max(0, offset), max(0, -offset)
    n = max(0, min(audio.shape[1] - src_lo, frames - dst_lo))
    out[:, dst_lo:dst_lo + n] = audio[:, src_lo:src_lo + n]
    if edge_fade and src_lo > 0:
        _fade(out[:, dst_lo:], edge_fade, at_start=True)
    if edge_fade and src_lo + n < audio.shape[1]:
        _fade(out[:, :dst_lo + n], edge_fade, at_start=False)
    return out


def conform(audio: np.ndarray, sample_rate: int, *, grid: Grid, bars: int | Fraction, start_bar: int | Fraction = 0,
            out_rate: int | None = None, max_drift_s: float = 0.010, align: bool = True,
            edge_fade_s: float = 0.002) -> Conformed:
    """Stretch ``audio`` to the grid's tempo, put its first downbeat on the bar line at ``start_bar``
    and return exactly the frames of ``bars`` bars at ``out_rate`` (default: ``sample_rate``).

    The tempo used is the grid's tempo at ``start_bar``; a clip spanning a tempo change is only
    trimmed. Stretching happens when the estimated tempo would put the clip's last beat more than
    ``max_drift_s`` off the grid; ``align=False`` keeps the start where it is.
    """
    out_rate = out_rate or sample_rate
    audio = as_channels_first(audio)
    frames = grid.span_frames(start_bar, bars, out_rate)
    bpm = float(grid.bpm_at_bar(start_bar))
    first, last = grid.bar_seconds(start_bar), grid.bar_seconds(Fraction(start_bar) + Fraction(bars))
    # one tempo over the whole span: no change point strictly inside it
    steady = not any(first < grid.tempo.seconds_at(b) < last for b, _ in grid.tempo.points)
    est = estimate_beats(audio, sample_rate, bpm, grid.time_signature) if steady else None
    factor, speed, shift = 1.0, 1.0, 0.0
    if est is not None:
        period = 60.0 / est.bpm
        downbeat_beat = round((est.downbeat - est.phase) / period)  # which grid beat is the downbeat
        phase = est.phase
        if audio.shape[1] / sample_rate * abs(1.0 - est.bpm / bpm) > max_drift_s:
            factor = bpm / est.bpm
            audio = pedalboard.time_stretch(audio, sample_rate, stretch_factor=factor)
            phase = est.phase / factor
            # Rubber Band quantises its ratio (up to ~0.2 % off, 15 ms over 8 s): measure what it
            # did and take the rest out in the resampler we run anyway (a few cents of pitch at most).
            refit = _refit(audio, sample_rate, bpm, phase)
            if refit is not None and abs(refit[0] / bpm - 1.0) < 0.01:
                speed = bpm / refit[0]
                phase = refit[1] / speed
        if align:
            downbeat = phase + downbeat_beat * 60.0 / bpm
            bar = float(grid.span_seconds(start_bar, 1))
            into = downbeat % bar
            shift = into if into <= bar / 2 else into - bar
    audio = resample(audio, sample_rate * speed, out_rate)
    out = fit_length(audio, frames, offset=round(shift * out_rate), edge_fade=round(edge_fade_s * out_rate))
    return Conformed(audio=out, sample_rate=out_rate, estimate=est, stretch_factor=factor * speed, shift_s=shift)


def warm_up() -> float:
    """Compile the beat tracker (numba) on a short synthetic click track; returns the seconds spent.

    Call once when the engine starts so that no request pays for the compilation.
    """
    start = time.perf_counter()
    rate = 32000
    clicks = np.zeros(rate * 3, np.float32)
    for k in range(6):
        clicks[k * rate // 2: k * rate // 2 + 64] = 0.5
    estimate_beats(clicks, rate, 120)
    return time.perf_counter() - start


_BPM_MENTION = re.compile(r"\b\d+(?:\.\d+)?\s*bpm\b", re.IGNORECASE)


def tempo_hint(prompt: str, bpm: float | str | Fraction, enabled: bool = True) -> str:
    """The prompt with the tempo appended ("..., 120 bpm"), unless off or the prompt names a tempo.

    >>> tempo_hint("dusty lofi drums", 93.5)
    'dusty lofi drums, 93.5 bpm'
    """
    if not enabled or _BPM_MENTION.search(prompt):
        return prompt
    value = check_bpm(bpm)
    text = str(value.numerator) if value.denominator == 1 else f"{float(value):.2f}".rstrip("0").rstrip(".")
    body = prompt.strip().rstrip(",")
    return f"{body}, {text} bpm" if body else f"{text} bpm"
