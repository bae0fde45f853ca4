"""OSC transport: UDP (and TCP with SLIP framing) carrying the same requests as ZeroMQ.

Address space (one table per object, as AbletonOSC does):

========================  =====================  ==============================================
address                   arguments              meaning
========================  =====================  ==============================================
/mgb/<msg_type>           [s:json]               any protocol request, content as JSON (none: {})
/mgb/hello                i:port [s:client_id]   send my answers to this port (Max udpreceive)
/mgb/bye                  s:client_id            I am leaving: stop my live sessions
/mgb/part                 s:id i:n i:count s:address s:piece   piece n of a split request
/mgb/ping                 (none)                 -> /mgb/reply s:"ping" s:json
/mgb/transport            f:beat f:bpm i:playing [s:session_id]   DAW transport for live mode
/mgb/live/start           [s:json]               live_start
/mgb/live/stop            s:session_id           live_stop
/mgb/cancel               s:job_id               cancel
========================  =====================  ==============================================

Events back to the client: /mgb/accepted s:job_id, /mgb/progress s:job_id f:fraction,
/mgb/done s:job_id s:path f:start_bar i:frames,
/mgb/error s:job_id s:code s:message s:request_id s:msg_type s:details_json,
/mgb/window s:session_id i:index f:start_bar i:bars s:path f:rtf, /mgb/underrun s:session_id f:beat,
and /mgb/reply s:msg_type s:json for every request (fetch adds b:chunk).

A request whose JSON names a ``request_id`` (1..64 characters, the client's own) gets it back in its
reply's JSON, in its /mgb/error and in its job's /mgb/error events. A request whose JSON names a ``client_id`` is answered at that client's hello port only
(bridge.osc_clients). Otherwise replies go to the port the last unnamed /mgb/hello from the same
host:port named; failing that, the port the last unnamed /mgb/hello from the same host named
(one-shot senders such as oscsend use a new port each time); failing that, back to the sending port.
Over UDP the direct answers to one datagram total at most ``reply_budget`` bytes (no amplifier for
spoofed sources) and a fixed pool handles datagrams; OSC over TCP is bridge.osc_tcp's selector server.

python-osc's own servers read at most 8 KB and drop anything they cannot dispatch without a
word; a producer's controller then just sees nothing happen. We use its parser and builder
but our own handlers, which read whole datagrams and answer every bad one with /mgb/error.
"""

from __future__ import annotations

import json
import logging
import math
import socket
import socketserver
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pythonosc.osc_message_builder import build_msg

from ..engine.errors import EngineError
from .handlers import RequestHandler
from .osc_clients import OscClients, check_client_id
from .osc_parse import error_args, parse_packet
from .osc_parts import Parts
from .osc_tcp import OscTcpServer
from .protocol import REQUEST_TYPES, Message, check_finite, check_request_id, loads, new_header

log = logging.getLogger(__name__)

#: Larger datagrams risk IP fragmentation and are dropped by many OSC stacks (python-osc's too).
SAFE_UDP_BYTES = 8192
#: threads handling OSC/UDP datagrams, and datagrams allowed to wait for one
UDP_HANDLER_THREADS = 4
UDP_PENDING = 256
#: the direct answers to one UDP datagram total at most this many times its size (or SAFE_UDP_BYTES)
AMPLIFICATION = 4
#: how often silent named clients are looked for while they hold live sessions
WATCH_S = 5.0
Address = tuple[str, int]


def _json_content(args: list[Any], address: str) -> dict[str, Any]:
    if not args:
        return {}  # /mgb/models with no argument reads as {}, as /mgb/ping does
    if len(args) != 1 or not isinstance(args[0], str):
        raise EngineError("invalid_field", f"{address} takes one string argument holding the JSON content")
    content = loads(args[0])
    if not isinstance(content, dict):
        raise EngineError("bad_json", f"{address}: the JSON content must be an object")
    return check_finite(content)  # 1e400 parses as inf; ZeroMQ requests get the same check in decode()


