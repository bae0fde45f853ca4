"""Transport-neutral request handling: one table from msg_type to engine call.

ZeroMQ and OSC both decode into a :class:`~bridge.protocol.Message` and call
:meth:`RequestHandler.handle`; no feature exists on one transport only. Events about a job go to
the ``sink`` the transport passes in (its way of reaching that client).
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import __version__
from ..engine.engine import Engine
from ..engine.errors import EngineError
from .protocol import PROTOCOL_VERSION, REQUEST_TYPES, Message

log = logging.getLogger(__name__)

Sink = Callable[[str, dict[str, Any]], None]
FETCH_CHUNK = 256 * 1024
FETCH_CHUNK_MAX = 4 * 1024 * 1024
MAX_STATUS_WAIT_S = 30.0
MAX_JOBS_LISTED = 200
#: received input files are kept this long (a job, its retries and a restart's re-run need them)
SCRATCH_KEEP_S = 24 * 3600
#: content fields that may carry input audio as a binary buffer reference {"buffer": i}
BUFFER_FIELDS = (("melody", "audio"), ("melody", "midi_file"), ("audio",), ("seed_audio",))


class RequestHandler:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.endpoints: dict[str, str] = {}  # what the transports bound (ping tells clients the event port)
        self.scratch = Path(tempfile.mkdtemp(prefix="mgb-scratch-"))
        engine.paths.allow_reading(self.scratch)
        self._table: dict[str, Callable[[Message, Sink], dict[str, Any]]] = {
            "ping": self.ping,
            "models": self.models,
            "generate": self.submit,
            "continue": self.submit,
            "live_start": self.live_start,
            "live_stop": self.live_stop,
            "transport": self.transport,
            "status": self.status,
            "cancel": self.cancel,
            "jobs": self.jobs,
            "live_list": self.live_list,
        }
        assert set(self._table) | {"fetch"} == set(REQUEST_TYPES)

    def handle(self, msg: Message, sink: Sink) -> tuple[dict[str, Any], list[bytes]]:
        """Run one request; returns (reply content, reply buffers) or raises EngineError."""
        if msg.msg_type == "fetch":
            return self.fetch(msg)
        handler = self._table.get(msg.msg_type)
        if handler is None:
            raise EngineError("unknown_msg_type", f"unknown msg_type {msg.msg_type!r}; known: "
                              f"{', '.join(REQUEST_TYPES)}")
        return handler(msg, sink), []

    # -- handlers -------------------------------------------------------------------------
    def ping(self, msg: Message, sink: Sink) -> dict[str, Any]:
        return {"pong": True, "protocol_version": PROTOCOL_VERSION, "engine_version": __version__,
                "endpoints": self.endpoints, **self.engine.info()}

    def models(self, msg: Message, sink: Sink) -> dict[str, Any]:
        return {"models": self.engine.models()}

    def submit(self, msg: Message, sink: Sink) -> dict[str, Any]:
        content = self._materialise_buffers(msg)
        job = self.engine.submit(msg.msg_type, content, listener=sink)
        return {"job_id": job.id}

    def live_start(self, msg: Message, sink: Sink) -> dict[str, Any]:
        return self.engine.live_start(self._materialise_buffers(msg), sink)

    def live_stop(self, msg: Message, sink: Sink) -> dict[str, Any]:
        return self.engine.live_stop(_job_or_session(msg.content, "session_id"))

    def transport(self, msg: Message, sink: Sink) -> dict[str, Any]:
        return self.engine.transport(msg.content)

    def status(self, msg: Message, sink: Sink) -> dict[str, Any]:
        job_id = _job_or_session(msg.content, "job_id")
        wait = msg.content.get("wait", 0)
        if isinstance(wait, bool) or not isinstance(wait, (int, float)) or not 0 <= wait <= MAX_STATUS_WAIT_S:
            raise EngineError("invalid_field", f"wait must be 0..{MAX_STATUS_WAIT_S:g} seconds", field="wait")
        if wait:
            self.engine.wait(job_id, timeout=float(wait))
        return self.engine.status(job_id)

    def jobs(self, msg: Message, sink: Sink) -> dict[str, Any]:
        limit = msg.content.get("limit", 20)
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_JOBS_LISTED:
            raise EngineError("invalid_field", f"limit must be an integer 1..{MAX_JOBS_LISTED}", field="limit")
        return {"jobs": self.engine.jobs(limit)}

    def live_list(self, msg: Message, sink: Sink) -> dict[str, Any]:
        return {"sessions": self.engine.live_sessions()}

    def cancel(self, msg: Message, sink: Sink) -> dict[str, Any]:
        return self.engine.cancel(_job_or_session(msg.content, "job_id"))

    def fetch(self, msg: Message) -> tuple[dict[str, Any], list[bytes]]:
        """A chunk of a finished file: by ``job_id`` (+ ``take``, ``sidecar``) or by ``path``."""
        c = msg.content
        path = self._fetch_path(c)
        offset = c.get("offset", 0)
        length = c.get("length", FETCH_CHUNK)
        for name, value, hi in (("offset", offset, 1 << 40), ("length", length, FETCH_CHUNK_MAX)):
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= hi:
                raise EngineError("invalid_field", f"{name} must be an integer 0..{hi}", field=name)
        size = path.stat().st_size
        with path.open("rb") as fh:
            fh.seek(offset)
            chunk = fh.read(length)
        return {"path": str(path), "size": size, "offset": offset, "length": len(chunk),
                "eof": offset + len(chunk) >= size, "sha256": _sha256(path)}, [chunk]

    # -- helpers --------------------------------------------------------------------------
    def _fetch_path(self, c: dict[str, Any]) -> Path:
        if "job_id" in c:
            status = self.engine.status(_job_or_session(c, "job_id"))
            if status["state"] != "done":
                raise EngineError("invalid_field", f"job {c['job_id']} is {status['state']}, not done",
                                  field="job_id")
            takes = status["result"].get("takes") or [status["result"]]
            take = c.get("take", 1)
            if isinstance(take, bool) or not isinstance(take, int) or not 1 <= take <= len(takes):
                raise EngineError("invalid_field", f"take must be 1..{len(takes)}", field="take")
            path = Path(takes[take - 1]["path"])
            if c.get("sidecar"):
                path = path.with_name(path.name + ".json")
            return path
        raw = c.get("path")
        if raw is None:
            raise EngineError("missing_field", "fetch needs job_id or path", field="path")
        if not isinstance(raw, str) or not raw:
            raise EngineError("invalid_field", "path must be a non-empty string", field="path")
        path = self.engine.paths.folder(raw)  # the whole path resolved: a symlink cannot lead outside
        if not path.is_file():
            raise EngineError("invalid_field", f"no file at {raw}", field="path")
        return path

    def close(self) -> None:
        """Remove the received input files (the engine is stopping)."""
        shutil.rmtree(self.scratch, ignore_errors=True)

    def _prune_scratch(self) -> None:
        now = time.time()
        for old in [p for p in self.scratch.iterdir() if _scratch_expired(p, now)]:
            old.unlink(missing_ok=True)

    def _materialise_buffers(self, msg: Message) -> dict[str, Any]:
        """Replace ``{"buffer": i}`` references with a scratch file holding those bytes."""
        content = dict(msg.content)
        for keys in BUFFER_FIELDS:
            parent: Any = content
            for key in keys[:-1]:
                parent = parent.get(key) if isinstance(parent, dict) else None
            if not isinstance(parent, dict):
                continue
            ref = parent.get(keys[-1])
            if isinstance(ref, dict) and "buffer" in ref:
                index = ref["buffer"]
                if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(msg.buffers):
                    raise EngineError("invalid_field", f"buffer index {index!r} does not name a sent buffer",
                                      field=".".join(keys))
                suffix = "." + str(ref.get("format", "wav")).lstrip(".")[:8]
                self._prune_scratch()
                fd, name = tempfile.mkstemp(prefix="in-", suffix=suffix, dir=self.scratch)
                with os.fdopen(fd, "wb") as fh:
                    fh.write(msg.buffers[index])
                parent = _copy_path(content, keys[:-1])
                parent[keys[-1]] = {**{k: v for k, v in ref.items() if k != "buffer"}, "path": name}
        return content


def _scratch_expired(path: Path, now: float) -> bool:
    try:
        return now - path.stat().st_mtime > SCRATCH_KEEP_S
    except FileNotFoundError:
        return False


def _copy_path(content: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    node = content
    for key in keys:
        node[key] = dict(node[key])
        node = node[key]
    return node


def _job_or_session(content: dict[str, Any], key: str) -> str:
    value = content.get(key)
    if value is None:
        raise EngineError("missing_field", f"{key} is required", field=key)
    if not isinstance(value, str) or not value or len(value) > 200:
        raise EngineError("invalid_field", f"{key} must be a non-empty string", field=key)
    return value


_hash_cache: dict[tuple[str, float, int], str] = {}
_hash_lock = threading.Lock()


def _sha256(path: Path) -> str:
    st = path.stat()
    key = (str(path), st.st_mtime, st.st_size)
    with _hash_lock:
        if key in _hash_cache:
            return _hash_cache[key]
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    with _hash_lock:
        _hash_cache[key] = digest
    return digest
