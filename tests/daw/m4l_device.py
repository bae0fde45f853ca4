"""The Max for Live device's test bench: a fake Live set, the device run under node
(tests/daw/run_device.js, its patch wired by tests/daw/patch_runner.js), and readers for what it sent."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from daw.harness import HERE, M4L_DIR, NODE

needs_node = pytest.mark.skipif(NODE is None, reason="node is not installed (the device tests run its JS under node)")

#: the device's scripts, all embedded in the .amxd
SCRIPTS = ("mgb_device.js", "mgb_core.js", "mgb_live.js", "mgb_link.js", "mgb_place.js")
C_MAJOR = [60, 62, 64, 65, 67, 69, 71, 72, 71, 69, 67, 65]


def midi_clip() -> dict[str, Any]:
    notes = [{"note_id": i + 1, "pitch": p, "start_time": i, "duration": 0.75, "velocity": 100, "mute": 0,
              "probability": 1, "velocity_deviation": 0, "release_velocity": 64} for i, p in enumerate(C_MAJOR)]
    return {"name": "line", "is_midi_clip": 1, "is_audio_clip": 0, "is_arrangement_clip": 0, "looping": 1,
            "loop_start": 0, "loop_end": 12, "start_marker": 0, "end_marker": 12, "length": 12, "notes": notes}


def live_set(version: tuple[int, ...] = (12, 1, 0), detail: str | None = "live_set tracks 0 clip_slots 0 clip",
             slots: list[bool] | None = None) -> dict[str, Any]:
    """3/4 at 100 bpm; track 0 holds a MIDI clip, track 1 (audio) holds the device."""
    taken = slots if slots is not None else [True, False, False]
    audio = [{"clip": {"name": "old", "is_midi_clip": 0}} if t else {} for t in taken]
    return {"version": list(version), "this_device": "live_set tracks 1 devices 0", "set": {
        "tempo": 100.0, "signature_numerator": 3, "signature_denominator": 4, "current_song_time": 0.0,
        "is_playing": 0,
        "tracks": [{"name": "Keys", "has_audio_input": 0, "has_midi_input": 1, "is_foldable": 0,
                    "clip_slots": [{"clip": midi_clip()}] + [{} for _ in taken[1:]], "arrangement_clips": [],
                    "devices": []},
                   {"name": "MusicGen", "has_audio_input": 1, "has_midi_input": 0, "is_foldable": 0,
                    "clip_slots": audio, "arrangement_clips": [], "devices": [{"name": "musicgen-bridge"}]}],
        "scenes": [{} for _ in taken],
        "view": {"detail_clip": detail, "highlighted_clip_slot": "live_set tracks 0 clip_slots 0",
                 "selected_scene": "live_set scenes 0"}}}


def run_device(tmp: Path, live: dict[str, Any], steps: list[dict[str, Any]], engine_port: int = 9,
               timeout: float = 60) -> dict[str, Any]:
    """Run one device through ``steps`` on a copy of ``live``: its record (sent, received, status),
    the LiveAPI calls it made and the set afterwards. Any error in its scripts fails the test."""
    scen, out = tmp / "device-scenario.json", tmp / "device-out.json"
    scen.write_text(json.dumps({"live": live, "engine_port": engine_port, "steps": steps}))
    # NODE_PATH plays Max's search path: mgb_core.js finds mgb_live.js beside it
    proc = subprocess.run([NODE, str(HERE / "run_device.js"), str(scen), str(out)], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "NODE_PATH": str(M4L_DIR)}, check=False)
    result = json.loads(out.read_text()) if out.exists() else {"record": {"errors": [proc.stderr]}}
    assert proc.returncode == 0, result["record"]["errors"]
    assert result["record"]["errors"] == [], result["record"]["errors"]
    return result


def ui(prompt: str, **params: Any) -> list[dict[str, Any]]:
    """The device loads, the prompt is typed into its box, settings without a menu entry go to its js."""
    steps: list[dict[str, Any]] = [{"load": True}, {"type": prompt}]
    steps += [{"handle": [k, v]} for k, v in params.items()]
    return steps


def requests(rec: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The requests the device sent, in order, with /mgb/part pieces joined (as the engine joins them)."""
    out, uploads = [], {}
    for s in rec["sent"]:
        if s[0] == "/mgb/part":
            upload_id, index, count, address, piece = s[1:]
            pieces = uploads.setdefault(upload_id, {})
            pieces[index] = piece
            if len(pieces) == count:
                out.append((address, json.loads("".join(pieces[i] for i in range(count)))))
        elif s[0] not in ("/mgb/hello", "/mgb/bye"):
            out.append((s[0], json.loads(s[1])))
    return out


def sent_json(rec: dict[str, Any], address: str) -> list[dict[str, Any]]:
    """The JSON contents the device sent to one address (every request carries its client id)."""
    return [c for a, c in requests(rec) if a == address]


def sent_json_id(rec: dict[str, Any]) -> str:
    """The client id the device announced in its hellos."""
    ids = {s[2] for s in rec["sent"] if s[0] == "/mgb/hello"}
    assert len(ids) == 1
    return ids.pop()
