"""What a lower decoding precision changes: per-step logit error and token agreement against fp32.

Two measures, both against the exact fp32 path on the same model:

* **teacher-forced logits**: both precisions are fed the same tokens (the ones fp32 chooses) step by
  step, and the guided logits (what sampling sees) are compared at every step: the largest absolute
  error, that error relative to the spread (standard deviation) of the fp32 logits, and how often
  the most likely token is the same;
* **free-running tokens**: each precision samples its own sequence with the same seeds; the share
  of equal tokens and the first step where they part. Once a sampled token differs the rest of
  the sequence follows a different path, so this share falls fast after the first difference.

>>> from musicgen_bridge.engine.models.registry import ModelRegistry
>>> from musicgen_bridge.engine.generation.reference import Conditioning
>>> from musicgen_bridge.engine.generation.sampling import SamplingParams
>>> loaded = ModelRegistry(device="cpu").load("tiny")
>>> report = precision_error(loaded, Conditioning(["warm pads"]), 8, SamplingParams(), [3], "bf16")
>>> report.steps, report.max_abs_error < 1.0
(11, True)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ...models.registry import LoadedModel
from ..reference import Conditioning, codebook_delays
from ..sampling import SamplingParams, choose_tokens, guide, make_generators
from .conditioning import delay_pattern
from .decoder import _prepare, _start_token, generate_fast, weights_for
from .step import DecoderWeights, KVCache, cross_kv, embed, forward


@dataclass
class PrecisionReport:
    """Teacher-forced logit error and free-running token agreement of one precision against fp32."""

    dtype: str
    steps: int
    max_abs_error: float  # largest |guided logit - fp32 guided logit| over every step, row and token
    mean_abs_error: float
    relative_error: float  # max_abs_error / std of the fp32 guided logits
    top1_agreement: float  # share of (step, row) where the most likely token is fp32's
    token_agreement: float  # free-running: share of equal tokens
    first_difference: int | None  # free-running: first frame index (any take/codebook) that differs


class _Runner:
    """One precision's decoder state for a teacher-forced pass."""

    def __init__(self, w: DecoderWeights, loaded: LoadedModel, cond: Conditioning, guided: bool, steps: int) -> None:
        self.w = w
        self.prep = _prepare(loaded, cond, guided)
        length = self.prep.prefix_len + 1 + steps
        self.positions = w.position_table(length)
        self.cache = KVCache.allocate(w, self.prep.rows, length)
        states = self.prep.cross_states
        self.cross = cross_kv(w, states, self.prep.cross_mask) if states is not None else None

    def prefill(self, first: torch.Tensor) -> torch.Tensor:
        hidden = embed(self.w, first)
        if self.prep.prefix is not None:
            hidden = torch.cat([self.prep.prefix.to(self.w.dtype), hidden], dim=1)
        return forward(self.w, self.cache, hidden + self.positions[:hidden.shape[1]], 0, self.cross).float()

    def step(self, tokens: torch.Tensor, pos: int) -> torch.Tensor:
        hidden = embed(self.w, tokens) + self.positions[pos:pos + 1]
        return forward(self.w, self.cache, hidden, pos, self.cross).float()


def precision_error(loaded: LoadedModel, cond: Conditioning, frames: int, params: SamplingParams,
                    seeds: list[int], dtype: str) -> PrecisionReport:
    """Compare decoding in ``dtype`` with fp32 on ``loaded`` (an fp32 model): see the module doc."""
    takes, k = len(cond.prompts), loaded.num_codebooks
    delays = codebook_delays(k, loaded.audio_channels)
    n_steps = frames + max(delays)
    guided = params.uses_cfg
    generators = make_generators(seeds, loaded.device)

    def scores_of(logits: torch.Tensor) -> torch.Tensor:
        if not guided:
            return logits
        cond_rows, uncond_rows = logits.split(logits.shape[0] // 2)
        return guide(cond_rows, uncond_rows, params.cfg)

    errors, agree, spreads = [], [], []
    with loaded.lock, torch.inference_mode():
        pattern = delay_pattern(None, takes, k, delays, frames, _start_token(loaded.model), loaded.device)
        rows = pattern.repeat(2, 1, 1) if guided else pattern
        runners = []
        for name in ("fp32", dtype):
            w = weights_for(loaded, name)
            runners.append(_Runner(w, loaded, cond, guided, n_steps))
        first_pos = runners[0].prep.prefix_len
        outs = [r.prefill(rows[:, :, :1]) for r in runners]
        chosen = torch.empty((n_steps, takes * k), dtype=torch.long, device=loaded.device)
        for s in range(n_steps):
            if s > 0:
                template = pattern[:, :, s]
                tokens = torch.where(template == -1, chosen[s - 1].view(takes, k), template)
                tokens = tokens.repeat(2, 1) if guided else tokens
                outs = [r.step(tokens[:, :, None], first_pos + s) for r in runners]
            ref, low = scores_of(outs[0]), scores_of(outs[1])
            errors.append((low - ref).abs())
            spreads.append(ref.std().item())
            agree.append((low.argmax(-1) == ref.argmax(-1)).float())
            chosen[s] = choose_tokens(ref, params, generators, k)
    err = torch.stack(errors)
    max_abs = err.max().item()

    exact = generate_fast(loaded, cond, frames, params, seeds, dtype="fp32").tokens
    low_tokens = generate_fast(loaded, cond, frames, params, seeds, dtype=dtype).tokens
    same = exact == low_tokens
    differs = (~same).any(dim=0).any(dim=0).nonzero()
    return PrecisionReport(dtype=dtype, steps=n_steps, max_abs_error=max_abs, mean_abs_error=err.mean().item(),
                           relative_error=max_abs / max(sum(spreads) / len(spreads), 1e-12),
                           top1_agreement=torch.cat(agree).mean().item(),
                           token_agreement=same.float().mean().item(),
                           first_difference=int(differs[0]) if len(differs) else None)
