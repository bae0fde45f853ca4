"""The 1-D diffusion U-Net of Multi-Band Diffusion, built from a checkpoint's ``diffusion_unet`` cfg.

One network predicts the noise of one frequency band. Its parameter names equal those of audiocraft's
``DiffusionUnet`` state dicts, so a published ``model_state`` loads with ``load_state_dict``:

>>> cfg = UnetConfig.from_cfg({"hidden": 4, "depth": 2, "res_blocks": 1, "norm_groups": 4, "kernel": 8,
...     "stride": 4, "growth": 2.0, "max_channels": 10000, "emb_all_layers": True, "bilstm": True,
...     "transformer": False, "cross_attention": False, "codec_dim": 16}, channels=1, num_steps=1000)
>>> net = DiffusionUnet(cfg)
>>> net(torch.zeros(2, 1, 640), 999, condition=torch.zeros(2, 16, 2)).shape
torch.Size([2, 1, 640])

The network is inference-only: it has no dropout and :meth:`DiffusionUnet.train` keeps it in eval
mode (audiocraft's loader leaves its U-Nets in train mode, which makes its output random).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

# Fixed by audiocraft's DiffusionUnet, not by the cfg: the transformer bottleneck always has 8 heads,
# 6 layers, a 2048-wide feed-forward, no biases in attention or feed-forward, and sinusoidal positions.
TRANSFORMER_HEADS = 8
TRANSFORMER_LAYERS = 6
TRANSFORMER_FF = 2048
SIN_MAX_PERIOD = 10_000.0

_REQUIRED = ("hidden", "depth")


@dataclass(frozen=True)
class UnetConfig:
    """Shape of one band's U-Net; every field comes from the checkpoint's cfg."""

    chin: int
    hidden: int
    depth: int
    num_steps: int
    res_blocks: int = 1
    norm_groups: int = 4
    kernel: int = 4
    stride: int = 2
    growth: float = 2.0
    max_channels: int = 10_000
    emb_all_layers: bool = False
    bilstm: bool = False
    transformer: bool = False
    cross_attention: bool = False
    codec_dim: int | None = None

    @classmethod
    def from_cfg(cls, unet: Mapping[str, Any], channels: int, num_steps: int) -> UnetConfig:
        """Read a ``diffusion_unet`` mapping; keys this network has no use for (dropout) are ignored.

        Raises KeyError naming a required key that is missing.
        """
        for key in _REQUIRED:
            if key not in unet:
                raise KeyError(f"diffusion_unet.{key}")
        codec_dim = unet.get("codec_dim")
        return cls(
            chin=int(channels), hidden=int(unet["hidden"]), depth=int(unet["depth"]), num_steps=int(num_steps),
            res_blocks=int(unet.get("res_blocks", 1)), norm_groups=int(unet.get("norm_groups", 4)),
            kernel=int(unet.get("kernel", 4)), stride=int(unet.get("stride", 2)),
            growth=float(unet.get("growth", 2.0)), max_channels=int(unet.get("max_channels", 10_000)),
            emb_all_layers=bool(unet.get("emb_all_layers", False)), bilstm=bool(unet.get("bilstm", False)),
            transformer=bool(unet.get("transformer", False)),
            cross_attention=bool(unet.get("cross_attention", False)),
            codec_dim=None if codec_dim is None else int(codec_dim),
        )

    def widths(self) -> list[tuple[int, int]]:
        """(input, output) channels of each encoder level, top to bottom."""
        out, chin, hidden = [], self.chin, self.hidden
        for _ in range(self.depth):
            out.append((chin, hidden))
            chin, hidden = hidden, min(int(hidden * self.growth), self.max_channels)
        return out

    @property
    def bottleneck(self) -> int:
        return self.widths()[-1][1]


class ResBlock(nn.Module):
    """Two GroupNorm -> ReLU -> dilated conv (kernel 3) stages around a residual connection."""

    def __init__(self, channels: int, groups: int, dilation: int) -> None:
        super().__init__()
        pad = dilation  # keeps the length for kernel 3
        self.norm1 = nn.GroupNorm(groups, channels)
        self.conv1 = nn.Conv1d(channels, channels, 3, padding=pad, dilation=dilation)
        self.norm2 = nn.GroupNorm(groups, channels)
        self.conv2 = nn.Conv1d(channels, channels, 3, padding=pad, dilation=dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.relu(self.norm1(x)))
        return x + self.conv2(F.relu(self.norm2(h)))


def _res_stack(channels: int, cfg: UnetConfig) -> nn.Sequential:
    return nn.Sequential(*[ResBlock(channels, cfg.norm_groups, 2 ** i) for i in range(cfg.res_blocks)])


class EncoderLayer(nn.Module):
    """Strided conv down (input right-padded to whole strides), norm, ReLU, residual blocks."""

    def __init__(self, chin: int, chout: int, cfg: UnetConfig) -> None:
        super().__init__()
        self.stride = cfg.stride
        self.conv = nn.Conv1d(chin, chout, cfg.kernel, cfg.stride, (cfg.kernel - cfg.stride) // 2, bias=False)
        self.norm = nn.GroupNorm(cfg.norm_groups, chout)
        self.res_blocks = _res_stack(chout, cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pad(x, (0, -x.shape[-1] % self.stride))
        return self.res_blocks(F.relu(self.norm(self.conv(x))))


class DecoderLayer(nn.Module):
    """Residual blocks, norm, ReLU, strided transposed conv up."""

    def __init__(self, chin: int, chout: int, cfg: UnetConfig) -> None:
        super().__init__()
        self.res_blocks = _res_stack(chin, cfg)
        self.norm = nn.GroupNorm(cfg.norm_groups, chin)
        self.convtr = nn.ConvTranspose1d(chin, chout, cfg.kernel, cfg.stride, (cfg.kernel - cfg.stride) // 2,
                                         bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.convtr(F.relu(self.norm(self.res_blocks(x))))


class BLSTM(nn.Module):
    """Two-layer bidirectional LSTM over time, projected back to ``dim`` channels. [B, C, T] -> [B, C, T]."""

    def __init__(self, dim: int, layers: int = 2) -> None:
        super().__init__()
        self.lstm = nn.LSTM(input_size=dim, hidden_size=dim, num_layers=layers, bidirectional=True)
        self.linear = nn.Linear(2 * dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y, _ = self.lstm(x.permute(2, 0, 1))
        return self.linear(y).permute(1, 2, 0)


def sin_positions(length: int, dim: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Sinusoidal embedding [1, length, dim]: ``cat[cos, sin]`` of ``pos / 10000**(i/(dim/2-1))``."""
    half = dim // 2
    pos = torch.arange(length, dtype=dtype).view(1, -1, 1)
    freq = torch.arange(half, dtype=dtype).view(1, 1, -1)
    phase = pos / (torch.full([], SIN_MAX_PERIOD, dtype=dtype) ** (freq / (half - 1)))
    return torch.cat([torch.cos(phase), torch.sin(phase)], dim=-1)


