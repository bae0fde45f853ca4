"""MAGNeT's iterative masked decoding: one codebook (stage) at a time, a few parallel passes each.

Every stage starts fully masked. Each pass re-masks the least confident tokens (a cosine share of
them, in spans), runs the whole window through the non-causal LM once (with and without the text,
for guidance annealed from ``max_cfg_coef`` to ``min_cfg_coef``), samples every position with one
``torch.multinomial`` call, and fills only the masked positions. The arithmetic (float32 cosine
schedule, temperature ``temp * steps_left / n`` floored at 1e-2, top-k renormalising the
probabilities the span scores are read from, top-p leaving them alone, the stride-1 binary search
with Python's rounding) follows audiocraft's MAGNeT step for step, so a seeded run gives the very
tokens audiocraft gives (checked by engine/conformance/magnet.py).

The LM is any callable ``forward(sequence, stage) -> logits``: ``sequence`` is ``[N, K, T]`` int64
(N = 2B, conditioned rows first, when guided), the result ``[N, T, card]`` float32 logits of
codebook ``stage``. That keeps this loop testable without a network.

>>> import torch
>>> lm = lambda seq, stage: torch.zeros(seq.shape[0], seq.shape[2], 8)
>>> params = MagnetParams(decoding_steps=(2, 1), span_arrangement="stride1", top_p=0.0)
>>> generate_magnet(lm, batch=1, codebooks=2, frames=6, card=8, span_len=2, params=params).shape
torch.Size([1, 2, 6])
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..errors import EngineError

StageForward = Callable[[torch.Tensor, int], torch.Tensor]
Progress = Callable[[int, int], None]

#: audiocraft's score for positions that must not be re-masked
_KEEP = -1e4
_ARRANGEMENTS = ("nonoverlap", "stride1")
_SCORINGS = ("max", "prod")


@dataclass(frozen=True)
class MagnetParams:
    """Decoding settings; the defaults are audiocraft MAGNeT's own (``set_generation_params``).

    ``top_p > 0`` wins over ``top_k``; both 0 samples the full distribution.
    ``decoding_steps`` has one entry per codebook.

    >>> MagnetParams().decoding_steps
    (20, 10, 10, 10)
    >>> MagnetParams(decoding_steps=(0, 1)).validate(2)
    Traceback (most recent call last):
    ...
    musicgen_bridge.engine.errors.EngineError: invalid_field: decoding_steps must be whole numbers from 1 to 1000, got [0, 1]
    """

    decoding_steps: tuple[int, ...] = (20, 10, 10, 10)
    span_arrangement: str = "nonoverlap"
    span_scoring: str = "max"
    temperature: float = 3.0
    anneal_temp: bool = True
    top_k: int = 0
    top_p: float = 0.9
    max_cfg_coef: float = 10.0
    min_cfg_coef: float = 1.0
    use_sampling: bool = True

    def validate(self, codebooks: int) -> None:
        """Refuse settings the loop cannot run, with ``invalid_field`` naming the setting."""
        steps = list(self.decoding_steps)
        if len(steps) != codebooks:
            _bad("decoding_steps", f"needs one entry per codebook ({codebooks}), got {steps}")
        if not all(isinstance(n, int) and 1 <= n <= 1000 for n in steps):
            _bad("decoding_steps", f"must be whole numbers from 1 to 1000, got {steps}")
        if self.span_arrangement not in _ARRANGEMENTS:
            _bad("span_arrangement", f"must be one of {', '.join(_ARRANGEMENTS)}, got {self.span_arrangement!r}")
        if self.span_scoring not in _SCORINGS:
            _bad("span_scoring", f"must be one of {', '.join(_SCORINGS)}, got {self.span_scoring!r}")
        checks = [
            ("temperature", 0.0 <= self.temperature <= 100.0, "between 0 and 100"),
            ("top_k", isinstance(self.top_k, int) and 0 <= self.top_k <= 65536, "a whole number 0..65536"),
            ("top_p", 0.0 <= self.top_p <= 1.0, "between 0 and 1"),
            ("max_cfg_coef", 0.0 <= self.max_cfg_coef <= 100.0, "between 0 and 100"),
            ("min_cfg_coef", 0.0 <= self.min_cfg_coef <= 100.0, "between 0 and 100"),
        ]
        for name, ok, what in checks:
            if not ok:
                _bad(name, f"must be {what}, got {getattr(self, name)!r}")

    @property
    def passes(self) -> int:
        """LM forward passes a generation makes (what progress counts)."""
        return sum(self.decoding_steps)


def _bad(field: str, what: str) -> None:
    raise EngineError("invalid_field", f"{field} {what}", field=field)


def output_frames(frames: int, span_len: int, params: MagnetParams) -> int:
    """Frames a generation returns: non-overlapping spans drop the tail that is not a whole span
    (as audiocraft does), so ``frames=500, span_len=3`` gives 498."""
    if span_len > 1 and params.span_arrangement == "nonoverlap":
        return span_len * (frames // span_len)
    return frames


def spans_mask(starts: torch.Tensor, frames: int, span_len: int) -> torch.Tensor:
    """Bool ``[frames]``: True on ``[s, s + span_len)`` for every start ``s``."""
    mask = torch.zeros(frames, dtype=torch.bool, device=starts.device)
    if starts.numel():
        idx = (starts[:, None] + torch.arange(span_len, device=starts.device)).reshape(-1)
        mask[idx.clamp(max=frames - 1)] = True
    return mask


def least_probable_spans(scores: torch.Tensor, num_masked: int, span_len: int) -> torch.Tensor:
    """Bool ``[T]`` mask made of the least probable overlapping spans of one row of scores
    (higher score = less probable), covering as close to ``num_masked`` tokens as a binary search
    over the number of spans finds. Midpoints use Python's ``round`` (ties to even) on purpose:
    that choice decides which mask comes out, and audiocraft's does the same."""
    frames = scores.shape[-1]
    order = torch.argsort(scores.unfold(0, span_len, 1).sum(-1), descending=True)
    target = max(num_masked, span_len)
    lo, hi = target // span_len, target - span_len + 1
    mid = round((lo + hi) / 2)
    mask = spans_mask(order[:mid], frames, span_len)
    while lo < mid < hi:
        mask = spans_mask(order[:mid], frames, span_len)
        if int(mask.sum()) > target:
            hi = mid
        else:
            lo = mid
        mid = round((lo + hi) / 2)
    return mask


