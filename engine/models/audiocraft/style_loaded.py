"""MusicGen-Style as a registry model: "more like this" from a style clip, with or without text.

:class:`StyleLoaded` is an :class:`~.loaded.AudiocraftLoaded` (same codec, sampling, prompt
continuation, one seeded take at a time) whose conditions hold a style clip beside the text:
``generate(cond, ..., style=StyleInput(clip))`` runs audiocraft's MusicGen-Style guidance
(:func:`~.guidance.default_guidance`: double CFG with ``cfg_coef_beta`` when both a text and a
style are given, plain CFG for style only or text only) as one LM forward per step. The jobs reach
it through :func:`styled_generator`, the token loop :func:`~...produce.context.choose_generator`
hands out for a request with a ``style``, so generate, long-form windows, continue and live
windows all carry the style without knowing of it.

>>> import torch
>>> from musicgen_bridge.engine.conditioning.style import StyleClip
>>> from musicgen_bridge.engine.generation.reference import Conditioning
>>> from musicgen_bridge.engine.generation.sampling import SamplingParams
>>> from musicgen_bridge.engine.models.registry import ModelRegistry
>>> loaded = ModelRegistry().load("tiny-style")
>>> loop = StyleInput(StyleClip(torch.randn(1, 96000, generator=torch.Generator().manual_seed(1)) * 0.3))
>>> out = loaded.generate(Conditioning([""]), 25, SamplingParams(), [7], style=loop)   # style only
>>> tuple(out.tokens.shape), out.audio.shape
((1, 4, 25), (1, 1, 16000))
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import torch

from ...conditioning.style import StyleClip, StyleConditioner
from ...errors import EngineError
from ...generation.reference import Conditioning, GenerationOutput
from ...generation.sampling import SamplingParams
from ..families import StepCallback
from ..specs import ModelSpec
from .builder import one_conditioner
from .checkpoint import resolve_folder
from .conditioners import T5Conditioner
from .delay_generation import generate_delay
from .guidance import Guidance, default_guidance
from .loaded import AudiocraftLoaded, audiocraft_sampling, place
from .style_generation import style_conditions


@dataclass(frozen=True)
class StyleInput:
    """One request's style: the clip, the excerpt length and codebooks (None: the model's
    defaults), double guidance's beta (None: audiocraft's 5 when a text is given too) and
    whether the prompt counts as a text (a tempo hint alone does not)."""

    clip: StyleClip
    excerpt_seconds: float | None = None
    eval_q: int | None = None
    beta: float | None = None
    text: bool = True


@dataclass
class StyleLoaded(AudiocraftLoaded):
    """MusicGen-Style (``model`` is the AudiocraftModel, MERT and T5 attached)."""

    @property
    def style_conditioner(self) -> StyleConditioner:
        return one_conditioner(self.net.conditioners, StyleConditioner)[1]

    @property
    def style_codebooks(self) -> int:
        return self.style_conditioner.encoder.n_q

    def guidance(self, params: SamplingParams, style: StyleInput | None, has_text: bool) -> Guidance:
        """audiocraft's recipe for what is given; an explicit beta always gives the three-row batch."""
        cfg = params.cfg if params.uses_cfg else 1.0  # cfg <= 1: the conditioned rows decide
        if style is not None and style.beta is not None:
            return Guidance(cfg, style.beta)
        return default_guidance(has_text, style is not None, cfg_coef=cfg)

    @torch.no_grad()
    def generate(self, cond: Conditioning, frames: int, params: SamplingParams, seeds: list[int],
                 on_step: StepCallback | None = None, cancel: threading.Event | None = None,
                 style: StyleInput | None = None) -> GenerationOutput:
        """``frames`` new frames per take; every take hears the same style (computed once)."""
        takes = len(cond.prompts)
        if len(seeds) != takes:
            raise ValueError("one seed per take")
        if cond.melody_chroma is not None:
            raise EngineError("no_melody_support", f"model {self.name} has no melody conditioning")
        if style is not None and style.eval_q is not None:
            self.style_conditioner.encoder.check_eval_q(style.eval_q)
        prompt = self.checked_prompt(cond, frames)
        known = 0 if prompt is None else int(prompt.shape[-1])
        sampling = audiocraft_sampling(params)
        steps = frames + max(self.delays) - (min(self.delays) if known else 0)
        use_text = style is None or style.text
        tokens = []
        with self.lock:
            cached: dict[str | None, tuple[Guidance, torch.Tensor | None, torch.Tensor | None]] = {}
            for i, (text, seed) in enumerate(zip(cond.prompts, seeds)):
                row_text = text if use_text and text else None
                if row_text not in cached:
                    guidance = self.guidance(params, style, row_text is not None)
                    cross, prefix = style_conditions(
                        self.net, [row_text], [None if style is None else style.clip], guidance,
                        excerpt_seconds=None if style is None else style.excerpt_seconds,
                        eval_q=None if style is None else style.eval_q)
                    cached[row_text] = (guidance, cross, prefix)
                guidance, cross, prefix = cached[row_text]
                progress = None if on_step is None else (
                    lambda done, _total, base=i * steps: on_step(base + done, steps * takes))
                out = generate_delay(self.net.lm, self.delays, cross, prefix, frames, sampling,
                                     [torch.Generator(device=self.device).manual_seed(int(seed))],
                                     guidance=guidance, on_step=progress, cancel=cancel,
                                     prompt=None if prompt is None else prompt[i:i + 1])
                tokens.append(out.tokens.cpu())
        return self.output(torch.cat(tokens), prompt)


def load_style_model(spec: ModelSpec, device: torch.device, cache_dir: Path) -> StyleLoaded:
    """``tiny-style`` built in code, or ``facebook/musicgen-style`` from the local cache with its
    T5 and MERT (``m-a-p/MERT-v1-95M`` as transformers' HubertModel, no remote code)."""
    if spec.builtin:
        from .tiny import TINY_SEED
        from .tiny_style import build_tiny_style

        return StyleLoaded(spec, place(build_tiny_style(), device), None, device, torch.float32,
                           revision=f"builtin-seed{TINY_SEED}")
    assert spec.hf_id is not None
    from .builder import load_model

    folder = resolve_folder(spec.hf_id, cache_dir)
    net = load_model(folder, cache_dir)
    one_conditioner(net.conditioners, T5Conditioner)[1].load_t5(cache_dir)
    one_conditioner(net.conditioners, StyleConditioner)[1].load_mert(str(cache_dir))
    return StyleLoaded(spec, place(net, device), None, device, torch.float32, revision=folder.name)
