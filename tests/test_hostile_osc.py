"""Hostile and careless OSC clients (issue 14): bundles that loop a parser, replies that amplify, clients
that stop reading. Loopback only; every wait is bounded."""

from __future__ import annotations

import json
import socket
import struct
import threading
import time

import pytest
from conftest import OscPeer, _host_port, slip_encode
from pythonosc.osc_message_builder import build_msg

from musicgen_bridge.bridge.osc_parse import MAX_MESSAGES, parse_packet
from musicgen_bridge.engine.errors import EngineError

TIMETAG_NOW = struct.pack(">Q", 1)


def bundle(*elements: bytes, sizes: list[int] | None = None) -> bytes:
    body = b""
    for i, element in enumerate(elements):
        size = len(element) if sizes is None else sizes[i]
        body += struct.pack(">i", size) + element
    return b"#bundle\x00" + TIMETAG_NOW + body


MINUS_FOUR = b"#bundle\x00" + TIMETAG_NOW + struct.pack(">i", -4)  # 20 bytes


def _parse_in_thread(data: bytes, timeout: float = 2.0) -> tuple[bool, object]:
    out: list[object] = []

    def run() -> None:
        try:
            out.append(parse_packet(data))
        except Exception as exc:  # noqa: BLE001 - the test inspects what came out
            out.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout)
    return (not thread.is_alive()), (out[0] if out else None)


@pytest.mark.parametrize("size", [-4, -8, -20, 0, 3, 1 << 30])
def test_bad_bundle_element_sizes_are_refused_quickly(size):
    finished, result = _parse_in_thread(MINUS_FOUR[:-4] + struct.pack(">i", size) + b"\0" * 8)
    assert finished, f"element size {size} made the parser loop"
    assert isinstance(result, EngineError) and result.code == "bad_envelope", result


def test_good_bundles_still_parse_nested():
    ping = build_msg("/mgb/ping", []).dgram
    inner = bundle(ping)
    assert parse_packet(bundle(ping, inner)) == [("/mgb/ping", []), ("/mgb/ping", [])]
    assert parse_packet(ping) == [("/mgb/ping", [])]


def test_a_bundle_of_too_many_messages_is_refused():
    ping = build_msg("/mgb/ping", []).dgram
    with pytest.raises(EngineError) as err:
        parse_packet(bundle(*[ping] * (MAX_MESSAGES + 1)))
    assert err.value.code == "too_large"


def test_minus_four_bundle_over_udp_is_answered_and_the_server_goes_on(server, osc_udp):
    osc_udp.send_raw(MINUS_FOUR)
    _addr, args = osc_udp.expect(lambda a, p: a == "/mgb/error", timeout=5)
    assert args[1] == "bad_envelope"
    assert osc_udp.request("ping")["pong"] is True


def test_minus_four_bundle_over_tcp_is_answered_and_the_server_goes_on(server, osc_tcp):
    osc_tcp.send_raw(MINUS_FOUR)
    _addr, args = osc_tcp.expect(lambda a, p: a == "/mgb/error", timeout=5)
    assert args[1] == "bad_envelope"
    assert osc_tcp.request("ping")["pong"] is True


def test_a_bundle_of_requests_over_udp_draws_a_bounded_answer(server, osc_udp):
    """Finding 8: a 4 KB bundle drew 200 replies (an 89x reflection amplifier). Now at most MAX_MESSAGES
    messages are read and their answers total at most max(4 x the request, one safe datagram)."""
    from musicgen_bridge.bridge.osc_server import AMPLIFICATION, SAFE_UDP_BYTES

    models = build_msg("/mgb/models", []).dgram
    packet = bundle(*[models] * MAX_MESSAGES)
    osc_udp.send_raw(packet)
    received = 0
    while (pkt := osc_udp.recv_packet(1.0)) is not None:
        received += len(pkt)
    assert 0 < received <= max(AMPLIFICATION * len(packet), SAFE_UDP_BYTES), received
    assert osc_udp.request("ping")["pong"] is True


