"""OSC clients that name themselves: their own reply ports, expiry, bye, and requests sent in parts."""

from __future__ import annotations

import json
import socket
import time
from typing import Any

import pytest
from conftest import OscPeer
from pythonosc.osc_message_builder import build_msg
from pythonosc.osc_packet import OscPacket

from musicgen_bridge.bridge.osc_clients import OscClients
from musicgen_bridge.bridge.osc_parts import Parts
from musicgen_bridge.engine.errors import EngineError

HOST = "127.0.0.1"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


# -- the registry ------------------------------------------------------------------------------

def test_a_named_client_is_answered_at_its_port_and_never_answers_for_others():
    clock = Clock()
    clients = OscClients(clock=clock)
    clients.hello((HOST, 50000), 23456, "m-a")
    assert clients.target((HOST, 50000), "m-a") == (HOST, 23456)
    assert clients.target((HOST, 50000), "m-a") == clients.target((HOST, 61000), "m-a")  # any socket, its port
    # a request naming no client from another socket is not captured by m-a's hello
    assert clients.target((HOST, 50001)) == (HOST, 50001)
    assert clients.target((HOST, 50000)) == (HOST, 50000)


def test_a_silent_named_client_expires_and_its_sessions_are_handed_back():
    clock = Clock()
    clients = OscClients(clock=clock, client_ttl=30)
    clients.hello((HOST, 50000), 23456, "m-a")
    clients.add_session("m-a", "live-1")
    clock.now += 20
    clients.seen((HOST, 50000), "m-a")  # any request keeps it alive
    clock.now += 20
    assert clients.expired() == [] and clients.target((HOST, 1), "m-a") == (HOST, 23456)
    clock.now += 31
    assert clients.target((HOST, 1), "m-a") is None  # gone: its events are dropped, not sent to its old port
    assert clients.expired() == ["live-1"]
    assert clients.target((HOST, 1), "m-a") is None and clients.expired() == []
    clients.hello((HOST, 50000), 24000, "m-a")  # it comes back: known again, at its new port
    assert clients.target((HOST, 1), "m-a") == (HOST, 24000)


def test_bye_hands_back_the_sessions_and_forgets_the_client():
    clients = OscClients(clock=Clock())
    clients.hello((HOST, 50000), 23456, "m-a")
    clients.add_session("m-a", "live-2")
    clients.add_session("m-a", "live-1")
    assert clients.bye("m-a") == ["live-1", "live-2"]
    assert clients.target((HOST, 50000), "m-a") is None and clients.bye("m-a") == []


def test_an_unnamed_hello_lapses_when_its_host_falls_silent():
    clock = Clock()
    clients = OscClients(clock=clock, anon_ttl=600)
    clients.hello((HOST, 40000), 9001)  # a listener announces its port once (oscsend users)
    clock.now += 500
    assert clients.target((HOST, 40123)) == (HOST, 9001)  # one-shot senders from the same host
    clients.seen((HOST, 40124), None)  # the host is still talking
    clock.now += 500
    assert clients.target((HOST, 40125)) == (HOST, 9001)
    clock.now += 601
    assert clients.target((HOST, 40126)) == (HOST, 40126)  # stale: it captures nothing


def test_an_unknown_client_id_is_answered_as_an_unnamed_request():
    clients = OscClients(clock=Clock())
    assert clients.target((HOST, 50000), "m-never-said-hello") == (HOST, 50000)


# -- requests in parts -------------------------------------------------------------------------

def test_parts_join_in_any_order_per_host_and_upload():
    parts = Parts(clock=Clock())
    text = json.dumps({"prompt": "x" * 50})
    pieces = [text[i:i + 7] for i in range(0, len(text), 7)]
    n = len(pieces)
    for i in reversed(range(1, n)):
        assert parts.add(HOST, "u", i, n, "/mgb/generate", pieces[i]) is None
        assert parts.add("10.0.0.2", "u", i, n, "/mgb/generate", "junk") is None  # another host's upload
    assert parts.add(HOST, "u", 0, n, "/mgb/generate", pieces[0]) == ("/mgb/generate", text)


