"""The remote-access acceptance run, as a producer would do it: separate processes, real sockets.

``serve --zmq tcp://0.0.0.0:PORT --keys DIR`` starts; ``generate`` with an authorized key gets its
clip; with a key the engine does not know it fails with one ``unauthorized`` line.
"""

from __future__ import annotations

import pytest
import soundfile as sf
from serve_process import cli as _cli
from serve_process import free_port, start_serve, stop

from musicgen_bridge.bridge.auth import init_keys, new_client_keys


@pytest.fixture(scope="module")
def remote(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("remote")
    keys = init_keys(tmp / "keys")
    new_client_keys("studio-laptop", keys, authorize=True)
    new_client_keys("stranger", keys)
    proc, info = start_serve(["--model", "tiny", "--zmq", f"tcp://0.0.0.0:{free_port(pair=True, host='0.0.0.0')}",
                              "--osc", "off", "--keys", str(keys), "--journal", "off",
                              "--output-root", str(tmp / "root")], tmp / "ready.json")
    try:
        port = lambda key: info[key].rpartition(":")[2]
        assert info["zmq"].startswith("tcp://0.0.0.0:")
        yield keys, f"tcp://127.0.0.1:{port('zmq')}", tmp
    finally:
        stop(proc)


def test_an_authorized_client_generates_from_another_process(remote):
    keys, address, tmp = remote
    out = tmp / "clip.wav"
    done = _cli("generate", "--server", address, "--client-key", str(keys / "clients" / "studio-laptop.key_secret"),
                "--server-key", str(keys / "server.key"), "--prompt", "remote", "--bars", "1", "--model", "tiny",
                "--out", str(out), "--json")
    assert done.returncode == 0, done.stderr
    assert sf.info(str(out)).frames == 96000


def test_an_unknown_client_is_told_it_is_unauthorized(remote):
    keys, address, _ = remote
    done = _cli("generate", "--server", address, "--client-key", str(keys / "clients" / "stranger.key_secret"),
                "--server-key", str(keys / "server.key"), "--prompt", "x", "--bars", "1")
    assert done.returncode == 3  # unauthorized: no usable engine (docs/cli.md)
    lines = done.stderr.strip().splitlines()
    assert lines[-1].startswith("musicgen-bridge: unauthorized: the engine refused this client's key"), lines


def test_half_a_key_pair_of_flags_is_a_clear_error(remote):
    keys, address, _ = remote
    done = _cli("generate", "--server", address, "--client-key", str(keys / "clients" / "stranger.key_secret"))
    assert done.returncode == 2 and "--server-key" in done.stderr
