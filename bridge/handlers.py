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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .. import __version__
from ..engine.engine import Engine
from ..engine.errors import EngineError
from ..engine.request import GenerateRequest
from .parking import StatusParker
from .protocol import PROTOCOL_VERSION, REQUEST_TYPES, Message

log = logging.getLogger(__name__)

Sink = Callable[[str, dict[str, Any]], None]
#: how a transport answers later: called once with the reply content or the EngineError
Defer = Callable[[dict[str, Any] | EngineError], None]
FETCH_CHUNK = 256 * 1024
FETCH_CHUNK_MAX = 4 * 1024 * 1024
MAX_STATUS_WAIT_S = 30.0
MAX_JOBS_LISTED = 200
#: received input files are kept this long (a job, its retries and a restart's re-run need them)
SCRATCH_KEEP_S = 24 * 3600
#: content fields that may carry input audio as a binary buffer reference {"buffer": i}
BUFFER_FIELDS = (("melody", "audio"), ("melody", "midi_file"), ("audio",), ("seed_audio",), ("tokens",),
                 ("style",))
#: what a buffer's ``format`` may say (it becomes the scratch file's extension, nothing else)
BUFFER_FORMATS = ("wav", "flac", "aiff", "aif", "mp3", "ogg", "mid", "midi", "mgbcodes")


