"""Signal steps of the render stage: channels, resampling, exact length, fades, loudness, peaks.

All functions take and return float32 arrays shaped (channels, frames).
``resample`` is :func:`.resample.resample` (the one resampler, also used by conform and continue).

    >>> y = resample(x, 32000, 48000)            # the one resampler (render.resample), re-exported  # x: a model's output  # doctest: +SKIP
    >>> y = fit_length(convert_channels(y, 2), 96000)  # y: from the line above  # doctest: +SKIP
    >>> true_peak_db(y), integrated_loudness(y, 48000)  # y: from the line above  # doctest: +SKIP
    (-0.8, -14.2)
"""

from __future__ import annotations

import math

import numpy as np
import pyloudnorm
from scipy.signal import resample_poly

from .resample import resample  # re-exported: the one resampler

__all__ = ["apply_fades", "convert_channels", "fit_length", "integrated_loudness", "resample", "true_peak_db"]

TRUE_PEAK_OVERSAMPLING = 4  # ITU-R BS.1770 true-peak: 4x oversampling at 48 kHz


def convert_channels(audio: np.ndarray, channels: int) -> np.ndarray:
    """(..., channels, frames) audio with ``channels`` channels (the one channel converter).

    Mono is copied to every channel; more channels are averaged to mono first (stereo -> mono is
    the mean of the two; stereo -> 6 channels is that mean, copied).

        >>> import numpy as np
        >>> convert_channels(np.ones((1, 4), np.float32), 2).shape
        (2, 4)
        >>> convert_channels(np.array([[1.0], [0.0]], np.float32), 1).tolist()
        [[0.5]]
    """
    have = audio.shape[-2]
    if have == channels:
        return audio
    if have != 1:
        audio = audio.mean(axis=-2, keepdims=True, dtype=np.float32)
    return np.repeat(audio, channels, axis=-2) if channels > 1 else audio


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
        n = min(total, round(seconds * rate))
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
