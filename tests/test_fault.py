"""Kill -9 the engine in the middle of a job, start it again, and look at what a client and the disk see.

After the restart: the killed job answers ``interrupted``, a finished one still answers ``done`` and
its file can be fetched, a ``retryable`` one runs again under its old id, the journal holds every
transition, and the output folder holds only complete files under final names.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time
from pathlib import Path

import soundfile as sf
from serve_process import free_port, start_serve, stop

from musicgen_bridge.bridge.client import Client


def _serve(tmp: Path, port: int):
    # --no-batching: one job at a time, so the retryable job is still queued when the engine dies
    proc, _ = start_serve(["--model", "tiny", "--no-batching", "--zmq", f"tcp://127.0.0.1:{port}", "--osc", "off",
                           "--output-root", str(tmp / "out"), "--journal", str(tmp / "journal.sqlite")],
                          tmp / "ready.json")
    return proc


def _transitions(db_path: Path) -> dict[str, list[str]]:
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT job_id, state FROM transitions ORDER BY seq").fetchall()
    out: dict[str, list[str]] = {}
    for job_id, state in rows:
        out.setdefault(job_id, []).append(state)
    return out


def test_kill_9_while_running_then_restart(tmp_path):
    port = free_port(pair=True)
    address = f"tcp://127.0.0.1:{port}"
    proc = _serve(tmp_path, port)
    try:
        with Client(address, timeout=20.0) as client:
            finished = client.generate(prompt="before", bars=1, bpm=120, seed=3, conform=False, timeout=60)
            long_id = client.submit("generate", {"prompt": "long", "bars": 16, "bpm": 40, "seed": 4,
                                                       "conform": False})
            retry_id = client.request("generate", {"prompt": "again", "bars": 1, "bpm": 120, "seed": 5,
                                                   "conform": False, "retryable": True}).content["job_id"]
            deadline = time.monotonic() + 30
            while (status := client.status(long_id))["state"] != "running" or status["progress"] <= 0:
                assert status["state"] in ("queued", "running") and time.monotonic() < deadline, status
                time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        stop(proc)

    journal = tmp_path / "journal.sqlite"
    before = _transitions(journal)
    assert before[finished["job_id"]] == ["queued", "running", "done"]
    assert before[long_id] == ["queued", "running"] and before[retry_id] == ["queued"]
    out = tmp_path / "out"
    # what a kill during a file write leaves: a hidden temp file (our writer never writes a final name)
    (out / f".long.wav.{'ab12' * 3}.part").write_bytes(b"RIFF half a file")

    proc = _serve(tmp_path, port)
    try:
        with Client(address, timeout=20.0) as client:
            killed = client.status(long_id)
            assert killed["state"] == "interrupted" and killed["error"]["code"] == "interrupted"
            done = client.status(finished["job_id"])
            assert done["state"] == "done" and done["result"]["path"] == finished["path"]
            fetched = client.fetch(finished["job_id"], tmp_path / "fetched.wav")
            assert fetched.read_bytes() == Path(finished["path"]).read_bytes()
            retried = client.status(retry_id, wait=30)
            assert retried["state"] == "done" and retried["result"]["seed"] == 5
    finally:
        stop(proc)

    after = _transitions(journal)
    assert after[long_id] == ["queued", "running", "interrupted"]
    assert after[retry_id] == ["queued", "interrupted", "queued", "running", "done"]
    with sqlite3.connect(f"file:{journal}?mode=ro", uri=True) as db:
        request = json.loads(db.execute("SELECT request FROM jobs WHERE id = ?", (long_id,)).fetchone()[0])
    assert (request["prompt"], request["bars"], request["bpm"], request["seed"]) == ("long", 16, 40, 4)

    names = sorted(p.name for p in out.iterdir())
    assert not [n for n in names if n.endswith(".part")], names  # temp files removed
    audio = [n for n in names if n.endswith(".wav")]
    assert len(audio) == 2 and sorted(n + ".json" for n in audio) == sorted(n for n in names if n.endswith(".json"))
    for name in audio:  # every final name holds a whole clip: 1 bar at 120 bpm, 48 kHz
        assert sf.info(str(out / name)).frames == 96000
