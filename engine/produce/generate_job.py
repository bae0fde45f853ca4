"""The work a generation job does: conditioning -> tokens -> waveform -> file on disk."""

from __future__ import annotations

import math
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ... import __version__
from ..errors import EngineError
from ..timing.conform import conform, tempo_hint
from ..generation.reference import Conditioning, GenerationOutput, generate_reference
from ..generation.windows import generate_long
from ..jobs.queue import Job
from ..conditioning.melody_input import load_melody, melody_chroma
from ..models.registry import LoadedModel, ModelRegistry
from ..paths import PathPolicy
from ..render import Renderer, RenderSpec, clip_name, get_format, write_clip
from ..request import GenerateRequest
from ..timing.timeline import Grid

#: Share of a job's progress that belongs to token decoding (the rest: decode, render, write).
DECODE_SHARE = 0.9


@dataclass
class EngineContext:
    registry: ModelRegistry
    paths: PathPolicy
    default_model: str
    backends: dict[str, Callable[..., GenerationOutput]] = field(default_factory=dict)


def choose_backend(ctx: EngineContext, req: GenerateRequest) -> Callable[..., GenerationOutput]:
    if req.backend == "reference":
        return generate_reference
    if req.backend == "fast":
        if "fast" not in ctx.backends:
            raise EngineError("unsupported", "the fast decoder is not available in this build")
        return ctx.backends["fast"]
    return ctx.backends.get("fast", generate_reference)


def model_frames_for(duration_s: float, loaded: LoadedModel) -> int:
    # a few frames beyond the span so resampling and trimming never run short
    return math.ceil(duration_s * loaded.frame_rate) + 2


def versions() -> dict[str, str]:
    import pedalboard
    import torch
    import transformers

    return {"musicgen-bridge": __version__, "torch": torch.__version__, "transformers": transformers.__version__,
            "pedalboard": pedalboard.__version__, "numpy": np.__version__, "python": platform.python_version()}


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


def produce(ctx: EngineContext, job: Job) -> Produced:
    """Generate and render every take of a generate job (no files written)."""
    req: GenerateRequest = job.request
    t0 = time.perf_counter()
    loaded = ctx.registry.load(req.model or ctx.default_model)
    if req.melody is not None and not loaded.supports_melody:
        from ..models.registry import MELODY_MODELS
        raise EngineError("no_melody_support", f"model {loaded.name} has no melody conditioning; "
                          f"use one of: {', '.join(MELODY_MODELS)}")
    job.check_cancelled()
    t_load = time.perf_counter()
    prompt = tempo_hint(req.prompt, req.bpm, req.tempo_hint)
    chroma = None
    if req.melody is not None:
        source = req.melody_source or load_melody(req.melody, ctx.paths)  # notes/MIDI were read at submit
        chroma = melody_chroma(source, req.melody, req)
    cond = Conditioning(prompts=[prompt] * req.variations, melody_chroma=chroma)
    audio, conform_report = generate_audio(ctx, req, loaded, cond, job)
    t_gen = time.perf_counter()
    meta = {"model": loaded.name, "model_revision": loaded.revision, "prompt_sent": prompt,
            "versions": versions(), "request": req.to_dict(), "conform": conform_report}
    takes = render_takes(req, audio, loaded.sample_rate, meta, job)
    t_end = time.perf_counter()
    timing = {"load_s": round(t_load - t0, 4), "generate_s": round(t_gen - t_load, 4),
              "render_s": round(t_end - t_gen, 4),
              "rtf": round(float(req.duration) * req.variations / max(t_gen - t_load, 1e-9), 3)}
    return Produced(takes=takes, model=loaded.name, timing=timing)


