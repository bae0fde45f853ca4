"""Property-based fuzzing of the OSC side: arbitrary addresses and arguments into ``OscRouter.handle``,
arbitrary datagrams into a live UDP server. Every rejection is an ``/mgb/error`` with a documented
code, nothing escapes, and a good request (a real generation) still succeeds afterwards."""

from __future__ import annotations

import json

import pytest
from conftest import OscPeer, _host_port
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pythonosc.osc_message import ParseError
from pythonosc.osc_message_builder import BuildError, build_msg
from pythonosc.osc_packet import OscPacket

from musicgen_bridge.bridge.handlers import RequestHandler
from musicgen_bridge.bridge.osc_server import OscRouter
from musicgen_bridge.bridge.protocol import REQUEST_TYPES
from musicgen_bridge.engine.errors import ERROR_CODES

EVENTS = {"/mgb/accepted", "/mgb/progress", "/mgb/done", "/mgb/window", "/mgb/underrun"}
SENDER = ("127.0.0.1", 40000)
FUZZ = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                       HealthCheck.function_scoped_fixture])

known = sorted({f"/mgb/{t}" for t in REQUEST_TYPES} | {"/mgb/hello", "/mgb/live/start", "/mgb/live/stop",
                                                          "/mgb/transport", "/mgb/cancel", "/mgb/ping"})
addresses = st.sampled_from(known) | st.text(max_size=24) | st.just("/mgb/").map(lambda p: p) \
    | st.text(max_size=12).map(lambda s: "/mgb/" + s)
fields = st.sampled_from(["prompt", "bars", "bpm", "seconds", "model", "job_id", "path", "wait", "offset",
                          "length", "take", "melody", "fx", "time_signature", "sample_rate", "format", "seed",
                          "output_name", "output_dir", "session_id", "beat", "playing", "variations", "retryable"])
values = st.none() | st.booleans() | st.integers(min_value=-2**40, max_value=2**40) \
    | st.floats(allow_nan=False, width=32) | st.text(max_size=16) | st.sampled_from(["tiny", "4/4", "wav24", "../x"])
json_content = st.dictionaries(fields, values | st.lists(values, max_size=3)
                               | st.dictionaries(st.text(max_size=6), values, max_size=3), max_size=5).map(json.dumps)
osc_args = st.lists(st.integers(min_value=-2**31, max_value=2**31 - 1) | st.floats(allow_nan=False, width=32)
                    | st.text(max_size=20) | st.binary(max_size=20) | st.booleans() | json_content, max_size=4)


@pytest.fixture
def quick_engine(engine, monkeypatch):
    """The module's engine with a runner that returns at once: the fuzzer may queue real generations."""
    monkeypatch.setattr(engine.queue, "_runner", lambda job: {"path": "", "frames": 0})
    return engine


@pytest.fixture
def router(quick_engine):
    return OscRouter(RequestHandler(quick_engine))


def _osc_message(address: str, args: list) -> bytes:
    """An OSC message (random address and arguments) as a client could send it."""
    address = address if address.startswith("/") else "/" + address
    try:
        return build_msg(address, args).dgram
    except (BuildError, ParseError, UnicodeError):  # python-osc cannot say this (empty blob, odd text): bare
        name = address.encode(errors="replace") + b"\0"
        return name + b"\0" * (-len(name) % 4) + b",\0\0\0"


def _check(dgram: bytes) -> tuple[str, list]:
    msg = next(iter(OscPacket(dgram).messages)).message
    args = list(msg.params)
    if msg.address == "/mgb/error":
        assert args[1] in ERROR_CODES and isinstance(args[2], str) and args[2], args
    elif msg.address == "/mgb/reply":
        assert json.loads(args[1])["status"] == "ok"
    else:
        assert msg.address in EVENTS, msg.address
    return msg.address, args


@FUZZ
@given(addresses, osc_args)
@example("/mgb/generate", ['{"a": ' * 5000 + "1" + "}" * 5000])
@example("/mgb/generate", ['{"melody": ' + "[" * 900 + "]" * 900 + "}"])
@example("/mgb/status", ['{"job_id": "j-x", "wait": 1e400}'])
@example("/mgb/transport", [float("inf"), 120.0, 1])
def test_router_answers_every_message(router, address, args):
    sent: list[bytes] = []
    router.handle(address, args, SENDER, sent.append)
    answers = [addr for addr, _ in map(_check, list(sent)) if addr in ("/mgb/reply", "/mgb/error")]
    assert len(answers) == 1, sent  # one answer per request; events may come besides


@FUZZ
@given(st.binary(max_size=200) | st.builds(_osc_message, addresses.filter(lambda a: a != "/mgb/hello"), osc_args))
@example(b"")
@example(b"#bundle\x00" + b"\x00" * 8 + b"\x00\x00\x00\x10" + b"/x\x00\x00,i\x00\x00")
def test_raw_datagrams_to_a_live_udp_server(live_peer, data):
    live_peer.send_raw(data)
    try:
        parsed = OscPacket(data).messages
    except Exception:  # noqa: BLE001 - anything python-osc cannot parse must be answered bad_envelope
        parsed = None
    if parsed is None:  # (answers to earlier datagrams may come first: they wait in the inbox)
        live_peer.expect(lambda a, p: a == "/mgb/error" and p[:2] == ["", "bad_envelope"], timeout=5)
    while (packet := live_peer.recv_packet(0.005)) is not None:
        live_peer.inbox.extend((m.message.address, list(m.message.params)) for m in OscPacket(packet).messages)
    for address, args in live_peer.inbox:  # whatever else came back is a well-formed answer or event
        _check(build_msg(address, args).dgram)
    live_peer.inbox.clear()


@pytest.fixture
def live_peer(server, quick_engine):
    peer = OscPeer(_host_port(server.addresses["osc_udp"]))
    yield peer
    peer.close()


def test_a_real_generation_still_succeeds_afterwards(server, engine, osc_udp):
    assert engine.queue._runner == engine._run  # the fuzzers' quick runner is gone
    reply = osc_udp.request("generate", {"prompt": "after the fuzz", "bars": 1, "bpm": 120, "model": "tiny",
                                         "conform": False})
    addr, args = osc_udp.expect(lambda a, p: a in ("/mgb/done", "/mgb/error") and p[0] == reply["job_id"])
    assert addr == "/mgb/done" and args[3] == 96000