def _draw(probs: torch.Tensor, params: MagnetParams, generator: torch.Generator | None
          ) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample ``[B, T]`` tokens from ``[B, T, card]`` probabilities with ONE multinomial call on
    ``[B*T, card]``; return them with the probabilities their span scores are read from."""
    card = probs.shape[-1]
    if params.top_p > 0.0:
        sorted_p, order = torch.sort(probs, dim=-1, descending=True)
        drop = (torch.cumsum(sorted_p, dim=-1) - sorted_p) > params.top_p
        sorted_p = sorted_p * (~drop).float()
        sorted_p = sorted_p / sorted_p.sum(dim=-1, keepdim=True)
        pick = torch.multinomial(sorted_p.reshape(-1, card), 1, generator=generator)
        tokens = torch.gather(order, -1, pick.reshape(*probs.shape[:-1], 1))
        return tokens[..., 0], probs  # scores come from the untouched probabilities
    if params.top_k > 0:
        kth = torch.topk(probs, min(params.top_k, card), dim=-1).values[..., -1:]  # k > card keeps all
        # renormalised in place in audiocraft, so its span scores see these truncated probabilities
        probs = probs * (probs >= kth).float()
        probs = probs / probs.sum(dim=-1, keepdim=True)
    tokens = torch.multinomial(probs.reshape(-1, card), 1, generator=generator)
    return tokens.reshape(probs.shape[:-1]), probs


def generate_magnet(forward: StageForward, *, batch: int, codebooks: int, frames: int, card: int,
                    span_len: int, params: MagnetParams | None = None, guided: bool = True,
                    generator: torch.Generator | None = None, progress: Progress | None = None,
                    check_cancelled: Callable[[], None] | None = None,
                    device: torch.device | str = "cpu") -> torch.Tensor:
    """Run MAGNeT decoding and return int64 tokens ``[batch, codebooks, output_frames(...)]``.

    ``card`` is the vocabulary size; ``card`` itself is the mask token. ``generator=None`` draws
    from torch's global generator (what audiocraft does after ``torch.manual_seed``).
    ``progress(done, total)`` is called after every pass, ``check_cancelled()`` before every pass
    (it raises to stop). The loop's tensors live on ``device`` (the LM's; ``generator`` too).
    """
    params = params or MagnetParams()
    params.validate(codebooks)
    if span_len < 1:
        _bad("span_len", f"must be at least 1, got {span_len}")
    mask_id = card
    chunked = span_len > 1 and params.span_arrangement == "nonoverlap"
    frames = output_frames(frames, span_len, params)
    if frames < max(span_len, 1):
        _bad("frames", f"must cover at least one span of {span_len}, got {frames}")
    seq = torch.full((batch, codebooks, frames), mask_id, dtype=torch.long, device=device)
    done, total = 0, params.passes
    for stage, n_steps in enumerate(params.decoding_steps):
        seq, done = _stage(forward, seq, stage, n_steps, card, span_len, chunked, params, guided,
                           generator, progress, check_cancelled, done, total)
    return seq


def _stage(forward: StageForward, seq: torch.Tensor, stage: int, n_steps: int, card: int, span_len: int,
           chunked: bool, params: MagnetParams, guided: bool, generator: torch.Generator | None,
           progress: Progress | None, check_cancelled: Callable[[], None] | None,
           done: int, total: int) -> tuple[torch.Tensor, int]:
    batch, _, frames = seq.shape
    mask_id = card
    device = seq.device
    cur = torch.full((batch, frames), mask_id, dtype=torch.long, device=device)
    n_units = frames // span_len if chunked else frames
    scores = torch.zeros(batch, n_units, dtype=torch.float32, device=device)
    chunks_mask = torch.zeros(batch, n_units, dtype=torch.bool, device=device)
    schedule = zip(torch.linspace(0, 1, n_steps, device=device), reversed(range(n_steps)))
    for timestep, steps_left in schedule:
        if check_cancelled is not None:
            check_cancelled()
        mask_p = torch.cos(timestep * math.pi * 0.5)  # float32, as are the products below
        num_masked = max(int((mask_p * n_units).item()), 1)
        if params.span_arrangement == "stride1" and span_len > 1:
            remask = torch.stack([least_probable_spans(scores[b], num_masked, span_len) for b in range(batch)])
            cur[remask] = mask_id
        else:
            idx = scores.topk(num_masked, dim=-1).indices
            if chunked:
                chunks_mask = torch.zeros_like(chunks_mask).scatter(1, idx, True)
                cur[torch.repeat_interleave(chunks_mask, span_len, dim=-1)] = mask_id
            else:
                cur = cur.scatter(1, idx, mask_id)
        seq[:, stage] = cur
        logits = _guided_logits(forward, seq, stage, float(mask_p), params, guided)
        t = params.temperature * (steps_left / n_steps) if params.anneal_temp else params.temperature
        probs = torch.softmax(logits / max(t, 1e-2), dim=-1)
        if params.use_sampling:
            tokens, score_probs = _draw(probs, params, generator)
        else:
            tokens, score_probs = torch.argmax(logits, dim=-1), probs
        was_masked = cur == mask_id
        cur = torch.where(was_masked, tokens, cur)
        seq[:, stage] = cur
        picked = torch.gather(score_probs, -1, tokens[..., None])[..., 0]
        if chunked:
            spans = picked.reshape(batch, n_units, span_len)
            if params.span_scoring == "max":
                scores = 1 - spans.max(dim=-1).values
            else:
                scores = (-torch.log(spans)).sum(dim=-1)
            scores = scores.masked_fill(~chunks_mask, _KEEP)
        else:
            scores = (-torch.log(picked)).masked_fill(~was_masked, _KEEP)
        done += 1
        if progress is not None:
            progress(done, total)
    return seq, done


def _guided_logits(forward: StageForward, seq: torch.Tensor, stage: int, mask_p: float,
                   params: MagnetParams, guided: bool) -> torch.Tensor:
    """``[B, T, card]`` logits of ``stage``, guided with the coefficient annealed by ``mask_p``."""
    if not guided:
        return forward(seq, stage).float()
    cond, uncond = forward(torch.cat([seq, seq], dim=0), stage).float().split(seq.shape[0], dim=0)
    coef = mask_p * params.max_cfg_coef + (1 - mask_p) * params.min_cfg_coef
    return uncond + (cond - uncond) * coef
