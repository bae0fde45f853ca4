"""The one place a request's ``decoder`` (``encodec`` | ``mbd``) becomes a tokens -> audio function.

Generate, continuation and long-form all decode through the :class:`DecoderChoice` made here:
``decode(loaded, tokens)`` takes (takes, codebooks, frames) tokens and gives (takes, channels,
samples) float32 audio at the model rate.

* ``encodec``: the model's own codec (:func:`.encodec_decoder.decode_encodec`).
* ``mbd``: Multi-Band Diffusion (:mod:`.mbd`) with the weights that fit the model's codec
  (:mod:`..models.mbd_weights`). Each take is decoded in its own call with the take's seed: the
  re-EQ takes its statistics over the whole batch, so batched takes would colour each other, and
  the seed makes a take reproducible. A stereo MusicGen's tokens interleave left and right
  codebooks of one mono codec; each channel is decoded on its own with the take's seed (the same
  noise on both sides, so identical left and right tokens stay identical). A codec MBD cannot
  decode (AudioGen's 16 kHz, any codec without published weights) is refused with
  ``unsupported_decoder`` and the reason, before any token is generated.

Live mode refuses ``mbd`` (:func:`check_live`): at the published size it decoded 187x slower
than EnCodec on CPU (docs/benchmarks.md), far behind the playhead.

>>> from musicgen_bridge.engine.models.registry import ModelRegistry
>>> registry = ModelRegistry(device="cpu")
>>> loaded = registry.load("tiny")
>>> choice = choose_decoder(registry, loaded, "mbd", seeds=[7])
>>> choice.record["weights"], choice.decode(loaded, torch.zeros(1, 4, 3, dtype=torch.long)).shape
('tiny-mbd', (1, 1, 1920))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..errors import EngineError
from .encodec_decoder import decode_encodec

if TYPE_CHECKING:
    from ..models.mbd_weights import LoadedMBD
    from ..models.registry import LoadedModel, ModelRegistry
    from ..request import GenerateRequest

#: decode(loaded, tokens (takes, K, frames)) -> audio (takes, channels, samples) float32
TokenDecoder = Callable[["LoadedModel", torch.Tensor], np.ndarray]


@dataclass
class DecoderChoice:
    """The request's decoder: its name, the decode function, and what the sidecar records."""

    name: str
    decode: TokenDecoder
    record: dict[str, Any] = field(default_factory=dict)


def mbd_takes(loaded_mbd: LoadedMBD, seeds: list[int]) -> TokenDecoder:
    """An MBD decode that runs take ``i`` alone with ``seeds[i]``, each channel's codebooks apart."""

    def decode(loaded: LoadedModel, tokens: torch.Tensor) -> np.ndarray:
        if tokens.shape[0] != len(seeds):
            raise ValueError(f"{tokens.shape[0]} takes of tokens but {len(seeds)} seeds")
        channels = max(1, loaded.audio_channels)
        out = []
        for i, seed in enumerate(seeds):
            codes = tokens[i:i + 1].to(loaded.device)
            sides = [loaded_mbd.mbd.tokens_to_wav(codes[:, c::channels], seed=seed) for c in range(channels)]
            out.append(torch.cat(sides, dim=1))
        return torch.cat(out).float().cpu().numpy()
    return decode


def choose_decoder(registry: ModelRegistry, loaded: LoadedModel, name: str, seeds: list[int]) -> DecoderChoice:
    """The decoder ``name`` for ``loaded``'s tokens; ``unsupported_decoder`` when it cannot decode them."""
    if name == "encodec":
        return DecoderChoice("encodec", decode_encodec, {"name": "encodec"})
    if name != "mbd":
        raise EngineError("invalid_field", f"decoder must be encodec or mbd, got {name!r}", field="decoder")
    loaded_mbd = registry.load_mbd(loaded)
    return DecoderChoice("mbd", mbd_takes(loaded_mbd, list(seeds)), dict(loaded_mbd.record))


def check_live(req: GenerateRequest) -> None:
    """Live windows must keep ahead of the playhead: refuse a decoder that cannot."""
    if req.decoder == "mbd":
        raise EngineError("unsupported_decoder", "decoder mbd is too slow for live mode: at the published size "
                          "it decoded 187x slower than EnCodec on CPU in bench/mbd.py (docs/benchmarks.md), far behind "
                          "real time; use decoder encodec live and mbd for the final render",
                          field="decoder", decoder="mbd")