class _Attention(nn.Module):
    """Holds the attention as ``.mha`` so checkpoint names (``self_attn.mha.in_proj_weight``) match."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.mha = nn.MultiheadAttention(dim, TRANSFORMER_HEADS, bias=False, batch_first=True)

    def forward(self, q: torch.Tensor, kv: torch.Tensor) -> torch.Tensor:
        return self.mha(q, kv, kv, need_weights=False)[0]


class TransformerLayer(nn.Module):
    """Post-norm encoder layer: ``x = norm1(x + attn(x)); [cross]; x = norm2(x + ff(x))``, ReLU, no biases."""

    def __init__(self, dim: int, cross_attention: bool) -> None:
        super().__init__()
        self.self_attn = _Attention(dim)
        self.linear1 = nn.Linear(dim, TRANSFORMER_FF, bias=False)
        self.linear2 = nn.Linear(TRANSFORMER_FF, dim, bias=False)
        self.norm1 = nn.LayerNorm(dim, eps=1e-5)
        self.norm2 = nn.LayerNorm(dim, eps=1e-5)
        self.cross_attention = _Attention(dim) if cross_attention else None
        self.norm_cross = nn.LayerNorm(dim, eps=1e-5) if cross_attention else None

    def forward(self, src: torch.Tensor, cross: torch.Tensor | None = None) -> torch.Tensor:
        x = self.norm1(src + self.self_attn(src, src))
        if self.cross_attention is not None and self.norm_cross is not None and cross is not None:
            # audiocraft's post-norm layer queries the cross-attention with the layer's input,
            # not with the self-attention output; mirrored so weights trained that way fit.
            x = self.norm_cross(x + self.cross_attention(src, cross))
        return self.norm2(x + self.linear2(F.relu(self.linear1(x))))


class Transformer(nn.Module):
    """Sinusoidal positions then six post-norm layers; batch-first [B, T, C]."""

    def __init__(self, dim: int, cross_attention: bool) -> None:
        super().__init__()
        if dim % TRANSFORMER_HEADS:
            raise ValueError(f"transformer width {dim} is not divisible by {TRANSFORMER_HEADS} heads")
        self.layers = nn.ModuleList([TransformerLayer(dim, cross_attention) for _ in range(TRANSFORMER_LAYERS)])

    def forward(self, x: torch.Tensor, cross: torch.Tensor | None = None) -> torch.Tensor:
        x = x + sin_positions(x.shape[1], x.shape[2], x.dtype).to(x.device)
        for layer in self.layers:
            x = layer(x, cross)
        return x


class DiffusionUnet(nn.Module):
    """Noise predictor ``eps = net(x, step, condition)`` for one band; always in eval mode."""

    def __init__(self, cfg: UnetConfig) -> None:
        super().__init__()
        self.cfg = cfg
        widths = cfg.widths()
        self.encoders = nn.ModuleList([EncoderLayer(i, o, cfg) for i, o in widths])
        self.decoders = nn.ModuleList([DecoderLayer(o, i, cfg) for i, o in reversed(widths)])
        self.embedding = nn.Embedding(cfg.num_steps, cfg.hidden)
        self.embeddings = (nn.ModuleList([nn.Embedding(cfg.num_steps, o) for _, o in widths[1:]])
                           if cfg.emb_all_layers else None)
        bottom = cfg.bottleneck
        self.bilstm = BLSTM(bottom) if cfg.bilstm else None
        self.transformer = Transformer(bottom, cfg.cross_attention) if cfg.transformer else None
        self.conv_codec = nn.Conv1d(cfg.codec_dim, bottom, 1) if cfg.codec_dim is not None else None
        self.eval()

    def train(self, mode: bool = True) -> DiffusionUnet:
        """Inference-only: stays in eval mode whatever is asked."""
        return super().train(False)

    def _step_embedding(self, table: nn.Module, step: int | torch.Tensor, batch: int) -> torch.Tensor:
        steps = step if isinstance(step, torch.Tensor) else torch.tensor([step], dtype=torch.long)
        return table(steps.to(self.embedding.weight.device).expand(batch)).view(batch, -1, 1)

    def forward(self, x: torch.Tensor, step: int | torch.Tensor,
                condition: torch.Tensor | None = None) -> torch.Tensor:
        """x [B, chin, N], diffusion step (int or [B] tensor), condition [B, codec_dim, frames] -> [B, chin, N]."""
        batch = x.shape[0]
        skips: list[torch.Tensor] = []
        z = x
        for idx, encoder in enumerate(self.encoders):
            z = encoder(z)
            if idx == 0:
                z = z + self._step_embedding(self.embedding, step, batch)
            elif self.embeddings is not None:
                z = z + self._step_embedding(self.embeddings[idx - 1], step, batch)
            skips.append(z)

        cross = None
        if self.conv_codec is not None:
            if condition is None:
                raise ValueError("this diffusion model is conditioned on codec latents; pass condition=")
            cond = self.conv_codec(condition)
            if cond.shape[-1] > 2 * z.shape[-1]:
                raise ValueError(f"condition has {cond.shape[-1]} frames for a {z.shape[-1]}-long bottleneck")
            if self.cfg.cross_attention and self.transformer is not None:
                cond = cond.permute(0, 2, 1)
                cross = cond + sin_positions(cond.shape[1], cond.shape[2], cond.dtype).to(cond.device)
            else:
                z = z + F.interpolate(cond, z.shape[-1])
                # audiocraft adds the condition in place, so the deepest skip carries it too; with
                # neither bottleneck network that skip is the only way the condition reaches the output.
                skips[-1] = z

        if self.transformer is not None:
            z = self.transformer(z.permute(0, 2, 1), cross).permute(0, 2, 1)
        elif self.bilstm is not None:
            z = self.bilstm(z)
        else:
            z = torch.zeros_like(z)  # audiocraft's behaviour with no bottleneck network

        for decoder in self.decoders:
            skip = skips.pop()
            z = decoder(z[:, :, :skip.shape[-1]] + skip)
        return z[:, :, :x.shape[-1]]


def param_count(module: nn.Module) -> int:
    """Number of parameters (used by the benchmark to state model sizes)."""
    return sum(math.prod(p.shape) for p in module.parameters())
