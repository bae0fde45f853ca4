"""Malformed input over both transports: each gets an error with a stable code, then the same client
is served normally."""

from __future__ import annotations

import json

import pytest
from conftest import OscPeer, _host_port, envelope

from musicgen_bridge.engine import limits
from musicgen_bridge.engine.errors import ERROR_CODES

ONE_BAR = {"prompt": "x", "bars": 1, "bpm": 120}
BIG_PROMPT = "a" * 100_000


def _raw(msg_type: str, content_json: str, version: str = "1.0") -> bytes:
    """An envelope whose content is spliced in as text, so it can hold what json.dumps would refuse."""
    head = json.dumps(envelope(msg_type, {}, session="t-raw", version=version, msg_id="m-raw")["header"])
    return f'{{"header":{head},"parent_header":{{}},"content":{content_json}}}'.encode()


# (request frames after the delimiter, reply msg_type, error code)
ZMQ_CASES = {
    "not json": ([b"{not json"], "error", "bad_json"),
    "not utf-8": ([b"\xff\xfe{}"], "error", "bad_json"),
    "json array": ([b"[1, 2]"], "error", "bad_json"),
    "no json frame": ([], "error", "bad_json"),
    "no header": ([b'{"content": {}}'], "error", "bad_envelope"),
    "header not an object": ([b'{"header": "ping", "content": {}}'], "error", "bad_envelope"),
    "no msg_type": ([b'{"header": {"msg_id": "m-raw"}, "content": {}}'], "error", "bad_envelope"),
    "content not an object": ([_raw("ping", "[]")], "error", "bad_envelope"),
    "protocol 2.0": ([_raw("ping", "{}", version="2.0")], "error", "unsupported_version"),
    "unknown msg_type": ([_raw("nope", "{}")], "nope_reply", "unknown_msg_type"),
    "status without job_id": ([_raw("status", "{}")], "status_reply", "missing_field"),
    "cancel without job_id": ([_raw("cancel", "{}")], "cancel_reply", "missing_field"),
    "fetch without job_id or path": ([_raw("fetch", "{}")], "fetch_reply", "missing_field"),
    "live_stop without session_id": ([_raw("live_stop", "{}")], "live_stop_reply", "missing_field"),
    "status wait too long": ([_raw("status", '{"job_id": "j-x", "wait": 31}')], "status_reply", "invalid_field"),
    "NaN literal": ([_raw("generate", '{"prompt": "x", "bpm": NaN}')], "error", "invalid_field"),
    "Infinity literal": ([_raw("generate", '{"bars": -Infinity}')], "error", "invalid_field"),
    "1e400": ([_raw("generate", '{"prompt": "x", "bpm": 1e400}')], "error", "invalid_field"),
    "bars 1e9": ([_raw("generate", '{"bars": 1000000000}')], "generate_reply", "too_large"),
    "bars 10**400": ([_raw("generate", '{"bars": 1' + "0" * 400 + "}")], "generate_reply", "too_large"),
    "bpm out of range": ([_raw("generate", '{"bpm": 100000}')], "generate_reply", "invalid_field"),
    "bars a string": ([_raw("generate", '{"bars": "four"}')], "generate_reply", "invalid_field"),
    "unknown model": ([_raw("generate", '{"model": "nope"}')], "generate_reply", "unknown_model"),
    "100 kB prompt": ([_raw("generate", json.dumps({"prompt": BIG_PROMPT}))], "generate_reply", "too_large"),
    "JSON over the limit": ([_raw("generate", json.dumps({"x": "a" * limits.MAX_JSON_BYTES}))], "error", "too_large"),
    "buffer that was not sent": ([_raw("continue", '{"audio": {"buffer": 0}}')], "continue_reply", "invalid_field"),
    "output folder outside": ([_raw("generate", '{"output_dir": "/etc"}')], "generate_reply", "path_not_allowed"),
}


@pytest.mark.parametrize("case", sorted(ZMQ_CASES))
def test_zmq_bad_request_gets_an_error_reply_then_service_goes_on(zmq_peer, case):
    frames, reply_type, code = ZMQ_CASES[case]
    zmq_peer.send_frames([b"", *frames])
    reply, _ = zmq_peer.recv_reply()
    c = reply["content"]
    assert (reply["header"]["msg_type"], c["status"], c["code"]) == (reply_type, "error", code), c
    assert code in ERROR_CODES and c["message"]
    if reply_type != "error" or case in ("protocol 2.0", "no msg_type"):
        assert reply["parent_header"]["msg_id"] == "m-raw"  # so the client can tell which request failed
    ping, _ = zmq_peer.request("ping")
    assert ping["content"]["pong"] is True


