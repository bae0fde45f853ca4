"""The MusicGen decoder's arithmetic on its own weight tensors, with a preallocated KV cache.

This mirrors, op for op, what transformers' Musicgen(Melody)ForCausalLM computes during ``generate``
(same linear layers, layer norms, activation, ``scaled_dot_product_attention`` with the same scale,
same order of additions) so the logits match the reference; what it drops is the per-step
overhead: no cache objects, no mask building, no re-projection of the conditioning, cross-attention
keys/values computed once.

Two self-attention variants:

* :func:`forward` (``exact``): attends to the cache slice ``[:pos + 1]``, the shapes the reference
  uses, so on CPU the logits are the reference's;
* :func:`step_static`: one token, fixed shapes, position given as a device tensor, attends to the
  whole cache under a mask. It never syncs with the host, so it can be captured as a CUDA graph.

>>> w = DecoderWeights(loaded.model)  # needs a loaded model  # doctest: +SKIP
>>> cache = KVCache.allocate(w, rows=2, length=64)  # needs a loaded model  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import torch
import torch.nn.functional as F


@dataclass
class LayerWeights:
    """References to one decoder layer's tensors (nothing is copied)."""

    norm1: tuple[torch.Tensor, torch.Tensor, float]
    q: torch.Tensor
    k: torch.Tensor
    v: torch.Tensor
    o: torch.Tensor
    norm_cross: tuple[torch.Tensor, torch.Tensor, float] | None  # None: melody decoders have no cross-attention
    cq: torch.Tensor | None
    ck: torch.Tensor | None
    cv: torch.Tensor | None
    co: torch.Tensor | None
    norm2: tuple[torch.Tensor, torch.Tensor, float]
    fc1: torch.Tensor
    fc2: torch.Tensor
    act: torch.nn.Module


def _norm(module: torch.nn.LayerNorm) -> tuple[torch.Tensor, torch.Tensor, float]:
    return module.weight, module.bias, module.eps


def _weight(linear: torch.nn.Linear) -> torch.Tensor:
    if linear.bias is not None:  # MusicGen's decoder linears have no bias; refuse a model that does
        raise ValueError("fast decoder expects bias-free decoder projections")
    return linear.weight


class DecoderWeights:
    """A view on a MusicGen(-Melody) model's decoder: embeddings, layers, final norm and heads."""

    def __init__(self, model: Any) -> None:  # a transformers MusicGen(-Melody) model
        causal_lm = model.decoder
        decoder = causal_lm.model.decoder
        config = decoder.config
        self.num_codebooks = int(config.num_codebooks)
        self.num_heads = int(config.num_attention_heads)
        self.hidden = int(config.hidden_size)
        self.head_dim = self.hidden // self.num_heads
        self.scale = self.head_dim ** -0.5  # the value transformers passes to SDPA
        self.embed_scale = float(decoder.embed_scale)  # 1.0 for every published checkpoint; kept for honesty
        self.embeds = [emb.weight for emb in decoder.embed_tokens]
        self.positions_module = decoder.embed_positions
        self.final_norm = _norm(decoder.layer_norm)
        self.heads = [_weight(head) for head in causal_lm.lm_heads]
        self.layers = []
        for layer in decoder.layers:
            cross = getattr(layer, "encoder_attn", None)
            self.layers.append(LayerWeights(
                norm1=_norm(layer.self_attn_layer_norm),
                q=_weight(layer.self_attn.q_proj), k=_weight(layer.self_attn.k_proj),
                v=_weight(layer.self_attn.v_proj), o=_weight(layer.self_attn.out_proj),
                norm_cross=_norm(layer.encoder_attn_layer_norm) if cross is not None else None,
                cq=_weight(cross.q_proj) if cross is not None else None,
                ck=_weight(cross.k_proj) if cross is not None else None,
                cv=_weight(cross.v_proj) if cross is not None else None,
                co=_weight(cross.out_proj) if cross is not None else None,
                norm2=_norm(layer.final_layer_norm),
                fc1=_weight(layer.fc1), fc2=_weight(layer.fc2), act=layer.activation_fn))
        self.dtype = self.embeds[0].dtype
        self.device = self.embeds[0].device

    def position_table(self, length: int) -> torch.Tensor:
        """Sinusoidal positions ``(length, hidden)``; grown like transformers grows them when too short."""
        table = self.positions_module.weights
        if length > table.shape[0]:
            table = self.positions_module.get_embedding(length, self.hidden).to(table.device, table.dtype)
        return table


@dataclass
class KVCache:
    """Self-attention keys and values for every layer, ``(rows, heads, length, head_dim)`` each."""

    keys: list[torch.Tensor]
    values: list[torch.Tensor]

    @classmethod
    def allocate(cls, w: DecoderWeights, rows: int, length: int) -> KVCache:
        shape = (rows, w.num_heads, length, w.head_dim)
        return cls([torch.zeros(shape, dtype=w.dtype, device=w.device) for _ in w.layers],
                   [torch.zeros(shape, dtype=w.dtype, device=w.device) for _ in w.layers])

    @property
    def length(self) -> int:
        return self.keys[0].shape[2]


@dataclass
class CrossKV:
    """Cross-attention keys/values per layer, computed once from the conditioning, and their mask."""

    keys: list[torch.Tensor]
    values: list[torch.Tensor]
    mask: torch.Tensor | None  # bool (rows, 1, 1, source) or None when nothing is masked


