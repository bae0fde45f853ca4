"""Token choice for one decoding step, shared by the reference (transformers) and the fast decoder.

Both decoders call :func:`choose_tokens`, so for the same logits and the same per-take generators
they choose the same tokens. Every take (batch row) owns a ``torch.Generator`` seeded from its own
seed, so a take's tokens do not depend on which other takes or jobs share its batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import EngineError
from .magnet import MagnetParams


@dataclass(frozen=True)
class SamplingParams:
    """How tokens are chosen. ``top_k=0`` and ``top_p=0`` switch those filters off.

    >>> SamplingParams(top_k=250, cfg=3.0).greedy
    False
    """

    top_k: int = 250
    top_p: float = 0.0
    temperature: float = 1.0
    cfg: float = 3.0
    greedy: bool = False
    #: MAGNeT's own settings (engine/generation/magnet_options.py); other loops ignore them
    magnet: MagnetParams | None = None

    def __post_init__(self) -> None:
        checks = [
            ("top_k", isinstance(self.top_k, int) and 0 <= self.top_k <= 4096, "an integer 0..4096"),
            ("top_p", 0.0 <= self.top_p <= 1.0, "between 0 and 1"),
            ("temperature", 0.0 < self.temperature <= 10.0, "above 0 and at most 10"),
            ("cfg", 0.0 <= self.cfg <= 30.0, "between 0 and 30"),
        ]
        for name, ok, what in checks:
            if not ok:
                raise EngineError("invalid_field", f"{name} must be {what}, got {getattr(self, name)!r}", field=name)

    @property
    def uses_cfg(self) -> bool:
        return self.cfg > 1.0


def make_generators(seeds: list[int], device: torch.device | str) -> list[torch.Generator]:
    """One generator per take, on the device the logits live on."""
    gens = []
    for seed in seeds:
        gen = torch.Generator(device=device)
        gen.manual_seed(int(seed))
        gens.append(gen)
    return gens


def guide(cond: torch.Tensor, uncond: torch.Tensor, scale: float) -> torch.Tensor:
    """Classifier-free guidance, the formula transformers uses: uncond + (cond - uncond) * scale."""
    return uncond + (cond - uncond) * scale


def filter_logits(scores: torch.Tensor, params: SamplingParams) -> torch.Tensor:
    """Temperature, then top-k, then top-p (nucleus), on float32 logits of shape (rows, vocab)."""
    scores = scores / params.temperature
    if params.top_k and params.top_k < scores.shape[-1]:
        kth = torch.topk(scores, params.top_k, dim=-1).values[..., -1:]
        scores = scores.masked_fill(scores < kth, float("-inf"))
    if 0.0 < params.top_p < 1.0:
        sorted_scores, order = torch.sort(scores, descending=True, dim=-1)
        cum = sorted_scores.softmax(-1).cumsum(-1)
        # keep the smallest prefix whose mass reaches top_p (always at least the best token)
        drop_sorted = (cum - sorted_scores.softmax(-1)) >= params.top_p
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        scores = scores.masked_fill(drop, float("-inf"))
    return scores


def choose_tokens(scores: torch.Tensor, params: SamplingParams, generators: list[torch.Generator],
                  rows_per_take: int) -> torch.Tensor:
    """Choose one token per row of already-guided float32 logits ``(takes * rows_per_take, vocab)``.

    Rows ``[i * rows_per_take, (i + 1) * rows_per_take)`` belong to take ``i`` and draw from
    ``generators[i]`` only.
    """
    if params.greedy:
        return scores.argmax(-1)
    probs = filter_logits(scores.float(), params).softmax(-1)
    chunks = probs.split(rows_per_take, dim=0)
    picks = [torch.multinomial(chunk, 1, generator=gen).squeeze(1) for chunk, gen in zip(chunks, generators)]
    return torch.cat(picks)