def test_unknown_fields_are_ignored(zmq_peer):
    reply, _ = zmq_peer.request("generate", {**ONE_BAR, "from_the_future": {"x": 1}})
    assert reply["content"]["status"] == "ok"
    assert zmq_peer.job_end(reply["content"]["job_id"])["header"]["msg_type"] == "done"


# (OSC address, arguments, error code)
OSC_CASES = {
    "transport with strings": ("/mgb/transport", ["1.0", "120", "1"], "invalid_field"),
    "transport with NaN": ("/mgb/transport", [float("nan"), 120.0, 1], "invalid_field"),
    "transport missing an argument": ("/mgb/transport", [1.0, 120.0], "invalid_field"),
    "cancel with an int": ("/mgb/cancel", [5], "invalid_field"),
    "unknown /mgb address": ("/mgb/nope", [], "unknown_msg_type"),
    "foreign address": ("/live/song/get/tempo", [], "unknown_msg_type"),
    "bad JSON": ("/mgb/generate", ["{oops"], "bad_json"),
    "JSON not an object": ("/mgb/generate", ["[1, 2]"], "bad_json"),
    "two arguments": ("/mgb/generate", ["{}", "{}"], "invalid_field"),
    "status without job_id": ("/mgb/status", ["{}"], "missing_field"),
    "NaN literal": ("/mgb/generate", ['{"bpm": NaN}'], "invalid_field"),
    "1e400": ("/mgb/generate", ['{"bpm": 1e400}'], "invalid_field"),
    "bars 1e9": ("/mgb/generate", ['{"bars": 1000000000}'], "too_large"),
    "hello with a string": ("/mgb/hello", ["9000"], "invalid_field"),
    "hello port 0": ("/mgb/hello", [0], "invalid_field"),
}


@pytest.mark.parametrize("case", sorted(OSC_CASES))
def test_osc_bad_message_gets_an_error_then_service_goes_on(osc_udp, case):
    address, args, code = OSC_CASES[case]
    osc_udp.send(address, *args)
    addr, reply = osc_udp.reply(address.removeprefix("/mgb/"))
    assert addr == "/mgb/error" and reply[:2] == ["", code] and reply[2], reply
    assert osc_udp.request("ping")["pong"] is True


def test_osc_garbage_datagram(osc_udp):
    osc_udp.send_raw(b"hello, engine")
    addr, reply = osc_udp.reply("none")
    assert addr == "/mgb/error" and reply[1] == "bad_envelope"
    assert osc_udp.request("ping")["pong"] is True


def test_osc_oversize_datagram_is_refused_with_a_pointer_to_tcp(osc_udp):
    osc_udp.send("/mgb/generate", json.dumps({**ONE_BAR, "prompt": "a" * 20_000}))  # > 8 KB, < 64 KB
    addr, reply = osc_udp.reply("generate")
    assert addr == "/mgb/error" and reply[1] == "too_large" and "TCP" in reply[2], reply
    assert osc_udp.request("ping")["pong"] is True


def test_osc_tcp_big_prompt_and_bad_slip(osc_tcp):
    osc_tcp.send("/mgb/generate", json.dumps({"prompt": BIG_PROMPT}))  # TCP carries it; the prompt limit refuses it
    addr, reply = osc_tcp.reply("generate")
    assert addr == "/mgb/error" and reply[1] == "too_large" and str(limits.MAX_PROMPT_CHARS) in reply[2]
    osc_tcp.sock.sendall(b"\xc0/mgb\xdb\x01ping\xc0")  # ESC followed by a byte SLIP does not allow
    addr, reply = osc_tcp.reply("none")
    assert addr == "/mgb/error" and reply[1] == "bad_envelope"
    assert osc_tcp.request("ping")["pong"] is True


def test_two_osc_clients_on_one_host_each_get_their_own_replies(server):
    """Two OSC clients on one host: each gets its own replies once it said hello."""
    addr = _host_port(server.addresses["osc_udp"])
    a, b = OscPeer(addr), OscPeer(addr)
    try:
        b.send("/mgb/ping")
        assert b.reply("ping")[0] == "/mgb/reply"
        a.send("/mgb/ping")
        assert a.reply("ping")[0] == "/mgb/reply"
        assert a.inbox == [] and b.inbox == []
    finally:
        a.close()
        b.close()
