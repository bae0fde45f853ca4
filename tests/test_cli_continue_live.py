"""Issue 5 from the command line: continue, long-form, live; and job control from scripts."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from musicgen_bridge.bridge.cli import main


def item(path: Path, seconds: float, rate: int = 48000) -> Path:
    t = np.arange(int(seconds * rate)) / rate
    tone = (0.3 * np.sin(2 * np.pi * 220 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 2 * t))).astype(np.float32)
    sf.write(path, np.stack([tone, tone], 1), rate)
    return path


def test_continue_local_writes_exactly_the_new_bars(tmp_path: Path, capsys) -> None:
    src = item(tmp_path / "in.wav", 8.0)
    out = tmp_path / "out.wav"
    assert main(["continue", "--local", "--model", "tiny", "--audio", str(src), "--bpm", "120",
                 "--context-bars", "2", "--bars", "4", "--out", str(out), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert sf.info(out).frames == 4 * 96000 and sf.info(out).samplerate == 48000
    assert result["start_bar"] == 5  # an 8 s item at 120 bpm spans bars 1-4; the new bars start at 5


def test_continue_of_an_item_range_placed_later_on_the_timeline(tmp_path: Path, capsys) -> None:
    src = item(tmp_path / "in.wav", 10.0, rate=44100)
    out = tmp_path / "out.wav"
    # the item is seconds 2..6 of the file (2 bars at 120 bpm) placed at bar 9: it ends at bar 11
    assert main(["continue", "--local", "--model", "tiny", "--audio", str(src), "--audio-start", "2",
                 "--audio-end", "6", "--item-start-bar", "9", "--bpm", "120", "--context-bars", "1",
                 "--bars", "1", "--sample-rate", "44100", "--out", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["start_bar"] == 11
    assert sf.info(out).frames == 88200


@pytest.mark.parametrize("ts, bpm", [("3/4", "93.5"), ("6/8", "93.5"), ("7/8", "101.25")])
def test_lengths_are_exact_in_odd_meters_at_fractional_tempos(tmp_path: Path, ts: str, bpm: str) -> None:
    out = tmp_path / "x.wav"
    assert main(["generate", "--local", "--model", "tiny", "--bars", "3", "--bpm", bpm, "--time-signature", ts,
                 "--sample-rate", "44100", "--out", str(out)]) == 0
    num, den = map(int, ts.split("/"))
    exact = 3 * Fraction(num * 4, den) * 60 / Fraction(bpm) * 44100
    assert sf.info(out).frames == int(exact + Fraction(1, 2))


def test_ninety_seconds_run_as_windows_and_are_exact(tmp_path: Path) -> None:
    from musicgen_bridge.engine.engine import Engine, EngineConfig

    engine = Engine(EngineConfig(default_model="tiny", output_root=tmp_path))
    try:
        progress: list[float] = []
        job = engine.submit("generate", {"prompt": "x", "bars": 45, "bpm": 120, "sample_rate": 32000,
                                         "context_bars": 4},
                            listener=lambda e, c: progress.append(c["fraction"]) if e == "progress" else None)
        job = engine.wait(job.id, timeout=300)
        assert job.state == "done", job.error
        assert sf.info(job.result["path"]).frames == 90 * 32000
        assert progress == sorted(progress) and progress[-1] == 1.0
        assert any(0.3 < f < 0.7 for f in progress)  # progress spans all windows, not one
    finally:
        engine.close()


def test_melody_json_file_from_a_script(tmp_path: Path) -> None:
    notes = {"notes": [{"pitch": 60 + 2 * i, "start_beats": i, "duration_beats": 1, "velocity": 90}
                       for i in range(4)], "clip_length_beats": 4}
    melody = tmp_path / "clip.melody.json"
    melody.write_text(json.dumps(notes))
    out = tmp_path / "m.wav"
    assert main(["generate", "--local", "--model", "tiny-melody", "--melody", str(melody), "--bars", "1",
                 "--bpm", "120", "--out", str(out)]) == 0
    assert sf.info(out).frames == 96000


def test_live_start_follow_prints_windows_then_stops(server, capsys) -> None:
    assert main(["live", "start", "--server", server.addresses["zmq"], "--model", "tiny", "--prompt", "x",
                 "--bpm", "120", "--window-bars", "1", "--ahead-bars", "2", "--context-bars", "1",
                 "--follow", "--windows", "2"]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert events[0]["event"] == "started" and events[-1]["event"] == "stopped"
    windows = [e for e in events if e["event"] == "window"]
    assert [w["start_bar"] for w in windows] == [1, 2]
    assert all(sf.info(w["path"]).frames == 96000 for w in windows)


def test_sigterm_cancels_the_job_on_the_engine(server, engine) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "musicgen_bridge.bridge.cli", "generate", "--server", server.addresses["zmq"],
                             "--model", "tiny", "--bars", "40", "--bpm", "120", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    job_id = None
    deadline = time.monotonic() + 60
    while job_id is None and time.monotonic() < deadline:
        line = proc.stderr.readline()
        event = json.loads(line) if line.startswith("{") else {}
        if event.get("event") == "progress":
            job_id = event["job_id"]
    assert job_id is not None
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 5  # cancelled (docs/cli.md); with --json the error is the one object on stdout
    assert json.loads(out)["code"] == "cancelled"
    assert engine.wait(job_id, timeout=60).state == "cancelled"


def test_status_and_cancel_commands(server, engine, capsys) -> None:
    job = engine.submit("generate", {"prompt": "x", "bars": 1, "bpm": 120})
    assert main(["status", job.id, "--wait", "20", "--json", "--server", server.addresses["zmq"]]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["state"] == "done" and status["result"]["frames"] == 96000
    assert main(["cancel", "j-unknown", "--server", server.addresses["zmq"]]) == 2
    assert "unknown_job" in capsys.readouterr().err
