"""What every producer shares: the engine context, the take/produced records, the generator choice.

A producer is ``produce(ctx, job) -> Produced``: it makes and renders every take of a job but
writes nothing (an executor may run it on another machine); :mod:`.publish` writes the files.

>>> ctx = EngineContext(registry=ModelRegistry(), paths=PathPolicy(), default_model="tiny")  # needs an engine's context and a request  # doctest: +SKIP
>>> generate = choose_generator(ctx, request)   # the token loop the request asked for  # doctest: +SKIP
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import EngineError
from ..generation.fast.precision import name_of, plan_for
from ..generation.reference import GenerationOutput, generate_reference
from ..models.families import FamilyModel, generate_family
from ..models.registry import LoadedModel, ModelRegistry
from ..paths import PathPolicy
from ..request import GenerateRequest

#: Share of a job's progress that belongs to token decoding (the rest: decode, render, write).
DECODE_SHARE = 0.9


@dataclass
class EngineContext:
    """What a producer needs from the engine: models, path rules, the default model, the generators
    this build offers beyond the reference one (``{"fast": generate_fast}``)."""

    registry: ModelRegistry
    paths: PathPolicy
    default_model: str
    generators: dict[str, Callable[..., GenerationOutput]] = field(default_factory=dict)
    codecs: dict[str, Any] = field(default_factory=dict)  # standalone EnCodecs by name (codec_job)


def choose_generator(ctx: EngineContext, req: GenerateRequest,
                     loaded: LoadedModel | None = None) -> Callable[..., GenerationOutput]:
    """The token loop for ``req.generator``: ``reference``, ``fast``, or ``auto`` (fast where built),
    decoding in ``req.dtype`` when the request names a precision (the fast generator only).

    A family model (AudioGen, ...; :mod:`..models.families`) runs its own loop for ``auto`` and
    ``reference``; the fast decoder is MusicGen's only. A request with a ``style`` gets the style
    model's loop with its clip bound in (:mod:`.style`; ``no_style_support`` for other models).
    """
    if req.style is not None:
        from .style import styled_generator  # imported on use: it reads audio and needs the model

        return styled_generator(ctx, req, loaded)
    if isinstance(loaded, FamilyModel):
        if req.generator == "fast":
            raise EngineError("unsupported", f"the fast generator runs MusicGen only; model {loaded.name} "
                              f"runs its own loop (generator auto or reference)", field="generator")
        loaded_as = name_of(ctx.registry.dtype)
        if req.dtype is not None and req.dtype != loaded_as:
            raise EngineError("unsupported", f"dtype {req.dtype} needs the fast generator; model {loaded.name} "
                              f"runs its own loop in the loaded {loaded_as}", field="dtype")
        return generate_family
    check_dtype(ctx, req)
    if req.generator == "reference":
        return generate_reference
    if req.generator == "fast" and "fast" not in ctx.generators:
        raise EngineError("unsupported", "the fast generator is not available in this build")
    fast = ctx.generators.get("fast")
    if fast is None:
        return generate_reference
    return fast if req.dtype is None else functools.partial(fast, dtype=req.dtype)


def check_dtype(ctx: EngineContext, req: GenerateRequest) -> None:
    """A request's ``dtype`` must be one the chosen generator and the engine's device can run.

    The reference generator decodes in the dtype the model was loaded in; the fast one converts.
    """
    if req.dtype is None:
        return
    loaded_as = name_of(ctx.registry.dtype)
    if req.generator == "reference" or "fast" not in ctx.generators:
        if req.dtype != loaded_as:
            raise EngineError("unsupported", f"dtype {req.dtype} needs the fast generator; the reference generator "
                              f"decodes in the loaded {loaded_as}", field="dtype")
        return
    plan_for(req.dtype, ctx.registry.device, ctx.registry.dtype)


@dataclass
class RenderedTake:
    """One take rendered to the session format, not yet on disk."""

    take: int
    seed: int
    clip: np.ndarray  # (channels, frames) float32 at the session rate
    sidecar: dict[str, Any]


@dataclass
class Produced:
    """What generation + render yield; a remote worker returns this and the front end writes it."""

    takes: list[RenderedTake]
    model: str
    timing: dict[str, float]
    start_bar: Any = None  # 1-based bar where the clip lands (None: the request's start_bar)
