"""SEANet encoder and decoder, the convolutional halves of audiocraft's EnCodec codec.

Attribute names follow the exported checkpoints (``model.<i>.conv.conv.weight_v``,
``model.<i>.block.<j>...``, ``model.<i>.lstm...``) so state dicts load without renaming.
Convolutions pad themselves so every input length gives ``ceil(length / hop)`` frames; transposed
convolutions trim what the kernel overhangs. The settings come from ``xp.cfg``'s ``seanet``
section (see :func:`seanet_settings`).

>>> enc = SEANetEncoder(SEANetSettings(channels=1, dimension=16, n_filters=2, ratios=[8, 5, 4, 2]))
>>> enc(torch.zeros(1, 1, 4000)).shape
torch.Size([1, 16, 13])
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .config import XpConfig, bad_checkpoint

NORMS = ("weight_norm", "none")
PAD_MODES = ("constant", "reflect", "replicate", "circular")


@dataclass
class SEANetSettings:
    """The ``seanet`` keys we use (audiocraft's defaults where a key may be absent)."""

    channels: int = 1
    dimension: int = 128
    n_filters: int = 32
    n_residual_layers: int = 3
    ratios: list[int] = field(default_factory=lambda: [8, 5, 4, 2])
    activation: str = "ELU"
    activation_params: dict = field(default_factory=lambda: {"alpha": 1.0})
    norm: str = "none"
    kernel_size: int = 7
    last_kernel_size: int = 7
    residual_kernel_size: int = 3
    dilation_base: int = 2
    causal: bool = False
    pad_mode: str = "reflect"
    true_skip: bool = True
    compress: int = 2
    lstm: int = 0
    disable_norm_outer_blocks: int = 0
    trim_right_ratio: float = 1.0
    final_activation: str | None = None
    final_activation_params: dict | None = None

    @property
    def hop_length(self) -> int:
        return math.prod(self.ratios)


def seanet_settings(cfg: XpConfig, part: str) -> SEANetSettings:
    """Settings for ``part`` ('encoder' or 'decoder'): ``seanet`` merged with ``seanet.<part>`` overrides."""
    base = dict(cfg.section("seanet"))
    overrides: dict[str, dict[str, Any]] = {k: dict(base.pop(k) or {}) for k in ("encoder", "decoder") if k in base}
    merged = {**base, **overrides.get(part, {})}
    known = SEANetSettings.__dataclass_fields__
    out = SEANetSettings(**{k: v for k, v in merged.items() if k in known})
    if out.norm not in NORMS:
        raise bad_checkpoint(cfg.file, "seanet.norm", f"unsupported value {out.norm!r} (supported: {list(NORMS)})")
    if not out.true_skip:
        raise bad_checkpoint(cfg.file, "seanet.true_skip", "only true_skip: true (identity shortcut) is supported")
    if out.pad_mode not in PAD_MODES:
        raise bad_checkpoint(cfg.file, "seanet.pad_mode", f"unsupported value {out.pad_mode!r}")
    for name in ("activation", "final_activation"):
        act = getattr(out, name)
        if act is not None and not isinstance(getattr(nn, act, None), type):
            raise bad_checkpoint(cfg.file, f"seanet.{name}", f"unknown activation {act!r}")
    if not out.ratios or any(not isinstance(r, int) or r < 1 for r in out.ratios):
        raise bad_checkpoint(cfg.file, "seanet.ratios", f"expected positive integers, got {out.ratios!r}")
    return out


class _Weights(nn.Module):
    """Convolution weights, either weight-normalised (``weight_g``/``weight_v``) or plain."""

    def __init__(self, shape: tuple[int, int, int], out_channels: int, norm: str) -> None:
        super().__init__()
        self.normed = norm == "weight_norm"
        if self.normed:
            self.weight_g = nn.Parameter(torch.ones(shape[0], 1, 1))
            self.weight_v = nn.Parameter(torch.zeros(shape))
        else:
            self.weight = nn.Parameter(torch.zeros(shape))
        self.bias = nn.Parameter(torch.zeros(out_channels))

    def value(self) -> torch.Tensor:
        # the same kernel torch.nn.utils.weight_norm uses (norm over every dim but 0)
        return torch._weight_norm(self.weight_v, self.weight_g, 0) if self.normed else self.weight


class _Holder(nn.Module):
    """One extra naming level (``conv.conv`` / ``convtr.convtr`` in the checkpoints)."""

    def __init__(self, name: str, inner: _Weights) -> None:
        super().__init__()
        self.add_module(name, inner)
        self._inner_name = name

    @property
    def weights(self) -> _Weights:
        inner: _Weights = getattr(self, self._inner_name)
        return inner


def _pad(x: torch.Tensor, left: int, right: int, mode: str) -> torch.Tensor:
    if mode != "reflect":
        return F.pad(x, (left, right), mode=mode, value=0.0) if mode == "constant" else F.pad(x, (left, right), mode)
    length = x.shape[-1]
    widest = max(left, right)
    if length <= widest:  # reflection needs more samples than the pad: zero-extend, reflect, cut back
        extra = widest - length + 1
        padded = F.pad(F.pad(x, (0, extra)), (left, right), mode)
        return padded[..., :padded.shape[-1] - extra]
    return F.pad(x, (left, right), mode)


class SConv1d(nn.Module):
    """A 1-D convolution that pads itself: causal (all left) or centred, plus what whole frames need."""

    def __init__(self, cin: int, cout: int, kernel: int, s: SEANetSettings, stride: int = 1, dilation: int = 1,
                 norm: str | None = None) -> None:
        super().__init__()
        self.conv = _Holder("conv", _Weights((cout, cin, kernel), cout, norm or s.norm))
        self.kernel, self.stride, self.dilation = kernel, stride, dilation
        self.causal, self.pad_mode = s.causal, s.pad_mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        span = (self.kernel - 1) * self.dilation + 1
        total = span - self.stride
        length = x.shape[-1]
        frames = (length - span + total) / self.stride + 1
        extra = (math.ceil(frames) - 1) * self.stride + (span - total) - length
        if self.causal:
            x = _pad(x, total, extra, self.pad_mode)
        else:
            right = total // 2
            x = _pad(x, total - right, right + extra, self.pad_mode)
        w = self.conv.weights
        return F.conv1d(x, w.value(), w.bias, stride=self.stride, dilation=self.dilation)


class SConvTranspose1d(nn.Module):
    """A transposed 1-D convolution that trims the kernel's overhang (right-weighted when causal)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, s: SEANetSettings, norm: str | None = None):
        super().__init__()
        self.convtr = _Holder("convtr", _Weights((cin, cout, kernel), cout, norm or s.norm))
        self.kernel, self.stride, self.causal, self.trim_right_ratio = kernel, stride, s.causal, s.trim_right_ratio

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.convtr.weights
        y = F.conv_transpose1d(x, w.value(), w.bias, stride=self.stride)
        total = self.kernel - self.stride
        right = math.ceil(total * self.trim_right_ratio) if self.causal else total // 2
        left = total - right
        return y[..., left:y.shape[-1] - right]


class SLSTM(nn.Module):
    """A stacked LSTM over time with a skip connection, on (batch, channels, time)."""

    def __init__(self, dim: int, layers: int) -> None:
        super().__init__()
        self.lstm = nn.LSTM(dim, dim, layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        seq = x.permute(2, 0, 1)
        y, _ = self.lstm(seq)
        return (y + seq).permute(1, 2, 0)


class ResBlock(nn.Module):
    """act -> conv(k, dilation) -> act -> conv(1), added to the input (identity shortcut)."""

    def __init__(self, dim: int, dilation: int, s: SEANetSettings, norm: str) -> None:
        super().__init__()
        hidden = dim // s.compress
        self.block = nn.Sequential(
            _act(s.activation, s.activation_params), SConv1d(dim, hidden, s.residual_kernel_size, s, dilation=dilation,
                                                             norm=norm),
            _act(s.activation, s.activation_params), SConv1d(hidden, dim, 1, s, norm=norm))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


def _act(name: str, params: dict | None) -> nn.Module:
    return getattr(nn, name)(**(params or {}))


class SEANetEncoder(nn.Module):
    """Waveform (B, channels, samples) -> latent (B, dimension, ceil(samples / hop))."""

    def __init__(self, s: SEANetSettings) -> None:
        super().__init__()
        n_blocks = len(s.ratios) + 2
        outer = "none" if s.disable_norm_outer_blocks >= 1 else s.norm
        layers: list[nn.Module] = [SConv1d(s.channels, s.n_filters, s.kernel_size, s, norm=outer)]
        mult = 1
        for i, ratio in enumerate(reversed(s.ratios)):  # the encoder downsamples by the ratios reversed
            norm = "none" if s.disable_norm_outer_blocks >= i + 2 else s.norm
            width = mult * s.n_filters
            layers += [ResBlock(width, s.dilation_base ** j, s, norm) for j in range(s.n_residual_layers)]
            layers += [_act(s.activation, s.activation_params),
                       SConv1d(width, width * 2, ratio * 2, s, stride=ratio, norm=norm)]
            mult *= 2
        if s.lstm:
            layers.append(SLSTM(mult * s.n_filters, s.lstm))
        last = "none" if s.disable_norm_outer_blocks == n_blocks else s.norm
        layers += [_act(s.activation, s.activation_params),
                   SConv1d(mult * s.n_filters, s.dimension, s.last_kernel_size, s, norm=last)]
        self.model = nn.Sequential(*layers)
        self.hop_length = s.hop_length

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class SEANetDecoder(nn.Module):
    """Latent (B, dimension, frames) -> waveform (B, channels, frames * hop), not trimmed."""

    def __init__(self, s: SEANetSettings) -> None:
        super().__init__()
        n_blocks = len(s.ratios) + 2
        mult = 2 ** len(s.ratios)
        first = "none" if s.disable_norm_outer_blocks == n_blocks else s.norm
        layers: list[nn.Module] = [SConv1d(s.dimension, mult * s.n_filters, s.kernel_size, s, norm=first)]
        if s.lstm:
            layers.append(SLSTM(mult * s.n_filters, s.lstm))
        for i, ratio in enumerate(s.ratios):
            norm = "none" if s.disable_norm_outer_blocks >= n_blocks - (i + 1) else s.norm
            width = mult * s.n_filters
            layers += [_act(s.activation, s.activation_params),
                       SConvTranspose1d(width, width // 2, ratio * 2, ratio, s, norm=norm)]
            layers += [ResBlock(width // 2, s.dilation_base ** j, s, norm) for j in range(s.n_residual_layers)]
            mult //= 2
        last = "none" if s.disable_norm_outer_blocks >= 1 else s.norm
        layers += [_act(s.activation, s.activation_params),
                   SConv1d(s.n_filters, s.channels, s.last_kernel_size, s, norm=last)]
        if s.final_activation is not None:
            layers.append(_act(s.final_activation, s.final_activation_params))
        self.model = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.model(z)
