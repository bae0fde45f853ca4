"""Classifier-free guidance of audiocraft LMs, plain and double (MusicGen-Style).

One LM forward runs every guidance copy of the batch stacked along the batch axis:

* plain CFG, ``[cond, null]``: ``null + (cond - null) * cfg_coef``;
* double CFG (``cfg_coef_beta`` set), ``[cond, wav-only, null]``, where the wav-only rows keep
  the style and drop the text: ``null + cfg_coef * (wav + beta * (cond - wav) - null)``.
  ``beta`` pushes the text's effect beyond the style's.

The three request modes, as audiocraft's MusicGen-Style recipes define them (see
:func:`default_guidance`): text and style, double CFG (``cfg_coef`` 3, ``beta`` 5); style
only, plain CFG with no text in any row; text only, plain CFG with no style in any row.
Passing ``beta`` anyway gives audiocraft's three-row batch whatever is missing.

>>> import torch
>>> g = Guidance(cfg_coef=3.0, beta=5.0)
>>> rows_text, rows_style = g.rows(["lofi"], ["clip"])
>>> rows_text, rows_style
(['lofi', None, None], ['clip', 'clip', None])
>>> g.combine(torch.tensor([[1.0], [0.5], [0.0]])).tolist()   # 0 + 3 * (0.5 + 5 * 0.5 - 0)
[[9.0]]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

import torch

from ...errors import EngineError

T = TypeVar("T")
S = TypeVar("S")


@dataclass(frozen=True)
class Guidance:
    """``cfg_coef`` and, for double guidance, ``beta`` (audiocraft's ``cfg_coef_beta``)."""

    cfg_coef: float
    beta: float | None = None

    @property
    def copies(self) -> int:
        """How many stacked copies of the batch one forward holds (2 or 3)."""
        return 2 if self.beta is None else 3

    def rows(self, texts: list[T | None], styles: list[S | None]
             ) -> tuple[list[T | None], list[S | None]]:
        """The conditioning rows, ``copies * B`` long: real, [text dropped,] null."""
        if len(texts) != len(styles):
            raise ValueError("one text and one style entry per row")
        none: list = [None] * len(texts)
        if self.beta is None:
            return list(texts) + none, list(styles) + none
        return list(texts) + none + none, list(styles) + list(styles) + none

    def combine(self, logits: torch.Tensor) -> torch.Tensor:
        """Guided logits ``[B, ...]`` from the stacked forward ``[copies * B, ...]``."""
        if logits.shape[0] % self.copies:
            raise ValueError(f"batch {logits.shape[0]} is not {self.copies} copies")
        if self.beta is None:
            cond, null = logits.chunk(2)
            return null + (cond - null) * self.cfg_coef
        cond, wav, null = logits.chunk(3)
        return null + self.cfg_coef * (wav + self.beta * (cond - wav) - null)


def default_guidance(has_text: bool, has_style: bool, cfg_coef: float = 3.0,
                     beta: float | None = 5.0) -> Guidance:
    """audiocraft's recipe: double CFG only when both a text and a style are given
    (with neither, cond and null rows are equal and the result is unconditional).

    >>> default_guidance(True, False)
    Guidance(cfg_coef=3.0, beta=None)
    """
    if cfg_coef <= 0 or (beta is not None and beta <= 0):
        raise EngineError("invalid_field", "cfg_coef and cfg_coef_beta must be positive",
                          field="cfg_coef")
    return Guidance(cfg_coef, beta if (has_text and has_style) else None)
