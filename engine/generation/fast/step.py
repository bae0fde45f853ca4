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

Projections are :mod:`.linear` objects called as ``lin(x)``: the model's own fp32 tensors on the exact
path, converted or quantized copies (q/k/v and the heads fused) for another precision
(:mod:`.precision`).

>>> w = DecoderWeights(loaded.model)  # needs a loaded model  # doctest: +SKIP
>>> w8 = DecoderWeights(loaded.model, "int8")  # needs a loaded model  # doctest: +SKIP
>>> cache = KVCache.allocate(w, rows=2, length=64)  # needs a loaded model  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import torch
import torch.nn.functional as F

from .linear import Dense, Linear, fused, make
from .precision import Plan, plan_for


@dataclass
class LayerWeights:
    """One decoder layer's norms and projections (exact path: the model's tensors, nothing copied)."""

    norm1: tuple[torch.Tensor, torch.Tensor, float]
    q: Linear | None  # None where ``qkv`` holds them
    k: Linear | None
    v: Linear | None
    o: Linear
    norm_cross: tuple[torch.Tensor, torch.Tensor, float] | None  # None: melody decoders have no cross-attention
    cq: Linear | None
    ck: Linear | None
    cv: Linear | None
    co: Linear | None
    norm2: tuple[torch.Tensor, torch.Tensor, float]
    fc1: Linear
    fc2: Linear
    act: torch.nn.Module
    qkv: Linear | None = None  # q, k and v as one product (not on the exact path: it rounds differently)


def _norm(module: torch.nn.LayerNorm, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor, float]:
    return module.weight.detach().to(dtype), module.bias.detach().to(dtype), module.eps


def _weight(linear: torch.nn.Linear) -> torch.Tensor:
    if linear.bias is not None:  # MusicGen's decoder linears have no bias; refuse a model that does
        raise ValueError("fast decoder expects bias-free decoder projections")
    return linear.weight


class DecoderWeights:
    """A MusicGen(-Melody) model's decoder in one precision: embeddings, layers, final norm and heads.

    ``precision`` (``fp32|bf16|fp16|int8``; None: the model's dtype, the exact path that only
    references the model's tensors) picks a :class:`~.precision.Plan`; any other builds copies.
    """

    def __init__(self, model: Any, precision: str | None = None) -> None:  # a transformers MusicGen(-Melody) model
        causal_lm = model.decoder
        decoder = causal_lm.model.decoder
        config = decoder.config
        device = decoder.embed_tokens[0].weight.device
        self.plan: Plan = plan_for(precision, device, decoder.embed_tokens[0].weight.dtype)
        act_dtype, kind = self.plan.activations, self.plan.kind

        def lin(linear: torch.nn.Linear) -> Linear:
            return Dense(_weight(linear)) if self.plan.exact else make(kind, _weight(linear), act_dtype)

        def norm(module: torch.nn.LayerNorm) -> tuple[torch.Tensor, torch.Tensor, float]:
            return _norm(module, act_dtype)

        self.num_codebooks = int(config.num_codebooks)
        self.num_heads = int(config.num_attention_heads)
        self.hidden = int(config.hidden_size)
        self.head_dim = self.hidden // self.num_heads
        self.scale = self.head_dim ** -0.5  # the value transformers passes to SDPA
        self.embed_scale = float(decoder.embed_scale)  # 1.0 for every published checkpoint; kept for honesty
        self.embeds = [emb.weight.detach().to(act_dtype) for emb in decoder.embed_tokens]
        self.positions_module = decoder.embed_positions
        self.final_norm = norm(decoder.layer_norm)
        self.heads = [lin(head) for head in causal_lm.lm_heads] if self.plan.exact else []
        # one product for every codebook head, off the exact path
        self.heads_fused = None if self.plan.exact else fused(kind, [_weight(h) for h in causal_lm.lm_heads], act_dtype)
        self.layers = []
        for layer in decoder.layers:
            cross = getattr(layer, "encoder_attn", None)
            attn = layer.self_attn
            separate = self.plan.exact  # off the exact path q, k and v are one fused product
            self.layers.append(LayerWeights(
                norm1=norm(layer.self_attn_layer_norm),
                q=lin(attn.q_proj) if separate else None, k=lin(attn.k_proj) if separate else None,
                v=lin(attn.v_proj) if separate else None, o=lin(attn.out_proj),
                norm_cross=norm(layer.encoder_attn_layer_norm) if cross is not None else None,
                cq=lin(cross.q_proj) if cross is not None else None,
                ck=lin(cross.k_proj) if cross is not None else None,
                cv=lin(cross.v_proj) if cross is not None else None,
                co=lin(cross.out_proj) if cross is not None else None,
                norm2=norm(layer.final_layer_norm),
                fc1=lin(layer.fc1), fc2=lin(layer.fc2), act=layer.activation_fn,
                qkv=None if separate else fused(
                    kind, [_weight(attn.q_proj), _weight(attn.k_proj), _weight(attn.v_proj)], act_dtype)))
        self.dtype = act_dtype
        self.device = device

    def position_table(self, length: int) -> torch.Tensor:
        """Sinusoidal positions ``(length, hidden)``; grown like transformers grows them when too short."""
        table = self.positions_module.weights
        if length > table.shape[0]:
            table = self.positions_module.get_embedding(length, self.hidden).to(table.device, table.dtype)
        return table.to(self.dtype)


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
    states = states.to(w.dtype)
    keys = [cast(Linear, lw.ck)(states).view(shape).transpose(1, 2) for lw in w.layers]
    values = [cast(Linear, lw.cv)(states).view(shape).transpose(1, 2) for lw in w.layers]
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
    q = _heads(lw.cq(x), w)
    attn = F.scaled_dot_product_attention(q, cross.keys[idx], cross.values[idx], attn_mask=cross.mask,
                                          scale=w.scale)
    return h + cast(Linear, lw.co)(_merge(attn))


