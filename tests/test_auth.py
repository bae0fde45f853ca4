"""Remote access: CURVE keys over real ZeroMQ sockets, the OSC allowlist over real UDP, serve's refusals."""

from __future__ import annotations

import logging
import os
import socket
import stat
import time

import pytest
import zmq
import zmq.auth
from conftest import OscPeer
from pythonosc.osc_message_builder import build_msg

from musicgen_bridge.bridge.auth import (
    AUTHORIZED,
    ClientAuth,
    OscAllowlist,
    ServerAuth,
    exposure_problem,
    init_keys,
    new_client_keys,
)
from musicgen_bridge.bridge.cli import main
from musicgen_bridge.bridge.cli.exits import exit_code
from musicgen_bridge.bridge.client import Client
from musicgen_bridge.bridge.server import BridgeServer
from musicgen_bridge.engine.errors import EngineError


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    folder = init_keys(tmp_path_factory.mktemp("keys") / "keys")
    new_client_keys("good", folder, authorize=True)
    new_client_keys("stranger", folder)  # made here but never authorized
    return folder


@pytest.fixture(scope="module")
def secure(engine, keys):
    """An engine listening on every interface with CURVE; clients reach it through loopback."""
    auth = ServerAuth(keys)
    srv = BridgeServer(engine, zmq_addr="tcp://0.0.0.0:*", pub_addr="tcp://0.0.0.0:*", osc_udp=None, auth=auth)
    srv.start()
    port = lambda addr: addr.rpartition(":")[2]
    yield (f"tcp://127.0.0.1:{port(srv.addresses['zmq'])}", f"tcp://127.0.0.1:{port(srv.addresses['zmq_events'])}")
    # the engine fixture outlives this server: stop only the transport and the ZAP handler
    srv.zmq.stop()
    auth.stop()


def _client(secure, keys, name: str | None, timeout: float = 1.5, server_key: str = "server.key") -> Client:
    auth = None if name is None else ClientAuth(keys / "clients" / f"{name}.key_secret", keys / server_key)
    return Client(secure[0], secure[1], timeout=timeout, auth=auth)


