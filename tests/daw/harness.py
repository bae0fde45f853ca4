"""Helpers for the DAW-script tests: run Lua under the mock, start a tiny engine on loopback."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
REAPER_DIR = ROOT / "daw_scripts" / "reaper"
M4L_DIR = ROOT / "max_for_live"
LUA = shutil.which("lua5.4")
NODE = shutil.which("node")


def cli_command() -> str:
    """This checkout's CLI as a command prefix (the console script may belong to another checkout)."""
    return f"{sys.executable} -m musicgen_bridge.bridge.cli"


def fake_cli_command() -> str:
    return f"{sys.executable} {HERE / 'fake_cli.py'}"


def script(name: str) -> str:
    return str(REAPER_DIR / f"musicgen-bridge_{name}.lua")


def run_reaper(scenario: dict[str, Any], tmp: Path, env: dict[str, str] | None = None,
               timeout: float = 60) -> dict[str, Any]:
    """Run the scenario's steps under tests/daw/run_reaper.lua and return the snapshot it writes."""
    scen, out = tmp / "scenario.json", tmp / "snapshot.json"
    scen.write_text(json.dumps(scenario))
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), "MGB_PYTHON": sys.executable, **(env or {})}
    proc = subprocess.run([LUA, str(HERE / "run_reaper.lua"), str(scen), str(out)], capture_output=True,
                          text=True, env=full_env, timeout=timeout, cwd=ROOT, check=False)
    assert proc.returncode == 0, proc.stderr
    snap = json.loads(out.read_text())
    assert snap["errors"] == [], snap["errors"]
    return snap


def calls(snap: dict[str, Any], name: str) -> list[int]:
    """Indexes of the recorded reaper.<name> calls."""
    return [i for i, c in enumerate(snap["calls"]) if c["name"] == name]


def frames_of(path: str | Path) -> tuple[int, int]:
    info = sf.info(str(path))
    return info.frames, info.samplerate


def bar_seconds(bars: int, num: int, den: int, bpm: float) -> Fraction:
    return Fraction(bars) * Fraction(num * 4, den) * 60 / Fraction(str(bpm))


def write_wav(path: Path, seconds: Fraction, rate: int) -> int:
    frames = round(seconds * rate)
    t = np.arange(frames) / rate
    sf.write(path, np.stack([np.sin(2 * np.pi * 220 * t)] * 2, axis=1).astype(np.float32) * 0.1, rate,
             subtype="PCM_16")
    return frames


def split_windows(line: str) -> list[str]:
    """Split a command line as Windows programs do: 2n backslashes before a quote give n backslashes
    and the quote opens or closes quoting; 2n+1 give n backslashes and a literal quote; other
    backslashes are literal; unquoted spaces separate words."""
    words: list[str] = []
    word, quoted, started, i = "", False, False, 0
    while i < len(line):
        c = line[i]
        if c == "\\":
            n = len(line[i:]) - len(line[i:].lstrip("\\"))
            if line[i + n:i + n + 1] == '"':
                word += "\\" * (n // 2) + ('"' if n % 2 else "")
                i += n + (n % 2)
                if n % 2 == 0:
                    continue  # the quote itself toggles quoting below
                started = True
                continue
            word, i, started = word + "\\" * n, i + n, True
            continue
        if c == '"':
            quoted, started = not quoted, True
        elif c == " " and not quoted:
            if started:
                words.append(word)
            word, started = "", False
        else:
            word, started = word + c, True
        i += 1
    if started:
        words.append(word)
    return words


def free_port_pair() -> int:
    """A port p with p and p + 1 free (the client finds the event socket at port + 1)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port >= 65535:
            continue
        with socket.socket() as s2:
            try:
                s2.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port pair on loopback")


def spy_engine(output_root: Path) -> Any:
    """The real tiny-model engine, recording what it was asked (see SpyEngine), warmed up: the
    first generation in a process pays one-off set-up costs that would otherwise land in a test
    (and make a live session underrun)."""
    import torch

    from .spy_engine import SpyEngine

    torch.set_num_threads(1)
    engine = SpyEngine(output_root)
    job = engine.submit("generate", {"prompt": "warm-up", "bars": 1, "bpm": 120, "time_signature": "4/4",
                                     "output_dir": "warm-up"})
    assert engine.wait(job.id, timeout=120).state == "done"
    engine.reset()
    return engine


@contextmanager
def tiny_engine(output_root: Path, engine: Any = None) -> Iterator[Any]:
    """A BridgeServer around a tiny-model engine on random loopback ports (ZeroMQ and OSC UDP)."""
    import torch

    from musicgen_bridge.bridge.server import BridgeServer
    from musicgen_bridge.engine.engine import Engine, EngineConfig

    torch.set_num_threads(1)
    engine = engine or Engine(EngineConfig(default_model="tiny", output_root=output_root))
    last: Exception | None = None
    for _ in range(5):
        port = free_port_pair()
        server = BridgeServer(engine, zmq_addr=f"tcp://127.0.0.1:{port}", pub_addr=f"tcp://127.0.0.1:{port + 1}",
                              osc_udp=("127.0.0.1", 0))
        try:
            server.start()
        except Exception as exc:  # noqa: BLE001 - a port taken between the probe and the bind
            last = exc
            continue
        try:
            yield server
        finally:
            server.stop()
        return
    raise RuntimeError(f"could not start the engine: {last}")


@pytest.fixture(scope="module")
def daw_server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One warm tiny-model engine (the real one, recording its requests) for a test module."""
    engine = spy_engine(tmp_path_factory.mktemp("engine") / "out")
    with tiny_engine(engine.paths.output_root, engine=engine) as srv:
        yield srv


@pytest.fixture
def daw_engine(daw_server: Any) -> Any:
    """That engine, its request record cleared for this test."""
    daw_server.engine.reset()
    return daw_server.engine