@pytest.mark.parametrize("args, code", [
    (("u", 2, 2, "/mgb/generate", "x"), "invalid_field"),   # index out of range
    (("u", 0, 0, "/mgb/generate", "x"), "invalid_field"),   # no pieces
    (("u", 0, 2, "/mgb/hello", "x"), "invalid_field"),      # cannot be split
    (("", 0, 2, "/mgb/generate", "x"), "invalid_field"),    # no upload id
])
def test_bad_parts_are_refused(args, code):
    with pytest.raises(EngineError) as err:
        Parts(clock=Clock()).add(HOST, *args)
    assert err.value.code == code


def test_an_upload_over_the_size_limit_or_changing_its_count_is_refused():
    parts = Parts(clock=Clock(), max_bytes=10)
    assert parts.add(HOST, "u", 0, 3, "/mgb/generate", "123456") is None
    with pytest.raises(EngineError) as err:
        parts.add(HOST, "u", 1, 3, "/mgb/generate", "123456")
    assert err.value.code == "too_large"
    assert parts.add(HOST, "v", 0, 2, "/mgb/generate", "{") is None
    with pytest.raises(EngineError):
        parts.add(HOST, "v", 1, 3, "/mgb/generate", "}")


def test_an_incomplete_upload_is_dropped_after_its_time():
    clock = Clock()
    parts = Parts(clock=clock, ttl=60)
    assert parts.add(HOST, "u", 0, 2, "/mgb/ping", "{") is None
    clock.now += 61
    assert parts.add(HOST, "u", 1, 2, "/mgb/ping", "}") is None  # piece 0 is gone: this starts over


# -- over UDP, against daw_server (the real tiny engine, spied on) -----------------------------

def _osc_addr(server: Any) -> tuple[str, int]:
    return server.udp.server_address[:2]


