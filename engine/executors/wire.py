"""What travels between the front end and a replica that shares no disk with it.

Input files a request names (a melody's MIDI or audio file, a continuation's audio, a style
clip) are read on the front end, where the path rules apply, and travel as bytes; the replica
writes them into its own scratch folder and points the request there. Rendered takes come back as arrays and the
front end writes them with its own rules.

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
from ..jobs.queue import Job
from ..paths import PathPolicy
from ..produce.context import Produced

#: where a request may name an input file: (request attribute, key inside it or None)
FILE_FIELDS = (("melody", "midi_file"), ("melody", "audio"), ("audio", None), ("style", None))


def _ref(req: Any, attr: str, key: str | None) -> Any:
    holder = getattr(req, attr, None)
    if key is None:
        return holder
    return holder.get(key) if isinstance(holder, dict) else None


def pack_job(job: Job, paths: PathPolicy) -> dict[str, Any]:
    """The job as a replica needs it; input files are checked here and carried inline."""
    files: dict[str, tuple[str, bytes]] = {}
    for attr, key in FILE_FIELDS:
        ref = _ref(job.request, attr, key)
        if ref is None:
            continue
        name = f"{attr}.{key}" if key else attr
        raw = ref.get("path") if isinstance(ref, dict) else ref
        if not isinstance(raw, str):
            raise EngineError("invalid_field", f"{name} must be a path or {{\"path\": ...}}", field=name)
        path = paths.input_file(raw, name)
        try:
            files[name] = (path.suffix[:12], path.read_bytes())
        except OSError as exc:
            code = "bad_midi" if key == "midi_file" else "bad_audio"
            raise EngineError(code, f"cannot read {path}: {exc.strerror}") from None
    return {"job_id": job.id, "kind": job.kind, "request": job.request, "files": files}


def unpack_request(payload: dict[str, Any], scratch: Path) -> Any:
    """The request with inline files written under ``scratch`` and its paths pointing there."""
    req = copy.copy(payload["request"])
    for attr, key in FILE_FIELDS:
        name = f"{attr}.{key}" if key else attr
        if name not in payload.get("files", {}):
            continue
        suffix, data = payload["files"][name]
        fd, path = tempfile.mkstemp(prefix="in-", suffix=suffix, dir=scratch)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        ref = _ref(req, attr, key)
        moved = {**ref, "path": path} if isinstance(ref, dict) else {"path": path}
        if key is None:
            setattr(req, attr, moved)
        else:
            setattr(req, attr, {**getattr(req, attr), key: moved})
    return req


def check_produced(produced: Any, req: Any) -> Produced:
    """Refuse a malformed answer before anything is written (a replica of another version)."""
    channels = req.render.channels if getattr(req, "render", None) is not None else req.channels
    ok = isinstance(produced, Produced) and len(produced.takes) == req.variations
    for take in produced.takes if ok else ():
        clip = take.clip
        ok = ok and isinstance(clip, np.ndarray) and clip.ndim == 2 and clip.shape[0] == channels \
            and clip.dtype == np.float32 and clip.shape[1] > 0
    if not ok:
        raise EngineError("internal", "a replica answered with takes of the wrong shape; nothing was written "
                          "(are all Ray nodes running the same musicgen-bridge version?)")
    return produced
