"""The ``generate`` job: conditioning -> tokens -> waveform -> rendered takes (no files; see publish).

>>> produced = produce(ctx, job)          # what an executor runs for a generate job  # doctest: +SKIP
>>> [t.clip.shape for t in produced.takes]  # needs an engine's context and a job  # doctest: +SKIP
[(2, 192000)]
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict
from typing import Any

import numpy as np

from ..conditioning.melody_input import load_melody, melody_chroma
from ..decoders.choice import DecoderChoice, choose_decoder
from ..errors import EngineError
from ..generation.reference import Conditioning
from ..generation.windows import generate_long
from ..jobs.queue import Job
from ..models.registry import LoadedModel
from ..models.specs import check_melody_support
from ..request import GenerateRequest
from ..timing.conform import conform, tempo_hint
from ..timing.timeline import Grid
from .context import DECODE_SHARE, EngineContext, Produced, choose_generator
from .takes import render_takes, sidecar_meta


def model_frames_for(duration_s: float, loaded: LoadedModel) -> int:
    # a few frames beyond the span so resampling and trimming never run short
    return math.ceil(duration_s * loaded.frame_rate) + 2


def produce(ctx: EngineContext, job: Job) -> Produced:
    """Generate and render every take of a generate job (no files written)."""
    req: GenerateRequest = job.request
    t0 = time.perf_counter()
    loaded = ctx.registry.load(req.model or ctx.default_model)
    if req.melody is not None:
        check_melody_support(loaded.name, loaded.supports_melody)
    # the decoder is chosen (and refused, with the reason) before any token is generated
    decoder = choose_decoder(ctx.registry, loaded, req.decoder, req.take_seeds())
    job.check_cancelled()
    t_load = time.perf_counter()
    # sound-effect models get the prompt as written: a tempo means nothing to them
    prompt = tempo_hint(req.prompt, req.bpm, req.tempo_hint and loaded.spec.musical)
    chroma = None
    if req.melody is not None:
        source = req.melody_source or load_melody(req.melody, ctx.paths)  # notes/MIDI were read at submit
        chroma = melody_chroma(source, req.melody, req)
    cond = Conditioning(prompts=[prompt] * req.variations, melody_chroma=chroma)
    audio, conform_report = generate_audio(ctx, req, loaded, cond, job, decoder)
    t_gen = time.perf_counter()
    meta = sidecar_meta(loaded, req, prompt_sent=prompt, conform=conform_report, decoder=decoder.record,
                        **family_meta(loaded, req))
    takes = render_takes(req, audio, loaded.sample_rate, meta, job.cancel_event)
    t_end = time.perf_counter()
    timing = {"load_s": round(t_load - t0, 4), "generate_s": round(t_gen - t_load, 4),
              "render_s": round(t_end - t_gen, 4),
              "rtf": round(float(req.duration) * req.variations / max(t_gen - t_load, 1e-9), 3)}
    return Produced(takes=takes, model=loaded.name, timing=timing)


def family_meta(loaded: LoadedModel, req: GenerateRequest) -> dict[str, Any]:
    """Sidecar fields of a family's own settings: MAGNeT's as they ran (defaults filled in)."""
    if loaded.spec.family == "magnet" and req.sampling.magnet is not None:
        return {"magnet": asdict(req.sampling.magnet)}
    return {}


def generate_audio(ctx: EngineContext, req: GenerateRequest, loaded: LoadedModel, cond: Conditioning,
                   job: Job, decoder: DecoderChoice | None = None) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """(takes, channels, samples) at the model rate: one window, or bar-aligned windows when longer,
    then conformed to the session tempo and bar grid when the request is in bars. ``decoder`` turns
    tokens into audio (None: the generator's own EnCodec decode)."""
    generate = choose_generator(ctx, req, loaded)
    on_step = lambda done, total: job.report_progress(DECODE_SHARE * done / total)
    frames_model = model_frames_for(float(req.duration), loaded)
    grid = Grid.constant(req.time_signature, req.bpm)
    bars = req.bars if req.bars is not None else math.ceil(req.duration / grid.span_seconds(0, 1))
    if frames_model <= loaded.max_frames:
        out = generate(loaded, cond, frames_model, req.sampling, req.take_seeds(), on_step=on_step,
                       cancel=job.cancel_event)
        # the generators decode with EnCodec already; another decoder decodes the same tokens again
        audio = out.audio if decoder is None or decoder.name == "encodec" else decoder.decode(loaded, out.tokens)
    else:
        if cond.melody_chroma is not None:
            raise EngineError("too_large", f"melody-conditioned clips are limited to one model window "
                              f"({loaded.max_frames / loaded.frame_rate:.0f} s)")
        stream, _plan = generate_long(loaded, cond.prompts, grid, 0, bars, req.sampling, req.take_seeds(),
                                      context_bars=req.context_bars, window_bars=req.window_bars,
                                      on_step=on_step, cancel=job.cancel_event, generate=generate,
                                      decoder=None if decoder is None else decoder.decode)
        audio = stream.span_audio(bars)
    # the built-in tiny models make noise with no beat to find, sound effects have none to keep:
    # conform them only when asked
    wanted = req.conform if req.conform is not None else not loaded.spec.builtin and loaded.spec.musical
    if not (wanted and req.bars is not None):
        return audio, []
    conformed = [conform(take, loaded.sample_rate, grid=grid, bars=bars) for take in audio]
    reports = [{"stretch_factor": round(c.stretch_factor, 6), "shift_s": round(c.shift_s, 6),
                "beats_found": c.estimate is not None} for c in conformed]
    return np.stack([c.audio for c in conformed]), reports
