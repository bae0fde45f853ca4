"""Audio -> chroma, the MusicGen-Melody recipe, with torch.stft (no torchaudio).

The recipe (transformers' MusicgenMelodyFeatureExtractor): mono 32 kHz audio, zero-padded
symmetrically to at least ``n_fft`` samples; a centred (reflect-padded) STFT with a periodic
Hann window of 16384 samples, hop 4096; power spectrum divided by the window's energy
(torchaudio's ``normalized=True``); projected on transformers' chroma filter bank (12 bins,
C first, A440 tuning); each frame divided by its largest bin (inf-norm, eps 1e-6); then a
one-hot of the argmax per frame. An all-zero frame has an all-zero chroma, whose argmax is the
first bin: silence reads as pitch class 0 (C), and the model itself uses that same one-hot as
its "no melody" input.

>>> wave = torch.sin(2 * torch.pi * 440 * torch.arange(32000) / 32000)
>>> one_hot(chroma_features(wave)).argmax(-1).tolist()  # A = pitch class 9
[9, 9, 9, 9, 9, 9, 9, 9]
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from transformers.audio_utils import chroma_filter_bank

from .melody import CHROMA_HOP, CHROMA_N_FFT, CHROMA_SAMPLE_RATE, NUM_CHROMA

#: eps of the reference's inf-norm: frames quieter than this are scaled by 1/eps, not to 1.
NORM_EPS = 1e-6
#: Frames per torch.stft call, so long audio needs bounded memory (~8 MB of spectrum a block).
_BLOCK_FRAMES = 128


@functools.lru_cache(maxsize=1)
def chroma_filters() -> torch.Tensor:
    """The reference chroma filter bank, ``float32[12, n_fft // 2 + 1]``, C first."""
    bank = chroma_filter_bank(num_frequency_bins=CHROMA_N_FFT, num_chroma=NUM_CHROMA,
                              sampling_rate=CHROMA_SAMPLE_RATE, tuning=0)
    return torch.from_numpy(bank).float()


@functools.lru_cache(maxsize=1)
def _window() -> torch.Tensor:
    return torch.hann_window(CHROMA_N_FFT, periodic=True, dtype=torch.float32)


def num_chroma_frames(num_samples: int) -> int:
    """Frames the recipe yields for ``num_samples`` samples at 32 kHz (235 for 30 s).

    >>> num_chroma_frames(30 * 32000)
    235
    """
    return 1 + max(num_samples, CHROMA_N_FFT) // CHROMA_HOP


def chroma_features(wave: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Normalised chroma before the argmax: ``float32[frames, 12]``, each row's max is 1.

    ``wave`` is mono audio at 32 kHz, shape ``[samples]``, with at least one sample.
    """
    wave = torch.as_tensor(wave, dtype=torch.float32).reshape(-1)
    if wave.numel() == 0:
        raise ValueError("chroma_features needs at least one sample")
    if wave.numel() < CHROMA_N_FFT:  # as the reference: centre short audio in n_fft zeros
        pad = CHROMA_N_FFT - wave.numel()
        wave = torch.nn.functional.pad(wave, (pad // 2, pad - pad // 2))
    half = CHROMA_N_FFT // 2
    padded = torch.nn.functional.pad(wave[None, None], (half, half), mode="reflect")[0, 0]
    frames = 1 + wave.numel() // CHROMA_HOP
    window, filters = _window(), chroma_filters()
    # |X|^2 / sum(w^2) is torchaudio's power spectrogram with normalized=True
    scale = window.pow(2).sum()
    blocks = []
    for first in range(0, frames, _BLOCK_FRAMES):
        count = min(_BLOCK_FRAMES, frames - first)
        segment = padded[first * CHROMA_HOP:(first + count - 1) * CHROMA_HOP + CHROMA_N_FFT]
        spec = torch.stft(segment, CHROMA_N_FFT, hop_length=CHROMA_HOP, win_length=CHROMA_N_FFT,
                          window=window, center=False, return_complex=True)
        power = (spec.real.square() + spec.imag.square()) / scale
        blocks.append(filters @ power)  # [12, count]
    raw = torch.cat(blocks, dim=1)
    norm = raw / raw.abs().amax(dim=0, keepdim=True).clamp_min(NORM_EPS)
    return norm.T.contiguous()


def one_hot(chroma: torch.Tensor) -> torch.Tensor:
    """One-hot of each frame's largest bin (the first on ties, so all-zero -> bin 0 = C)."""
    out = torch.zeros_like(chroma, dtype=torch.float32)
    out.scatter_(-1, chroma.argmax(-1, keepdim=True), 1.0)
    return out


def audio_chroma(wave: torch.Tensor | np.ndarray) -> torch.Tensor:
    """One-hot chroma ``float32[frames, 12]`` of mono 32 kHz audio, as MusicGen-Melody sees it."""
    return one_hot(chroma_features(wave))