def test_answers_routed_to_a_named_client_draw_on_the_same_budget(server, osc_udp):
    """The m4l registry sends a request that names a ``client_id`` to that client's hello port: a
    datagram naming someone else's client id must not turn the engine into an amplifier toward it."""
    from musicgen_bridge.bridge.osc_server import AMPLIFICATION, SAFE_UDP_BYTES

    victim = OscPeer(_host_port(server.addresses["osc_udp"]), hello=False)
    try:
        victim.send("/mgb/hello", victim.port, "budget-victim")
        assert json.loads(victim.reply("hello")[1][1])["client_id"] == "budget-victim"
        models = build_msg("/mgb/models", [json.dumps({"client_id": "budget-victim"})]).dgram
        osc_udp.send_raw(models)  # one request: its whole answer reaches the named client
        one = victim.recv_packet(5.0)
        assert one is not None and one.startswith(b"/mgb/reply")
        packet = bundle(*[models] * MAX_MESSAGES)
        bound = max(AMPLIFICATION * len(packet), SAFE_UDP_BYTES)
        assert MAX_MESSAGES * len(one) > bound  # unbounded, the bundle would draw more than the budget
        osc_udp.send_raw(packet)
        received = 0
        while (pkt := victim.recv_packet(1.0)) is not None:
            received += len(pkt)
        assert 0 < received <= bound, received
        assert osc_udp.recv_packet(0.2) is None  # nothing went to the sender's port
    finally:
        victim.close()


def test_malformed_datagrams_log_a_bounded_number_of_lines(server, osc_udp, caplog):
    """Finding 9: 1,000 malformed datagrams each logged a warning (64 MB in 15 s)."""
    import logging

    caplog.set_level(logging.INFO)
    for i in range(1000):
        osc_udp.send_raw(MINUS_FOUR if i % 2 else b"#bundle\x00" + b"\xff" * 12)
        if i % 100 == 99:
            time.sleep(0.05)  # let the server keep up so datagrams are not lost in the socket buffer
    errors = 0
    while osc_udp.recv_packet(1.0) is not None:
        errors += 1  # each malformed datagram is answered with one /mgb/error
    assert errors >= 100  # UDP may drop some under load; those answered are errors
    assert osc_udp.request("ping")["pong"] is True
    assert len([r for r in caplog.records if r.name.startswith(("musicgen_bridge", "pythonosc", "root"))]) <= 20


def test_an_osc_tcp_client_that_stops_reading_does_not_block_the_job_worker(server, osc_tcp):
    """Finding 3: events were written with a blocking sendall from the job worker, so a client that
    started jobs and stopped reading kept every other client's jobs queued."""
    host, port = _host_port(server.addresses["osc_tcp"])
    hog = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    hog.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: a small window
    hog.settimeout(5)
    hog.connect((host, port))
    try:
        # jobs whose events nobody reads, then replies enough to fill every buffer on the way
        gen = slip_encode(build_msg("/mgb/generate", [json.dumps({"prompt": "x", "bars": 2, "bpm": 120})]).dgram)
        hog.sendall(gen * 3)
        models = slip_encode(build_msg("/mgb/models", []).dgram)
        hog.sendall(models * 4000)
        time.sleep(1.0)
        t0 = time.monotonic()
        job = osc_tcp.request("generate", {"prompt": "y", "bars": 1, "bpm": 120, "output_name": "hostile-tcp.wav"})
        status = osc_tcp.request("status", {"job_id": job["job_id"], "wait": 20})
        assert status["state"] == "done", status
        assert time.monotonic() - t0 < 20
    finally:
        hog.close()


def test_udp_status_waiters_take_no_thread_each(server, osc_udp):
    """Finding 8: 2,000 UDP `status` waits made 447 threads; with a fixed pool they must not block pings."""
    job = osc_udp.request("generate", {"prompt": "slow", "bars": 8, "bpm": 120, "output_name": "hostile-udpw.wav"})
    before = threading.active_count()
    waiters = [OscPeer(_host_port(server.addresses["osc_udp"])) for _ in range(40)]
    try:
        for w in waiters:
            w.send("/mgb/status", json.dumps({"job_id": job["job_id"], "wait": 30}))
        time.sleep(0.3)
        t0 = time.monotonic()
        assert osc_udp.request("ping")["pong"] is True
        assert time.monotonic() - t0 < 2.0
        assert threading.active_count() - before < 8
        for w in waiters:
            addr, args = w.reply("status", timeout=60)
            assert addr == "/mgb/reply" and json.loads(args[1])["state"] == "done", args
    finally:
        for w in waiters:
            w.close()
