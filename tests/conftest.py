"""Shared fixtures: a tiny-model engine, a running BridgeServer on random loopback ports, clients.

Fixtures (all on 127.0.0.1, nothing leaves the machine):

- ``engine``: an :class:`engine.engine.Engine` on the built-in ``tiny`` model writing into a fresh
  temporary output root (one per test module, so the model loads once per module).
- ``server``: a started :class:`bridge.server.BridgeServer` on that engine: ZeroMQ ROUTER and XPUB,
  OSC over UDP and over TCP, each on a port the OS picked.
- ``client``: a :class:`bridge.client.Client` with a fresh session, closed after the test.
- ``zmq_peer``: a raw DEALER + SUB pair speaking the wire protocol by hand (what a DAW script does).
- ``osc_udp`` / ``osc_tcp``: raw OSC peers (UDP after ``/mgb/hello``, TCP with SLIP framing).
"""

from __future__ import annotations

import json
import socket
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import zmq
from pythonosc.osc_message_builder import build_msg
from pythonosc.osc_packet import OscPacket

#: the DAW tests' warm-engine fixtures (daw_server, daw_engine); named apart from this file's
#: server/engine, so nothing shadows anything
pytest_plugins = ["daw.harness"]

WAIT_S = 20.0  # generous: the machine's two cores are shared with other work


def _host_port(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory):
    import torch

    from musicgen_bridge.engine.engine import Engine, EngineConfig

    torch.set_num_threads(1)
    eng = Engine(EngineConfig(default_model="tiny", output_root=tmp_path_factory.mktemp("engine-out")))
    yield eng
    eng.close()


@pytest.fixture(scope="module")
def server(engine):
    from musicgen_bridge.bridge.server import BridgeServer

    srv = BridgeServer(engine, zmq_addr="tcp://127.0.0.1:*", pub_addr="tcp://127.0.0.1:*",
                       osc_udp=("127.0.0.1", 0), osc_tcp=("127.0.0.1", 0))
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def client(server):
    from musicgen_bridge.bridge.client import Client

    c = Client(server.addresses["zmq"], server.addresses["zmq_events"], timeout=10.0)
    yield c
    c.close()


# -- raw ZeroMQ -------------------------------------------------------------------------------
def envelope(msg_type: str, content: Any, session: str = "", version: str = "1.0",
             msg_id: str | None = None) -> dict[str, Any]:
    return {"header": {"msg_id": msg_id or uuid.uuid4().hex, "msg_type": msg_type, "version": version,
                       "session": session, "date": "2026-01-01T00:00:00Z"},
            "parent_header": {}, "content": content}


class ZmqPeer:
    """The protocol by hand: DEALER sends ``[b"", json, *buffers]``, SUB reads ``[session, json]``."""

    def __init__(self, router: str, events: str, session: str | None = None) -> None:
        ctx = zmq.Context.instance()
        self.session = session or f"t-{uuid.uuid4().hex}"
        self.dealer = ctx.socket(zmq.DEALER)
        self.dealer.setsockopt(zmq.LINGER, 0)
        self.dealer.connect(router)
        self.sub = ctx.socket(zmq.SUB)
        self.sub.setsockopt(zmq.LINGER, 0)
        self.sub.setsockopt_string(zmq.SUBSCRIBE, self.session)
        self.sub.connect(events)
        self.events: list[dict[str, Any]] = []  # every event received, in order, welcome included
        self.topics: list[bytes] = []
        self.wait_event(lambda e: e["header"]["msg_type"] == "welcome")

    def send_frames(self, frames: list[bytes]) -> None:
        self.dealer.send_multipart(frames)

    def recv_reply(self, timeout: float = WAIT_S) -> tuple[dict[str, Any], list[bytes]]:
        assert self.dealer.poll(int(timeout * 1000)), "no reply from the engine"
        frames = self.dealer.recv_multipart()
        assert frames[0] == b"", "replies start with the empty delimiter frame"
        return json.loads(frames[1]), frames[2:]

    def request(self, msg_type: str, content: Any = None, buffers: list[bytes] | None = None,
                **header: Any) -> tuple[dict[str, Any], list[bytes]]:
        msg = envelope(msg_type, {} if content is None else content, session=self.session, **header)
        self.send_frames([b"", json.dumps(msg).encode(), *(buffers or [])])
        reply, out = self.recv_reply()
        assert reply["parent_header"]["msg_id"] == msg["header"]["msg_id"]
        return reply, out

    def wait_event(self, match: Callable[[dict[str, Any]], bool], timeout: float = WAIT_S) -> dict[str, Any]:
        for event in self.events:
            if match(event):
                return event
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            if not self.sub.poll(int(remaining * 1000)):
                break
            topic, data = self.sub.recv_multipart()
            event = json.loads(data)
            self.topics.append(topic)
            self.events.append(event)
            if match(event):
                return event
        raise AssertionError(f"no matching event within {timeout} s; got {[e['header']['msg_type'] for e in self.events]}")

    def job_end(self, job_id: str) -> dict[str, Any]:
        return self.wait_event(lambda e: e["header"]["msg_type"] in ("done", "error")
                               and e["content"].get("job_id") == job_id)

    def close(self) -> None:
        self.dealer.close(0)
        self.sub.close(0)


