"""ZeroMQ transport: ROUTER for requests/replies, XPUB for events.

Frames from a client (DEALER or REQ): ``[*envelope, b"", json, *buffers]``. The envelope is what a
REQ socket puts before the delimiter (nothing for a plain REQ or a DEALER; the request-id frame of
``REQ_CORRELATE``); replies carry it back unchanged, ``[*envelope, b"", json, *buffers]``.
Events are published as ``[session, json]`` so each client subscribes to its own session id.

Slow joiners: XPUB sees every subscription (XPUB_VERBOSE) and answers it with a ``welcome``
event on that topic, so a client that waits for its welcome cannot miss its own events; a
client that joins later still learns a job's outcome with ``status`` (optionally ``wait``).

All socket I/O happens on the server thread. Worker threads (request handlers, job listeners)
hand outgoing frames to it through an inproc PUSH/PULL pair.

The server thread never waits on one client: replies are sent without blocking; what a client cannot
take yet waits in its own bounded queue (bridge.outbox), and a client that lets it overflow is dropped
and logged once. Requests waiting for a handler thread are bounded too (``limits.MAX_PENDING_REQUESTS``);
beyond that a request is answered ``busy`` at once.
"""

from __future__ import annotations

import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import zmq

from ..engine import limits
from ..engine.errors import EngineError
from .client_gate import ClientGate
from .handlers import RequestHandler
from .outbox import PeerBacklog
from .protocol import Message, decode, encode, error_content, new_message, reply_to

log = logging.getLogger(__name__)

#: envelope frames a request may carry before its empty delimiter (REQ_CORRELATE adds one of 4 bytes)
MAX_ENVELOPE_FRAMES = 4
MAX_ENVELOPE_FRAME_BYTES = 64
Route = tuple[bytes, list[bytes]]  # the client's identity and its request's envelope frames


