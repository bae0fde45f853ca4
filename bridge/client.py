"""The Python client: what the CLI, the tests and Python ReaScripts use to talk to an engine.

>>> with Client("tcp://127.0.0.1:5555") as client:  # needs a running engine  # doctest: +SKIP
...     result = client.generate(prompt="lofi drums", bars=4, bpm=90, model="tiny",
...                              on_progress=lambda f: print(f"{f:.0%}"))
...     client.fetch(result["job_id"], "drums.wav")
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, Self

import zmq

from ..engine.errors import EngineError
from .protocol import Message, decode, encode, new_message

DEFAULT_ADDRESS = "tcp://127.0.0.1:5555"
IDEMPOTENT = {"ping", "models", "status", "fetch"}
STATUS_POLL_S = 2.0
#: a running engine answers ping in milliseconds even while it generates; fail fast when none is there
PING_TIMEOUT_S = 3.0


def events_address(router_addr: str) -> str:
    """By convention the event socket listens on the request port + 1."""
    head, _, port = router_addr.rpartition(":")
    if not port.isdigit():
        raise EngineError("invalid_field", f"cannot derive the event address from {router_addr!r}; give it")
    return f"{head}:{int(port) + 1}"


class Client:
    """A ZeroMQ client of a running engine (``musicgen-bridge serve``): requests, replies, events.

    >>> from musicgen_bridge import Client
    >>> with Client("tcp://127.0.0.1:5555") as client:  # needs a running engine  # doctest: +SKIP
    ...     result = client.generate(prompt="lofi drums", bars=4, bpm=90)
    >>> result["path"]  # needs a running engine  # doctest: +SKIP
    '/home/me/Music/musicgen-bridge/lofi-drums-bar1.wav'
    """

    def __init__(self, address: str = DEFAULT_ADDRESS, events: str | None = None, session: str | None = None,
                 timeout: float = 10.0, context: zmq.Context | None = None, auth: Any = None) -> None:
        self.address = address
        self._events_given = events is not None
        self.events = events or events_address(address)
        self.session = session or f"c-{uuid.uuid4().hex[:16]}"
        self.timeout = timeout
        self.auth = auth
        self.ctx = context or zmq.Context.instance()
        self._dealer: zmq.Socket | None = None
        self._sub: zmq.Socket | None = None
        self._welcomed = False
        self._backlog: list[Message] = []

    # -- sockets --------------------------------------------------------------------------
    def _socket(self, kind: int) -> zmq.Socket:
        sock = self.ctx.socket(kind)
        sock.setsockopt(zmq.LINGER, 0)
        if self.auth is not None:
            self.auth.configure_client(sock)
        return sock

    def _connect(self) -> zmq.Socket:
        if self._dealer is None:
            self._dealer = self._socket(zmq.DEALER)
            self._dealer.connect(self.address)
        return self._dealer

    def subscribe(self) -> None:
        """Subscribe to our session's events and wait for the welcome that proves the route is live
        (idempotent). Requests sent afterwards cannot miss their events."""
        if self._sub is None:
            if not self._events_given:
                self.events = self._announced_events() or self.events
            self._sub = self._socket(zmq.SUB)
            self._sub.setsockopt_string(zmq.SUBSCRIBE, self.session)
            self._sub.connect(self.events)
        deadline = time.monotonic() + self.timeout
        while not self._welcomed:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._sub.poll(int(remaining * 1000)):
                if self.auth is not None:
                    self.auth.raise_if_refused()  # unauthorized says more than unreachable
                raise EngineError("unreachable", f"no event channel at {self.events} (is the engine running? "
                                  "start it with `musicgen-bridge serve`)")
            msg = self._recv_event()
            if msg.msg_type == "welcome":
                self._welcomed = True
            else:
                self._backlog.append(msg)

    def _announced_events(self) -> str | None:
        """The event endpoint the engine reports in ``ping`` (its port, with our host for the server)."""
        bound = self.request("ping", timeout=PING_TIMEOUT_S, retries=0).content.get("endpoints", {}).get("zmq_events")
        if not isinstance(bound, str) or ":" not in bound:
            return None
        return f"{self.address.rpartition(':')[0]}:{bound.rpartition(':')[2]}"

    def poll_events(self, timeout: float) -> list[Message]:
        """Every event for our session that arrives within ``timeout`` seconds (after subscribing)."""
        self.subscribe()
        assert self._sub is not None
        out, self._backlog = self._backlog, []
        if out or self._sub.poll(int(timeout * 1000)):
            while self._sub.poll(0):
                out.append(self._recv_event())
        return out

    def _recv_event(self) -> Message:
        assert self._sub is not None
        _topic, data = self._sub.recv_multipart()
        return decode(data)

    def reconnect(self) -> None:
        """Drop and recreate the request socket (lazy-pirate recovery after a timeout)."""
        if self._dealer is not None:
            self._dealer.close(0)
            self._dealer = None

    def close(self) -> None:
        self.reconnect()
        if self._sub is not None:
            self._sub.close(0)
            self._sub = None
            self._welcomed = False

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- request/reply --------------------------------------------------------------------
    def request(self, msg_type: str, content: dict[str, Any] | None = None, buffers: list[bytes] | None = None,
                timeout: float | None = None, retries: int = 1) -> Message:
        """Send a request and return its reply; raises EngineError for an error reply or no answer."""
        msg = new_message(msg_type, content or {}, session=self.session, buffers=buffers)
        attempts = 1 + (retries if msg_type in IDEMPOTENT else 0)
        for attempt in range(attempts):
            sock = self._connect()
            deadline = time.monotonic() + (timeout or self.timeout)
            # A DEALER with no live route (engine down, CURVE handshake refused) blocks in send:
            # bound it by the same deadline, so a refused or absent engine is an error, not a hang.
            sock.setsockopt(zmq.SNDTIMEO, max(1, int((timeout or self.timeout) * 1000)))
            try:
                sock.send_multipart([b"", encode(msg), *msg.buffers])
            except zmq.Again:
                self.reconnect()
                continue
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not sock.poll(int(remaining * 1000)):
                    break
                frames = sock.recv_multipart()
                if frames and frames[0] == b"":
                    frames = frames[1:]
                reply = decode(frames[0], frames[1:])
                if reply.parent_header.get("msg_id") not in (msg.msg_id, None):
                    continue  # a late reply to an earlier, timed-out request
                if reply.content.get("status") == "error":
                    raise EngineError(reply.content.get("code", "internal"), reply.content.get("message", ""),
                                      **reply.content.get("details", {}))
                return reply
            self.reconnect()
        if self.auth is not None:
            self.auth.raise_if_refused()
        raise EngineError("unreachable", f"no reply from the engine at {self.address} within "
                          f"{timeout or self.timeout:g} s (is it running? start it with `musicgen-bridge serve`)")

    def ping(self) -> dict[str, Any]:
        return self.request("ping").content

    def models(self) -> list[dict[str, Any]]:
        return self.request("models").content["models"]

    def status(self, job_id: str, wait: float = 0) -> dict[str, Any]:
        return self.request("status", {"job_id": job_id, "wait": wait}, timeout=self.timeout + wait).content

    def cancel(self, job_id: str) -> dict[str, Any]:
        return self.request("cancel", {"job_id": job_id}).content

    def submit(self, msg_type: str, content: dict[str, Any], buffers: list[bytes] | None = None) -> str:
        self.subscribe()
        return self.request(msg_type, content, buffers).content["job_id"]

    def wait(self, job_id: str, on_progress: Callable[[float], None] | None = None,
             timeout: float = 600.0) -> dict[str, Any]:
        """Follow a job's events until it ends; falls back to status polls if events stop coming."""
        assert self._sub is not None, "submit() first"
        deadline = time.monotonic() + timeout
        last_poll = time.monotonic()
        while True:
            now = time.monotonic()
            if now > deadline:
                # the engine answered all along: this is our patience running out, not the engine
                raise EngineError("timeout", f"stopped waiting for job {job_id} after {timeout:g} s; the job goes "
                                  "on in the engine (follow it with a status request)", job_id=job_id)
            event = self._backlog.pop(0) if self._backlog else None
            if event is None and self._sub.poll(int(min(STATUS_POLL_S, deadline - now) * 1000)):
                event = self._recv_event()
            if event is not None and event.content.get("job_id") == job_id:
                if event.msg_type == "progress" and on_progress is not None:
                    on_progress(float(event.content["fraction"]))
                elif event.msg_type == "done":
                    return {k: v for k, v in event.content.items()}
                elif event.msg_type == "error":
                    raise EngineError(event.content.get("code", "internal"), event.content.get("message", ""))
                continue
            if time.monotonic() - last_poll >= STATUS_POLL_S:
                last_poll = time.monotonic()
                status = self.status(job_id)
                if status["state"] == "done":
                    return {"job_id": job_id, **status["result"]}
                if status["state"] in ("error", "cancelled", "interrupted"):
                    err = status.get("error") or {"code": status["state"], "message": f"job {status['state']}"}
                    raise EngineError(err["code"] if err["code"] in _codes() else "internal", err["message"])

    def generate(self, on_progress: Callable[[float], None] | None = None, timeout: float = 600.0,
                 buffers: list[bytes] | None = None, **content: Any) -> dict[str, Any]:
        job_id = self.submit("generate", content, buffers)
        return {"job_id": job_id, **self.wait(job_id, on_progress, timeout)}

    def continue_(self, on_progress: Callable[[float], None] | None = None, timeout: float = 600.0,
                  buffers: list[bytes] | None = None, **content: Any) -> dict[str, Any]:
        job_id = self.submit("continue", content, buffers)
        return {"job_id": job_id, **self.wait(job_id, on_progress, timeout)}

    def fetch(self, job_id: str | None, dest: str | os.PathLike[str], take: int = 1, sidecar: bool = False,
              chunk: int = 256 * 1024, path: str | None = None) -> Path:
        """Copy a finished take's bytes (or the engine-side file ``path``) to ``dest``, never
        overwriting, verifying the checksum. The file gets the usual permissions (umask)."""
        dest = Path(dest)
        if dest.exists():
            raise EngineError("file_exists", f"{dest} exists; files are never overwritten")
        dest.parent.mkdir(parents=True, exist_ok=True)
        what: dict[str, Any] = {"path": path} if path is not None else \
            {"job_id": job_id, "take": take, "sidecar": sidecar}
        tmp = dest.with_name(f".mgb-{uuid.uuid4().hex[:12]}.part")
        digest = hashlib.sha256()
        try:
            with os.fdopen(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666), "wb") as fh:
                offset, expected = 0, None
                while True:
                    reply = self.request("fetch", {**what, "offset": offset, "length": chunk})
                    data = reply.buffers[0] if reply.buffers else b""
                    fh.write(data)
                    digest.update(data)
                    offset += len(data)
                    expected = reply.content["sha256"]
                    if reply.content["eof"]:
                        break
            if digest.hexdigest() != expected:
                raise EngineError("internal", f"checksum mismatch fetching {path or job_id}")
            os.link(tmp, dest)  # fails if dest appeared meanwhile: never replaces a file
        except FileExistsError:
            raise EngineError("file_exists", f"{dest} exists; files are never overwritten") from None
        finally:
            tmp.unlink(missing_ok=True)
        return dest


def _codes() -> set[str]:
    from ..engine.errors import ERROR_CODES

    return set(ERROR_CODES)