def _typed(args: list[Any], tags: str, address: str) -> list[Any]:
    """Check OSC argument types: f accepts ints too (controllers often send them), i accepts whole floats."""
    if len(args) != len(tags):
        raise EngineError("invalid_field", f"{address} takes {len(tags)} argument(s) ({tags}), got {len(args)}")
    out: list[Any] = []
    for value, tag in zip(args, tags):
        if tag == "f" and isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise EngineError("invalid_field", f"{address}: argument {len(out) + 1} must be a finite number")
            out.append(float(value))
        elif tag == "i" and isinstance(value, int) and not isinstance(value, bool):
            out.append(value)
        elif tag == "i" and isinstance(value, float) and value.is_integer():
            out.append(int(value))
        elif tag == "s" and isinstance(value, str):
            out.append(value)
        else:
            raise EngineError("invalid_field", f"{address}: argument {len(out) + 1} must be of OSC type {tag}, "
                              f"got {type(value).__name__}")
    return out


class OscRouter:
    """Maps OSC messages to protocol requests and job events back to OSC messages."""

    def __init__(self, handler: RequestHandler) -> None:
        self.handler = handler
        self.clients = OscClients()  # who to answer over UDP: hellos, client ids, expiry
        self.parts = Parts()  # requests split over several datagrams
        self._watch_lock, self._watching = threading.Lock(), False
        # typed convenience addresses: address -> (arg tags, content builder)
        self.typed: dict[str, tuple[str, Callable[[list[Any]], tuple[str, dict[str, Any]]]]] = {
            "/mgb/ping": ("", lambda a: ("ping", {})),
            "/mgb/transport": ("ffi", lambda a: ("transport", {"beat": a[0], "bpm": a[1], "playing": bool(a[2]),
                                                               **({"session_id": a[3]} if len(a) > 3 else {})})),
            "/mgb/live/start": ("", lambda a: ("live_start", {})),
            "/mgb/live/stop": ("s", lambda a: ("live_stop", {"session_id": a[0]})),
            "/mgb/cancel": ("s", lambda a: ("cancel", {"job_id": a[0]})),
        }

    def reply_target(self, sender: Address) -> Address:
        """Where an answer to ``sender`` goes when its request names no client (§8.4)."""
        return self.clients.target(sender) or sender

    def handle(self, address: str, args: list[Any], sender: Address, send: Callable[..., None]) -> None:
        """Handle one OSC message; every outcome is answered with OSC through ``send``.

        Over UDP ``send`` takes the address to send to (``send.routed``): the answers of a request
        that names its ``client_id`` go to that client's hello port, or nowhere once it is gone."""
        self._stop_sessions(self.clients.expired())
        msg_type, request_id = _msg_type_of(address), ""
        try:
            if address == "/mgb/hello":
                return self._hello(args, sender, send)
            if address == "/mgb/bye":
                (client_id,) = _typed(args, "s", address)
                stopped = self._stop_sessions(self.clients.bye(check_client_id(client_id)))
                send(build_msg("/mgb/reply", ["bye", json.dumps({"status": "ok", "stopped": stopped})]).dgram)
                return
            if address == "/mgb/part":
                done = self.parts.add(sender[0], *_typed(args, "siiss", address))
                if done is None:
                    return  # more pieces to come; the assembled request is answered
                address, args = done[0], [done[1]]
                msg_type = _msg_type_of(address)
            msg_type, content = self._request(address, args)
            if "request_id" in content:  # removed before handling, as client_id: echoed, never stored
                raw_id = content.pop("request_id")
                request_id = check_request_id(raw_id, "request_id", "invalid_field")
            client_id = content.pop("client_id", None)
            if client_id is not None:
                client_id = check_client_id(client_id)
        except Exception as exc:
            if not isinstance(exc, EngineError):
                log.exception("OSC message to %s could not be read", address)
                exc = EngineError("internal", f"{type(exc).__name__} while reading the message")
            send(_error_dgram("", exc, request_id, msg_type))
            return
        self.clients.seen(sender, client_id)
        if getattr(send, "routed", False):
            udp_send = send

            def send(dgram: bytes) -> None:  # resolved at each send: a client can move or leave
                to = self.clients.target(sender, client_id)
                if to is not None:
                    udp_send(dgram, to)

        header = new_header(msg_type, session=f"osc:{client_id or sender[0] + ':' + str(sender[1])}")
        if request_id:
            header["request_id"] = request_id
        msg = Message(msg_type=msg_type, content=content, header=header)
        echo = {"request_id": request_id} if request_id else {}

        def sink(event: str, c: dict[str, Any]) -> None:
            dgram = event_dgram(event, c, request_id, msg_type)
            if dgram is not None:
                send(dgram)

        def defer(result: dict[str, Any] | EngineError) -> None:  # a parked status, answered later
            if isinstance(result, EngineError):
                send(_error_dgram(str(content.get("job_id", "")), result, request_id, msg_type))
            else:
                send(build_msg("/mgb/reply", [msg_type, json.dumps({"status": "ok", **result, **echo},
                                                                   default=str)]).dgram)

        try:
            reply, buffers = self.handler.handle(msg, sink, defer)
            if reply is None:
                return  # a parked status: defer answers it
            if client_id is not None and msg_type in ("live_start", "live_stop"):
                track = self.clients.add_session if msg_type == "live_start" else self.clients.drop_session
                track(client_id, str(reply.get("session_id", content.get("session_id"))))  # stopped when it goes
                self._watch()
            # binary parts (fetch chunks) travel as OSC blobs after the JSON
            args = [msg_type, json.dumps({"status": "ok", **reply, **echo}, default=str), *map(bytes, buffers)]
            send(build_msg("/mgb/reply", args).dgram)
        except EngineError as exc:
            send(_error_dgram(str(content.get("job_id", "")), exc, request_id, msg_type))
        except Exception as exc:
            log.exception("OSC request %s failed", address)
            send(_error_dgram("", EngineError("internal", f"{type(exc).__name__}: {exc}"), request_id, msg_type))

    def _hello(self, args: list[Any], sender: Address, send: Callable[..., None]) -> None:
        port, *named = _typed(args, "is" if len(args) == 2 else "i", "/mgb/hello")
        if not 1 <= port <= 65535:
            raise EngineError("invalid_field", "/mgb/hello: reply port must be 1..65535")
        client_id = check_client_id(named[0]) if named else None
        self._stop_sessions(self.clients.hello(sender, port, client_id))
        body = {"status": "ok", "reply_port": port}
        if client_id is not None:
            body.update(client_id=client_id, expires_s=self.clients.client_ttl)
        dgram = build_msg("/mgb/reply", ["hello", json.dumps(body)]).dgram
        if getattr(send, "routed", False):
            send(dgram, (sender[0], port))  # the announced port, whoever else shares the host
        else:
            send(dgram)

    def _watch(self) -> None:
        """While named clients hold live sessions, look for silent ones every ``WATCH_S`` seconds
        (a crashed DAW sends nothing more, so no message would make the engine look)."""
        with self._watch_lock:
            if self._watching or not self.clients.has_sessions():
                return
            self._watching = True

        def tick() -> None:
            self._stop_sessions(self.clients.expired())
            with self._watch_lock:
                self._watching = False
            self._watch()  # again while sessions remain

        timer = threading.Timer(WATCH_S, tick)
        timer.daemon = True
        timer.start()

    def _stop_sessions(self, sessions: list[str]) -> list[str]:
        """Stop the live sessions of clients that left or went silent; returns those stopped."""
        stopped = []
        for session_id in sessions:
            try:
                self.handler.engine.live_stop(session_id)
                stopped.append(session_id)
            except EngineError:
                pass  # it had ended already
        return stopped

    def _request(self, address: str, args: list[Any]) -> tuple[str, dict[str, Any]]:
        if len(args) == 1 and isinstance(args[0], str) and args[0].lstrip().startswith("{"):
            # any address may carry its content as JSON; /mgb/live/start -> live_start
            name = address.removeprefix("/mgb/").replace("/", "_")
            if name in REQUEST_TYPES:
                return name, _json_content(args, address)
        if address in self.typed:
            tags, build = self.typed[address]
            if address == "/mgb/transport" and len(args) == 4:
                tags += "s"  # the session it drives (else every session)
            return build(_typed(args, tags, address))
        name = address.removeprefix("/mgb/")
        if address.startswith("/mgb/") and name in REQUEST_TYPES:
            return name, _json_content(args, address)
        raise EngineError("unknown_msg_type", f"unknown OSC address {address}; see docs/protocol.md")