def cross_kv(w: DecoderWeights, states: torch.Tensor, mask: torch.Tensor | None) -> CrossKV:
    """Project ``states`` (rows, source, hidden) through every layer's cross-attention k/v once."""
    rows, source, _ = states.shape
    shape = (rows, source, -1, w.head_dim)
    keys = [F.linear(states, cast(torch.Tensor, lw.ck)).view(shape).transpose(1, 2) for lw in w.layers]
    values = [F.linear(states, cast(torch.Tensor, lw.cv)).view(shape).transpose(1, 2) for lw in w.layers]
    return CrossKV(keys, values, mask)


def embed(w: DecoderWeights, tokens: torch.Tensor) -> torch.Tensor:
    """Sum of the codebook embeddings of ``tokens`` (rows, codebooks, time) -> (rows, time, hidden)."""
    total: Any = 0  # start from 0 and add codebook by codebook: the reference's summation order
    for k, table in enumerate(w.embeds):
        total = total + F.embedding(tokens[:, k], table)
    return total if w.embed_scale == 1.0 else total * w.embed_scale


def _heads(x: torch.Tensor, w: DecoderWeights) -> torch.Tensor:
    rows, time, _ = x.shape
    return x.view(rows, time, -1, w.head_dim).transpose(1, 2)


def _merge(attn: torch.Tensor) -> torch.Tensor:
    rows, _, time, _ = attn.shape
    return attn.transpose(1, 2).contiguous().reshape(rows, time, -1)


def _cross(w: DecoderWeights, lw: LayerWeights, h: torch.Tensor, cross: CrossKV | None, idx: int) -> torch.Tensor:
    if cross is None or lw.cq is None:
        return h
    x = F.layer_norm(h, (w.hidden,), *cast(tuple[torch.Tensor, torch.Tensor, float], lw.norm_cross))
    q = _heads(F.linear(x, lw.cq), w)
    attn = F.scaled_dot_product_attention(q, cross.keys[idx], cross.values[idx], attn_mask=cross.mask,
                                          scale=w.scale)
    return h + F.linear(_merge(attn), cast(torch.Tensor, lw.co))


def _mlp(w: DecoderWeights, lw: LayerWeights, h: torch.Tensor) -> torch.Tensor:
    x = F.layer_norm(h, (w.hidden,), *lw.norm2)
    return h + F.linear(lw.act(F.linear(x, lw.fc1)), lw.fc2)


def logits_last(w: DecoderWeights, h: torch.Tensor) -> torch.Tensor:
    """Final norm and the codebook heads on the last position: (rows * codebooks, vocab), row-major by take."""
    x = F.layer_norm(h[:, -1:], (w.hidden,), *w.final_norm)
    logits = torch.stack([F.linear(x, head) for head in w.heads], dim=1)  # (rows, K, 1, vocab)
    return logits.reshape(-1, logits.shape[-1])


def forward(w: DecoderWeights, cache: KVCache, hidden: torch.Tensor, start: int,
            cross: CrossKV | None) -> torch.Tensor:
    """Run ``hidden`` (rows, time, hidden) at positions ``start..start+time-1``; return logits of the last.

    Positions must already be added to ``hidden``. Keys/values are written to the cache and
    attention reads the slice ``[:start+time]`` (causal when ``time > 1``), as the reference does.
    """
    time = hidden.shape[1]
    end = start + time
    h = hidden
    for idx, lw in enumerate(w.layers):
        x = F.layer_norm(h, (w.hidden,), *lw.norm1)
        q, k, v = (_heads(F.linear(x, m), w) for m in (lw.q, lw.k, lw.v))
        cache.keys[idx][:, :, start:end] = k
        cache.values[idx][:, :, start:end] = v
        attn = F.scaled_dot_product_attention(q, cache.keys[idx][:, :, :end], cache.values[idx][:, :, :end],
                                              is_causal=time > 1, scale=w.scale)
        h = h + F.linear(_merge(attn), lw.o)
        h = _cross(w, lw, h, cross, idx)
        h = _mlp(w, lw, h)
    return logits_last(w, h)


def step_static(w: DecoderWeights, cache: KVCache, tokens: torch.Tensor, pos: torch.Tensor,
                positions: torch.Tensor, slots: torch.Tensor, cross: CrossKV | None) -> torch.Tensor:
    """One decoding step with fixed shapes and no host sync (the function a CUDA graph captures).

    ``tokens`` (rows, codebooks, 1) long, ``pos`` (1,) long: the position being fed;
    ``positions`` the sinusoidal table; ``slots`` ``arange(cache.length)`` on the device.
    Attention covers the whole cache with the slots after ``pos`` masked out.
    """
    h = embed(w, tokens) + positions.index_select(0, pos)
    mask = (slots <= pos).view(1, 1, 1, -1)
    for idx, lw in enumerate(w.layers):
        x = F.layer_norm(h, (w.hidden,), *lw.norm1)
        q, k, v = (_heads(F.linear(x, m), w) for m in (lw.q, lw.k, lw.v))
        cache.keys[idx].index_copy_(2, pos, k)
        cache.values[idx].index_copy_(2, pos, v)
        attn = F.scaled_dot_product_attention(q, cache.keys[idx], cache.values[idx], attn_mask=mask, scale=w.scale)
        h = h + F.linear(_merge(attn), lw.o)
        h = _cross(w, lw, h, cross, idx)
        h = _mlp(w, lw, h)
    return logits_last(w, h)
