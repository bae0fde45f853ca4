"""Every request type over OSC on loopback: UDP, TCP with SLIP framing, a third-party sender, raw bytes."""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
import struct
import subprocess
from pathlib import Path

import pytest
import soundfile as sf
from conftest import WAIT_S, OscPeer, _host_port

ONE_BAR = {"prompt": "x", "bars": 1, "bpm": 120}
FRAMES_1BAR = 2 * 48000  # 4 quarter notes at 120 bpm last 2 s at 48 kHz


def _submit(peer: OscPeer, **content) -> str:
    peer.send("/mgb/generate", json.dumps({**ONE_BAR, **content}))
    addr, args = peer.reply("generate")
    assert addr == "/mgb/reply", args
    return json.loads(args[1])["job_id"]


def _done(peer: OscPeer, job_id: str) -> list:
    addr, args = peer.expect(lambda a, p: a in ("/mgb/done", "/mgb/error") and p[0] == job_id)
    assert addr == "/mgb/done", args
    return args


def test_ping_typed_and_as_json(osc_udp):
    osc_udp.send("/mgb/ping")
    addr, args = osc_udp.reply("ping")
    assert addr == "/mgb/reply" and json.loads(args[1])["pong"] is True
    assert osc_udp.request("ping")["protocol_version"] == "1.0"


def test_models_with_and_without_json(osc_udp):
    osc_udp.send("/mgb/models")  # no argument reads as {}
    addr, args = osc_udp.reply("models")
    assert addr == "/mgb/reply"
    assert "tiny" in {m["name"] for m in json.loads(args[1])["models"]}
    assert {m["name"] for m in osc_udp.request("models")["models"]} == {m["name"] for m in json.loads(args[1])["models"]}


def test_generate_over_udp_sends_typed_events(osc_udp, engine):
    job_id = _submit(osc_udp, output_name="osc-udp.wav")
    done = _done(osc_udp, job_id)
    path = engine.paths.output_root / "osc-udp.wav"
    assert done == [job_id, str(path), 1.0, FRAMES_1BAR]
    assert osc_udp.expect(lambda a, p: a == "/mgb/accepted")[1] == [job_id]
    fractions = [p[1] for a, p in osc_udp.inbox if a == "/mgb/progress" and p[0] == job_id]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert sf.info(str(path)).frames == FRAMES_1BAR


def test_status_and_fetch_over_udp(osc_udp):
    job_id = _submit(osc_udp)
    status = osc_udp.request("status", {"job_id": job_id, "wait": WAIT_S})
    assert status["state"] == "done"
    on_disk = Path(status["result"]["path"]).read_bytes()
    got = b""
    while True:  # 4096-byte chunks keep each reply under the safe UDP size
        osc_udp.send("/mgb/fetch", json.dumps({"job_id": job_id, "offset": len(got), "length": 4096}))
        addr, args = osc_udp.reply("fetch")
        assert addr == "/mgb/reply" and len(args) == 3, args
        meta, chunk = json.loads(args[1]), args[2]
        assert meta["length"] == len(chunk)
        got += chunk
        if meta["eof"]:
            break
    assert got == on_disk and meta["sha256"] == hashlib.sha256(on_disk).hexdigest()
    # a chunk too big for one datagram is refused with a reason, not dropped
    osc_udp.send("/mgb/fetch", json.dumps({"job_id": job_id}))
    addr, args = osc_udp.reply("fetch")
    assert addr == "/mgb/error" and args[1] == "too_large" and "TCP" in args[2]


def test_cancel_over_udp(osc_udp, engine):
    before = set(engine.paths.output_root.iterdir())
    job_id = _submit(osc_udp, bars=8, output_name="osc-cancelled.wav")
    osc_udp.expect(lambda a, p: a == "/mgb/progress" and p[0] == job_id)
    osc_udp.send("/mgb/cancel", job_id)
    _addr, args = osc_udp.expect(lambda a, p: a == "/mgb/reply" and p[0] == "cancel")
    assert json.loads(args[1])["job_id"] == job_id
    _addr, args = osc_udp.expect(lambda a, p: a == "/mgb/error" and p[0] == job_id)
    assert args[1] == "cancelled"
    assert osc_udp.request("status", {"job_id": job_id})["state"] == "cancelled"
    assert set(engine.paths.output_root.iterdir()) == before