def _msg_type_of(address: str) -> str:
    """The request type an OSC address names ("" when it names none), for error answers."""
    name = address.removeprefix("/mgb/").replace("/", "_")
    return name if address.startswith("/mgb/") and name in REQUEST_TYPES else ""


def _error_dgram(job_id: str, exc: EngineError, request_id: str = "", msg_type: str = "") -> bytes:
    return build_msg("/mgb/error", error_args(job_id, exc.code, exc.message, request_id, msg_type,
                                              exc.details)).dgram


def event_dgram(event: str, c: dict[str, Any], request_id: str = "", msg_type: str = "") -> bytes | None:
    """The typed OSC form of an engine event (None for events with no OSC form); an ``error`` event
    names the request that started the job (``request_id``, ``msg_type``)."""
    job = str(c.get("job_id") or c.get("session_id", ""))  # a live session's error names the session
    if event == "accepted":
        return build_msg("/mgb/accepted", [job]).dgram
    if event == "progress":
        return build_msg("/mgb/progress", [job, float(c.get("fraction", 0.0))]).dgram
    if event == "done":
        return build_msg("/mgb/done", [job, str(c.get("path", "")), float(c.get("start_bar", 1)),
                                       int(c.get("frames", 0))]).dgram
    if event == "error":
        return build_msg("/mgb/error", error_args(job, str(c.get("code", "internal")), str(c.get("message", "")),
                                                  request_id, msg_type, c.get("details"))).dgram
    if event == "window":
        return build_msg("/mgb/window", [str(c.get("session_id", "")), int(c.get("index", 0)),
                                         float(c.get("start_bar", 1)), int(c.get("bars", 0)),
                                         str(c.get("path", "")), float(c.get("rtf", 0.0))]).dgram
    if event == "underrun":
        return build_msg("/mgb/underrun", [str(c.get("session_id", "")), float(c.get("beat", 0.0))]).dgram
    return None


