"""The ``continue`` job: new bars that follow an audio item on the timeline.

The item is a file range the DAW names (its source file and take offset); its last
``context_bars`` whole bars become the model's audio prompt, and the result starts exactly on
the item's last bar line. docs/protocol.md, ``continue``.
"""

from __future__ import annotations

import time
from fractions import Fraction

import numpy as np
from pedalboard.io import AudioFile, ReadableAudioFile

from .. import limits
from ..decoders.choice import choose_decoder
from ..errors import EngineError
from ..generation.continuation import continue_audio
from ..jobs.queue import Job
from ..limits import MAX_SECONDS
from ..request import GenerateRequest
from ..timing.timeline import Grid, exact
from .context import DECODE_SHARE, EngineContext, Produced, choose_generator
from .takes import render_takes, sidecar_meta


def _item_range(fh: ReadableAudioFile, path: str, start_seconds: float | None, end_seconds: float | None) -> tuple[int, int, int]:
    """(rate, first frame, end frame) of the item's range, from the file's header alone: a small file
    that claims hours of 192 kHz audio is refused before a sample is decoded."""
    rate = int(fh.samplerate)
    start = round(exact(start_seconds or 0, "audio.start_seconds") * rate)
    end = fh.frames if end_seconds is None else min(fh.frames, round(exact(end_seconds, "audio.end_seconds") * rate))
    if end - start > MAX_SECONDS * rate:
        raise EngineError("too_large", f"the item range is longer than {MAX_SECONDS} s", field="audio")
    decoded = (end - start) * int(fh.num_channels) * 4
    if decoded > limits.MAX_DECODED_AUDIO_BYTES:
        raise EngineError("too_large", f"the item range decodes to {decoded // 2**20} MiB ({fh.num_channels} channels "
                          f"at {rate} Hz); the limit is {limits.MAX_DECODED_AUDIO_BYTES // 2**20} MiB: send a "
                          "shorter range (start_seconds/end_seconds)", field="audio")
    if end <= start:
        raise EngineError("bad_audio", f"the range {start_seconds}..{end_seconds} s of {path} holds no audio")
    return rate, start, end


def check_item(path: str, start_seconds: float | None, end_seconds: float | None) -> None:
    """Refuse at submit an item whose header says it is unreadable or too large to decode."""
    try:
        with AudioFile(path) as fh:
            _item_range(fh, path, start_seconds, end_seconds)
    except EngineError:
        raise
    except Exception as exc:  # noqa: BLE001 - pedalboard raises several types for unreadable files
        raise EngineError("bad_audio", f"cannot read the audio item {path}: {exc}") from None


def read_item(path: str, start_seconds: float | None, end_seconds: float | None) -> tuple[np.ndarray, int, int]:
    """(channels, frames) float32 of the item's range, its sample rate, and the range's first frame."""
    try:
        with AudioFile(path) as fh:
            rate, start, end = _item_range(fh, path, start_seconds, end_seconds)
            fh.seek(start)
            return fh.read(end - start), rate, start
    except EngineError:
        raise
    except Exception as exc:  # noqa: BLE001 - pedalboard raises several types for unreadable files
        raise EngineError("bad_audio", f"cannot read the audio item {path}: {exc}") from None


def produce_continuation(ctx: EngineContext, job: Job) -> Produced:
    req: GenerateRequest = job.request
    assert req.audio is not None and req.bars is not None
    t0 = time.perf_counter()
    loaded = ctx.registry.load(req.model or ctx.default_model)
    path = ctx.paths.input_file(req.audio["path"], "audio")
    item, rate, _ = read_item(str(path), req.audio.get("start_seconds"), req.audio.get("end_seconds"))
    grid = Grid.constant(req.time_signature, req.bpm)
    item_bars = Fraction(item.shape[1], rate) / grid.span_seconds(0, 1)
    end_bar = req.item_start_bar - 1 + item_bars  # 0-based bar position of the item's end
    decoder = choose_decoder(ctx.registry, loaded, req.decoder, req.take_seeds())  # refuses before generating
    t_load = time.perf_counter()
    cont = continue_audio(loaded, item, rate, grid=grid, end_bar=end_bar, context_bars=req.context_bars,
                          bars=req.bars, prompt=req.prompt, seeds=req.take_seeds(), params=req.sampling,
                          out_rate=req.sample_rate, add_tempo_hint=req.tempo_hint and loaded.spec.musical, window_bars=req.window_bars,
                          on_step=lambda done, total: job.report_progress(DECODE_SHARE * done / total),
                          cancel=job.cancel_event, generate=choose_generator(ctx, req, loaded),
                          decoder=decoder.decode)
    t_gen = time.perf_counter()
    meta = sidecar_meta(loaded, req, item={"path": str(path), "sample_rate": rate, "frames": int(item.shape[1]),
                                           "end_bar": float(end_bar + 1)},
                        join_step=[round(x, 6) for x in cont.join_step], decoder=decoder.record)
    takes = render_takes(req, cont.audio, cont.sample_rate, meta, job.cancel_event,
                         frames=int(cont.audio.shape[-1]))
    timing = {"load_s": round(t_load - t0, 4), "generate_s": round(t_gen - t_load, 4),
              "render_s": round(time.perf_counter() - t_gen, 4),
              "rtf": round(float(grid.span_seconds(cont.start_bar, req.bars)) * req.variations
                           / max(t_gen - t_load, 1e-9), 3)}
    return Produced(takes=takes, model=loaded.name, timing=timing, start_bar=cont.start_bar + 1)
