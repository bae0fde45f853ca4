"""From conditioning to tokens to waveform, on a loaded model.

The reference path drives transformers' ``generate``; token choice happens in our logits
processor (:class:`StepSampler`) so that it records every token, reports progress, honours
cancellation between steps, and draws each take from its own seeded generator. The fast decoder
(engine/models/fast_decoder.py) makes the same choices with the same function.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from transformers import LogitsProcessor, LogitsProcessorList

from ..decoders.encodec_decoder import decode_encodec
from ..errors import EngineError
from ..models.families import FamilyModel
from ..models.registry import LoadedModel
from ..models.specs import check_melody_support
from .sampling import SamplingParams, choose_tokens, guide, make_generators

#: on_step(steps_done, steps_total)
StepCallback = Callable[[int, int], None]

#: finite stand-in for -inf: transformers' CFG processor subtracts logits, and -inf - -inf is NaN
_MASKED = -1.0e4


@dataclass
class Conditioning:
    """What steers one batch: one prompt per take, an optional chroma melody shared by all takes."""

    prompts: list[str]
    melody_chroma: torch.Tensor | None = None  # (frames, 12), one-hot, MusicGen-Melody only
    audio_prompt_codes: torch.Tensor | None = None  # (takes, codebooks, frames) to continue from


@dataclass
class GenerationOutput:
    tokens: torch.Tensor  # (takes, codebooks, frames), int64, on CPU
    audio: np.ndarray  # (takes, channels, samples), float32, at the model's sample rate


class StepSampler(LogitsProcessor):
    """Chooses every token itself, records it, reports progress and checks for cancellation."""

    def __init__(self, params: SamplingParams, generators: list[torch.Generator], rows_per_take: int,
                 total_steps: int, on_step: StepCallback | None, cancel: threading.Event | None) -> None:
        self.params = params
        self.generators = generators
        self.rows_per_take = rows_per_take
        self.total_steps = total_steps
        self.on_step = on_step
        self.cancel = cancel
        self.chosen: list[torch.Tensor] = []

    def __call__(self, input_ids: torch.LongTensor, scores: torch.Tensor) -> torch.Tensor:
        if self.cancel is not None and self.cancel.is_set():
            raise EngineError("cancelled", "the job was cancelled")
        scores = scores.float()
        if self.params.uses_cfg:
            cond, uncond = scores.split(scores.shape[0] // 2)
            guided = guide(cond, uncond, self.params.cfg)
        else:
            guided = scores
        tokens = choose_tokens(guided, self.params, self.generators, self.rows_per_take)
        self.chosen.append(tokens)
        onehot = torch.full_like(guided, _MASKED).scatter_(1, tokens[:, None], 0.0)
        if self.on_step is not None:
            self.on_step(len(self.chosen), self.total_steps)
        # transformers' CFG processor runs after us: identical halves make it return `onehot` unchanged
        return torch.cat([onehot, onehot]) if self.params.uses_cfg else onehot


def codebook_delays(num_codebooks: int, audio_channels: int) -> list[int]:
    """Delay of each codebook in steps: ``k`` for mono; stereo interleaves left/right pairs sharing ``k // 2``."""
    if audio_channels == 2:
        return [k // 2 for k in range(num_codebooks)]
    return list(range(num_codebooks))


def undelay(steps: torch.Tensor, takes: int, delays: list[int], frames: int) -> torch.Tensor:
    """Undo MusicGen's delay pattern: codebook k of frame t was chosen at step t + delays[k].

    ``steps`` is (takes * codebooks, n_steps) in transformers' row order (take-major).
    """
    rows = steps.reshape(takes, len(delays), -1)
    return torch.stack([rows[:, k, d:d + frames] for k, d in enumerate(delays)], dim=1)


def steps_for(frames: int, delays: list[int]) -> int:
    """Decoding steps that yield ``frames`` complete frames under the delay pattern."""
    return frames + max(delays)


def generate_reference(loaded: LoadedModel, cond: Conditioning, frames: int, params: SamplingParams,
                       seeds: list[int], on_step: StepCallback | None = None,
                       cancel: threading.Event | None = None) -> GenerationOutput:
    """Generate with transformers' ``generate`` (the reference path); a family model runs its own loop."""
    if isinstance(loaded, FamilyModel):
        return loaded.generate(cond, frames, params, seeds, on_step, cancel)
    model = loaded.model
    takes = len(cond.prompts)
    if len(seeds) != takes:
        raise ValueError("one seed per take")
    if cond.melody_chroma is not None:
        check_melody_support(loaded.name, loaded.supports_melody)
    k = loaded.num_codebooks
    delays = codebook_delays(k, loaded.audio_channels)
    n_steps = steps_for(frames, delays)
    sampler = StepSampler(params, make_generators(seeds, loaded.device), k, n_steps, on_step, cancel)
    inputs = loaded.tokenizer(cond.prompts, padding=True, return_tensors="pt").to(loaded.device)
    kwargs = dict(inputs)
    if cond.melody_chroma is not None:
        chroma = cond.melody_chroma.to(loaded.device, loaded.dtype)
        kwargs["input_features"] = chroma[None].expand(takes, -1, -1).contiguous()
    prompt_frames = 0
    if cond.audio_prompt_codes is not None:
        codes = cond.audio_prompt_codes
        if codes.dim() != 3 or codes.shape[0] != takes or codes.shape[1] != k:
            raise ValueError(f"audio_prompt_codes must be (takes={takes}, codebooks={k}, frames), "
                             f"got {tuple(codes.shape)}")
        prompt_frames = int(codes.shape[2])
        if prompt_frames + frames > loaded.max_frames:
            raise EngineError("invalid_field",
                              f"audio prompt ({prompt_frames} frames) plus new audio ({frames} frames) exceeds the "
                              f"model window of {loaded.max_frames} frames; shorten the context or the window",
                              field="context_bars")
        # As transformers does for `input_values`: the prompt's codes become the decoder's first ids
        # (rows take-major, codebook-minor); generate() prepends the start token and lays the delay
        # pattern over them, so the new frames continue the prompt instead of starting a new piece.
        kwargs["decoder_input_ids"] = codes.to(loaded.device, torch.long).reshape(takes * k, prompt_frames)
    with loaded.lock, torch.inference_mode():
        audio = model.generate(**kwargs, max_new_tokens=n_steps, do_sample=True, top_k=0, top_p=1.0,
                               temperature=1.0, guidance_scale=params.cfg if params.uses_cfg else None,
                               logits_processor=LogitsProcessorList([sampler]))
    steps = torch.stack(sampler.chosen, dim=1).cpu()
    # step s chooses frame s - k of codebook k counted from the prompt's end; while that is negative
    # it is a prompt frame, which generate() overwrites with the prompt's own code. So undelay keeps
    # exactly the new frames, prompt or not.
    tokens = undelay(steps, takes, delays, frames)
    audio = audio.float().cpu().numpy()
    if prompt_frames:
        # generate() decodes prompt and continuation together; keep only the new frames' samples
        hop = loaded.sample_rate // loaded.frame_rate
        audio = audio[..., prompt_frames * hop:(prompt_frames + frames) * hop]
    return GenerationOutput(tokens=tokens, audio=np.ascontiguousarray(audio))


def decode_tokens(loaded: LoadedModel, tokens: torch.Tensor) -> np.ndarray:
    """EnCodec-decode (takes, codebooks, frames) tokens to (takes, channels, samples) float32 audio
    (the ``encodec`` decoder, :mod:`..decoders.encodec_decoder`; :mod:`..decoders.choice` picks per request)."""
    return decode_encodec(loaded, tokens)
