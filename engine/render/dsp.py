"""Signal steps of the render stage: channels, resampling, exact length, fades, loudness, peaks.

All functions take and return float32 arrays shaped (channels, frames).

    >>> y = resample(x, 32000, 48000)            # streamed, pedalboard's windowed-sinc resampler
    >>> y = fit_length(convert_channels(y, 2), 96000)
    >>> true_peak_db(y), integrated_loudness(y, 48000)
    (-0.8, -14.2)
"""

from __future__ import annotations

import math

import numpy as np
import pyloudnorm
from pedalboard import Resample
from .resample import resample as _resample
from scipy.signal import resample_poly

RESAMPLE_QUALITY = Resample.Quality.WindowedSinc
RESAMPLE_BLOCK = 1 << 16  # input frames per resampler call: constant memory for long clips
TRUE_PEAK_OVERSAMPLING = 4  # ITU-R BS.1770 true-peak: 4x oversampling at 48 kHz


def convert_channels(audio: np.ndarray, channels: int) -> np.ndarray:
    """Mono -> stereo duplicates the channel; stereo -> mono averages the two.

        >>> convert_channels(np.ones((1, 4), np.float32), 2).shape
        (2, 4)
    """
    have = audio.shape[0]
    if have == channels:
        return audio
    if channels == 2 and have == 1:
        return np.repeat(audio, 2, axis=0)
    if channels == 1 and have == 2:
        return audio.mean(axis=0, keepdims=True, dtype=np.float32)
    raise ValueError(f"cannot convert {have} channels to {channels}")


def resample(audio: np.ndarray, in_rate: int, out_rate: int, *, block_frames: int = RESAMPLE_BLOCK) -> np.ndarray:
    """High-quality streaming resample (see :func:`engine.resampling.resample`)."""
    return _resample(audio, in_rate, out_rate, quality=RESAMPLE_QUALITY, block_frames=block_frames)


def fit_length(audio: np.ndarray, frames: int) -> np.ndarray:
    """Trim or zero-pad at the end to exactly ``frames`` frames."""
    have = audio.shape[1]
    if have >= frames:
        return audio[:, :frames]
    return np.pad(audio, ((0, 0), (0, frames - have)))


def apply_fades(audio: np.ndarray, rate: int, fade_in_s: float = 0.0, fade_out_s: float = 0.0) -> np.ndarray:
    """Raised-cosine fade in from 0 and fade out to 0 (each clamped to the clip length).

    The first sample of a fade-in is exactly 0 and the last sample of a fade-out is exactly 0.
    """
    out = audio.copy()
    total = out.shape[1]
    for seconds, at_start in ((fade_in_s, True), (fade_out_s, False)):
        n = min(total, int(round(seconds * rate)))
        if n < 2:
            continue
        ramp = (0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, n))).astype(np.float32)
        if at_start:
            out[:, :n] *= ramp
        else:
            out[:, total - n :] *= ramp[::-1]
    return out


def true_peak_db(audio: np.ndarray) -> float:
    """True peak in dBTP: the sample peak of the signal oversampled 4x (``-inf`` for silence)."""
    if audio.shape[1] == 0:
        return -math.inf
    over = resample_poly(audio, TRUE_PEAK_OVERSAMPLING, 1, axis=1)
    peak = max(float(np.max(np.abs(over))), float(np.max(np.abs(audio))))
    return 20.0 * math.log10(peak) if peak > 0 else -math.inf


def integrated_loudness(audio: np.ndarray, rate: int) -> float | None:
    """Integrated loudness in LUFS (ITU-R BS.1770 via pyloudnorm).

    None when it is undefined: clips shorter than one 400 ms gating block, or silence.
    """
    meter = pyloudnorm.Meter(rate)
    if audio.shape[1] < int(meter.block_size * rate) + 1:
        return None
    value = float(meter.integrated_loudness(audio.T.astype(np.float64)))
    return value if math.isfinite(value) else None
