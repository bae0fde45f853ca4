"""``musicgen-bridge serve`` and ``musicgen-bridge generate`` as separate processes, through ZeroMQ.

The processes run ``python -m engine.cli``: the same ``main()`` the installed ``musicgen-bridge``
script calls, but importing this checkout rather than wherever the package was installed from.
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

REPO = Path(__file__).resolve().parents[1]
START_S = 90.0  # importing torch and building the tiny model on two busy cores


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], cwd=REPO, env=_env(), capture_output=True,
                          text=True, timeout=timeout)


def _bindable(kind: int, port: int) -> bool:
    with socket.socket(socket.AF_INET, kind) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port(kind: int = socket.SOCK_STREAM, pair: bool = False) -> int:
    """A port the OS reports free (and port + 1 too when ``pair``: the event socket's default)."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, kind) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port < 65535 and (not pair or _bindable(kind, port + 1)):
            return port
    raise RuntimeError("no free port pair")


@pytest.fixture(scope="module")
def serve(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("serve")
    port, ready = _free_port(pair=True), tmp / "ready.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "engine.cli", "serve", "--model", "tiny", "--zmq", f"tcp://127.0.0.1:{port}",
         "--osc", f"127.0.0.1:{_free_port(socket.SOCK_DGRAM)}", "--output-root", str(tmp / "root"),
         "--ready-file", str(ready), "--journal", str(tmp / "journal.sqlite")], cwd=REPO, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + START_S
        while not ready.exists():
            if proc.poll() is not None:
                pytest.fail(f"serve exited with {proc.returncode}: {proc.stderr.read()}")
            if time.monotonic() > deadline:
                pytest.fail("serve did not write its ready file")
            time.sleep(0.1)
        info = json.loads(ready.read_text())
        assert info["zmq"] == f"tcp://127.0.0.1:{port}" and info["zmq_events"] == f"tcp://127.0.0.1:{port + 1}"
        assert info["pid"] == proc.pid and info["default_model"] == "tiny"
        yield f"tcp://127.0.0.1:{port}", Path(info["output_root"])
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, proc.stderr.read()


def test_generate_through_a_running_engine_and_never_overwrite(serve, tmp_path):
    address, root = serve
    out = tmp_path / "f.wav"
    args = ["generate", "--model", "tiny", "--prompt", "x", "--bars", "1", "--bpm", "120", "--out", str(out),
            "--server", address]
    first = _cli(*args)
    assert first.returncode == 0, first.stderr
    info = sf.info(str(out))
    assert (info.frames, info.samplerate, info.channels) == (96000, 48000, 2)  # 1 bar of 4/4 at 120 bpm = 2 s
    assert first.stdout.split()[0] == str(out.resolve())
    sidecar = json.loads((tmp_path / "f.wav.json").read_text())
    assert sidecar["frames"] == 96000 and sidecar["request"]["prompt"] == "x"
    # the engine wrote its own copy in its output root; ours is a byte-identical fetch of it
    engine_copies = [p for p in root.glob("*.wav") if p.read_bytes() == out.read_bytes()]
    assert len(engine_copies) == 1
    before = out.read_bytes()
    second = _cli(*args)
    assert second.returncode == 2
    assert second.stderr.strip().startswith("musicgen-bridge: file_exists:"), second.stderr
    assert out.read_bytes() == before


def test_generate_without_an_engine_fails_fast_with_a_hint(tmp_path):
    start = time.monotonic()
    result = _cli("generate", "--model", "tiny", "--prompt", "x", "--bars", "1", "--out", str(tmp_path / "f.wav"),
                  "--server", f"tcp://127.0.0.1:{_free_port(pair=True)}", timeout=60)
    elapsed = time.monotonic() - start
    assert result.returncode == 1
    assert result.stderr.startswith("musicgen-bridge: unreachable:"), result.stderr
    assert "musicgen-bridge serve" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert elapsed < 10, f"took {elapsed:.1f} s to notice no engine is running"
    assert not (tmp_path / "f.wav").exists()
