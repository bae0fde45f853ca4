"""The tokens file (``.mgbcodes``): EnCodec codes with what is needed to decode them exactly.

Layout (docs/protocol.md, "codec_encode"):

1. the line ``MGBCODES 1`` (ASCII, ``\\n``-terminated): magic and format version;
2. one line of UTF-8 JSON: ``model``, ``revision``, ``bandwidth`` (kbps), ``sample_rate`` (the
   codec's), ``shape`` ``[chunks, streams, codebooks, frames]``, ``scales`` (per chunk, per
   stream, or null), ``source`` ``{sample_rate, frames, channels}`` and ``timing``
   (``{bars, bpm, time_signature}`` when the source was bar-exact, else null);
3. the codes: ``chunks * streams * codebooks * frames`` little-endian uint16, C order.

Nothing else follows; a short or long file, a wrong magic or a header that does not add up is
``bad_tokens``.

>>> import io, torch
>>> codes = Codes("tiny-encodec", 1.8, 24000, torch.arange(8).view(1, 1, 2, 4), None, 48000, 96, 1)
>>> buf = io.BytesIO(); write_codes(buf, codes); _ = buf.seek(0)
>>> back = read_codes(buf)
>>> torch.equal(back.codes, codes.codes), back.source_frames, back.bandwidth
(True, 96, 1.8)
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch

from ..errors import EngineError
from .encodec import Codes

MAGIC = b"MGBCODES 1\n"
SUFFIX = ".mgbcodes"
MAX_HEADER = 1 << 20


def _bad(message: str) -> EngineError:
    return EngineError("bad_tokens", message)


def write_codes(fh: IO[bytes], codes: Codes) -> None:
    values = codes.codes.cpu().numpy()
    if values.min(initial=0) < 0 or values.max(initial=0) > 0xFFFF:
        raise ValueError("codes must fit uint16")
    header = {"model": codes.model, "revision": codes.revision, "bandwidth": codes.bandwidth,
              "sample_rate": codes.sample_rate, "shape": list(values.shape), "scales": codes.scales,
              "source": {"sample_rate": codes.source_rate, "frames": codes.source_frames,
                         "channels": codes.source_channels},
              "timing": codes.timing}
    fh.write(MAGIC)
    fh.write(json.dumps(header, separators=(",", ":")).encode() + b"\n")
    fh.write(values.astype("<u2").tobytes())


def read_codes(fh: IO[bytes]) -> Codes:
    if fh.read(len(MAGIC)) != MAGIC:
        raise _bad("not a tokens file (it must start with 'MGBCODES 1')")
    line = fh.readline(MAX_HEADER)
    try:
        h = json.loads(line)
        shape = [int(n) for n in h["shape"]]
        source = h["source"]
        codes = Codes(str(h["model"]), float(h["bandwidth"]), int(h["sample_rate"]), torch.empty(0),
                      h["scales"], int(source["sample_rate"]), int(source["frames"]), int(source["channels"]),
                      h.get("timing"), str(h.get("revision", "")))
    except (ValueError, KeyError, TypeError) as exc:
        raise _bad(f"the tokens file's header is not valid: {exc}") from None
    if len(shape) != 4 or min(shape) < 1:
        raise _bad(f"the tokens file's shape {shape} is not [chunks, streams, codebooks, frames]")
    if codes.scales is not None and (len(codes.scales) != shape[0] or any(len(s) != shape[1] for s in codes.scales)):
        raise _bad("the tokens file's scales do not match its chunks and streams")
    size = math.prod(shape) * 2
    data = fh.read(size + 1)
    if len(data) != size:
        raise _bad(f"the tokens file holds {len(data)} bytes of codes; its header says {size}")
    codes.codes = torch.from_numpy(np.frombuffer(data, dtype="<u2").astype(np.int64).reshape(shape))
    return codes


def save_codes(path: str | Path, codes: Codes) -> Path:
    path = Path(path)
    with path.open("xb") as fh:  # never overwrite
        write_codes(fh, codes)
    return path


def load_codes(path: str | Path) -> Codes:
    try:
        with Path(path).open("rb") as fh:
            return read_codes(fh)
    except OSError as exc:
        raise EngineError("bad_tokens", f"cannot read the tokens file {path}: {exc.strerror}") from None


def describe(codes: Codes) -> dict[str, Any]:
    """The header fields a reply reports."""
    return {"model": codes.model, "bandwidth": codes.bandwidth, "codec_sample_rate": codes.sample_rate,
            "shape": list(codes.codes.shape), "source_frames": codes.source_frames,
            "source_sample_rate": codes.source_rate}