def generate_audio(ctx: EngineContext, req: GenerateRequest, loaded: LoadedModel, cond: Conditioning,
                   job: Job) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """(takes, channels, samples) at the model rate: one window, or bar-aligned windows when longer,
    then conformed to the session tempo and bar grid when the request is in bars."""
    generate = choose_backend(ctx, req)
    on_step = lambda done, total: job.report_progress(DECODE_SHARE * done / total)  # noqa: E731
    frames_model = model_frames_for(float(req.duration), loaded)
    grid = Grid.constant(req.time_signature, req.bpm)
    bars = req.bars if req.bars is not None else math.ceil(req.duration / grid.span_seconds(0, 1))
    if frames_model <= loaded.max_frames:
        audio = generate(loaded, cond, frames_model, req.sampling, req.take_seeds(), on_step=on_step,
                         cancel=job.cancel_event).audio
    else:
        if cond.melody_chroma is not None:
            raise EngineError("too_large", f"melody-conditioned clips are limited to one model window "
                              f"({loaded.max_frames / loaded.frame_rate:.0f} s)")
        stream, _plan = generate_long(loaded, cond.prompts, grid, 0, bars, req.sampling, req.take_seeds(),
                                      context_bars=req.context_bars, window_bars=req.window_bars,
                                      on_step=on_step, cancel=job.cancel_event, generate=generate)
        audio = stream.span_audio(bars)
    # the built-in tiny models make noise with no beat to find: conform them only when asked
    wanted = req.conform if req.conform is not None else not loaded.spec.builtin
    if not (wanted and req.bars is not None):
        return audio, []
    conformed = [conform(take, loaded.sample_rate, grid=grid, bars=bars) for take in audio]
    reports = [{"stretch_factor": round(c.stretch_factor, 6), "shift_s": round(c.shift_s, 6),
                "beats_found": c.estimate is not None} for c in conformed]
    return np.stack([c.audio for c in conformed]), reports


def render_takes(req: GenerateRequest, audio: np.ndarray, model_rate: int, meta: dict[str, Any],
                 job: Job | None = None, frames: int | None = None) -> list[RenderedTake]:
    """Each take through the request's render spec (rate, channels, chain, loudness, exact length)."""
    spec = req.render or RenderSpec(sample_rate=req.sample_rate, channels=req.channels, format=req.format)
    renderer = Renderer(spec)
    cancelled = job.cancel_event.is_set if job is not None else None
    takes = []
    for i, seed in enumerate(req.take_seeds()):
        clip, report = renderer.render_with_report(audio[i], model_rate, frames=frames or req.frames,
                                                   cancelled=cancelled)
        takes.append(RenderedTake(i + 1, seed, clip, {
            **meta, "take": i + 1, "seed": seed, "frames": int(clip.shape[1]), "sample_rate": spec.sample_rate,
            "format": spec.format, "render": spec.to_dict(), "render_report": report.to_dict()}))
    return takes


def publish(ctx: EngineContext, job: Job, produced: Produced) -> dict[str, Any]:
    """Write the takes under the engine's roots (temp name + rename, never overwriting)."""
    req: GenerateRequest = job.request
    t0 = time.perf_counter()
    folder = ctx.paths.folder(req.output_dir)
    start_bar = produced.start_bar if produced.start_bar is not None else req.start_bar
    spec = req.render or RenderSpec(sample_rate=req.sample_rate, channels=req.channels, format=req.format)
    written = []
    for take in produced.takes:
        if req.output_name is not None:
            stem = Path(req.output_name)
            stem_name = stem.stem if stem.suffix.lower() == get_format(spec.format).ext else stem.name
            path = folder / (stem_name if req.variations == 1 else f"{stem_name}-take{take.take}")
            auto = False
        else:
            path = folder / clip_name(req.name_pattern, track=req.track, prompt=req.prompt,
                                      bar=_num(start_bar), take=take.take)
            auto = True
        files = write_clip(take.clip, spec.sample_rate, path, fmt=spec.format, auto=auto, sidecar=take.sidecar)
        written.append({"take": take.take, "path": str(files.audio), "frames": int(take.clip.shape[1]),
                        "seed": take.seed})
    timing = {**produced.timing, "write_s": round(time.perf_counter() - t0, 4)}
    first = written[0]
    return {"path": first["path"], "takes": written, "frames": first["frames"], "sample_rate": spec.sample_rate,
            "channels": spec.channels, "start_bar": _num(start_bar), "bars": req.bars,
            "seconds": float(req.duration), "model": produced.model, "seed": req.seed, "timing": timing}


def _num(value: Any) -> int | float:
    return int(value) if float(value).is_integer() else float(value)
