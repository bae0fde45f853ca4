"""Every limit of engine/limits.py over the wire: one past the limit gets its error code, the limit
itself does not, and the engine keeps serving."""

from __future__ import annotations

import io
import json
import time

import mido
import pytest
import zmq
from conftest import OscPeer, ZmqPeer, _host_port, envelope

from musicgen_bridge.bridge.handlers import RequestHandler
from musicgen_bridge.bridge.server import BridgeServer
from musicgen_bridge.bridge.zmq_server import ZmqServer
from musicgen_bridge.engine import limits
from musicgen_bridge.engine.conditioning import melody as melody_module

NOTE = {"pitch": 60, "start_beats": 0, "duration_beats": 1}


def _error(zmq_peer: ZmqPeer, content: dict, buffers: list[bytes] | None = None) -> dict:
    reply, _ = zmq_peer.request("generate", content, buffers)
    assert reply["content"]["status"] == "error", reply["content"]
    return reply["content"]


@pytest.mark.parametrize("content, code, field", [
    ({"prompt": "a" * (limits.MAX_PROMPT_CHARS + 1)}, "too_large", "prompt"),
    ({"bars": limits.MAX_BARS + 1}, "too_large", "bars"),
    ({"seconds": limits.MAX_SECONDS + 1}, "too_large", "seconds"),
    # 301 bars of 4/4 at 120 bpm = 602 s: within MAX_BARS, over MAX_SECONDS
    ({"bars": 301, "bpm": 120}, "too_large", "bars"),
    ({"variations": limits.MAX_VARIATIONS + 1}, "invalid_field", "variations"),
    ({"output_name": "n" * (limits.MAX_NAME_CHARS + 1)}, "too_large", "output_name"),
])
def test_request_field_limits_over_zmq(zmq_peer, content, code, field):
    err = _error(zmq_peer, {"prompt": "x", "model": "tiny", **content})
    assert (err["code"], err["details"]["field"]) == (code, field)
    assert zmq_peer.request("ping")[0]["content"]["pong"] is True


def test_prompt_at_the_limit_is_accepted_and_one_more_is_not_over_osc(osc_udp):
    osc_udp.send("/mgb/generate", json.dumps({"prompt": "a" * (limits.MAX_PROMPT_CHARS + 1), "bars": 1}))
    assert osc_udp.reply("generate")[1][:2] == ["", "too_large"]
    # at the limit: validated and queued (cancelled at once, the test is about the limit only)
    reply = osc_udp.request("generate", {"prompt": "a" * limits.MAX_PROMPT_CHARS, "bars": 1, "model": "tiny"})
    osc_udp.request("cancel", {"job_id": reply["job_id"]})


def test_one_constant_for_melody_notes():
    assert melody_module.MAX_NOTES == limits.MAX_MELODY_NOTES


def test_melody_notes_over_the_limit_over_zmq(zmq_peer):
    notes = [NOTE] * (limits.MAX_MELODY_NOTES + 1)
    body = json.dumps({"model": "tiny-melody", "bars": 1, "melody": {"notes": notes}}, separators=(",", ":"))
    msg = envelope("generate", {}, session=zmq_peer.session)
    frame = json.dumps(msg, separators=(",", ":")).replace('"content":{}', f'"content":{body}').encode()
    assert len(frame) < limits.MAX_JSON_BYTES  # the note limit, not the message limit, is what refuses it
    zmq_peer.send_frames([b"", frame])
    err = zmq_peer.recv_reply()[0]["content"]
    assert err["code"] == "too_large" and str(limits.MAX_MELODY_NOTES) in err["message"]


def test_melody_notes_over_the_limit_over_osc_tcp(osc_tcp):
    notes = [NOTE] * (limits.MAX_MELODY_NOTES + 1)
    osc_tcp.send("/mgb/generate", json.dumps({"model": "tiny-melody", "bars": 1, "melody": {"notes": notes}},
                                             separators=(",", ":")))
    assert osc_tcp.reply("generate")[1][:2] == ["", "too_large"]


def _midi_with(n_notes: int) -> bytes:
    track = mido.MidiTrack()
    for i in range(n_notes):
        track.append(mido.Message("note_on", note=60 + i % 12, velocity=90, time=0 if i == 0 else 1))
        track.append(mido.Message("note_off", note=60 + i % 12, velocity=0, time=1))
    out = io.BytesIO()
    mido.MidiFile(tracks=[track], ticks_per_beat=480).save(file=out)
    return out.getvalue()


def test_midi_file_notes_over_the_limit_over_zmq(zmq_peer):
    data = _midi_with(limits.MAX_MELODY_NOTES + 1)
    err = _error(zmq_peer, {"model": "tiny-melody", "bars": 1, "melody": {"midi_file": {"buffer": 0}}}, [data])
    assert err["code"] == "too_large" and err["details"]["field"] == "midi_file"


