"""Token choice with audiocraft's exact arithmetic and random-number order.

audiocraft filters in probability space (softmax of ``logits / temperature``, then top-k keeps
every probability ``>=`` the k-th and renormalises, or top-p keeps the sorted prefix whose mass
before each token is ``<= p``) and draws with a single ``torch.multinomial`` call on all rows
``(rows, card)``. Reproducing its tokens bit-exactly needs exactly that, so this is not
:func:`~musicgen_bridge.engine.generation.sampling.choose_tokens` (which filters logits and draws per take).

With one generator the draw is one call over every row, as audiocraft does it; with one
generator per take each take draws its own rows, so a take's tokens do not depend on its
batch-mates (what the product wants for seeds).

>>> g = torch.Generator().manual_seed(0)
>>> tok, _ = choose(torch.zeros(2, 4, 8), AudiocraftSampling(top_k=3), [g])
>>> tok.shape
torch.Size([2, 4])
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ...errors import EngineError


@dataclass(frozen=True)
class AudiocraftSampling:
    """``greedy`` takes the argmax; else temperature, then top-p if > 0, else top-k if > 0."""

    greedy: bool = False
    top_k: int = 250
    top_p: float = 0.0
    temperature: float = 1.0
    cfg_coef: float = 3.0

    def __post_init__(self) -> None:
        if not (isinstance(self.top_k, int) and self.top_k >= 0):
            raise EngineError("invalid_field", f"top_k must be an integer >= 0, got {self.top_k!r}", field="top_k")
        if not 0.0 <= self.top_p <= 1.0:
            raise EngineError("invalid_field", f"top_p must be between 0 and 1, got {self.top_p!r}", field="top_p")
        if not self.temperature > 0.0 and not self.greedy:
            raise EngineError("invalid_field", "temperature must be above 0", field="temperature")


def draw(probs: torch.Tensor, generators: list[torch.Generator]) -> torch.Tensor:
    """One multinomial sample per row of ``probs`` (rows, card); one call per generator, rows split evenly."""
    if len(generators) == 1:
        return torch.multinomial(probs, 1, generator=generators[0])[:, 0]
    chunks = probs.split(probs.shape[0] // len(generators))
    return torch.cat([torch.multinomial(c, 1, generator=g)[:, 0] for c, g in zip(chunks, generators)])


def filtered_draw(probs: torch.Tensor, top_k: int, top_p: float, generators: list[torch.Generator]
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Filter ``probs`` (..., card) audiocraft's way and draw; return (tokens (...), the probs drawn from).

    With top-k the returned probs are the truncated, renormalised ones (audiocraft modifies them
    in place, and MAGNeT scores spans with them); with top-p and plain sampling they are ``probs``.
    """
    card = probs.shape[-1]
    if top_p > 0.0:
        ordered, order = torch.sort(probs, dim=-1, descending=True)
        drop = ordered.cumsum(dim=-1) - ordered > top_p
        ordered = ordered * (~drop).float()
        ordered = ordered / ordered.sum(dim=-1, keepdim=True)
        pick = draw(ordered.reshape(-1, card), generators).view(*probs.shape[:-1], 1)
        return torch.gather(order, -1, pick)[..., 0], probs
    if top_k > 0:
        kth = torch.topk(probs, min(top_k, card), dim=-1).values[..., -1:]
        probs = probs * (probs >= kth).float()
        probs = probs / probs.sum(dim=-1, keepdim=True)
    return draw(probs.reshape(-1, card), generators).view(probs.shape[:-1]), probs


def choose(logits: torch.Tensor, params: AudiocraftSampling, generators: list[torch.Generator]
           ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Tokens for guided logits (..., card): argmax when greedy, else a filtered draw. Returns (tokens, probs)."""
    if params.greedy:
        return logits.argmax(dim=-1), None
    probs = torch.softmax(logits / params.temperature, dim=-1)
    return filtered_draw(probs, params.top_k, params.top_p, generators)
