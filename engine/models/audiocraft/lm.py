"""audiocraft's transformer language model over codec tokens (AudioGen, MusicGen, MAGNeT, MusicGen-Style).

One embedding table per codebook (``card + 1`` rows: the last id is the special/mask token),
summed over codebooks; sinusoidal positions over the whole input (prepended conditions included);
pre-norm layers of self-attention, optional cross-attention to the conditions (without a key
mask: padded condition positions take part, as in audiocraft), and a feed-forward block; a final
norm and one output head per codebook. Attention runs through
``torch.nn.functional.scaled_dot_product_attention``.

The forward serves every family:

* ``causal`` (default from the checkpoint) for the delay-pattern models, ``causal=False`` plus an
  additive ``attn_mask`` for MAGNeT's later stages;
* ``cache`` (a :class:`KVCache`) for step-by-step decoding: each call appends its keys/values and
  positions continue where the cache ends.

>>> lm = AudiocraftLM(LMSettings(dim=32, num_heads=4, num_layers=2, ffn=128, n_q=4, card=48))
>>> lm(torch.full((1, 4, 3), 48)).shape
torch.Size([1, 4, 3, 48])
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {"gelu": F.gelu, "relu": F.relu}


@dataclass
class LMSettings:
    """Everything the module shapes depend on; :func:`~.builder.lm_settings` reads them from ``xp.cfg``."""

    dim: int
    num_heads: int
    num_layers: int
    ffn: int
    n_q: int
    card: int
    activation: str = "gelu"
    causal: bool = True
    cross_attention: bool = False
    bias_attn: bool = False
    bias_ff: bool = False
    bias_proj: bool = False
    max_period: float = 10000.0
    positional_scale: float = 1.0
    extra: dict = field(default_factory=dict)  # family-specific settings (e.g. MAGNeT's subcodes_context)


def sin_embedding(positions: torch.Tensor, dim: int, max_period: float, dtype: torch.dtype) -> torch.Tensor:
    """``cat[cos, sin]`` of ``positions / max_period ** (i / (dim/2 - 1))``; positions (B, T, 1) int64."""
    half = dim // 2
    index = torch.arange(half, device=positions.device).view(1, 1, -1)
    period = torch.full([], max_period, device=positions.device, dtype=dtype)
    phase = positions / (period ** (index / (half - 1)))
    return torch.cat([torch.cos(phase), torch.sin(phase)], dim=-1)


@dataclass
class KVCache:
    """Self-attention keys/values of the positions already run, one (B, H, T, hd) pair per layer."""

    keys: list[torch.Tensor | None]
    values: list[torch.Tensor | None]

    @classmethod
    def empty(cls, layers: int) -> KVCache:
        return cls([None] * layers, [None] * layers)

    @property
    def length(self) -> int:
        return 0 if self.keys[0] is None else self.keys[0].shape[2]

    def select(self, rows: torch.Tensor) -> None:
        """Keep only ``rows`` of the batch (e.g. after dropping finished takes)."""
        self.keys = [None if k is None else k[rows] for k in self.keys]
        self.values = [None if v is None else v[rows] for v in self.values]


class Attention(nn.Module):
    """Multi-head attention with one packed q/k/v projection (``in_proj_weight``) and ``out_proj``."""

    def __init__(self, dim: int, heads: int, bias: bool) -> None:
        super().__init__()
        self.dim, self.heads = dim, heads
        self.in_proj_weight = nn.Parameter(torch.zeros(3 * dim, dim))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * dim)) if bias else None
        self.out_proj = nn.Linear(dim, dim, bias=bias)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        return x.view(b, t, self.heads, -1).transpose(1, 2)

    def _merge(self, x: torch.Tensor) -> torch.Tensor:
        b, _, t, _ = x.shape
        return self.out_proj(x.transpose(1, 2).reshape(b, t, self.dim))

    def self_attend(self, x: torch.Tensor, causal: bool, mask: torch.Tensor | None, cache: KVCache | None,
                    idx: int) -> torch.Tensor:
        q, k, v = (self._split(p) for p in F.linear(x, self.in_proj_weight, self.in_proj_bias).chunk(3, dim=-1))
        past = 0
        if cache is not None:
            old_k, old_v = cache.keys[idx], cache.values[idx]
            if old_k is not None and old_v is not None:
                past = old_k.shape[2]
                k = torch.cat([old_k, k], dim=2)
                v = torch.cat([old_v, v], dim=2)
            cache.keys[idx], cache.values[idx] = k, v
        steps = q.shape[2]
        if causal and (past > 0 or mask is not None) and steps > 1:
            allowed = torch.ones(steps, past + steps, dtype=torch.bool, device=x.device).tril(past)
            causal_add = torch.zeros(allowed.shape, dtype=q.dtype, device=x.device).masked_fill(~allowed, float("-inf"))
            mask = causal_add if mask is None else mask + causal_add
            causal = False
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal and steps > 1)
        return self._merge(out)

    def cross_attend(self, x: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
        w, b, d = self.in_proj_weight, self.in_proj_bias, self.dim
        parts = [F.linear(t, w[i * d:(i + 1) * d], None if b is None else b[i * d:(i + 1) * d])
                 for i, t in enumerate((x, source, source))]
        q, k, v = (self._split(p) for p in parts)
        return self._merge(F.scaled_dot_product_attention(q, k, v))  # no key mask, as audiocraft


class Layer(nn.Module):
    """Pre-norm block: x += SA(norm1 x); x += CA(norm_cross x, cond); x += FF(norm2 x)."""

    def __init__(self, s: LMSettings) -> None:
        super().__init__()
        self.self_attn = Attention(s.dim, s.num_heads, s.bias_attn)
        self.norm1 = nn.LayerNorm(s.dim, eps=1e-5)
        if s.cross_attention:
            self.cross_attention = Attention(s.dim, s.num_heads, s.bias_attn)
            self.norm_cross = nn.LayerNorm(s.dim, eps=1e-5)
        self.linear1 = nn.Linear(s.dim, s.ffn, bias=s.bias_ff)
        self.linear2 = nn.Linear(s.ffn, s.dim, bias=s.bias_ff)
        self.norm2 = nn.LayerNorm(s.dim, eps=1e-5)
        self.act = ACTIVATIONS[s.activation]

    def forward(self, x: torch.Tensor, causal: bool, mask: torch.Tensor | None, cross: torch.Tensor | None,
                cache: KVCache | None, idx: int) -> torch.Tensor:
        x = x + self.self_attn.self_attend(self.norm1(x), causal, mask, cache, idx)
        if cross is not None:
            x = x + self.cross_attention.cross_attend(self.norm_cross(x), cross)
        return x + self.linear2(self.act(self.linear1(self.norm2(x))))


class _Stack(nn.Module):
    def __init__(self, s: LMSettings) -> None:
        super().__init__()
        self.layers = nn.ModuleList(Layer(s) for _ in range(s.num_layers))


class AudiocraftLM(nn.Module):
    """The LM. State names match audiocraft's exported ``state_dict.bin`` (minus the conditioners)."""

    def __init__(self, s: LMSettings) -> None:
        super().__init__()
        self.settings = s
        self.emb = nn.ModuleList(nn.Embedding(s.card + 1, s.dim) for _ in range(s.n_q))
        self.transformer = _Stack(s)
        self.out_norm = nn.LayerNorm(s.dim, eps=1e-5)
        self.linears = nn.ModuleList(nn.Linear(s.dim, s.card, bias=s.bias_proj) for _ in range(s.n_q))

    @property
    def special_token_id(self) -> int:
        return self.settings.card

    def forward(self, codes: torch.Tensor, cross: torch.Tensor | None = None, prefix: torch.Tensor | None = None,
                *, causal: bool | None = None, attn_mask: torch.Tensor | None = None,
                cache: KVCache | None = None) -> torch.Tensor:
        """Logits ``(B, K, S, card)`` for input tokens ``codes`` ``(B, K, S)`` (ids ``0..card``).

        ``cross`` (B, L, dim): cross-attention source (all L positions attended, no key mask).
        ``prefix`` (B, P, dim): conditions prepended to the token embeddings; positions run over
        the concatenation and only the last S outputs are returned. With a ``cache``, pass the
        prefix on the first call only.
        ``attn_mask``: additive float mask broadcastable to (B, H, P+S, past+P+S), added to the
        self-attention scores of every layer (MAGNeT's local window); combined with ``causal``.
        """
        s = self.settings
        steps = codes.shape[-1]
        x = self.emb[0](codes[:, 0])
        for k in range(1, codes.shape[1]):
            x = x + self.emb[k](codes[:, k])
        if prefix is not None:
            x = torch.cat([prefix.to(x.dtype), x], dim=1)
        past = 0 if cache is None else cache.length
        positions = torch.arange(x.shape[1], device=x.device).view(1, -1, 1) + past
        x = x + s.positional_scale * sin_embedding(positions, s.dim, s.max_period, x.dtype)
        causal = s.causal if causal is None else causal
        if cross is not None and not s.cross_attention:
            raise ValueError("this LM has no cross-attention")
        for idx, layer in enumerate(self.transformer.layers):
            x = layer(x, causal, attn_mask, cross, cache, idx)
        x = self.out_norm(x[:, -steps:])
        return torch.stack([head(x) for head in self.linears], dim=1)
