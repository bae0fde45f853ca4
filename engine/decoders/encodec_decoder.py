"""The EnCodec decoder: a MusicGen model's own codec turns tokens into audio (the default ``decoder``).

>>> from musicgen_bridge.engine.models.registry import ModelRegistry
>>> loaded = ModelRegistry(device="cpu").load("tiny")
>>> decode_encodec(loaded, torch.zeros(2, 4, 5, dtype=torch.long)).shape   # 5 frames of 640 samples
(2, 1, 3200)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:
    from ..models.registry import LoadedModel


def decode_encodec(loaded: LoadedModel, tokens: torch.Tensor) -> np.ndarray:
    """EnCodec-decode (takes, codebooks, frames) tokens to (takes, channels, samples) float32 audio.

    A loaded model that brings its own codec (an audiocraft family's ``decode``) decodes itself.
    """
    own = getattr(loaded, "decode", None)
    if callable(own):
        decoded: np.ndarray = own(tokens)
        return decoded
    codec = loaded.model.audio_encoder
    codes = tokens.to(loaded.device)
    with torch.inference_mode():
        if loaded.audio_channels == 1:
            audio = codec.decode(codes[None], audio_scales=[None] * codes.shape[0]).audio_values
        else:  # stereo checkpoints interleave left/right codebooks
            left = codec.decode(codes[None, :, ::2], audio_scales=[None] * codes.shape[0]).audio_values
            right = codec.decode(codes[None, :, 1::2], audio_scales=[None] * codes.shape[0]).audio_values
            audio = torch.cat([left, right], dim=1)
    return audio.float().cpu().numpy()
