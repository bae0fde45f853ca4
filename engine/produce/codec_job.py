"""The standalone EnCodec jobs: ``codec_encode``, ``codec_decode``, ``codec_bounce`` (docs/protocol.md).

``codec_encode`` reads an audio item and writes a tokens file (engine/decoders/tokens_file.py);
``codec_decode`` reads a tokens file and writes audio at the session rate (bar-exact when the
source was encoded with ``bars``/``bpm``); ``codec_bounce`` writes the audio encoded at a
bandwidth and decoded again, the codec's sound as an effect. They run in the engine process
(no model of the registry is involved), one at a time per codec.

>>> req = CodecRequest.from_dict("codec_bounce", {"audio": "/tmp/x.wav", "model": "tiny-encodec",
...                                               "bandwidth": 1.8})
>>> req.model, req.bandwidth, req.sample_rate
('tiny-encodec', 1.8, 48000)
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..decoders.encodec import CODEC_MODELS, Codec, load_codec
from ..decoders.tokens_file import SUFFIX, describe, load_codes, save_codes
from ..errors import EngineError
from ..jobs.queue import Job
from ..render import get_format, write_clip
from ..render.dsp import convert_channels
from ..request import FORMATS, _audio_ref, _choice, _int, _str
from ..timing.timeline import TimeSignature, check_bpm, check_sample_rate, span_frames
from .context import EngineContext

CODEC_KINDS = ("codec_encode", "codec_decode", "codec_bounce")
DEFAULT_CODEC = "facebook/encodec_24khz"


@dataclass
class CodecRequest:
    """One codec job's fields, validated (bandwidth against the model happens when it is loaded)."""

    kind: str
    model: str | None = DEFAULT_CODEC  # decode: None reads it from the tokens file
    bandwidth: float | None = None  # kbps; encode and bounce
    audio: dict[str, Any] | None = None  # encode, bounce: {path, start_seconds, end_seconds}
    tokens: str | None = None  # decode: the tokens file
    sample_rate: int = 48000  # decode, bounce: the session rate
    channels: int | None = None  # None: the source's
    format: str = "wav24"
    bars: int | None = None  # encode, bounce: the source is this many bars at bpm (bar-exact lengths)
    bpm: float = 120.0
    time_signature: str = "4/4"
    output_dir: str | None = None
    output_name: str | None = None

    @classmethod
    def from_dict(cls, kind: str, d: dict[str, Any]) -> CodecRequest:
        if not isinstance(d, dict):
            raise EngineError("invalid_field", "the request content must be a JSON object")
        if kind == "codec_decode" and d.get("model") is None:
            model: str | None = None
        else:
            model = _choice(d, "model", DEFAULT_CODEC, CODEC_MODELS)
        req = cls(kind=kind, model=model, sample_rate=check_sample_rate(d.get("sample_rate", 48000)),
                  channels=_int(d, "channels", None, 1, 2), format=_choice(d, "format", "wav24", FORMATS),
                  bars=_int(d, "bars", None, 1, 10000), output_dir=_str(d, "output_dir", None, 4096),
                  output_name=_str(d, "output_name", None, 255))
        if req.bars is not None:
            req.bpm = float(check_bpm(d.get("bpm", 120)))
            req.time_signature = str(TimeSignature.parse(d.get("time_signature", "4/4")))
        if kind == "codec_decode":
            ref = d.get("tokens")  # a path, or {"path": ...} (what a sent buffer becomes)
            req.tokens = _str(ref, "path", None, 4096) if isinstance(ref, dict) else _str(d, "tokens", None, 4096)
            if not req.tokens:
                raise EngineError("missing_field", "codec_decode needs the tokens file: \"tokens\": \"path\"",
                                  field="tokens")
            return req
        req.audio = _audio_ref(d.get("audio"))
        if req.audio is None:
            raise EngineError("missing_field", f"{kind} needs the audio: \"audio\": {{\"path\": ...}}", field="audio")
        if d.get("bandwidth") is None:
            raise EngineError("missing_field", f"{kind} needs a bandwidth in kbps", field="bandwidth")
        bandwidth = d["bandwidth"]
        if isinstance(bandwidth, bool) or not isinstance(bandwidth, (int, float)):
            raise EngineError("invalid_field", "bandwidth must be a number (kbps)", field="bandwidth")
        req.bandwidth = float(bandwidth)
        return req

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def codec_for(ctx: EngineContext, name: str) -> Codec:
    """The engine's loaded codec of that name (loaded once, kept warm)."""
    if name not in ctx.codecs:
        ctx.codecs[name] = load_codec(name, ctx.registry.cache_dir)
    codec: Codec = ctx.codecs[name]
    return codec


