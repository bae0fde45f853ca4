"""Residual vector quantizer (RVQ) with Euclidean codebooks, as in audiocraft's EnCodec.

Each stage picks the codebook entry nearest to the residual left by the previous stages; codes
are ``(B, K, frames)`` int64. State names follow the checkpoints
(``vq.layers.<k>._codebook.embed``; training statistics such as ``embed_avg`` are ignored).

>>> rvq = ResidualVQ(dimension=16, n_q=4, bins=48)
>>> rvq.encode(torch.zeros(2, 16, 13)).shape
torch.Size([2, 4, 13])
"""

from __future__ import annotations

from typing import cast

import torch
import torch.nn.functional as F
from torch import nn


class _Codebook(nn.Module):
    embed: torch.Tensor  # buffer (bins, dimension)

    def __init__(self, bins: int, dimension: int) -> None:
        super().__init__()
        self.register_buffer("embed", torch.zeros(bins, dimension))


class _Stage(nn.Module):
    def __init__(self, bins: int, dimension: int) -> None:
        super().__init__()
        self._codebook = _Codebook(bins, dimension)

    def nearest(self, x: torch.Tensor) -> torch.Tensor:
        """(N, D) vectors -> (N,) index of the nearest entry (largest negative squared distance)."""
        embed = self._codebook.embed.t()
        dist = -(x.pow(2).sum(1, keepdim=True) - 2 * x @ embed + embed.pow(2).sum(0, keepdim=True))
        return dist.max(dim=-1).indices

    def lookup(self, codes: torch.Tensor) -> torch.Tensor:
        """(B, T) codes -> (B, D, T) vectors."""
        return F.embedding(codes, self._codebook.embed).transpose(1, 2)


class _Stages(nn.Module):
    def __init__(self, n_q: int, bins: int, dimension: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(_Stage(bins, dimension) for _ in range(n_q))


class ResidualVQ(nn.Module):
    """``encode`` (B, D, T) -> (B, K, T) codes; ``decode`` codes -> (B, D, T) sum of the chosen entries."""

    def __init__(self, dimension: int, n_q: int, bins: int) -> None:
        super().__init__()
        self.dimension, self.n_q, self.bins = dimension, n_q, bins
        self.vq = _Stages(n_q, bins, dimension)

    @property
    def stages(self) -> list[_Stage]:
        """The residual stages in order (typed: ModuleList hands out plain Modules)."""
        return [cast(_Stage, stage) for stage in self.vq.layers]

    def encode(self, x: torch.Tensor, n_q: int | None = None) -> torch.Tensor:
        batch, dim, frames = x.shape
        residual = x
        codes = []
        for stage in self.stages[:n_q or self.n_q]:
            flat = residual.transpose(1, 2).reshape(-1, dim)
            idx = stage.nearest(flat).view(batch, frames)
            residual = residual - stage.lookup(idx)
            codes.append(idx)
        return torch.stack(codes, dim=1)

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Sum of the codebook vectors of ``codes`` (B, K, T): the latent the decoder consumes."""
        if codes.shape[1] > self.n_q:
            raise ValueError(f"codes have {codes.shape[1]} codebooks, the quantizer {self.n_q}")
        out = torch.tensor(0.0, device=codes.device)
        for stage, stage_codes in zip(self.stages, codes.unbind(1), strict=False):
            out = out + stage.lookup(stage_codes)
        return out