def test_cancel_over_tcp(osc_tcp, engine):
    job_id = _submit(osc_tcp, bars=8, output_name="osc-tcp-cancelled.wav")
    osc_tcp.expect(lambda a, p: a == "/mgb/progress" and p[0] == job_id)
    osc_tcp.send("/mgb/cancel", json.dumps({"job_id": job_id}))
    _addr, args = osc_tcp.expect(lambda a, p: a == "/mgb/error" and p[0] == job_id)
    assert args[1] == "cancelled"
    assert not (engine.paths.output_root / "osc-tcp-cancelled.wav").exists()


def test_generate_and_fetch_over_tcp_with_slip(osc_tcp):
    job_id = _submit(osc_tcp, prompt="tcp")
    _, path, start_bar, frames = _done(osc_tcp, job_id)
    assert (start_bar, frames) == (1.0, FRAMES_1BAR)
    on_disk = Path(path).read_bytes()
    osc_tcp.send("/mgb/fetch", json.dumps({"job_id": job_id, "length": 4_000_000}))  # one reply: TCP has room
    _addr, args = osc_tcp.reply("fetch")
    meta = json.loads(args[1])
    assert args[2] == on_disk and meta["eof"] and meta["sha256"] == hashlib.sha256(on_disk).hexdigest()


def test_oscsend_from_liblo_is_answered_on_the_hello_port(server, engine):
    oscsend = shutil.which("oscsend")
    if oscsend is None:
        pytest.skip("oscsend (liblo-tools) is not installed; .ci/run installs it")
    host, port = _host_port(server.addresses["osc_udp"])
    listener = OscPeer((host, port), hello=False)  # only listens; oscsend sends from a new port each run
    try:
        run = lambda *a: subprocess.run([oscsend, host, str(port), *a], check=True, timeout=WAIT_S)
        run("/mgb/hello", "i", str(listener.port))
        assert json.loads(listener.reply("hello")[1][1])["reply_port"] == listener.port
        run("/mgb/generate", "s", json.dumps({**ONE_BAR, "output_name": "oscsend.wav"}))
        _addr, args = listener.expect(lambda a, p: a == "/mgb/done")
        assert args[1:] == [str(engine.paths.output_root / "oscsend.wav"), 1.0, FRAMES_1BAR]
    finally:
        listener.close()


# -- OSC 1.0 by hand, byte by byte --------------------------------------------------------------
def _osc_string(text: str) -> bytes:
    """OSC-string: the bytes, then 1 to 4 NULs so the length is a multiple of 4."""
    raw = text.encode()
    return raw + b"\x00" * (4 - len(raw) % 4)


def _read_string(data: bytes, pos: int) -> tuple[str, int]:
    end = data.index(b"\x00", pos)
    return data[pos:end].decode(), (end // 4 + 1) * 4


def test_a_datagram_built_by_hand_from_the_osc_spec(server, engine):
    host, port = _host_port(server.addresses["osc_udp"])
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(WAIT_S)
    try:
        hello = b"/mgb/hello\x00\x00" + b",i\x00\x00" + struct.pack(">i", sock.getsockname()[1])
        assert len(hello) == 20
        sock.sendto(hello, (host, port))
        content = json.dumps({**ONE_BAR, "output_name": "by-hand.wav"})
        packet = b"/mgb/generate\x00\x00\x00" + b",s\x00\x00" + _osc_string(content)
        assert len(packet) % 4 == 0 and packet[16:20] == b",s\x00\x00"
        sock.sendto(packet, (host, port))
        while True:
            data = sock.recvfrom(65536)[0]
            address, pos = _read_string(data, 0)
            if address == "/mgb/done":
                break
        tags, pos = _read_string(data, pos)
        assert tags == ",ssfi"
        job_id, pos = _read_string(data, pos)
        path, pos = _read_string(data, pos)
        start_bar, frames = struct.unpack(">fi", data[pos:pos + 8])
        assert pos + 8 == len(data)
        assert job_id.startswith("j-") and path == str(engine.paths.output_root / "by-hand.wav")
        assert (start_bar, frames) == (1.0, FRAMES_1BAR)
        assert sf.info(path).frames == FRAMES_1BAR
    finally:
        sock.close()
