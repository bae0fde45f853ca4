"""The Max for Live device's sound-effect choice (SFX button): prompt, length, where it lands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from daw.harness import frames_of
from daw.m4l_device import live_set, needs_node, run_device, sent_json, ui


@needs_node
def test_sfx_in_seconds_through_the_engine_lands_in_an_empty_slot(tmp_path: Path, daw_server: Any) -> None:
    steps = ui("door slam, large hall", sfx_model="tiny-audiogen", sfx_seconds=1.5) + [
        {"handle": ["sfx"]}, {"wait": {"status": "^(Placed|Error|No answer)", "timeout_ms": 40000}}]
    result = run_device(tmp_path, live_set(detail=None), steps, engine_port=daw_server.udp.server_address[1])
    rec = result["record"]
    assert rec["status"][-1].startswith("Placed 1 clip(s) on track 2, scene 2"), rec["status"]
    (sent,) = sent_json(rec, "/mgb/generate")
    assert (sent["model"], sent["seconds"], sent["prompt"]) == ("tiny-audiogen", 1.5, "door slam, large hall")
    assert "bars" not in sent and "melody" not in sent  # no clip needed, none read
    (created,) = [c for c in result["calls"] if c["fn"] == "create_audio_clip"]
    path = Path(created["args"][0])
    assert frames_of(path) == (66150, 44100)  # 1.5 s at the set's rate
    req = json.loads(path.with_name(path.name + ".json").read_text())["request"]
    assert req["model"] == "tiny-audiogen" and req["seconds"] == 1.5


@needs_node
def test_sfx_in_bars_at_the_playhead_also_lands_in_the_arrangement(tmp_path: Path) -> None:
    live = live_set()
    live["set"]["current_song_time"] = 6.0  # bar 3 of 3/4
    steps = ui("glass shatters", bars=1, sfx_place="playhead") + [
        {"handle": ["/mgb/reply", "hello", "{}"]}, {"handle": ["sfx"]},
        {"handle": ["/mgb/accepted", "j-1"]}, {"handle": ["/mgb/done", "j-1", "/m/s.wav", 3.0, 100]}]
    result = run_device(tmp_path, live, steps)
    (sent,) = sent_json(result["record"], "/mgb/generate")
    assert (sent["model"], sent["bars"], sent["start_bar"]) == ("facebook/audiogen-medium", 1, 3)
    arrangement = [c for c in result["calls"] if c["fn"] == "create_audio_clip" and "clip_slots" not in c["path"]]
    assert arrangement == [{"path": "live_set tracks 1", "fn": "create_audio_clip", "args": ["/m/s.wav", 6]}]


@needs_node
def test_sfx_without_a_prompt_says_what_to_type(tmp_path: Path) -> None:
    result = run_device(tmp_path, live_set(), ui("") + [{"handle": ["sfx"]}])
    assert result["record"]["status"][-1].startswith("Type the sound first")
    assert sent_json(result["record"], "/mgb/generate") == []