# -- keys ---------------------------------------------------------------------------------------
def test_keys_init_makes_a_server_keypair_and_an_empty_authorized_folder(tmp_path, capsys):
    folder = tmp_path / "k"
    assert main(["keys", "init", "--dir", str(folder)]) == 0
    public, secret = zmq.auth.load_certificate(folder / "server.key_secret")
    assert zmq.auth.load_certificate(folder / "server.key") == (public, None)
    assert len(zmq.utils.z85.decode(public)) == 32 and len(zmq.utils.z85.decode(secret)) == 32
    assert stat.S_IMODE(os.stat(folder / "server.key_secret").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    assert list((folder / AUTHORIZED).iterdir()) == []
    assert str(folder / "server.key") in capsys.readouterr().out


def test_keys_are_never_overwritten(tmp_path, capsys):
    folder = tmp_path / "k"
    assert main(["keys", "init", "--dir", str(folder)]) == 0
    before = (folder / "server.key_secret").read_bytes()
    capsys.readouterr()
    assert main(["keys", "init", "--dir", str(folder)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("musicgen-bridge: file_exists: ") and "\n" not in err
    assert (folder / "server.key_secret").read_bytes() == before


def test_keys_client_makes_a_pair_and_authorize_copies_the_public_half(tmp_path, capsys):
    folder = tmp_path / "k"
    main(["keys", "init", "--dir", str(folder)])
    assert main(["keys", "client", "laptop", "--dir", str(folder)]) == 0
    assert (folder / "clients" / "laptop.key_secret").is_file()
    assert not (folder / AUTHORIZED / "laptop.key").exists()
    assert f"{folder / AUTHORIZED}" in capsys.readouterr().out  # says where to copy the public key
    assert main(["keys", "client", "desk", "--dir", str(folder), "--authorize"]) == 0
    assert (folder / AUTHORIZED / "desk.key").read_bytes() == (folder / "clients" / "desk.key").read_bytes()
    assert main(["keys", "client", "../evil", "--dir", str(folder)]) == 2
    assert "invalid_field" in capsys.readouterr().err
    assert not (tmp_path / "evil.key").exists()


# -- serve's refusals ---------------------------------------------------------------------------
@pytest.mark.parametrize("argv, needle", [
    (["--zmq", "tcp://0.0.0.0:5555", "--osc", "off"], "refusing to serve ZeroMQ on 0.0.0.0 without authentication"),
    (["--zmq", "tcp://*:5555", "--osc", "off"], "refusing to serve ZeroMQ on *"),
    (["--zmq", "tcp://127.0.0.1:5555", "--zmq-events", "tcp://192.0.2.1:5556", "--osc", "off"], "on 192.0.2.1"),
    (["--zmq", "tcp://127.0.0.1:5555", "--osc", "0.0.0.0:9000"], "refusing to serve OSC on 0.0.0.0"),
    (["--zmq", "tcp://127.0.0.1:5555", "--osc-tcp", "192.0.2.1:9000"], "refusing to serve OSC on 192.0.2.1"),
])
def test_serve_refuses_a_public_address_without_protection(argv, needle, capsys):
    assert main(["serve", "--journal", "off", *argv]) == exit_code("unauthorized")  # 3 (docs/cli.md)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("musicgen-bridge: unauthorized: ") and needle in err


def test_serve_with_keys_needs_a_server_key(tmp_path, capsys):
    assert main(["serve", "--journal", "off", "--zmq", "tcp://0.0.0.0:5555", "--osc", "off",
                 "--keys", str(tmp_path)]) == 2
    assert "keys init --dir" in capsys.readouterr().err


def test_exposure_rules():
    assert exposure_problem(["tcp://127.0.0.1:1", "tcp://localhost:2", "tcp://[::1]:3", "ipc:///tmp/x"],
                            ["127.0.0.1", "::1"], keys=False, osc_allow=False) is None
    assert exposure_problem(["tcp://0.0.0.0:1"], [], keys=True, osc_allow=False) is None
    assert exposure_problem(["tcp://eth0:1"], [], keys=False, osc_allow=False) is not None
    assert exposure_problem([], ["192.0.2.1"], keys=True, osc_allow=False) is not None  # keys do not cover OSC
    assert exposure_problem([], ["192.0.2.1"], keys=False, osc_allow=True) is None


# -- CURVE over the wire -----------------------------------------------------------------------
def test_an_authorized_client_generates(secure, keys, engine):
    with _client(secure, keys, "good", timeout=20.0) as client:
        result = client.generate(prompt="keys", bars=1, bpm=120, model="tiny", seed=1, conform=False, timeout=60)
    assert result["frames"] == 96000  # 1 bar of 4/4 at 120 bpm = 2 s at 48 kHz
    assert os.path.getsize(result["path"]) > 96000 * 2 * 3  # 24-bit stereo


def test_an_unknown_key_is_refused_as_unauthorized(secure, keys, caplog):
    caplog.set_level(logging.WARNING, logger="musicgen_bridge.bridge.auth")
    with _client(secure, keys, "stranger") as client, pytest.raises(EngineError) as err:
        client.request("ping", retries=0)
    assert err.value.code == "unauthorized" and "stranger.key_secret" in err.value.message
    assert any("refused a ZeroMQ client with an unknown key" in r.getMessage() for r in caplog.records)


def test_a_wrong_server_key_is_unauthorized(secure, keys):
    with _client(secure, keys, "good", server_key="clients/stranger.key") as client, \
            pytest.raises(EngineError) as err:
        client.request("ping", retries=0)
    assert err.value.code == "unauthorized" and "--server-key" in err.value.message


def test_a_client_without_keys_gets_no_answer(secure, keys):
    with _client(secure, keys, None, timeout=1.0) as client, pytest.raises(EngineError) as err:
        client.request("ping", retries=0)
    assert err.value.code == "unreachable"


def test_keys_added_and_removed_take_effect_without_a_restart(secure, keys):
    public, _ = new_client_keys("late", keys)
    with _client(secure, keys, "late") as client, pytest.raises(EngineError, match="refused"):
        client.request("ping", retries=0)
    (keys / AUTHORIZED / "late.key").write_bytes(public.read_bytes())
    with _client(secure, keys, "late") as client:
        assert client.request("ping", retries=0).content["pong"] is True
    (keys / AUTHORIZED / "late.key").unlink()
    with _client(secure, keys, "late") as client, pytest.raises(EngineError) as err:
        client.request("ping", retries=0)
    assert err.value.code == "unauthorized"


def test_server_auth_sockets_must_come_from_its_context(keys):
    auth = ServerAuth(keys)
    sock = zmq.Context.instance().socket(zmq.ROUTER)
    try:
        with pytest.raises(ValueError):
            auth.configure_server(sock)
    finally:
        sock.close(0)
        auth.stop()


# -- OSC allowlist -----------------------------------------------------------------------------
def test_allowlist_entries():
    allow = OscAllowlist(["192.0.2.10", "198.51.100.0/24", "2001:db8::/32"])
    assert allow.allows("192.0.2.10") and allow.allows("198.51.100.255") and allow.allows("2001:db8::1")
    assert allow.allows("::ffff:192.0.2.10")  # an IPv4 peer on a dual-stack socket
    assert not allow.allows("192.0.2.11") and not allow.allows("not-an-address")
    assert allow.allows("127.0.0.1") and not OscAllowlist([], include_loopback=False).allows("127.0.0.1")
    with pytest.raises(EngineError) as err:
        OscAllowlist(["192.0.2.300"])
    assert err.value.code == "invalid_field"


def _osc_server(engine, allow: OscAllowlist, tcp: bool = False) -> BridgeServer:
    srv = BridgeServer(engine, zmq_addr=None, osc_udp=None if tcp else ("127.0.0.1", 0),
                       osc_tcp=("127.0.0.1", 0) if tcp else None, osc_allow=allow)
    srv.start()
    return srv


def _osc_addr(srv: BridgeServer, key: str) -> tuple[str, int]:
    host, _, port = srv.addresses[key].rpartition(":")
    return host, int(port)


def test_osc_from_an_address_not_allowed_is_dropped_with_a_log_line(engine, caplog):
    caplog.set_level(logging.WARNING, logger="musicgen_bridge.bridge.auth")
    srv = _osc_server(engine, OscAllowlist(["192.0.2.10"], include_loopback=False))
    try:
        peer = OscPeer(_osc_addr(srv, "osc_udp"), hello=False)
        for _ in range(3):
            peer.send("/mgb/ping")
        assert peer.recv_packet(1.0) is None  # silence: nothing is sent to an address not allowed
        peer.close()
    finally:
        srv.udp.shutdown()
        srv.udp.server_close()
    dropped = [r.getMessage() for r in caplog.records if "dropped OSC from 127.0.0.1" in r.getMessage()]
    assert dropped == ["dropped OSC from 127.0.0.1: not in --osc-allow (1 so far from it)"]  # one line, not three


def test_osc_from_an_allowed_address_is_answered(engine):
    srv = _osc_server(engine, OscAllowlist(["127.0.0.1"], include_loopback=False))
    try:
        peer = OscPeer(_osc_addr(srv, "osc_udp"))
        assert peer.request("ping")["pong"] is True
        peer.close()
    finally:
        srv.udp.shutdown()
        srv.udp.server_close()


def test_osc_tcp_connection_from_an_address_not_allowed_is_closed(engine):
    srv = _osc_server(engine, OscAllowlist([], include_loopback=False), tcp=True)
    try:
        sock = socket.create_connection(_osc_addr(srv, "osc_tcp"), timeout=5)
        sock.sendall(b"\xc0" + build_msg("/mgb/ping", []).dgram + b"\xc0")
        deadline = time.monotonic() + 5
        data = b"x"
        while data and time.monotonic() < deadline:
            data = sock.recv(1024)  # the server closes the connection: recv returns b"" (never a reply)
        assert data == b""
        sock.close()
    finally:
        srv.tcp.shutdown()
        srv.tcp.server_close()
