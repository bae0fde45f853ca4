"""The remote-access acceptance run, as a producer would do it: separate processes, real sockets.

``serve --zmq tcp://0.0.0.0:PORT --keys DIR`` starts; ``generate`` with an authorized key gets its
clip; with a key the engine does not know it fails with one ``unauthorized`` line.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import soundfile as sf

from bridge.auth import init_keys, new_client_keys

REPO = Path(__file__).resolve().parents[1]
START_S = 90.0


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], cwd=REPO, env=_env(), capture_output=True,
                          text=True, timeout=120)


def _free_pair() -> int:
    """A port free on every interface, with port + 1 free too (the event socket's default)."""
    for _ in range(100):
        with socket.socket() as a:
            a.bind(("0.0.0.0", 0))
            port = a.getsockname()[1]
            with socket.socket() as b:
                try:
                    b.bind(("0.0.0.0", port + 1))
                except OSError:
                    continue
        return port
    raise RuntimeError("no free port pair")


@pytest.fixture(scope="module")
def remote(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("remote")
    keys = init_keys(tmp / "keys")
    new_client_keys("studio-laptop", keys, authorize=True)
    new_client_keys("stranger", keys)
    ready = tmp / "ready.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "engine.cli", "serve", "--model", "tiny", "--zmq", f"tcp://0.0.0.0:{_free_pair()}",
         "--osc", "off", "--keys", str(keys), "--journal", "off",
         "--output-root", str(tmp / "root"), "--ready-file", str(ready)],
        cwd=REPO, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + START_S
        while not ready.exists():
            if proc.poll() is not None:
                pytest.fail(f"serve exited with {proc.returncode}: {proc.stderr.read()}")
            assert time.monotonic() < deadline, "serve did not write its ready file"
            time.sleep(0.1)
        info = json.loads(ready.read_text())
        port = lambda key: info[key].rpartition(":")[2]  # noqa: E731
        assert info["zmq"].startswith("tcp://0.0.0.0:")
        yield keys, f"tcp://127.0.0.1:{port('zmq')}", tmp
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


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
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert lines[-1].startswith("musicgen-bridge: unauthorized: the engine refused this client's key"), lines


def test_half_a_key_pair_of_flags_is_a_clear_error(remote):
    keys, address, _ = remote
    done = _cli("generate", "--server", address, "--client-key", str(keys / "clients" / "stranger.key_secret"))
    assert done.returncode == 2 and "--server-key" in done.stderr
