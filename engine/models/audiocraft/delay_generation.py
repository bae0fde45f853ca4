"""The delay-pattern decoding loop of audiocraft's AudioGen / MusicGen LMs, with a KV cache.

Codebook ``k`` of frame ``t`` is chosen at step ``t + 1 + delays[k]``; step 0 feeds the special
token (``card``) on every codebook, and positions a codebook has not reached (or has passed) keep
it. Guidance runs the conditioned and the unconditioned rows as one batch
``[cond rows; uncond rows]`` and mixes ``uncond + (cond - uncond) * cfg_coef``. One
:func:`~.sampling.choose` per step draws for all ``B*K`` rows, so with one generator seeded
like ``torch.manual_seed(s)`` the tokens are audiocraft's.

Why not the fast MusicGen decoder (engine/generation/fast/decoder.py): its weight view is tied to
transformers' module tree and its token choice filters logits and draws per take, which is
neither audiocraft's arithmetic nor its random-number order.

>>> out = generate_delay(model.lm, model.delays, cross, None, frames=13,  # needs a model and its conditions
...                      params=AudiocraftSampling(greedy=True), generators=[])  # (text_to_audio shows one)  # doctest: +SKIP
>>> out.tokens.shape  # the run above  # doctest: +SKIP
torch.Size([2, 4, 13])
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from ...errors import EngineError
from .guidance import Guidance
from .lm import AudiocraftLM, KVCache
from .sampling import AudiocraftSampling, choose


@dataclass
class DelayOutput:
    tokens: torch.Tensor  # (B, K, frames) int64
    step_logits: list[torch.Tensor] = field(default_factory=list)  # guided (B, K, card) per step, if recorded


def pattern_sequence(codes: torch.Tensor, delays: list[int], special: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Codes (B, K, T) -> the delayed input sequence (B, K, T + 1) and its validity mask (K, T + 1).

    Step ``s`` of codebook ``k`` holds frame ``s - 1 - delays[k]`` when that is a frame, else ``special``.
    """
    batch, k, frames = codes.shape
    seq = torch.full((batch, k, frames + 1), special, dtype=codes.dtype, device=codes.device)
    valid = torch.zeros((k, frames + 1), dtype=torch.bool, device=codes.device)
    for q, d in enumerate(delays):
        if d + 1 <= frames:
            seq[:, q, d + 1:] = codes[:, q, :frames - d]
            valid[q, d + 1:] = True
    return seq, valid


def frame_logits(step_logits: torch.Tensor, delays: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Undo the pattern on forward outputs (B, K, T + 1, card): frame ``t`` of codebook ``k`` is output ``t + d_k``.

    Returns (B, K, T, card) with NaN where the frame's step lies outside the sequence, and the mask.
    """
    batch, k, steps, card = step_logits.shape
    frames = steps - 1
    out = torch.full((batch, k, frames, card), float("nan"), dtype=step_logits.dtype, device=step_logits.device)
    mask = torch.zeros((k, frames), dtype=torch.bool, device=step_logits.device)
    for q, d in enumerate(delays):
        n = frames - d
        if n > 0:
            out[:, q, :n] = step_logits[:, q, d:d + n]
            mask[q, :n] = True
    return out, mask


@torch.no_grad()
def generate_delay(lm: AudiocraftLM, delays: list[int], cross: torch.Tensor | None, prefix: torch.Tensor | None,
                   frames: int, params: AudiocraftSampling, generators: list[torch.Generator], *,
                   guided: bool = True, record_logits: bool = False,
                   on_step: Callable[[int, int], None] | None = None,
                   cancel: threading.Event | None = None, guidance: Guidance | None = None,
                   prompt: torch.Tensor | None = None) -> DelayOutput:
    """Generate ``frames`` frames. ``cross``/``prefix`` hold 2B rows (cond, then uncond) when ``guided``;
    with ``guidance`` (e.g. MusicGen-Style's double CFG) they hold ``guidance.copies * B`` rows and
    ``guidance.combine`` replaces the plain mix.

    ``prompt`` (B, K, P) codes to continue from: they are laid on the pattern and run through the
    LM in one forward (every step whose outputs are all prompt), then the new frames follow; the
    result holds only the ``frames`` new frames. Without a prompt the loop is audiocraft's exactly."""
    if not isinstance(frames, int) or frames < 1:
        raise EngineError("invalid_field", f"frames must be a positive integer, got {frames!r}", field="frames")
    rows = next((t.shape[0] for t in (cross, prefix) if t is not None), None)
    if rows is None:
        raise ValueError("at least one condition (cross or prefix) is needed to know the batch size")
    copies = guidance.copies if guidance is not None else (2 if guided else 1)
    batch = rows // copies
    special, k = lm.special_token_id, lm.settings.n_q
    device = next(lm.parameters()).device
    known = 0 if prompt is None else int(prompt.shape[-1])
    steps = known + frames + max(delays) + 1
    seq = torch.full((batch, k, steps), special, dtype=torch.long, device=device)
    if prompt is not None:
        for q, d in enumerate(delays):  # step 1 + d + t holds frame t of codebook q
            seq[:, q, 1 + d:1 + d + known] = prompt[:, q].to(device)
    # the first step that draws a new frame; every input before it goes in with the first call
    first = known + min(delays) + 1 if known else 1
    cache = KVCache.empty(lm.settings.num_layers)
    out = DelayOutput(torch.empty(0))
    for s in range(first, steps):
        if cancel is not None and cancel.is_set():
            raise EngineError("cancelled", "the job was cancelled")
        inp = seq[..., :s] if s == first else seq[..., s - 1:s]
        logits = lm(torch.cat([inp] * copies), cross, prefix if s == first else None, cache=cache)[:, :, -1]
        if guidance is not None:
            logits = guidance.combine(logits)
        elif guided:
            cond, uncond = logits.split(batch)
            logits = uncond + (cond - uncond) * params.cfg_coef
        if record_logits:
            out.step_logits.append(logits)
        tokens, _ = choose(logits, params, generators)
        for q, d in enumerate(delays):
            if known <= s - 1 - d < known + frames:
                seq[:, q, s] = tokens[:, q]
        if on_step is not None:
            on_step(s - first + 1, steps - first)
    out.tokens = torch.stack([seq[:, q, 1 + d + known:1 + d + known + frames] for q, d in enumerate(delays)], dim=1)
    return out