class ZmqServer:
    """>>> server = ZmqServer(handler, "tcp://127.0.0.1:5555", "tcp://127.0.0.1:5556")  # needs an engine's RequestHandler  # doctest: +SKIP
    >>> server.start(); ...; server.stop()  # needs an engine's RequestHandler  # doctest: +SKIP
    """

    def __init__(self, handler: RequestHandler, router_addr: str, pub_addr: str,
                 context: zmq.Context | None = None, auth: Any = None, handler_threads: int = 16,
                 max_clients: int | None = None) -> None:
        self.handler = handler
        self.ctx = context or zmq.Context.instance()
        self.router_addr = router_addr
        self.pub_addr = pub_addr
        self.auth = auth
        self.gate = ClientGate(max_clients or limits.MAX_CLIENTS)
        self._outbox_addr = f"inproc://mgb-outbox-{id(self)}"
        self._pool = ThreadPoolExecutor(max_workers=handler_threads, thread_name_prefix="mgb-zmq")
        # one PUSH socket shared under a lock (a lock is the memory barrier ZeroMQ asks for when a socket
        # changes threads): messages from different threads then reach the server thread in the order
        # they were sent, so a job's accepted event (handler thread) always precedes its progress (worker)
        self._push_sock: zmq.Socket | None = None
        self._push_lock = threading.Lock()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mgb-zmq-server", daemon=True)
        self.unroutable = 0
        self.backlog: PeerBacklog[bytes] = PeerBacklog()
        self.ignored = 0  # requests from dropped clients, not handled
        self._pending = 0  # requests handed to the pool and not finished
        self._pending_lock = threading.Lock()
        self._pending_by: dict[bytes, int] = {}  # requests in the pool, per client identity
        self._router: zmq.Socket | None = None
        self.bound: dict[str, str] = {}
        self._error: BaseException | None = None

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            raise self._error

    def stop(self) -> None:
        with self._push_lock:
            self._stop.set()
            if self._push_sock is not None:
                self._push_sock.close(0)
                self._push_sock = None
        self._thread.join(5)
        self._pool.shutdown(wait=False, cancel_futures=True)

    # -- outgoing, from any thread --------------------------------------------------------
    def _push(self, frames: list[bytes]) -> None:
        with self._push_lock:
            if self._stop.is_set():
                return  # nobody reads the outbox any more; a job finishing during shutdown must not block
            if self._push_sock is None:
                self._push_sock = self.ctx.socket(zmq.PUSH)
                self._push_sock.setsockopt(zmq.LINGER, 0)
                self._push_sock.setsockopt(zmq.SNDTIMEO, 1000)
                self._push_sock.connect(self._outbox_addr)
            try:
                self._push_sock.send_multipart(frames, copy=False)
            except zmq.Again:
                log.warning("outgoing message dropped: the server thread is not reading")

    def publish(self, session: str, msg: Message) -> None:
        self._push([b"event", session.encode(), encode(msg)])

    def _reply(self, route: Route, msg: Message) -> None:
        identity, envelope = route
        self._push([b"reply", identity, *envelope, b"", encode(msg), *msg.buffers])

    # -- the server thread ----------------------------------------------------------------
    def _run(self) -> None:
        try:
            router = self.ctx.socket(zmq.ROUTER)
            router.setsockopt(zmq.ROUTER_MANDATORY, 1)
            router.setsockopt(zmq.MAXMSGSIZE, limits.MAX_MESSAGE_BYTES)
            router.setsockopt(zmq.LINGER, 0)
            monitor = router.get_monitor_socket(ClientGate.EVENTS, addr=f"inproc://mgb-router-monitor-{id(self)}")
            xpub = self.ctx.socket(zmq.XPUB)
            xpub.setsockopt(zmq.XPUB_VERBOSE, 1)
            xpub.setsockopt(zmq.LINGER, 0)
            if self.auth is not None:
                self.auth.configure_server(router)
                self.auth.configure_server(xpub)
            router.bind(self.router_addr)
            xpub.bind(self.pub_addr)
            self.bound = {"router": router.getsockopt_string(zmq.LAST_ENDPOINT),
                          "pub": xpub.getsockopt_string(zmq.LAST_ENDPOINT)}
            self._router = router
            outbox = self.ctx.socket(zmq.PULL)
            outbox.bind(self._outbox_addr)
        except BaseException as exc:  # noqa: BLE001 - reported to start()
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        poller = zmq.Poller()
        for sock in (monitor, router, xpub, outbox):  # connection events first: the gate counts them
            poller.register(sock, zmq.POLLIN)
        try:
            while not self._stop.is_set():
                if self.backlog.pending():  # retry what slow clients could not take, without waiting on them
                    self.backlog.flush(lambda peer, payload: self._try_reply(router, peer, payload))
                for sock, _ in poller.poll(10 if self.backlog.pending() else 100):
                    if sock is monitor:
                        self.gate.on_event(monitor)
                    elif sock is router:
                        self._on_request(router.recv_multipart(copy=False), router)
                    elif sock is xpub:
                        self._on_subscription(xpub.recv_multipart())
                    else:
                        self._on_outgoing(outbox.recv_multipart(), router, xpub)
        finally:
            for sock in (monitor, router, xpub, outbox):
                sock.close(0)

    def _on_subscription(self, frames: list[bytes]) -> None:
        data = frames[0]
        if data[:1] == b"\x01":  # subscribe; \x00 is unsubscribe
            topic = data[1:].decode(errors="replace")
            welcome = new_message("welcome", {"session": topic}, session=topic)
            self.publish(topic, welcome)

    def _on_outgoing(self, frames: list[bytes], router: zmq.Socket, xpub: zmq.Socket | None) -> None:
        kind = frames[0]
        if kind == b"event" and xpub is not None:
            xpub.send_multipart(frames[1:])  # XPUB drops for a subscriber over its HWM: it never blocks
            return
        identity, payload = frames[1], frames[2:]
        self.backlog.offer(identity, payload, lambda p: self._try_reply(router, identity, p))

    def _try_reply(self, router: zmq.Socket, identity: bytes, payload: list[bytes]) -> bool:
        """One non-blocking send; False when the client's pipe is full (the reply stays queued).
        ``payload`` is the envelope, the delimiter, the JSON and the buffers."""
        try:
            router.send_multipart([identity, *payload], flags=zmq.NOBLOCK)
        except zmq.Again:
            return False
        except zmq.ZMQError as exc:
            if exc.errno != zmq.EHOSTUNREACH:
                raise
            self.unroutable += 1  # the client went away; its events stay available through status
            self.backlog.forget(identity)
            if self.unroutable & (self.unroutable - 1) == 0:  # 1, 2, 4, 8...: bounded log lines
                log.warning("reply to a client that is gone was dropped (%d so far)", self.unroutable)
        return True

    def _on_request(self, raw: list[zmq.Frame], router: zmq.Socket) -> None:
        admitted = self.gate.admit(raw[-1])
        frames = [f.bytes for f in raw]
        identity, rest = frames[0], frames[1:]
        if self.backlog.is_dropped(identity):
            self.ignored += 1  # it does not read what we send; answering it would only fill memory
            return
        envelope, rest = split_envelope(rest)
        data = rest[0] if rest else b""
        with self._pending_lock:
            mine = self._pending_by.get(identity, 0)
            full = self._pending >= limits.MAX_PENDING_REQUESTS or mine >= limits.MAX_PENDING_PER_CLIENT
            if not full:
                self._pending += 1
                self._pending_by[identity] = mine + 1
        if full:
            # one client's flood waits behind its own few requests, not in front of everyone else's
            err = EngineError("busy", f"too many requests are waiting for a handler (at most "
                              f"{limits.MAX_PENDING_PER_CLIENT} per client, {limits.MAX_PENDING_REQUESTS} in all); "
                              "wait for replies before sending more")
            bad = Message("error", {}, header=_readable_header(data), parent_header={})
            # answered from here, not through the outbox: this thread must never wait on its own inbox
            self._on_outgoing([b"reply", identity, *envelope, b"",
                               encode(new_message("error", error_content(err), parent=bad))], router, None)
            return
        # a request with no JSON frame still gets an answer (decode reports bad_json), never silence
        self._pool.submit(self._handle_counted, (identity, envelope), data, rest[1:], admitted)

    def _handle_counted(self, route: Route, data: bytes, buffers: list[bytes], admitted: bool) -> None:
        identity = route[0]
        try:
            self._handle(route, data, buffers, admitted)
        finally:
            with self._pending_lock:
                self._pending -= 1
                left = self._pending_by.pop(identity, 1) - 1
                if left:
                    self._pending_by[identity] = left

    def _handle(self, route: Route, data: bytes, buffers: list[bytes], admitted: bool = True) -> None:
        try:
            msg = decode(data, buffers)
        except Exception as exc:
            if not isinstance(exc, EngineError):
                log.exception("decoding a request failed")
                exc = EngineError("internal", f"{type(exc).__name__} while decoding the request")
            bad = Message("error", {}, header=_readable_header(data), parent_header={})
            self._reply(route, new_message("error", error_content(exc), parent=bad))
            return
        if not admitted:
            self._reply(route, reply_to(msg, error_content(self.gate.refusal())))
            return
        session = msg.session

        def sink(event: str, content: dict[str, Any]) -> None:
            self.publish(session, new_message(event, content, parent=msg))

        def defer(result: dict[str, Any] | EngineError) -> None:  # a parked status, answered later
            self._reply(route, reply_to(msg, error_content(result) if isinstance(result, EngineError) else result))

        try:
            content, out_buffers = self.handler.handle(msg, sink, defer)
            if content is not None:
                self._reply(route, reply_to(msg, content, out_buffers))
        except EngineError as exc:
            self._reply(route, reply_to(msg, error_content(exc)))
        except Exception as exc:
            log.exception("request %s failed", msg.msg_type)
            self._reply(route, reply_to(msg, error_content(EngineError("internal", f"{type(exc).__name__}: {exc}"))))


