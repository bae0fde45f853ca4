"""MusicGen-Style's style encoder: MERT features -> a few quantised style tokens for the LM.

The maths of audiocraft's ``StyleConditioner`` in eval mode, on MERT's ``last_hidden_state``
``[B, F, 768]``: a linear projection to ``dim``; the optional style transformer; a
``BatchNorm1d(dim, affine=False)`` with its running statistics; a residual vector quantiser
that uses only the first ``eval_q`` codebooks (Euclidean nearest code, stages summed); every
``ds_factor``-th frame; then ``output_proj`` to the LM width. Masking and the choice of the
excerpt live in ``engine/conditioning/style.py``.

Built from the ``self_wav`` part of an audiocraft LM state dict (``state`` holds the tensors
under ``condition_provider.conditioners.self_wav.``, prefix removed):

>>> import torch
>>> enc = StyleEncoder(dim=8, output_dim=4, n_q=2, bins=3, ds_factor=2, eval_q=1)
>>> enc(torch.randn(1, 5, 768)).embeds.shape
torch.Size([1, 3, 4])
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from ...errors import EngineError
from .config import bad_checkpoint

#: MERT's hidden size; audiocraft's projection is ``Linear(768, dim)`` for every MERT model.
MERT_DIM = 768
#: ``transformer_scale`` -> d_model in audiocraft's style conditioner.
STYLE_DIMS = {"xsmall": 256, "default": 512, "large": 1024, "none": 512}
BN_EPS = 1e-5


@dataclass
class StyleEncoding:
    """Every stage of one encoder pass, ``[B, F, dim]`` unless noted (for conformance)."""

    embed_out: torch.Tensor
    bn_out: torch.Tensor       # [B, dim, F], as audiocraft's batch norm sees it
    rvq_out: torch.Tensor      # [B, dim, F]
    ds_out: torch.Tensor       # [B, ceil(F / ds_factor), dim]
    embeds: torch.Tensor       # [B, F', output_dim], not yet masked


class StyleEncoder(nn.Module):
    """Projection, transformer, batch norm, RVQ (first ``eval_q`` codebooks), downsampling,
    output projection. ``eval_q`` and ``ds_factor`` are plain attributes you may change
    (``1 <= eval_q <= n_q``), as audiocraft's ``set_style_conditioner_params`` does.
    """

    # buffers: batch-norm running statistics and the style RVQ's codebooks
    bn_mean: torch.Tensor
    bn_var: torch.Tensor
    codebooks: torch.Tensor

    def __init__(self, dim: int, output_dim: int, n_q: int, bins: int, ds_factor: int,
                 eval_q: int, batch_norm: bool = True,
                 transformer: Callable[[torch.Tensor], torch.Tensor] | None = None) -> None:
        super().__init__()
        self.embed = nn.Linear(MERT_DIM, dim)
        self.transformer = transformer
        self.batch_norm = batch_norm
        self.register_buffer("bn_mean", torch.zeros(dim))
        self.register_buffer("bn_var", torch.ones(dim))
        self.register_buffer("codebooks", torch.zeros(n_q, bins, dim))
        self.output_proj = nn.Linear(dim, output_dim)
        self.ds_factor = ds_factor
        self.eval_q = n_q
        self.set_eval_q(eval_q)

    @property
    def n_q(self) -> int:
        return int(self.codebooks.shape[0])

    def check_eval_q(self, eval_q: int) -> int:
        """``eval_q`` as an int, or ``invalid_field`` when it is not 1..n_q."""
        if isinstance(eval_q, bool) or not isinstance(eval_q, int) or not 1 <= eval_q <= self.n_q:
            raise EngineError("invalid_field", f"style eval_q must be an integer 1..{self.n_q}, "
                              f"got {eval_q!r}", field="eval_q")
        return eval_q

    def set_eval_q(self, eval_q: int) -> None:
        """How many codebooks quantise the style (fewer = looser style, more = closer copy)."""
        self.eval_q = self.check_eval_q(eval_q)

    def quantize(self, x: torch.Tensor, eval_q: int | None = None) -> torch.Tensor:
        """Residual VQ of ``x [B, dim, F]`` with the first ``eval_q`` codebooks (default: the
        set one), stages summed."""
        eval_q = self.eval_q if eval_q is None else self.check_eval_q(eval_q)
        b, d, f = x.shape
        residual = x.transpose(1, 2).reshape(b * f, d)
        out = torch.zeros_like(residual)
        for book in self.codebooks[:eval_q]:
            # Largest negative squared distance, written as audiocraft expands it.
            dist = -(residual.pow(2).sum(1, keepdim=True) - 2 * residual @ book.t()
                     + book.pow(2).sum(1)[None])
            chosen = book[dist.argmax(-1)]
            residual = residual - chosen
            out = out + chosen
        return out.reshape(b, f, d).transpose(1, 2)

    def forward(self, hidden: torch.Tensor, eval_q: int | None = None) -> StyleEncoding:
        """``hidden``: MERT ``last_hidden_state [B, F, 768]``; ``eval_q`` overrides the set one."""
        z = self.embed(hidden)
        embed_out = z
        if self.transformer is not None:
            z = self.transformer(z)
        zt = z.transpose(1, 2)
        if self.batch_norm:
            zt = nn.functional.batch_norm(zt, self.bn_mean, self.bn_var, training=False,
                                          eps=BN_EPS)
        bn_out = zt
        rvq_out = self.quantize(zt, eval_q)
        ds_out = rvq_out.transpose(1, 2)[:, :: self.ds_factor]
        return StyleEncoding(embed_out, bn_out, rvq_out, ds_out, self.output_proj(ds_out))

    def load_audiocraft_state(self, state: dict[str, torch.Tensor], source: str,
                              prefix: str = "") -> None:
        """Copy ``embed``, ``output_proj``, ``batch_norm.running_*`` and every
        ``rvq.vq.layers.<i>._codebook.embed`` (upcast to fp32) from ``state`` (keys relative
        to the conditioner; ``prefix`` only names them in errors). ``bad_checkpoint`` names a
        missing key or a wrong shape.
        """
        def take(key: str, like: torch.Tensor) -> torch.Tensor:
            if key not in state:
                raise bad_checkpoint(source, f"{prefix}{key}", "missing tensor")
            value = state[key]
            if tuple(value.shape) != tuple(like.shape):
                raise bad_checkpoint(source, f"{prefix}{key}", f"wrong shape {tuple(value.shape)}, "
                                     f"expected {tuple(like.shape)} from xp.cfg")
            return value.float()

        with torch.no_grad():
            for name in ("embed", "output_proj"):
                mod = getattr(self, name)
                mod.weight.copy_(take(f"{name}.weight", mod.weight))
                mod.bias.copy_(take(f"{name}.bias", mod.bias))
            if self.batch_norm:
                self.bn_mean.copy_(take("batch_norm.running_mean", self.bn_mean))
                self.bn_var.copy_(take("batch_norm.running_var", self.bn_var))
            for i in range(self.n_q):
                self.codebooks[i].copy_(take(f"rvq.vq.layers.{i}._codebook.embed",
                                             self.codebooks[i]))
