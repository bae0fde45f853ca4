"""MusicGen-Style generation: texts and style clips -> guided condition rows -> delay-pattern tokens.

The guidance batch is built from :class:`~.guidance.Guidance` rows (double CFG when both a text
and a style are given, else plain CFG, see :func:`~.guidance.default_guidance`); every
conditioner of the model gets its column of rows (T5: texts, style: clips); the fuser prepends
them in audiocraft's order (``[self_wav, description]``); one LM forward per step runs all
copies.

>>> # model = load_model(folder); model.conditioners["self_wav"].load_mert()
>>> # out = generate_style(model, ["lofi piano"], [StyleClip(loop)], frames=150,
>>> #                      params=AudiocraftSampling(), generators=[torch.Generator().manual_seed(7)])
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import torch

from ...conditioning.style import StyleClip, StyleConditioner
from .builder import AudiocraftModel
from .conditioners import T5Conditioner
from .delay_generation import DelayOutput, generate_delay
from .guidance import Guidance, default_guidance
from .sampling import AudiocraftSampling


@torch.no_grad()
def style_conditions(model: AudiocraftModel, texts: list[str | None],
                     clips: list[StyleClip | None], guidance: Guidance, *,
                     excerpt_seconds: float | None = None, eval_q: int | None = None,
                     ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """(cross, prefix) for ``guidance.copies * B`` rows; ``None`` texts/clips are absent.
    ``excerpt_seconds`` and ``eval_q`` override the style conditioner's defaults for this call."""
    text_rows, style_rows = guidance.rows(texts, clips)
    tensors = {}
    for name, cond in model.conditioners.items():
        if isinstance(cond, StyleConditioner):
            tensors[name] = cond(style_rows, excerpt_seconds=excerpt_seconds, eval_q=eval_q)
        elif isinstance(cond, T5Conditioner):
            tensors[name] = cond(text_rows)
        else:
            raise TypeError(f"no rows for conditioner {name!r} ({type(cond).__name__})")
    return model.fuser.fuse(tensors)


def generate_style(model: AudiocraftModel, texts: list[str | None], clips: list[StyleClip | None],
                   frames: int, params: AudiocraftSampling, generators: list[torch.Generator], *,
                   guidance: Guidance | None = None,
                   on_step: Callable[[int, int], None] | None = None,
                   cancel: threading.Event | None = None) -> DelayOutput:
    """Tokens ``[B, K, frames]`` for B rows of (text or None, clip or None).

    ``guidance`` defaults to audiocraft's recipe for what is given, with ``params.cfg_coef``.
    """
    if len(texts) != len(clips):
        raise ValueError("one text and one clip entry per row (None where absent)")
    if guidance is None:
        guidance = default_guidance(any(t for t in texts), any(c is not None for c in clips),
                                    cfg_coef=params.cfg_coef)
    cross, prefix = style_conditions(model, texts, clips, guidance)
    return generate_delay(model.lm, model.delays, cross, prefix, frames, params, generators,
                          guidance=guidance, on_step=on_step, cancel=cancel)