# -- the queue and the clients: a small engine of their own ------------------------------------------
@pytest.fixture(scope="module")
def small(tmp_path_factory):
    from musicgen_bridge.engine.engine import Engine, EngineConfig

    eng = Engine(EngineConfig(default_model="tiny", max_queue=1, output_root=tmp_path_factory.mktemp("small")))
    srv = BridgeServer(eng, zmq_addr="tcp://127.0.0.1:*", pub_addr="tcp://127.0.0.1:*", osc_udp=("127.0.0.1", 0))
    srv.start()
    yield srv
    srv.stop()


def test_queue_length_over_zmq_and_osc(small):
    peer = ZmqPeer(small.addresses["zmq"], small.addresses["zmq_events"])
    osc = OscPeer(_host_port(small.addresses["osc_udp"]))
    try:
        # 16 bars at 40 bpm takes seconds on tiny: it holds the one place while the others ask
        long = peer.request("generate", {"prompt": "x", "bars": 16, "bpm": 40})[0]["content"]["job_id"]
        second = peer.request("generate", {"prompt": "x", "bars": 1})[0]["content"]
        assert second["code"] == "busy" and "limit 1" in second["message"]
        osc.send("/mgb/generate", json.dumps({"prompt": "x", "bars": 1}))
        assert osc.reply("generate")[1][:2] == ["", "busy"]
        peer.request("cancel", {"job_id": long})
        end = peer.job_end(long)
        assert end["content"]["code"] == "cancelled"
        deadline = time.monotonic() + 10  # the place frees when the worker has let go of the job
        while small.engine.queue.pending and time.monotonic() < deadline:
            time.sleep(0.05)
        again = peer.request("generate", {"prompt": "x", "bars": 1, "model": "tiny"})[0]["content"]
        assert again["status"] == "ok"  # the queue takes work again
        peer.request("cancel", {"job_id": again["job_id"]})
    finally:
        peer.close()
        osc.close()


def _dealer(address: str) -> zmq.Socket:
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(address)
    return sock


def _ping(sock: zmq.Socket, buffers: list[bytes] | None = None, timeout: float = 10.0) -> dict | None:
    msg = envelope("ping", {}, session="t-limits")
    sock.send_multipart([b"", json.dumps(msg).encode(), *(buffers or [])])
    if not sock.poll(int(timeout * 1000)):
        return None
    reply = json.loads(sock.recv_multipart()[1])
    assert reply["parent_header"]["msg_id"] == msg["header"]["msg_id"]
    return reply["content"]


@pytest.fixture
def gated(engine, monkeypatch):
    """A ZeroMQ server for at most 2 clients, with 2 MiB frames."""
    monkeypatch.setattr(limits, "MAX_MESSAGE_BYTES", 2 * 2**20)  # read when the server makes its socket
    srv = ZmqServer(RequestHandler(engine), "tcp://127.0.0.1:*", "tcp://127.0.0.1:*", max_clients=2)
    srv.start()
    yield srv
    srv.stop()


def test_open_clients_beyond_the_limit_are_told_busy_until_one_leaves(gated):
    a, b, c = (_dealer(gated.bound["router"]) for _ in range(3))
    try:
        assert _ping(a)["status"] == "ok" and _ping(b)["status"] == "ok"
        refused = _ping(c)
        assert refused["status"] == "error" and refused["code"] == "busy" and "2 connected" in refused["message"]
        assert _ping(a)["status"] == "ok"  # those admitted stay admitted
        a.close(0)
        deadline = time.monotonic() + 10
        while (reply := _ping(c))["status"] != "ok":  # admitted once the server has seen a leave
            assert reply["code"] == "busy" and time.monotonic() < deadline
            time.sleep(0.05)
        assert gated.gate.refused >= 1
    finally:
        for s in (b, c):
            s.close(0)


def test_a_frame_over_the_limit_drops_the_connection_and_the_client_can_go_on(gated):
    sock = _dealer(gated.bound["router"])
    try:
        assert _ping(sock, [b"\0" * (2 * 2**20 - 4096)])["status"] == "ok"  # under the limit
        assert _ping(sock, [b"\0" * (2 * 2**20 + 1)], timeout=2.0) is None  # over: dropped, no reply
        deadline = time.monotonic() + 10
        while (reply := _ping(sock, timeout=1.0)) is None:  # the DEALER reconnects by itself
            assert time.monotonic() < deadline
        assert reply["status"] == "ok"
    finally:
        sock.close(0)


def test_osc_reply_port_table_is_bounded(server, monkeypatch):
    monkeypatch.setattr(limits, "MAX_OSC_PEERS", 3)
    peers = [OscPeer(_host_port(server.addresses["osc_udp"])) for _ in range(8)]  # each says /mgb/hello
    try:
        table = server.router.clients._anon  # unnamed hellos, by (host, port) and by host
        assert len(table) <= 2 * 3
        newest = peers[-1]
        assert (("127.0.0.1", newest.port) in table) and (("127.0.0.1", peers[0].port) not in table)
        assert newest.request("ping")["pong"] is True
    finally:
        for p in peers:
            p.close()


def test_a_retryable_flag_must_be_a_boolean(zmq_peer):
    err = _error(zmq_peer, {"prompt": "x", "bars": 1, "retryable": "yes"})
    assert (err["code"], err["details"]["field"]) == ("invalid_field", "retryable")
