"""Run the real ``musicgen-bridge serve`` (and CLI commands) as separate processes in tests."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
START_S = 90.0  # importing torch and building the tiny model on two busy cores


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "musicgen_bridge.bridge.cli", *args], cwd=REPO, env=env(), capture_output=True,
                          text=True, timeout=timeout, check=False)


def _bindable(kind: int, host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, kind) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_port(kind: int = socket.SOCK_STREAM, pair: bool = False, host: str = "127.0.0.1") -> int:
    """A port the OS reports free (and port + 1 too when ``pair``: the event socket's default)."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, kind) as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
        if port < 65535 and (not pair or _bindable(kind, host, port + 1)):
            return port
    raise RuntimeError("no free port pair")


def start_serve(args: list[str], ready: Path) -> tuple[subprocess.Popen, dict[str, Any]]:
    """Start ``serve ARGS --ready-file READY`` and wait for it; returns the process and the ready info."""
    ready.unlink(missing_ok=True)
    proc = subprocess.Popen([sys.executable, "-m", "musicgen_bridge.bridge.cli", "serve", *args, "--ready-file", str(ready)],
                            cwd=REPO, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + START_S
    while not ready.exists():
        if proc.poll() is not None:
            pytest.fail(f"serve exited with {proc.returncode}: {proc.stderr.read()}")
        if time.monotonic() > deadline:
            stop(proc)
            pytest.fail("serve did not write its ready file")
        time.sleep(0.05)
    return proc, json.loads(ready.read_text())


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM (a clean shutdown), then SIGKILL if it hangs."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
