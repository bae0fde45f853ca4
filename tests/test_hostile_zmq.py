"""Hostile and careless ZeroMQ clients (issue 14): none of them can stall the others.

Each test runs on loopback, is bounded in time, and checks what a well-behaved client sees while the
hostile one is still connected."""

from __future__ import annotations

import json
import time

import zmq
from conftest import ZmqPeer, envelope


def _ping_time(peer: ZmqPeer) -> float:
    t0 = time.monotonic()
    reply, _ = peer.request("ping")
    assert reply["content"]["pong"] is True
    return time.monotonic() - t0


def test_a_dealer_that_never_reads_does_not_freeze_the_router(server):
    """Finding 1: thousands of requests whose replies are never read used to block the ROUTER thread in a
    blocking send, so nobody else was answered, even after the non-reader left."""
    ctx = zmq.Context.instance()
    hog = ctx.socket(zmq.DEALER)
    hog.setsockopt(zmq.LINGER, 0)
    hog.setsockopt(zmq.RCVHWM, 1)
    hog.setsockopt(zmq.RCVBUF, 4096)
    hog.connect(server.addresses["zmq"])
    # a large reply each (models lists the registry) fills the pipe quickly
    frame = json.dumps(envelope("models", {}, session="hog")).encode()
    for _ in range(3000):
        hog.send_multipart([b"", frame])
    time.sleep(1.0)  # let the server work through them and hit the full pipe
    good = ZmqPeer(server.addresses["zmq"], server.addresses["zmq_events"])
    try:
        assert _ping_time(good) < 5.0
        hog.close(0)
        assert _ping_time(good) < 5.0
    finally:
        good.close()


def test_status_waiters_do_not_hold_handler_threads(server, zmq_peer):
    """Finding 5: 16 clients in `status` with `wait` held all 16 handler threads; a ping waited 29 s."""
    reply, _ = zmq_peer.request("generate", {"prompt": "slow", "bars": 8, "bpm": 120,
                                             "output_name": "hostile-waited.wav"})
    job_id = reply["content"]["job_id"]
    waiters = [ZmqPeer(server.addresses["zmq"], server.addresses["zmq_events"]) for _ in range(32)]
    try:
        for w in waiters:
            msg = envelope("status", {"job_id": job_id, "wait": 30}, session=w.session)
            w.send_frames([b"", json.dumps(msg).encode()])
        time.sleep(0.3)
        assert _ping_time(zmq_peer) < 2.0
        for w in waiters:  # every waiter is answered when the job ends, with the final state
            reply, _ = w.recv_reply(timeout=60)
            assert reply["content"]["state"] == "done", reply["content"]
    finally:
        for w in waiters:
            w.close()


def _dealer(address: str) -> zmq.Socket:
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(address)
    return sock


def _ping_raw(sock: zmq.Socket, timeout: float = 10.0) -> dict:
    sock.send_multipart([b"", json.dumps(envelope("ping", {}, session="t-idle")).encode()])
    assert sock.poll(int(timeout * 1000)), "no reply"
    return json.loads(sock.recv_multipart()[1])["content"]


def test_idle_clients_give_their_place_to_a_new_one(engine):
    """Finding 8: 64 idle ZeroMQ connections locked everyone else out (`busy`, no idle timeout)."""
    from musicgen_bridge.bridge.handlers import RequestHandler
    from musicgen_bridge.bridge.zmq_server import ZmqServer

    srv = ZmqServer(RequestHandler(engine), "tcp://127.0.0.1:*", "tcp://127.0.0.1:*", max_clients=2)
    srv.gate.idle_s = 0.5
    srv.start()
    a, b, c = (_dealer(srv.bound["router"]) for _ in range(3))
    try:
        assert _ping_raw(a)["status"] == "ok" and _ping_raw(b)["status"] == "ok"
        busy = _ping_raw(c)
        assert busy["status"] == "error" and busy["code"] == "busy"  # both are active: no place yet
        time.sleep(0.8)
        assert _ping_raw(b)["status"] == "ok"  # b is active again; a stayed idle
        assert _ping_raw(c)["status"] == "ok"  # c takes the idle client's place
        assert _ping_raw(b)["status"] == "ok"
    finally:
        for s in (a, b, c):
            s.close(0)
        srv.stop()