def split_envelope(frames: list[bytes]) -> tuple[list[bytes], list[bytes]]:
    """(envelope, [json, *buffers]) of a request's frames after the identity.

    The envelope is the frames before the first empty one when they are few and short (a REQ
    socket's request-id frame; none for a plain REQ or a DEALER that sends the delimiter). A request
    without a delimiter is read as ``[json, *buffers]`` with no envelope.

    >>> split_envelope([b"\\x00\\x00\\x00\\x07", b"", b"{}"])
    ([b'\\x00\\x00\\x00\\x07'], [b'{}'])
    >>> split_envelope([b"", b"{}", b"RIFF"]), split_envelope([b"{}"])
    (([], [b'{}', b'RIFF']), ([], [b'{}']))
    """
    for i, frame in enumerate(frames[:MAX_ENVELOPE_FRAMES + 1]):
        if frame == b"":
            head = frames[:i]
            if all(len(f) <= MAX_ENVELOPE_FRAME_BYTES and not f.lstrip().startswith(b"{") for f in head):
                return head, frames[i + 1:]
            break
    return [], frames


def _readable_header(data: bytes) -> dict[str, Any]:
    """The header of a request that failed to decode, when there is one, so its error can be matched."""
    if len(data) > limits.MAX_JSON_BYTES:
        return {}
    try:
        header = json.loads(data).get("header")
    except (ValueError, UnicodeDecodeError, AttributeError, RecursionError):
        return {}
    if not isinstance(header, dict):
        return {}
    return header if isinstance(header.get("msg_id"), str) or isinstance(header.get("request_id"), str) else {}