def _messages(packet: bytes) -> list[tuple[str, list[Any]]]:
    return parse_packet(packet)  # our own bounded walk: python-osc's bundle parser can loop forever


class _UdpHandler(socketserver.BaseRequestHandler):
    server: OscUdpServer

    def handle(self) -> None:
        data, sock = self.request
        router = self.server.router
        target = router.reply_target(self.client_address)
        # the direct answers to one datagram are bounded by its size (a spoofed source must not make us
        # an amplifier); job events sent later by the worker are not counted
        budget: int | None = reply_budget(len(data))

        def send(dgram: bytes, to: Address | None = None) -> None:
            nonlocal budget
            if len(dgram) > SAFE_UDP_BYTES:  # would be dropped or refused (EMSGSIZE): say why instead
                dgram = _error_dgram("", EngineError(
                    "too_large", f"the reply is {len(dgram)} bytes, over the safe UDP size of {SAFE_UDP_BYTES}; "
                    "ask for less (fetch length <= 4096) or use OSC over TCP or ZeroMQ"))
            if budget is not None:
                if len(dgram) > budget:
                    limited.note(self.client_address[0])
                    return
                budget -= len(dgram)
            try:
                sock.sendto(dgram, to or router.reply_target(self.client_address))
            except OSError as exc:
                failed.note(f"{(to or target)[0]}:{(to or target)[1]} ({exc})")

        send.routed = True  # type: ignore[attr-defined]  # OscRouter.handle picks the address

        if len(data) > SAFE_UDP_BYTES:
            send(_error_dgram("", EngineError(
                "too_large", f"an OSC datagram of {len(data)} bytes exceeds the safe UDP size of {SAFE_UDP_BYTES}; "
                "use OSC over TCP (serve --osc-tcp) or ZeroMQ, or send a file path instead of data")))
            return
        try:
            messages = _messages(data)
        except EngineError as exc:
            send(_error_dgram("", exc))
            return
        for address, args in messages:
            router.handle(address, args, self.client_address, send)
        budget = None


