"""A request's style, bound into the token loop the jobs call (MusicGen-Style's "more like this").

:func:`~.context.choose_generator` hands out :func:`styled_generator` for a request with a
``style``: a generator with the usual signature ``(loaded, cond, frames, params, seeds, on_step,
cancel)`` that runs the style model's loop with the clip read once. Every producer takes its
generator from there, so a style reaches a single window, long-form windows (each window hears the
same style), a continuation and every live window alike.

>>> generate = styled_generator(ctx, req, loaded)    # reads the clip; no_style_support without one  # doctest: +SKIP
>>> out = generate(loaded, Conditioning(["lofi"]), 100, req.sampling, [7])  # needs a style model and a clip  # doctest: +SKIP
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..conditioning.style_input import check_eval_q, check_style_support, excerpt_seconds, load_style
from ..errors import EngineError
from ..generation.reference import Conditioning, GenerationOutput
from ..generation.sampling import SamplingParams
from ..request import GenerateRequest

if TYPE_CHECKING:
    from .context import EngineContext


def styled_generator(ctx: EngineContext, req: GenerateRequest, loaded: Any) -> Callable[..., GenerationOutput]:
    """The style model's loop with ``req.style`` bound (``no_style_support`` for another model)."""
    from ..models.audiocraft.style_loaded import StyleInput, StyleLoaded

    spec = req.style
    assert spec is not None
    if not isinstance(loaded, StyleLoaded):
        check_style_support(req.model or ctx.default_model if loaded is None else loaded.name, False)
    if req.generator == "fast":
        raise EngineError("unsupported", f"the fast generator runs MusicGen only; model {loaded.name} runs "
                          "its own loop (generator auto or reference)", field="generator")
    check_eval_q(spec, loaded.style_codebooks)
    qpb = req.time_signature.quarters_per_bar
    style = StyleInput(load_style(spec, ctx.paths, loaded.sample_rate, bpm=req.bpm, quarters_per_bar=qpb),
                       excerpt_seconds=excerpt_seconds(spec, req.bpm, qpb), eval_q=spec.get("eval_q"),
                       beta=spec.get("cfg_coef_beta"), text=bool(req.prompt.strip()))

    def generate(model: Any, cond: Conditioning, frames: int, params: SamplingParams, seeds: list[int],
                 on_step: Callable[[int, int], None] | None = None,
                 cancel: threading.Event | None = None) -> GenerationOutput:
        if not isinstance(model, StyleLoaded):
            check_style_support(model.name, False)
        return model.generate(cond, frames, params, seeds, on_step, cancel, style=style)

    return generate
