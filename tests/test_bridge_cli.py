"""``musicgen-bridge serve`` and ``musicgen-bridge generate`` as separate processes, through ZeroMQ.

The processes run ``python -m musicgen_bridge.bridge.cli``: the same ``main()`` the installed ``musicgen-bridge``
script calls, but importing this checkout rather than wherever the package was installed from.
"""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest
import soundfile as sf
from serve_process import cli as _cli
from serve_process import free_port as _free_port
from serve_process import start_serve, stop


@pytest.fixture(scope="module")
def serve(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("serve")
    port = _free_port(pair=True)
    proc, info = start_serve(["--model", "tiny", "--zmq", f"tcp://127.0.0.1:{port}",
                              "--osc", f"127.0.0.1:{_free_port(socket.SOCK_DGRAM)}", "--output-root", str(tmp / "root"),
                              "--journal", str(tmp / "journal.sqlite")], tmp / "ready.json")
    try:
        assert info["zmq"] == f"tcp://127.0.0.1:{port}" and info["zmq_events"] == f"tcp://127.0.0.1:{port + 1}"
        assert info["pid"] == proc.pid and info["default_model"] == "tiny"
        yield f"tcp://127.0.0.1:{port}", Path(info["output_root"])
    finally:
        stop(proc)
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
    assert result.returncode == 3  # unreachable (docs/cli.md)
    assert result.stderr.startswith("musicgen-bridge: unreachable:"), result.stderr
    assert "musicgen-bridge serve" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert elapsed < 10, f"took {elapsed:.1f} s to notice no engine is running"
    assert not (tmp_path / "f.wav").exists()
