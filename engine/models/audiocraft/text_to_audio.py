"""Text prompts -> tokens -> waveform with an audiocraft text-conditioned LM (AudioGen, and MusicGen-style LMs).

Runs every text conditioner on a take's text followed by ``None`` (audiocraft's null condition
for guidance), fuses them as the checkpoint says, decodes with the delay pattern from the take's
own seeded generator and decodes the codes with the checkpoint's codec (output not trimmed:
``frames * hop`` samples).

Takes run one after another, not as one batch: audiocraft's cross-attention has no key mask, so
in a batch the T5 padding up to the longest prompt would change every shorter prompt's result.
One take alone gives exactly what audiocraft gives for that prompt alone, whatever else was asked.

>>> from musicgen_bridge.engine.models.audiocraft.sampling import AudiocraftSampling
>>> from musicgen_bridge.engine.models.audiocraft.tiny import build_tiny_audiogen
>>> model = build_tiny_audiogen()
>>> out = text_to_audio(model, ["door slam"], frames=50, params=AudiocraftSampling(), seeds=[7])
>>> out.audio.shape
torch.Size([1, 1, 16000])
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import torch

from .builder import AudiocraftModel
from .conditioners import T5Conditioner
from .delay_generation import generate_delay
from .sampling import AudiocraftSampling


@dataclass
class TextToAudio:
    tokens: torch.Tensor  # (takes, K, frames) int64
    audio: torch.Tensor  # (takes, channels, frames * hop) float32


def text_conditions(model: AudiocraftModel, texts: list[str]) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """(cross, prefix) for the guided batch ``[texts; nulls]`` (2 * len(texts) rows)."""
    tensors = {}
    for name, module in model.conditioners.items():
        if not isinstance(module, T5Conditioner):
            raise NotImplementedError(f"conditioner {name!r} needs more than text")
        tensors[name] = module(list(texts) + [None] * len(texts))
    return model.fuser.fuse(tensors)


@torch.no_grad()
def text_to_audio(model: AudiocraftModel, texts: list[str], frames: int, params: AudiocraftSampling,
                  seeds: list[int], on_step: Callable[[int, int], None] | None = None,
                  cancel: threading.Event | None = None) -> TextToAudio:
    """One take per text, each from its own seed; ``on_step(done, total)`` counts steps over all takes."""
    if len(seeds) != len(texts):
        raise ValueError("one seed per take")
    steps = frames + max(model.delays)
    device = next(model.lm.parameters()).device  # draws happen where the logits are
    tokens, audio = [], []
    for i, (text, seed) in enumerate(zip(texts, seeds)):
        cross, prefix = text_conditions(model, [text])
        progress = None if on_step is None else (
            lambda done, _total, base=i * steps: on_step(base + done, steps * len(texts)))
        out = generate_delay(model.lm, model.delays, cross, prefix, frames, params,
                             [torch.Generator(device=device).manual_seed(int(seed))], on_step=progress,
                             cancel=cancel)
        tokens.append(out.tokens)
        audio.append(model.require_codec().decode(out.tokens))
    return TextToAudio(torch.cat(tokens), torch.cat(audio))