class RequestHandler:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.endpoints: dict[str, str] = {}  # what the transports bound (ping tells clients the event port)
        _remove_orphan_scratch()
        self.scratch = Path(tempfile.mkdtemp(prefix="mgb-scratch-"))
        (self.scratch / "owner.pid").write_text(str(os.getpid()))  # so a later engine can tell it is orphaned
        engine.paths.allow_reading(self.scratch)
        self.parker = StatusParker()
        self._table: dict[str, Callable[[Message, Sink], dict[str, Any]]] = {
            "ping": self.ping,
            "models": self.models,
            "generate": self.submit,
            "continue": self.submit,
            "codec_encode": self.submit,
            "codec_decode": self.submit,
            "codec_bounce": self.submit,
            "live_start": self.live_start,
            "live_stop": self.live_stop,
            "transport": self.transport,
            "status": self.status,
            "cancel": self.cancel,
            "jobs": self.jobs,
            "live_list": self.live_list,
        }
        assert set(self._table) | {"fetch"} == set(REQUEST_TYPES)

    def handle(self, msg: Message, sink: Sink, defer: Defer | None = None) -> tuple[dict[str, Any] | None, list[bytes]]:
        """Run one request; returns (reply content, reply buffers) or raises EngineError.

        With ``defer``, a ``status`` that must wait returns (None, []) at once and is answered later
        through ``defer`` (no thread waits for it); the transport then sends nothing now."""
        if msg.msg_type == "fetch":
            return self.fetch(msg)
        if msg.msg_type == "status" and defer is not None:
            return self.status_later(msg, defer), []
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
        content, written = self._materialise_buffers(msg, check=GenerateRequest.from_dict)
        with self._refusal_cleans(written):
            job = self.engine.submit(msg.msg_type, content, listener=self._scrubbed(sink) if written else sink)
        return {"job_id": job.id}

    def _scrubbed(self, sink: Sink) -> Sink:
        """Job events of a request with buffers: error messages say <buffer>, not the scratch path."""
        scratch = str(self.scratch)

        def send(event: str, c: dict[str, Any]) -> None:
            if event == "error" and scratch in str(c.get("message", "")):
                c = {**c, "message": str(c["message"]).replace(scratch, "<buffer>")}
            sink(event, c)

        return send

    def live_start(self, msg: Message, sink: Sink) -> dict[str, Any]:
        content, written = self._materialise_buffers(msg)
        with self._refusal_cleans(written):
            return self.engine.live_start(content, sink)

    @contextmanager
    def _refusal_cleans(self, written: list[str]) -> Iterator[None]:
        """A refused request leaves no input file behind, and its error names no scratch path."""
        try:
            yield
        except EngineError as exc:
            for name in written:
                Path(name).unlink(missing_ok=True)
            if written:
                exc.message = exc.message.replace(str(self.scratch), "<buffer>")
                exc.details.pop("path", None)
                exc.args = (exc.message,)
            raise

    def live_stop(self, msg: Message, sink: Sink) -> dict[str, Any]:
        return self.engine.live_stop(_job_or_session(msg.content, "session_id"))

    def transport(self, msg: Message, sink: Sink) -> dict[str, Any]:
        return self.engine.transport(msg.content)

    def status(self, msg: Message, sink: Sink) -> dict[str, Any]:
        job_id, wait = _status_args(msg.content)
        if wait:
            self.engine.wait(job_id, timeout=wait)
        return self.engine.status(job_id)

    def jobs(self, msg: Message, sink: Sink) -> dict[str, Any]:
        limit = msg.content.get("limit", 20)
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_JOBS_LISTED:
            raise EngineError("invalid_field", f"limit must be an integer 1..{MAX_JOBS_LISTED}", field="limit")
        return {"jobs": self.engine.jobs(limit)}

    def live_list(self, msg: Message, sink: Sink) -> dict[str, Any]:
        return {"sessions": self.engine.live_sessions()}

    def status_later(self, msg: Message, defer: Defer) -> dict[str, Any] | None:
        """``status``; one that must wait is parked and answered through ``defer`` (returns None)."""
        job_id, wait = _status_args(msg.content)
        status = self.engine.status(job_id)  # unknown_job now, not after the wait
        try:
            job = self.engine.queue.get(job_id) if wait else None
        except EngineError:
            job = None  # a job of an earlier run of the engine: it ended then
        if job is None or job.done_event.is_set():
            return status

        def answer() -> None:
            try:
                defer(self.engine.status(job_id))
            except EngineError as exc:  # pruned meanwhile
                defer(exc)

        self.parker.park(job.done_event, wait, answer)
        return None

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
        # opened without following symlinks below the root: a file swapped for a link after the check
        # is refused, never read from elsewhere
        with os.fdopen(self.engine.paths.open_input(path), "rb") as fh:
            st = os.fstat(fh.fileno())
            fh.seek(offset)
            chunk = fh.read(length)
            digest = _sha256(fh, str(path), st)
        return {"path": str(path), "size": st.st_size, "offset": offset, "length": len(chunk),
                "eof": offset + len(chunk) >= st.st_size, "sha256": digest}, [chunk]

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
        return self.engine.paths.folder(raw)  # resolved here; opened without following links in fetch()

    def close(self) -> None:
        """Remove the received input files (the engine is stopping)."""
        self.parker.close()
        shutil.rmtree(self.scratch, ignore_errors=True)

    def _prune_scratch(self) -> None:
        now = time.time()
        for old in [p for p in self.scratch.iterdir() if p.name != "owner.pid" and _scratch_expired(p, now)]:
            old.unlink(missing_ok=True)

    def _materialise_buffers(self, msg: Message, check: Callable[[dict[str, Any]], Any] | None = None,
                             ) -> tuple[dict[str, Any], list[str]]:
        """Replace ``{"buffer": i}`` references with a scratch file holding those bytes; returns the
        content and the files written. Every reference, and the request itself (``check``, with a
        placeholder path), is validated before a byte touches the disk."""
        refs = self._buffer_refs(msg)
        if not refs:
            return msg.content, []
        if check is not None:
            placeholder = dict(msg.content)
            for keys, _index, ref, _suffix in refs:
                _copy_path(placeholder, keys[:-1])[keys[-1]] = {k: v for k, v in ref.items() if k != "buffer"} \
                    | {"path": "<buffer>"}
            check(placeholder)
        content = dict(msg.content)
        written: list[str] = []
        self._prune_scratch()
        try:
            for keys, index, ref, suffix in refs:
                fd, name = tempfile.mkstemp(prefix="in-", suffix=suffix, dir=self.scratch)
                written.append(name)
                with os.fdopen(fd, "wb") as fh:
                    fh.write(msg.buffers[index])
                parent = _copy_path(content, keys[:-1])
                parent[keys[-1]] = {**{k: v for k, v in ref.items() if k != "buffer"}, "path": name}
        except OSError as exc:  # disk full, read-only scratch: a stable code, no partial files
            for name in written:
                Path(name).unlink(missing_ok=True)
            raise EngineError("unsupported", f"the engine could not store the sent buffer ({exc.strerror})") from None
        return content, written

    def _buffer_refs(self, msg: Message) -> list[tuple[tuple[str, ...], int, dict[str, Any], str]]:
        """The buffer references in a request, checked: (keys, buffer index, reference, file suffix)."""
        refs: list[tuple[tuple[str, ...], int, dict[str, Any], str]] = []
        content = msg.content
        for keys in BUFFER_FIELDS:
            parent: Any = content
            for key in keys[:-1]:
                parent = parent.get(key) if isinstance(parent, dict) else None
            if not isinstance(parent, dict):
                continue
            ref = parent.get(keys[-1])
            if isinstance(ref, dict) and "buffer" in ref:
                index = ref["buffer"]
                field = ".".join(keys)
                if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(msg.buffers):
                    raise EngineError("invalid_field", f"buffer index {index!r} does not name a sent buffer",
                                      field=field)
                fmt = ref.get("format", "wav")
                if not isinstance(fmt, str) or fmt.lower().lstrip(".") not in BUFFER_FORMATS:
                    raise EngineError("invalid_field", f"{field}.format must be one of {', '.join(BUFFER_FORMATS)}",
                                      field=f"{field}.format")
                if not msg.buffers[index]:
                    raise EngineError("invalid_field", f"buffer {index} is empty", field=field)
                refs.append((keys, index, ref, "." + fmt.lower().lstrip(".")))
        return refs


