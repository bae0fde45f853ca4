"""Publishing: the front end writes a job's rendered takes under its roots and builds the result.

>>> result = publish(ctx, job, produced)     # temp name + rename, never overwriting  # doctest: +SKIP
>>> result["path"], result["takes"][0]["frames"]  # writes files  # doctest: +SKIP
('/home/me/Music/mgb/drums-bar1.wav', 192000)
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ..jobs.queue import Job
from ..render import clip_name, get_format, write_clip
from ..request import GenerateRequest
from .context import EngineContext, Produced
from .takes import render_spec


def publish(ctx: EngineContext, job: Job, produced: Produced) -> dict[str, Any]:
    """Write the takes under the engine's roots (temp name + rename, never overwriting)."""
    req: GenerateRequest = job.request
    t0 = time.perf_counter()
    folder = ctx.paths.folder(req.output_dir)
    start_bar = produced.start_bar if produced.start_bar is not None else req.start_bar
    spec = render_spec(req)
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