def check_request(ctx: EngineContext, req: CodecRequest) -> None:
    """What can fail before queueing: input paths, output folder and name."""
    if req.audio is not None:
        ctx.paths.input_file(req.audio["path"], "audio")
    if req.tokens is not None:
        ctx.paths.input_file(req.tokens, "tokens")
    ctx.paths.folder(req.output_dir)


def _timing(req: CodecRequest) -> dict[str, Any] | None:
    if req.bars is None:
        return None
    return {"bars": req.bars, "bpm": req.bpm, "time_signature": req.time_signature}


def _stem(req: CodecRequest, source: str) -> str:
    if req.output_name:
        return Path(req.output_name).stem if Path(req.output_name).suffix else req.output_name
    return f"{Path(source).stem}-{req.kind.removeprefix('codec_')}"


def _free(path: Path) -> Path:
    n = 2
    candidate = path
    while candidate.exists():
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
        n += 1
    return candidate


def run_codec(ctx: EngineContext, job: Job) -> dict[str, Any]:
    """Run a codec job and write its file; returns the ``done`` result."""
    from .continue_job import read_item  # pedalboard's reader, the same the continue job uses

    req: CodecRequest = job.request
    t0 = time.perf_counter()
    folder = ctx.paths.folder(req.output_dir)
    result: dict[str, Any] = {"kind": req.kind}
    if req.kind == "codec_decode":
        assert req.tokens is not None
        codes = load_codes(ctx.paths.input_file(req.tokens, "tokens"))
        if req.model is not None and req.model != codes.model:
            raise EngineError("invalid_field", f"the tokens were made by {codes.model}; they decode with that "
                              f"codec only, not {req.model}", field="model")
        if codes.model not in CODEC_MODELS:
            raise EngineError("bad_tokens", f"the tokens file names an unknown codec {codes.model!r}")
        codec = codec_for(ctx, codes.model)
        job.report_progress(0.1)
        audio = codec.decode(codes, req.sample_rate)
        source = req.tokens
        result.update(describe(codes))
    else:
        assert req.audio is not None and req.bandwidth is not None and req.model is not None
        codec = codec_for(ctx, req.model)
        job.report_progress(0.1)
        codec.check_bandwidth(req.bandwidth)
        path = ctx.paths.input_file(req.audio["path"], "audio")
        item, rate, _ = read_item(str(path), req.audio.get("start_seconds"), req.audio.get("end_seconds"))
        source = str(path)
        codes = codec.encode(item, rate, req.bandwidth, _timing(req))
        result.update(describe(codes))
        job.check_cancelled()
        if req.kind == "codec_encode":
            out = save_codes(_free(folder / (_stem(req, source) + SUFFIX)), codes)
            # a sidecar as every written file has (fetch reaches it the same way)
            out.with_name(out.name + ".json").write_text(json.dumps({"request": req.to_dict(), **result}, indent=1))
            result.update({"path": str(out), "frames": codes.source_frames, "sample_rate": rate,
                           "seconds": codes.source_frames / rate, "timing": {"total_s": round(time.perf_counter() - t0, 4)}})
            return result
        audio = codec.decode(codes, req.sample_rate)
    job.check_cancelled()
    if req.channels is not None:
        audio = convert_channels(audio[None], req.channels)[0]
    if req.bars is not None and req.kind == "codec_bounce":
        frames = span_frames(req.bars, TimeSignature.parse(req.time_signature), check_bpm(req.bpm), req.sample_rate)
        audio = np.pad(audio, ((0, 0), (0, max(0, frames - audio.shape[1]))))[:, :frames]
    files = write_clip(audio, req.sample_rate, folder / _stem(req, source), fmt=req.format, auto=req.output_name is None,
                       sidecar={"request": req.to_dict(), **result})
    result.update({"path": str(files.audio), "frames": int(audio.shape[1]), "sample_rate": req.sample_rate,
                   "channels": int(audio.shape[0]), "seconds": audio.shape[1] / req.sample_rate,
                   "format": get_format(req.format).ext.lstrip("."),
                   "timing": {"total_s": round(time.perf_counter() - t0, 4)}})
    return result
