"""Rendering a job's takes to the session format, each with its sidecar (the one place both are made).

>>> meta = sidecar_meta(loaded, req, prompt_sent="lofi drums, 90 bpm")  # needs a loaded model and its audio  # doctest: +SKIP
>>> takes = render_takes(req, audio, loaded.sample_rate, meta, job.cancel_event)  # needs a loaded model and its audio  # doctest: +SKIP
>>> takes[0].sidecar["seed"], takes[0].clip.shape  # needs a loaded model and its audio  # doctest: +SKIP
(1234, (2, 96000))
"""

from __future__ import annotations

import platform
import threading
from typing import Any

import numpy as np

from ... import __version__
from ..render import Renderer, RenderSpec
from ..request import GenerateRequest
from .context import RenderedTake


def versions() -> dict[str, str]:
    """The package versions a sidecar records (what reproduces the clip)."""
    import pedalboard
    import torch
    import transformers

    return {"musicgen-bridge": __version__, "torch": torch.__version__, "transformers": transformers.__version__,
            "pedalboard": pedalboard.__version__, "numpy": np.__version__, "python": platform.python_version()}


def sidecar_meta(loaded: Any, req: GenerateRequest, **extra: Any) -> dict[str, Any]:
    """The sidecar fields every clip shares (model, revision, versions, request), plus ``extra``
    (the job kind's own: ``prompt_sent``/``conform``, ``item``/``join_step``, ``live``)."""
    return {"model": loaded.name, "model_revision": loaded.revision, "versions": versions(),
            "request": req.to_dict(), **extra}


def render_spec(req: GenerateRequest) -> RenderSpec:
    """The request's render spec (validated at submit), or the plain one its fields describe."""
    return req.render or RenderSpec(sample_rate=req.sample_rate, channels=req.channels, format=req.format)


def render_takes(req: GenerateRequest, audio: np.ndarray, model_rate: int, meta: dict[str, Any],
                 cancel: threading.Event | None = None, frames: int | None = None) -> list[RenderedTake]:
    """Each take through the request's render spec (rate, channels, chain, loudness, exact length).

    ``cancel`` (a job's or a live session's :class:`~..jobs.cancel.CancelToken`) stops a long
    effect-chain render between blocks.
    """
    spec = render_spec(req)
    renderer = Renderer(spec)
    cancelled = cancel.is_set if cancel is not None else None
    takes = []
    for i, seed in enumerate(req.take_seeds()):
        clip, report = renderer.render_with_report(audio[i], model_rate, frames=frames or req.frames,
                                                   cancelled=cancelled)
        takes.append(RenderedTake(i + 1, seed, clip, {
            **meta, "take": i + 1, "seed": seed, "frames": int(clip.shape[1]), "sample_rate": spec.sample_rate,
            "format": spec.format, "render": spec.to_dict(), "render_report": report.to_dict()}))
    return takes