def _mlp(w: DecoderWeights, lw: LayerWeights, h: torch.Tensor) -> torch.Tensor:
    x = F.layer_norm(h, (w.hidden,), *lw.norm2)
    return h + lw.fc2(lw.act(lw.fc1(x)))


def logits_last(w: DecoderWeights, h: torch.Tensor) -> torch.Tensor:
    """Final norm and the codebook heads on the last position: (rows * codebooks, vocab), row-major by take."""
    x = F.layer_norm(h[:, -1:], (w.hidden,), *w.final_norm)
    if w.heads_fused is not None:  # (rows, 1, K * vocab): the same row-major order as the stack below
        return w.heads_fused(x).reshape(x.shape[0] * w.num_codebooks, -1)
    logits = torch.stack([head(x) for head in w.heads], dim=1)  # (rows, K, 1, vocab)
    return logits.reshape(-1, logits.shape[-1])


def _qkv(w: DecoderWeights, lw: LayerWeights, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    if lw.qkv is not None:
        return tuple(_heads(part, w) for part in lw.qkv(x).split(w.hidden, dim=-1))
    return tuple(_heads(cast(Linear, m)(x), w) for m in (lw.q, lw.k, lw.v))


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
        q, k, v = _qkv(w, lw, x)
        cache.keys[idx][:, :, start:end] = k
        cache.values[idx][:, :, start:end] = v
        attn = F.scaled_dot_product_attention(q, cache.keys[idx][:, :, :end], cache.values[idx][:, :, :end],
                                              is_causal=time > 1, scale=w.scale)
        h = h + lw.o(_merge(attn))
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
        q, k, v = _qkv(w, lw, x)
        cache.keys[idx].index_copy_(2, pos, k)
        cache.values[idx].index_copy_(2, pos, v)
        attn = F.scaled_dot_product_attention(q, cache.keys[idx], cache.values[idx], attn_mask=mask, scale=w.scale)
        h = h + lw.o(_merge(attn))
        h = _cross(w, lw, h, cross, idx)
        h = _mlp(w, lw, h)
    return logits_last(w, h)