def _remove_orphan_scratch() -> None:
    """Scratch folders of engines that died without cleaning up (kill -9): their inputs are of no use
    to anyone now (a re-run after restart cannot read an old scratch folder)."""
    now = time.time()
    for folder in Path(tempfile.gettempdir()).glob("mgb-scratch-*"):
        try:
            pid = int((folder / "owner.pid").read_text())
        except (OSError, ValueError):
            pid = None
        if pid is not None:
            try:
                os.kill(pid, 0)
                continue  # its engine is running
            except ProcessLookupError:
                pass
            except PermissionError:
                continue  # another user's running process
        elif not _scratch_expired(folder, now):
            continue  # an older engine without a pid file: left until it is a day old
        shutil.rmtree(folder, ignore_errors=True)


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


def _status_args(content: dict[str, Any]) -> tuple[str, float]:
    job_id = _job_or_session(content, "job_id")
    wait = content.get("wait", 0)
    if isinstance(wait, bool) or not isinstance(wait, (int, float)) or not 0 <= wait <= MAX_STATUS_WAIT_S:
        raise EngineError("invalid_field", f"wait must be 0..{MAX_STATUS_WAIT_S:g} seconds", field="wait")
    return job_id, float(wait)


def _job_or_session(content: dict[str, Any], key: str) -> str:
    value = content.get(key)
    if value is None:
        raise EngineError("missing_field", f"{key} is required", field=key)
    if not isinstance(value, str) or not value or len(value) > 200:
        raise EngineError("invalid_field", f"{key} must be a non-empty string", field=key)
    return value


_hash_cache: dict[tuple[str, int, float, int], str] = {}
_hash_lock = threading.Lock()


def _sha256(fh: Any, name: str, st: os.stat_result) -> str:
    """The file's checksum, read from the open file (cached by name, inode, mtime and size)."""
    key = (name, st.st_ino, st.st_mtime, st.st_size)
    with _hash_lock:
        if key in _hash_cache:
            return _hash_cache[key]
    fh.seek(0)
    h = hashlib.sha256()
    while block := fh.read(1 << 20):
        h.update(block)
    digest = h.hexdigest()
    with _hash_lock:
        if len(_hash_cache) >= 4096:  # bounded: old entries go all at once
            _hash_cache.clear()
        _hash_cache[key] = digest
    return digest
