"""Continuous batching for the fast decoder: many generations advance by one shared decoding step.

A :class:`Sequence` is one generation's state — its conditioning, delay pattern, KV cache, cross
keys/values, position, seeds and sampling settings — built and prefilled on its own, with the
shapes a solo generation uses. :func:`batched_step` then advances any set of sequences by one
step together:

* the linear layers (q/k/v/out, cross q/out, MLP, heads) run once over every sequence's rows,
  padded to at least :func:`row_floor` rows;
* self- and cross-attention run per sequence on its own cache slice ``[:pos + 1]``, the shapes of
  a solo step, since sequences sit at different positions;
* each sequence guides and samples its own rows with its own ``torch.Generator`` per take.

Why the padding: a CPU BLAS picks its kernel by the number of rows, and kernels round differently
(docs/benchmarks.md), so a row's product can change when a neighbour joins. :func:`row_floor`
measures, on the model's own weight shapes, the row count from which every count up to the
batch's maximum gives each row the same bits whatever its neighbours (MKL fp32: 4). Padding
every step to at least that many rows makes a sequence's logits — hence its tokens — independent
of its batch mates and of when it joined. Where no such count exists (a kernel that mixes rows,
such as per-tensor dynamic activation quantization), :func:`row_floor` returns None and callers
step each sequence alone.

Precision: the projections are the :mod:`.linear` objects of one :class:`~.step.DecoderWeights`
(one precision), so a batch only holds sequences of that precision; the batcher keeps one worker
per model and precision. ``int8`` quantizes a call's activations with one scale for all its rows,
so a row's result depends on its neighbours: int8 sequences always step alone (floor None).

>>> seq = Sequence(loaded, w, cond, frames=8, params=SamplingParams(), seeds=[1])  # needs a loaded model  # doctest: +SKIP
>>> seq.prefill()  # needs a loaded model  # doctest: +SKIP
>>> while not seq.finished: batched_step(w, [seq], floor=4)  # needs a loaded model  # doctest: +SKIP
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, cast

import torch
import torch.nn.functional as F

from ...models.registry import LoadedModel
from ..reference import Conditioning, StepCallback, codebook_delays, undelay
from ..sampling import SamplingParams, choose_tokens, guide, make_generators
from .conditioning import delay_pattern
from .decoder import _check, _prepare, _start_token
from .linear import Linear
from .step import CrossKV, DecoderWeights, KVCache, _heads, _merge, _mlp, _qkv, cross_kv, embed, forward, logits_last


def _lin(x: torch.Tensor, lin: Any) -> torch.Tensor:
    """The batched path's one linear call: ``lin`` is a :mod:`.linear` object of the batch's precision."""
    return cast(Linear, lin)(x)


class Sequence:
    """One generation inside a batch; same contract and arguments as ``generate_fast``."""

    def __init__(self, loaded: LoadedModel, w: DecoderWeights, cond: Conditioning, frames: int,
                 params: SamplingParams, seeds: list[int], on_step: StepCallback | None = None,
                 cancel: threading.Event | None = None) -> None:
        _check(loaded, cond, frames, seeds, "exact")
        self.loaded, self.w, self.cond, self.params = loaded, w, cond, params
        self.frames, self.on_step, self.cancel = frames, on_step, cancel
        self.takes, self.k = len(cond.prompts), loaded.num_codebooks
        self.delays = codebook_delays(self.k, loaded.audio_channels)
        self.n_steps = frames + max(self.delays)
        self.guided = params.uses_cfg
        self.generators = make_generators(seeds, loaded.device)
        prompt = cond.audio_prompt_codes
        self.prompt = None if prompt is None or prompt.shape[-1] == 0 else prompt.to(loaded.device, torch.long)
        self.n_prompt = 0 if self.prompt is None else self.prompt.shape[-1]
        self.step = 0  # steps whose token is chosen
        self.rows = 0
        self.cache: KVCache | None = None
        self.cross: CrossKV | None = None
        self.error: BaseException | None = None  # set when its own step work (sampling, on_step) failed

    @property
    def finished(self) -> bool:
        return self.step >= self.n_steps

    @property
    def remaining(self) -> int:
        return self.n_steps - self.step

    def prefill(self) -> None:
        """Condition, fill the cache with the prefix and prompt, and choose step 0 (solo shapes)."""
        loaded, w = self.loaded, self.w
        prep = _prepare(loaded, self.cond, self.guided)
        self.rows = prep.rows
        self.pattern = delay_pattern(self.prompt, self.takes, self.k, self.delays, self.frames,
                                     _start_token(loaded.model), loaded.device)
        self.first_pos = prep.prefix_len + self.n_prompt
        length = self.first_pos + self.n_steps
        self.positions = w.position_table(length)
        self.cache = KVCache.allocate(w, prep.rows, length)
        if prep.cross_states is not None:
            self.cross = cross_kv(w, prep.cross_states, prep.cross_mask)
        row_pattern = self.pattern.repeat(2, 1, 1) if self.guided else self.pattern
        hidden = embed(w, row_pattern[:, :, :1 + self.n_prompt])
        if prep.prefix is not None:
            hidden = torch.cat([prep.prefix.to(w.dtype), hidden], dim=1)
        hidden = hidden + self.positions[:hidden.shape[1]]
        self.chosen = torch.empty((self.n_steps, self.takes * self.k), dtype=torch.long, device=loaded.device)
        self.accept(forward(w, self.cache, hidden, 0, self.cross))

    @property
    def position(self) -> int:
        """The position the next step feeds."""
        return self.first_pos + self.step

    def next_input(self) -> torch.Tensor:
        """The tokens (rows, K) the next step feeds: the last choices under the delay pattern."""
        template = self.pattern[:, :, self.n_prompt + self.step]
        tokens = torch.where(template == -1, self.chosen[self.step - 1].view(self.takes, self.k), template)
        return tokens.repeat(2, 1) if self.guided else tokens

    def accept(self, logits: torch.Tensor) -> None:
        """Choose this step's tokens from its logits (rows * K, vocab) and move on one step."""
        scores = logits.float()
        if self.guided:
            cond_scores, uncond_scores = scores.split(scores.shape[0] // 2)
            scores = guide(cond_scores, uncond_scores, self.params.cfg)
        self.chosen[self.step] = choose_tokens(scores, self.params, self.generators, self.k)
        self.step += 1
        if self.on_step is not None:
            self.on_step(self.step, self.n_steps)

    def tokens(self) -> torch.Tensor:
        """The new frames (takes, K, frames) on the CPU, once finished."""
        return undelay(self.chosen.t().cpu(), self.takes, self.delays, self.frames)


def _attend(q: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, mask: torch.Tensor | None,
            scale: float) -> torch.Tensor:
    return F.scaled_dot_product_attention(q, keys, values, attn_mask=mask, scale=scale)


def batched_step(w: DecoderWeights, seqs: list[Sequence], floor: int) -> None:
    """Advance every sequence in ``seqs`` (prefilled, unfinished) by one step, rows padded to ``floor``."""
    spans, start = [], 0
    for seq in seqs:
        spans.append((seq, start, start + seq.rows))
        start += seq.rows
    real = start
    padded = max(real, floor)
    tokens = torch.cat([seq.next_input() for seq in seqs])
    pos_rows = torch.cat([torch.full((seq.rows,), seq.position, dtype=torch.long) for seq in seqs])
    table = seqs[0].positions if len(seqs) == 1 else _longest_table(seqs)
    if padded > real:  # token 0 at position 0: any valid input; its rows are dropped
        tokens = torch.cat([tokens, tokens.new_zeros((padded - real, tokens.shape[1]))])
        pos_rows = torch.cat([pos_rows, pos_rows.new_zeros(padded - real)])
    h = embed(w, tokens[:, :, None]) + table[pos_rows.to(table.device)][:, None, :]
    pad = None
    for idx, lw in enumerate(w.layers):
        x = F.layer_norm(h, (w.hidden,), *lw.norm1)
        q, k, v = _qkv(w, lw, x)  # fused off the exact path
        parts = []
        for seq, a, b in spans:
            cache, p = seq.cache, seq.position
            assert cache is not None
            cache.keys[idx][:, :, p:p + 1] = k[a:b]
            cache.values[idx][:, :, p:p + 1] = v[a:b]
            parts.append(_attend(q[a:b], cache.keys[idx][:, :, :p + 1], cache.values[idx][:, :, :p + 1], None,
                                 w.scale))
        if pad is None and padded > real:
            pad = torch.zeros_like(q[real:])
        h = h + _lin(_merge(torch.cat(parts + ([pad] if pad is not None else []))), lw.o)
        if lw.cq is not None and seqs[0].cross is not None:
            x = F.layer_norm(h, (w.hidden,), *lw.norm_cross)  # type: ignore[misc]  # set with cq
            cq = _heads(_lin(x, lw.cq), w)
            parts = []
            for seq, a, b in spans:
                cross = seq.cross
                assert cross is not None
                parts.append(_attend(cq[a:b], cross.keys[idx], cross.values[idx], cross.mask, w.scale))
            h = h + _lin(_merge(torch.cat(parts + ([pad] if pad is not None else []))), lw.co)
        h = _mlp(w, lw, h)
    logits = logits_last(w, h)
    k_books = w.num_codebooks
    for seq, a, b in spans:
        try:  # one generation's failure (its callback, its sampling) is its own
            seq.accept(logits[a * k_books:b * k_books])
        except Exception as exc:  # noqa: BLE001 - the scheduler hands it to that generation's caller
            seq.error = exc


def _longest_table(seqs: list[Sequence]) -> torch.Tensor:
    return max((seq.positions for seq in seqs), key=lambda t: t.shape[0])


def row_floor(w: DecoderWeights, max_rows: int, linear: Callable[[torch.Tensor, Any], torch.Tensor] = _lin,
              seed: int = 0) -> int | None:
    """The smallest row count ``f`` such that, for every count in ``[f, max_rows]``, a row's product
    with each of the decoder's projections (in ``w``'s precision) has the same bits whatever the
    other rows hold.

    None when even ``max_rows`` rows give a row different bits under different neighbours, and
    always for int8 weights (one activation scale per call mixes the rows).

    >>> row_floor(DecoderWeights(loaded.model), 16)  # MKL fp32 on x86  # doctest: +SKIP
    4
    """
    if w.plan.kind == "int8":
        return None
    lw = w.layers[0]
    weights = [lw.qkv or lw.q, lw.fc1, lw.fc2, w.heads_fused or w.heads[0]]
    gen = torch.Generator().manual_seed(seed)
    floor = 1
    for weight in weights:
        d_in = cast(Linear, weight).in_features

        def rand(rows: int, d_in: int = d_in) -> torch.Tensor:
            return torch.randn((rows, d_in), generator=gen).to(w.device, w.dtype)

        probe = rand(1)
        with torch.inference_mode():
            ref = linear(torch.cat([probe, rand(max_rows - 1)]), weight)[0]
            lowest = None
            for rows in range(max_rows, 0, -1):
                mates = rand(rows)
                mates[rows - 1] = probe[0]
                if not torch.equal(linear(mates, weight)[rows - 1], ref):
                    break
                lowest = rows
        if lowest is None:
            return None
        floor = max(floor, lowest)
    return floor
