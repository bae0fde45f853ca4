"""``musicgen-bridge demo``: the whole product path on one machine, over the wire.

It starts an engine (``musicgen-bridge serve``) as its own process, then talks to it the way the
DAW scripts do — ZeroMQ for rich clients, OSC for controllers — and leaves every rendered file
and sidecar in one folder it names at the end.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from pythonosc.osc_message_builder import build_msg
from pythonosc.osc_packet import OscPacket

from ..engine.errors import EngineError
from ..engine.models import hf
from ..engine.models.specs import DEFAULT_MODEL, get_spec
from .client import Client

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pick_models(requested: str | None, cache_dir: str | None) -> tuple[str, str, str]:
    """(text model, melody model, note): the real models when cached, else the tiny ones."""
    if requested:
        spec = get_spec(requested)
        melody = requested if spec.melody else ("tiny-melody" if spec.builtin else "facebook/musicgen-melody")
        return requested, melody, ""
    cache = hf.cache_dir(cache_dir)
    if hf.is_cached(DEFAULT_MODEL, cache):
        melody = "facebook/musicgen-melody" if hf.is_cached("facebook/musicgen-melody", cache) else "tiny-melody"
        return DEFAULT_MODEL, melody, ""
    note = (f"{DEFAULT_MODEL} is not cached in {cache}, so this demo runs on the built-in `tiny` models. "
            "They are random: every file will be NOISE, not music. The path — requests, bars, "
            "rendering, files — is the real one.")
    return "tiny", "tiny-melody", note


def start_engine(out_dir: Path, models: list[str], cache_dir: str | None) -> tuple[subprocess.Popen, dict[str, Any]]:
    zmq_port, osc_port = free_port(), free_port()
    ready = out_dir / ".engine-ready.json"
    ready.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "musicgen_bridge.bridge.cli", "serve", "--zmq", f"tcp://127.0.0.1:{zmq_port}",
           "--osc", f"127.0.0.1:{osc_port}", "--output-root", str(out_dir), "--ready-file", str(ready),
           "--allow-dir", str(EXAMPLES), "--journal", str(out_dir / ".journal.sqlite")]
    for m in models:
        cmd += ["--model", m]
    if cache_dir:
        cmd += ["--cache-dir", cache_dir]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not ready.exists():
        if proc.poll() is not None:
            err = proc.stderr.read() if proc.stderr is not None else ""
            raise EngineError("internal", f"the engine exited: {err.strip()[-500:]}")
        if time.monotonic() > deadline:
            proc.kill()
            raise EngineError("unreachable", "the engine did not start within 120 s")
        time.sleep(0.1)
    info = json.loads(ready.read_text())
    ready.unlink()
    return proc, info


def osc_generate(osc_addr: str, content: dict[str, Any], timeout: float = 120.0) -> tuple[str, int]:
    """What a hardware controller or Max does: /mgb/generate with JSON, then wait for /mgb/done."""
    host, port = osc_addr.rsplit(":", 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(timeout)
        sock.sendto(build_msg("/mgb/generate", [json.dumps(content)]).dgram, (host, int(port)))
        while True:
            data, _ = sock.recvfrom(65535)
            for m in OscPacket(data).messages:
                address, params = m.message.address, list(m.message.params)
                if address == "/mgb/done":
                    return params[1], params[3]
                if address == "/mgb/error":
                    raise EngineError(params[1], params[2])


def run_demo(out_dir_arg: str, model: str | None = None, cache_dir: str | None = None) -> int:
    """``musicgen-bridge demo``: start an engine, send it real requests over the wire, keep the files."""
    out_dir = Path(out_dir_arg).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    text_model, melody_model, note = pick_models(model, cache_dir)
    if note:
        print(f"NOTE: {note}\n")
    print(f"starting the engine ({text_model}, {melody_model}) ...")
    proc, info = start_engine(out_dir, [text_model, melody_model], cache_dir)
    steps: list[tuple[str, str]] = []
    try:
        with Client(info["zmq"], info["zmq_events"], timeout=30) as client:
            print(f"engine up: ZeroMQ {info['zmq']}, OSC {info['osc_udp']}")

            def bar(f: float) -> None:
                print(f"\r  {f:6.1%}", end="", flush=True)

            print("1. text to 4 bars at 96 bpm over ZeroMQ, through the master-lite chain at -14 LUFS")
            r = client.generate(prompt="dusty lofi hip hop drums", model=text_model, bars=4, bpm=96, seed=1,
                                fx="master-lite", loudness_lufs=-14, track="drums", on_progress=bar)
            print()
            steps.append(("text, 4 bars @ 96 bpm, master-lite", r["path"]))

            print("2. three variations of 2 bars of 7/8 at 93.5 bpm, decoded as one batch")
            r = client.generate(prompt="odd-meter synth arpeggio", model=text_model, bars=2, bpm=93.5,
                                time_signature="7/8", variations=3, seed=2, track="arp")
            steps += [(f"variation take {t['take']}, 2 bars of 7/8", t["path"]) for t in r["takes"]]

            print("3. melody from examples/melody/c_major_line.mid steering", melody_model)
            midi = EXAMPLES / "melody" / "c_major_line.mid"
            r = client.generate(prompt="warm electric piano", model=melody_model, bars=4, bpm=120, seed=3,
                                track="keys", melody={"midi_file": {"buffer": 0, "format": "mid"}},
                                buffers=[midi.read_bytes()])
            steps.append(("melody-conditioned, 4 bars", r["path"]))

            print("4. continue the drums from step 1 by 2 bars (its last 2 bars are the context)")
            drums = Path(steps[0][1])
            r = client.continue_(model=text_model, prompt="dusty lofi hip hop drums", bpm=96, bars=2,
                                 context_bars=2, seed=4, track="drums-cont",
                                 audio={"buffer": 0, "format": "wav"}, buffers=[drums.read_bytes()])
            steps.append((f"continuation at bar {r['start_bar']}, 2 bars", r["path"]))

            print("5. live mode: 1-bar windows kept 2 bars ahead of a simulated playhead")
            live = client.request("live_start", {"prompt": "ambient pads", "model": text_model, "bpm": 120,
                                                 "window_bars": 1, "context_bars": 1, "ahead_bars": 2,
                                                 "track": "live"}).content
            windows: list[dict[str, Any]] = []
            beat, deadline = 0.0, time.monotonic() + 120
            while len(windows) < 3 and time.monotonic() < deadline:
                client.request("transport", {"beat": beat, "bpm": 120, "playing": True})
                for msg in client.poll_events(0.2):
                    if msg.msg_type == "window" and msg.content["session_id"] == live["session_id"]:
                        windows.append(msg.content)
                beat = min(beat + 0.4, 4.0 * len(windows))  # never outrun what is generated
            client.request("live_stop", {"session_id": live["session_id"]})
            steps += [(f"live window {w['index']} at bar {w['start_bar']} (rtf {w['rtf']:.1f})", w["path"])
                      for w in windows]

        print("6. an OSC controller asks for 1 bar (as Max for Live does)")
        path, frames = osc_generate(info["osc_udp"], {"prompt": "808 bass hit", "model": text_model, "bars": 1,
                                                      "bpm": 120, "track": "osc"})
        steps.append((f"over OSC, 1 bar ({frames} frames)", path))
    finally:
        proc.terminate()
        proc.wait(10)
    print("\nrendered files (each has a .json sidecar that reproduces it):")
    for what, path in steps:
        print(f"  {what:45} {path}")
    print(f"\nall files are in {out_dir}")
    if note:
        print("remember: tiny models make noise; cache facebook/musicgen-small to hear music.")
    return 0


__all__ = ["run_demo"]