@pytest.fixture
def zmq_peer(server):
    peer = ZmqPeer(server.addresses["zmq"], server.addresses["zmq_events"])
    yield peer
    peer.close()


# -- raw OSC ----------------------------------------------------------------------------------
SLIP_END, SLIP_ESC, SLIP_ESC_END, SLIP_ESC_ESC = 0xC0, 0xDB, 0xDC, 0xDD


def slip_encode(packet: bytes) -> bytes:
    """RFC 1055 framing as OSC 1.1 over TCP uses it: END, escaped bytes, END."""
    out = bytearray([SLIP_END])
    for b in packet:
        if b == SLIP_END:
            out += bytes([SLIP_ESC, SLIP_ESC_END])
        elif b == SLIP_ESC:
            out += bytes([SLIP_ESC, SLIP_ESC_ESC])
        else:
            out.append(b)
    out.append(SLIP_END)
    return bytes(out)


def slip_decode(frame: bytes) -> bytes:
    return frame.replace(bytes([SLIP_ESC, SLIP_ESC_END]), bytes([SLIP_END])).replace(
        bytes([SLIP_ESC, SLIP_ESC_ESC]), bytes([SLIP_ESC]))


OscMsg = tuple[str, list[Any]]


class OscPeer:
    """An OSC client on its own socket; ``inbox`` keeps what arrived but was not asked for yet."""

    def __init__(self, server_addr: tuple[str, int], tcp: bool = False, hello: bool = True) -> None:
        self.server_addr = server_addr
        self.tcp = tcp
        self.inbox: list[OscMsg] = []
        self._stream = b""
        if tcp:
            self.sock = socket.create_connection(server_addr, timeout=WAIT_S)
        else:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.sock.bind(("127.0.0.1", 0))
            if hello:  # several test peers share 127.0.0.1: each names its own port
                self.send("/mgb/hello", self.port)
                assert self.reply("hello")[0] == "/mgb/reply"

    @property
    def port(self) -> int:
        return self.sock.getsockname()[1]

    def send_raw(self, packet: bytes) -> None:
        if self.tcp:
            self.sock.sendall(slip_encode(packet))
        else:
            self.sock.sendto(packet, self.server_addr)

    def send(self, address: str, *args: Any) -> None:
        self.send_raw(build_msg(address, list(args)).dgram)

    def recv_packet(self, timeout: float) -> bytes | None:
        self.sock.settimeout(timeout)
        try:
            if not self.tcp:
                return self.sock.recvfrom(65536)[0]
            while True:
                body = self._stream.lstrip(bytes([SLIP_END]))
                end = body.find(bytes([SLIP_END]))
                if end >= 0:
                    self._stream = body[end + 1:]
                    return slip_decode(body[:end])
                data = self.sock.recv(65536)
                if not data:
                    return None
                self._stream += data
        except TimeoutError:
            return None

    def expect(self, match: Callable[[str, list[Any]], bool], timeout: float = WAIT_S) -> OscMsg:
        for i, (addr, args) in enumerate(self.inbox):
            if match(addr, args):
                return self.inbox.pop(i)
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            packet = self.recv_packet(remaining)
            if packet is None:
                break
            for m in OscPacket(packet).messages:
                addr, args = m.message.address, list(m.message.params)
                if match(addr, args):
                    return addr, args
                self.inbox.append((addr, args))
        raise AssertionError(f"no matching OSC message within {timeout} s; inbox: {self.inbox}")

    def reply(self, msg_type: str, timeout: float = WAIT_S) -> OscMsg:
        """The answer to a request: ``/mgb/reply s:msg_type s:json ...`` or a request-level ``/mgb/error``."""
        return self.expect(lambda a, p: (a == "/mgb/reply" and p[0] == msg_type)
                           or (a == "/mgb/error" and p[0] == ""), timeout)

    def request(self, msg_type: str, content: dict[str, Any] | None = None) -> dict[str, Any]:
        """``/mgb/<msg_type> s:json``; returns the reply's JSON (asserting it is not an error)."""
        self.send("/mgb/" + msg_type, json.dumps(content or {}))
        addr, args = self.reply(msg_type)
        assert addr == "/mgb/reply", args
        return json.loads(args[1])

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def osc_udp(server):
    peer = OscPeer(_host_port(server.addresses["osc_udp"]))
    yield peer
    peer.close()


@pytest.fixture
def osc_tcp(server):
    peer = OscPeer(_host_port(server.addresses["osc_tcp"]), tcp=True)
    yield peer
    peer.close()


__all__ = ["WAIT_S", "OscPeer", "ZmqPeer", "envelope", "slip_decode", "slip_encode"]


class _NoOldTopLevelNames:
    """Fail loudly if anything imports the pre-1.0 top-level names ``engine``/``bridge``: they would be
    a second copy of the package (two EngineError classes), and the wheel does not install them."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name in ("engine", "bridge"):
            raise ImportError(f"import musicgen_bridge.{name}, not the top-level {name!r}")


sys.meta_path.insert(0, _NoOldTopLevelNames())
