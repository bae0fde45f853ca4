"""A client's own request id comes back in every reply and error, over ZeroMQ, OSC/UDP and OSC/TCP;
REQ sockets (plain, and with REQ_CORRELATE + REQ_RELAXED) get their replies."""

from __future__ import annotations

import json
import uuid

import pytest
import zmq
from conftest import WAIT_S, envelope


def _zmq_request(peer, msg_type, content, request_id):
    msg = envelope(msg_type, content, session=peer.session)
    msg["header"]["request_id"] = request_id
    peer.send_frames([b"", json.dumps(msg).encode()])
    reply, _ = peer.recv_reply()
    assert reply["parent_header"]["msg_id"] == msg["header"]["msg_id"]
    return reply


def test_zmq_reply_and_error_reply_echo_the_request_id(zmq_peer):
    ok = _zmq_request(zmq_peer, "ping", {}, "my-ping-1")
    assert ok["header"]["msg_type"] == "ping_reply" and ok["header"]["request_id"] == "my-ping-1"
    err = _zmq_request(zmq_peer, "generate", {"bpm": 1000}, "my-gen-2")
    assert err["header"] == {**err["header"], "msg_type": "generate_reply", "request_id": "my-gen-2"}
    assert err["content"]["code"] == "invalid_field" and err["content"]["details"] == {"field": "bpm"}


def test_zmq_undecodable_request_still_echoes_the_request_id(zmq_peer):
    msg = envelope("ping", {}, version="2.0")
    msg["header"]["request_id"] = "old-client-3"
    zmq_peer.send_frames([b"", json.dumps(msg).encode()])
    reply, _ = zmq_peer.recv_reply()
    assert reply["header"]["msg_type"] == "error" and reply["header"]["request_id"] == "old-client-3"
    assert reply["content"]["code"] == "unsupported_version"


def test_zmq_bad_request_id_is_bad_envelope(zmq_peer):
    msg = envelope("ping", {})
    msg["header"]["request_id"] = "x" * 65
    zmq_peer.send_frames([b"", json.dumps(msg).encode()])
    reply, _ = zmq_peer.recv_reply()
    assert reply["content"]["code"] == "bad_envelope" and "request_id" not in reply["header"]


def test_zmq_job_error_event_carries_the_request_id(zmq_peer):
    name = f"rid-{uuid.uuid4().hex[:8]}"
    first = _zmq_request(zmq_peer, "generate", {"bars": 1, "output_name": name, "seed": 1}, "gen-a")
    zmq_peer.wait_event(lambda e: e["header"]["msg_type"] == "done"
                        and e["content"]["job_id"] == first["content"]["job_id"])
    second = _zmq_request(zmq_peer, "generate", {"bars": 1, "output_name": name, "seed": 1}, "gen-b")
    event = zmq_peer.wait_event(lambda e: e["header"]["msg_type"] == "error"
                                and e["content"]["job_id"] == second["content"]["job_id"])
    assert event["content"]["code"] == "file_exists"
    assert event["header"]["request_id"] == "gen-b" and event["parent_header"]["request_id"] == "gen-b"


@pytest.mark.parametrize("transport", ["osc_udp", "osc_tcp"])
def test_osc_reply_and_error_echo_the_request_id(transport, request):
    peer = request.getfixturevalue(transport)
    peer.send("/mgb/ping", json.dumps({"request_id": "osc-ping-1"}))
    addr, args = peer.reply("ping")
    assert addr == "/mgb/reply" and json.loads(args[1])["request_id"] == "osc-ping-1"
    peer.send("/mgb/generate", json.dumps({"bpm": 1000, "request_id": "osc-gen-2"}))
    addr, args = peer.reply("generate")
    assert addr == "/mgb/error"
    assert args == ["", "invalid_field", args[2], "osc-gen-2", "generate", '{"field": "bpm"}']
    peer.send("/mgb/status", json.dumps({"job_id": "j-000000000000", "request_id": "osc-st-3"}))
    addr, args = peer.expect(lambda a, p: a == "/mgb/error" and p[0] == "j-000000000000")
    assert args[1] == "unknown_job" and args[3:5] == ["osc-st-3", "status"]


def test_osc_job_error_event_carries_the_request_id(osc_udp):
    name = f"rid-osc-{uuid.uuid4().hex[:8]}"
    for rid in ("first", "second"):
        osc_udp.send("/mgb/generate", json.dumps({"bars": 1, "output_name": name, "seed": 1, "request_id": rid}))
        _addr, args = osc_udp.reply("generate")
        job_id = json.loads(args[1])["job_id"]
        assert json.loads(args[1])["request_id"] == rid
        addr, args = osc_udp.expect(lambda a, p, j=job_id: a in ("/mgb/done", "/mgb/error") and p[0] == j)
    assert addr == "/mgb/error" and args[1] == "file_exists" and args[3:5] == ["second", "generate"]


def test_osc_bad_request_id_is_invalid_field(osc_udp):
    osc_udp.send("/mgb/ping", json.dumps({"request_id": 7}))
    addr, args = osc_udp.reply("ping")
    assert addr == "/mgb/error" and args[1] == "invalid_field" and json.loads(args[5]) == {"field": "request_id"}


def _req_socket(server, **opts):
    sock = zmq.Context.instance().socket(zmq.REQ)
    sock.setsockopt(zmq.LINGER, 0)
    for key, value in opts.items():
        sock.setsockopt(getattr(zmq, key), value)
    sock.connect(server.addresses["zmq"])
    return sock


def _ask(sock, msg_type, content, request_id):
    msg = envelope(msg_type, content)
    msg["header"]["request_id"] = request_id
    sock.send(json.dumps(msg).encode())
    return msg


def _answer(sock):
    assert sock.poll(int(WAIT_S * 1000)), "no reply on the REQ socket"
    return json.loads(sock.recv())


def test_plain_req_socket_gets_its_replies(server):
    sock = _req_socket(server)
    try:
        for n in range(3):
            sent = _ask(sock, "ping", {}, f"req-{n}")
            reply = _answer(sock)
            assert reply["parent_header"]["msg_id"] == sent["header"]["msg_id"]
            assert reply["header"]["request_id"] == f"req-{n}" and reply["content"]["pong"] is True
    finally:
        sock.close(0)


def test_req_correlate_relaxed_recovers_from_an_unanswered_request(server):
    """REQ_CORRELATE puts a request-id frame before the delimiter; the engine must echo it, or the
    socket drops every reply. With REQ_RELAXED a client that gave up on a request sends the next one,
    and the late reply to the old one is discarded by the socket, not read as the new one's."""
    sock = _req_socket(server, REQ_CORRELATE=1, REQ_RELAXED=1)
    try:
        sent = _ask(sock, "ping", {}, "corr-1")
        reply = _answer(sock)
        assert reply["parent_header"]["msg_id"] == sent["header"]["msg_id"]
        # the client "times out" on a wait it does not read, and asks something else at once
        _ask(sock, "status", {"job_id": "j-000000000000", "wait": 1}, "corr-stale")
        sent = _ask(sock, "ping", {}, "corr-2")
        reply = _answer(sock)
        assert reply["header"]["request_id"] == "corr-2"
        assert reply["parent_header"]["msg_id"] == sent["header"]["msg_id"]
        assert not sock.poll(300), "the stale reply must not reach the application"
    finally:
        sock.close(0)