class Listener:
    """A reply port with nothing sent from it (Max's udpreceive)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((HOST, 0))
        self.port = self.sock.getsockname()[1]

    def messages(self, wait: float) -> list[tuple[str, list[Any]]]:
        out, deadline = [], time.monotonic() + wait
        while (left := deadline - time.monotonic()) > 0:
            self.sock.settimeout(left)
            try:
                packet = self.sock.recvfrom(65536)[0]
            except TimeoutError:
                break
            out += [(m.message.address, list(m.message.params)) for m in OscPacket(packet).messages]
        return out

    def close(self) -> None:
        self.sock.close()


def test_an_old_clients_stale_hello_never_captures_a_new_clients_replies(daw_server, monkeypatch):
    monkeypatch.setattr(daw_server.router.clients, "client_ttl", 0.5)
    old_ears, new_ears = Listener(), Listener()
    old = OscPeer(_osc_addr(daw_server), hello=False)
    new = OscPeer(_osc_addr(daw_server), hello=False)
    try:
        old.send("/mgb/hello", old_ears.port, "m-old")
        assert json.loads(old_ears.messages(2)[0][1][1])["client_id"] == "m-old"  # the reply goes to its port
        time.sleep(0.8)  # the old device is gone (deleted, Live crashed): no more hellos from it
        # a plain client on the same host, no hello: answered where it sends from
        new.send("/mgb/ping")
        assert new.reply("ping")[0] == "/mgb/reply"
        # a new named client: answered at its own port, even naming itself from the old one's socket
        old.send("/mgb/hello", new_ears.port, "m-new")
        old.send("/mgb/ping", json.dumps({"client_id": "m-new"}))
        got = [a for a, p in new_ears.messages(2) if a == "/mgb/reply"]
        assert got == ["/mgb/reply", "/mgb/reply"]  # hello, ping
        assert old_ears.messages(0.5) == [] and old.recv_packet(0.2) is None
    finally:
        for s in (old_ears, new_ears, old, new):
            s.close()


def _live_start(peer: OscPeer, client_id: str) -> str:
    content = {"prompt": "x", "model": "tiny", "window_bars": 1, "ahead_bars": 1, "bpm": 120,
               "client_id": client_id}
    peer.send("/mgb/live/start", json.dumps(content))
    addr, args = peer.reply("live_start")
    assert addr == "/mgb/reply", args
    return json.loads(args[1])["session_id"]


def test_bye_stops_the_clients_live_sessions(daw_server, daw_engine):
    peer = OscPeer(_osc_addr(daw_server), hello=False)
    try:
        peer.send("/mgb/hello", peer.port, "m-bye")
        peer.reply("hello")
        session = _live_start(peer, "m-bye")
        peer.send("/mgb/bye", "m-bye")
        _, args = peer.reply("bye")
        assert json.loads(args[1])["stopped"] == [session] and daw_engine.stops == [session]
    finally:
        peer.close()


def test_a_client_gone_silent_has_its_live_sessions_stopped(daw_server, daw_engine, monkeypatch):
    monkeypatch.setattr(daw_server.router.clients, "client_ttl", 0.5)
    peer, other = OscPeer(_osc_addr(daw_server), hello=False), OscPeer(_osc_addr(daw_server), hello=False)
    try:
        peer.send("/mgb/hello", peer.port, "m-crash")
        peer.reply("hello")
        session = _live_start(peer, "m-crash")
        time.sleep(0.8)  # Live crashed: no bye, no hello
        other.send("/mgb/ping")  # any message lets the engine notice
        other.reply("ping")
        assert daw_engine.stops == [session]
    finally:
        peer.close()
        other.close()


def test_a_silent_client_s_sessions_stop_even_when_nothing_else_arrives(daw_server, daw_engine, monkeypatch):
    from musicgen_bridge.bridge import osc_server

    monkeypatch.setattr(daw_server.router.clients, "client_ttl", 0.5)
    monkeypatch.setattr(osc_server, "WATCH_S", 0.2)
    peer = OscPeer(_osc_addr(daw_server), hello=False)
    try:
        peer.send("/mgb/hello", peer.port, "m-gone")
        peer.reply("hello")
        session = _live_start(peer, "m-gone")
        deadline = time.monotonic() + 10
        while daw_engine.stops != [session]:  # no message at all: the watcher notices
            assert time.monotonic() < deadline, daw_engine.stops
            time.sleep(0.05)
        assert not daw_server.router.clients.has_sessions()
    finally:
        peer.close()


def test_a_request_in_parts_is_answered_once_whole(daw_server):
    peer = OscPeer(_osc_addr(daw_server), hello=False)
    try:
        text = json.dumps({"job_id": "j-000000000000", "pad": "x" * 20000})  # over 8 KB: one datagram cannot
        pieces = [text[i:i + 1000] for i in range(0, len(text), 1000)]
        for i, piece in enumerate(pieces):
            peer.sock.sendto(build_msg("/mgb/part", ["u-1", i, len(pieces), "/mgb/status", piece]).dgram,
                             _osc_addr(daw_server))
        _, args = peer.expect(lambda a, p: a == "/mgb/error")
        assert args[:2] == ["j-000000000000", "unknown_job"]  # the joined request was handled, as a whole
        assert peer.recv_packet(0.3) is None  # and answered once
    finally:
        peer.close()


def test_a_transport_for_a_session_that_has_ended_says_unknown_session(daw_server):
    peer = OscPeer(_osc_addr(daw_server))
    try:
        peer.send("/mgb/transport", 4.0, 120.0, 1, "live-000000gone")
        addr, args = peer.reply("transport")
        assert addr == "/mgb/error" and args[1] == "unknown_session", args
    finally:
        peer.close()
