"""What travels between the front end and a replica that shares no disk with it.

Input files a request names (a melody's MIDI or audio file) are read on the front end, where
the path rules apply, and travel as bytes; the replica writes them into its own scratch folder.
Rendered takes come back as arrays and the front end writes them with its own rules.

>>> payload = pack_job(job, engine.paths)          # front end   # doctest: +SKIP
>>> request = unpack_request(payload, scratch)     # replica     # doctest: +SKIP
"""

from __future__ import annotations

import copy
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import EngineError
from ..jobs import Job
from ..paths import PathPolicy
from ..pipeline import Produced
from ..request import GenerateRequest

#: melody sources that name a file: (key in request.melody)
FILE_SOURCES = ("midi_file", "audio")


def pack_job(job: Job, paths: PathPolicy) -> dict[str, Any]:
    """The job as the replica needs it; input files are checked here and carried inline."""
    req: GenerateRequest = job.request
    files: dict[str, bytes] = {}
    if req.melody is not None:
        for key in FILE_SOURCES:
            ref = req.melody.get(key)
            if ref is None:
                continue
            raw = ref.get("path") if isinstance(ref, dict) else ref
            path = paths.input_file(raw, f"melody.{key}") if isinstance(raw, str) else None
            if path is None:
                raise EngineError("invalid_field", f"melody.{key} must be a path or {{\"path\": ...}}",
                                  field=f"melody.{key}")
            try:
                files[key] = path.read_bytes()
            except OSError as exc:
                code = "bad_midi" if key == "midi_file" else "bad_audio"
                raise EngineError(code, f"cannot read {path}: {exc.strerror}") from None
            files[key + ".suffix"] = path.suffix.encode()
    return {"job_id": job.id, "request": req, "files": files}


def unpack_request(payload: dict[str, Any], scratch: Path) -> GenerateRequest:
    """The request with inline files written under ``scratch`` and its melody paths pointing there."""
    req: GenerateRequest = copy.copy(payload["request"])
    files: dict[str, bytes] = payload.get("files") or {}
    if req.melody is not None and files:
        melody = copy.deepcopy(req.melody)
        for key in FILE_SOURCES:
            if key not in files:
                continue
            suffix = files.get(key + ".suffix", b"").decode()[:12]
            fd, name = tempfile.mkstemp(prefix="in-", suffix=suffix, dir=scratch)
            with os.fdopen(fd, "wb") as fh:
                fh.write(files[key])
            ref = melody[key]
            melody[key] = {**ref, "path": name} if isinstance(ref, dict) else {"path": name}
        req.melody = melody
    return req


def check_produced(produced: Any, req: GenerateRequest) -> Produced:
    """Refuse a malformed answer before anything is written (a replica of another version)."""
    spec_channels = req.render.channels if req.render is not None else req.channels
    ok = isinstance(produced, Produced) and len(produced.takes) == req.variations
    for take in produced.takes if ok else ():
        clip = take.clip
        ok = ok and isinstance(clip, np.ndarray) and clip.ndim == 2 and clip.shape[0] == spec_channels \
            and clip.dtype == np.float32 and clip.shape[1] > 0
    if not ok:
        raise EngineError("internal", "a replica answered with takes of the wrong shape; nothing was written "
                          "(are all Ray nodes running the same musicgen-bridge version?)")
    return produced