def reply_budget(request_bytes: int) -> int:
    """Bytes of direct answers one UDP datagram may draw: AMPLIFICATION x its size, at least one
    safe-size datagram (so ping, models and a 4 KB fetch chunk still fit)."""
    return max(AMPLIFICATION * request_bytes, SAFE_UDP_BYTES)


class _Counted:
    """A warning repeated for a flood: logged on the 1st, 2nd, 4th, 8th... time, with the count so far."""

    def __init__(self, what: str) -> None:
        self.what, self.count = what, 0
        self._lock = threading.Lock()

    def note(self, latest: str) -> None:
        with self._lock:
            self.count += 1
            count = self.count
        if count & (count - 1) == 0:
            log.warning("%s (latest: %s; %d so far)", self.what, latest, count)


limited = _Counted("OSC/UDP answers over the reply budget were withheld")
failed = _Counted("OSC/UDP replies could not be sent")
busy = _Counted("OSC/UDP datagrams were answered busy (the handler pool is full)")


class _Allowlisted:
    """Drops datagrams and connections from addresses ``allow`` does not admit (bridge.auth.OscAllowlist)."""

    allow: Any = None

    def verify_request(self, request: Any, client_address: Any) -> bool:
        return self.allow is None or self.allow.check(client_address[0])


class OscUdpServer(_Allowlisted, socketserver.UDPServer):
    """Datagrams are handled by a fixed pool (UDP_HANDLER_THREADS), not a thread each; at most
    UDP_PENDING wait for it, and a datagram beyond that is answered busy at once."""

    max_packet_size = 65535  # read whole datagrams so oversize ones get an answer, not silence

    def __init__(self, address: Address, router: OscRouter, allow: Any = None) -> None:
        self.router, self.allow = router, allow
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.address_family = family
        self._pool = ThreadPoolExecutor(UDP_HANDLER_THREADS, thread_name_prefix="mgb-osc-udp")
        self._slots = threading.BoundedSemaphore(UDP_PENDING)
        super().__init__(address, _UdpHandler)
        # a full send buffer drops a reply (counted) instead of blocking the job worker sending an event
        self.socket.setblocking(False)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            busy.note(client_address[0])
            try:
                request[1].sendto(_error_dgram("", EngineError("busy", "too many OSC datagrams are waiting; "
                                                                       "try again shortly")), client_address)
            except OSError:
                pass
            return
        self._pool.submit(self._process, request, client_address)

    def _process(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:  # one datagram must not stop the others
            log.exception("OSC/UDP datagram from %s failed", client_address)
        finally:
            self._slots.release()

    def server_close(self) -> None:
        super().server_close()
        self._pool.shutdown(wait=False, cancel_futures=True)


def start_in_thread(server: Any, name: str) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, name=name, daemon=True)
    thread.start()
    return thread


__all__ = ["SAFE_UDP_BYTES", "OscRouter", "OscTcpServer", "OscUdpServer", "event_dgram", "start_in_thread"]
