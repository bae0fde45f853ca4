"""The Max for Live device's JavaScript under node (fake LiveAPI, real OSC over UDP): what it sends,
where it places takes and live windows, and many devices sharing one engine (the patch itself:
test_daw_max_for_live_patch.py)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from daw.harness import HERE, M4L_DIR, NODE, bar_seconds, frames_of
from daw.m4l_device import C_MAJOR, live_set, needs_node, requests, run_device, sent_json, sent_json_id, ui

# -- generate and continue ---------------------------------------------------------------------

@needs_node
def test_generate_sends_notes_over_osc_and_places_takes_in_empty_slots(tmp_path: Path, daw_server: Any) -> None:
    # slots: 0 taken, 1 free, 2 taken, 3 and 4 free -> two takes land in 3 and 4 (consecutive)
    live = live_set(slots=[True, False, True, False, False])
    steps = ui("c major line", model="tiny-melody", takes=2, samplerate=44100) + [
        {"handle": ["generate"]}, {"wait": {"status": "^(Placed|Error|No answer)", "timeout_ms": 40000}}]
    result = run_device(tmp_path, live, steps, engine_port=daw_server.udp.server_address[1])
    rec = result["record"]
    assert rec["status"][-1].startswith("Placed 2 clip(s) on track 2, scene 4"), rec["status"]
    assert rec["sent"][0][0] == "/mgb/hello"
    addresses = [a for a, _ in requests(rec)]
    assert addresses == ["/mgb/generate", "/mgb/status"]  # /mgb/done names take 1 only; status lists every take
    assert any(r[0] == "/mgb/progress" for r in rec["received"]) and rec["progress"][-1] == 1
    created = [c for c in result["calls"] if c["fn"] == "create_audio_clip"]
    assert [c["path"] for c in created] == ["live_set tracks 1 clip_slots 3", "live_set tracks 1 clip_slots 4"]
    names = [c["args"][1] for c in result["calls"] if c["fn"] == "set" and c["args"][0] == "name"]
    assert names == ["c major line (take 1)", "c major line (take 2)"]
    for c in created:
        path = Path(c["args"][0])
        assert path.parent == daw_server.engine.paths.output_root and path.is_file()
        frames, rate = frames_of(path)
        assert (frames, rate) == (317520, 44100) and Fraction(frames, rate) == bar_seconds(4, 3, 4, 100)
        # the engine recorded what the device asked for: tempo, meter, bars and the notes in beats
        req = json.loads(path.with_name(path.name + ".json").read_text())["request"]
        assert (req["bpm"], req["time_signature"], req["bars"], req["start_bar"]) == (100, "3/4", 4, 1)
        assert req["melody"]["clip_length_beats"] == 12 and req["melody"]["clip_start_beats"] == 0
        assert [(n["pitch"], n["start_beats"], n["duration_beats"]) for n in req["melody"]["notes"]] == \
            [(p, i, 0.75) for i, p in enumerate(C_MAJOR)]
        assert req["temperature"] == 1.0 and req["variations"] == 2


@needs_node
def test_no_answer_from_the_engine_says_how_to_start_it(tmp_path: Path) -> None:
    steps = ui("x", timeout_ms=300) + [{"handle": ["generate"]}, {"wait": {"status": "^No answer", "timeout_ms": 5000}}]
    result = run_device(tmp_path, live_set(), steps, engine_port=9)  # nothing listens on the discard port
    assert "musicgen-bridge serve --model facebook/musicgen-small" in result["record"]["status"][-1]
    assert result["calls"] == []
    # no hello reply: its port may be taken, so it tried others (three in all) before giving up
    ports = [s[1] for s in result["record"]["sent"] if s[0] == "/mgb/hello"]
    assert len(set(ports[:3])) == 3 and all(20000 <= p < 30000 for p in ports)


@needs_node
def test_older_live_gets_a_clear_message_and_the_path(tmp_path: Path) -> None:
    # the engine's side is played by hand: accepted, then done
    steps = ui("x") + [{"handle": ["/mgb/reply", "hello", "{\"status\": \"ok\"}"]}, {"handle": ["generate"]},
                       {"handle": ["/mgb/accepted", "j-1"]}, {"handle": ["/mgb/done", "j-1", "/m/x.wav", 1.0, 100]}]
    result = run_device(tmp_path, live_set(version=[12, 0, 1]), steps)
    assert re.search(r"Live 12\.0\.1 .*12\.0\.5 or newer.*/m/x\.wav", result["record"]["status"][-1])
    assert [c for c in result["calls"] if c["fn"] == "create_audio_clip"] == []


@needs_node
def test_engine_errors_and_cancel_reach_the_status_text(tmp_path: Path) -> None:
    steps = ui("x") + [{"handle": ["/mgb/reply", "hello", "{}"]}, {"handle": ["generate"]},
                       {"handle": ["/mgb/accepted", "j-1"]}, {"handle": ["/mgb/progress", "j-1", 0.25]},
                       {"handle": ["generate"]},  # pressed again while running: cancel
                       {"handle": ["/mgb/error", "j-1", "cancelled", "the job was cancelled"]},
                       {"handle": ["generate"]},
                       {"handle": ["/mgb/error", "", "unknown_model", "model 'x' is not in the registry"]}]
    rec = run_device(tmp_path, live_set(), steps)["record"]
    (cancel,) = sent_json(rec, "/mgb/cancel")
    assert cancel["job_id"] == "j-1" and cancel["client_id"].startswith("m-")
    assert "Generating... 25%" in rec["status"] and "Cancelled" in rec["status"]
    assert rec["status"][-1] == "Error (unknown_model): model 'x' is not in the registry"


def groove_set(warping: int = 1) -> dict[str, Any]:
    """An arrangement audio clip on the device's track from beat 4.5 (bar 2.5 of 3/4) to beat 13.5
    (bar 5.5): it ends mid-bar. Warped, its markers are beats; unwarped, seconds of its file."""
    live = live_set(detail="live_set tracks 1 arrangement_clips 0")
    end = 9 if warping else 5.4  # 9 beats at 100 bpm = 5.4 s
    live["set"]["tracks"][1]["arrangement_clips"] = [{
        "name": "groove", "is_midi_clip": 0, "is_audio_clip": 1, "is_arrangement_clip": 1, "looping": 0,
        "warping": warping, "start_marker": 0, "end_marker": end, "loop_start": 0, "loop_end": end,
        "start_time": 4.5, "end_time": 13.5, "file_path": "/m/groove.wav"}]
    return live


@needs_node
@pytest.mark.parametrize("warping", [1, 0])
def test_continue_never_overlaps_a_clip_that_ends_mid_bar(tmp_path: Path, warping: int) -> None:
    # the engine's side is played by hand: the new bars start on the item's last bar line, bar 5
    steps = ui("", bars=1) + [{"handle": ["/mgb/reply", "hello", "{}"]}, {"click": "Continue"},
                              {"handle": ["/mgb/accepted", "j-1"]}, {"handle": ["/mgb/done", "j-1", "/m/c.wav", 5.0, 79380]}]
    result = run_device(tmp_path, groove_set(warping), steps)
    (sent,) = sent_json(result["record"], "/mgb/continue")
    assert (sent["item_start_bar"], sent["context_bars"], sent["bars"]) == (2.5, 3, 1)
    assert "start_bar" not in sent
    # unwarped: the markers are seconds of the file, sent as the exact stretch; warped: the whole file
    assert sent["audio"] == ({"path": "/m/groove.wav"} if warping else
                             {"path": "/m/groove.wav", "start_seconds": 0, "end_seconds": 5.4})
    arrangement = [c for c in result["calls"] if c["fn"] == "create_audio_clip" and "clip_slots" not in c["path"]]
    # bar 5 = beat 12 lies inside the groove (to 13.5) on the device's track: a new track takes it
    assert arrangement == [{"path": "live_set tracks 2", "fn": "create_audio_clip", "args": ["/m/c.wav", 12]}]
    assert [c for c in result["calls"] if c["fn"] == "create_audio_track"] == \
        [{"path": "live_set", "fn": "create_audio_track", "args": [2]}]
    tracks = result["set"]["tracks"]
    assert tracks[2]["name"] == "MusicGen: groove cont." and tracks[1]["arrangement_clips"][0]["end_time"] == 13.5
    assert len(tracks[1]["arrangement_clips"]) == 1  # nothing was put over (or next to) the producer's clip
    assert "new track 3" in result["record"]["status"][-1]


@needs_node
def test_a_free_stretch_of_the_track_takes_the_result(tmp_path: Path) -> None:
    live = groove_set()
    live["set"]["tracks"][1]["arrangement_clips"][0]["end_time"] = 12.0  # ends on bar 5's line
    steps = ui("", bars=1) + [{"handle": ["/mgb/reply", "hello", "{}"]}, {"handle": ["continue"]},
                              {"handle": ["/mgb/accepted", "j-1"]}, {"handle": ["/mgb/done", "j-1", "/m/c.wav", 5.0, 79380]}]
    result = run_device(tmp_path, live, steps)
    arrangement = [c for c in result["calls"] if c["fn"] == "create_audio_clip" and "clip_slots" not in c["path"]]
    assert arrangement == [{"path": "live_set tracks 1", "fn": "create_audio_clip", "args": ["/m/c.wav", 12]}]
    assert not [c for c in result["calls"] if c["fn"] == "create_audio_track"]


@needs_node
def test_tempo_automation_refuses_an_arrangement_clip_with_a_clear_message(tmp_path: Path) -> None:
    live = groove_set()
    live["set"]["master_track"] = {"mixer_device": {"song_tempo": {"automation_state": 1}}}
    steps = ui("x", bars=1) + [{"handle": ["/mgb/reply", "hello", "{}"]}, {"click": "Continue"}]
    rec = run_device(tmp_path, live, steps)["record"]
    assert rec["status"][-1].startswith("The set's tempo is automated"), rec["status"]
    assert requests(rec) == []  # nothing was sent


@needs_node
def test_a_session_clip_uses_its_scenes_tempo_and_meter(tmp_path: Path) -> None:
    live = live_set()
    live["set"]["scenes"][0] = {"tempo_enabled": 1, "tempo": 90.0, "time_signature_enabled": 1,
                                "time_signature_numerator": 4, "time_signature_denominator": 4}
    steps = ui("x") + [{"handle": ["/mgb/reply", "hello", "{}"]}, {"click": "Generate"}]
    (sent,) = sent_json(run_device(tmp_path, live, steps)["record"], "/mgb/generate")
    assert (sent["bpm"], sent["time_signature"], sent["bars"]) == (90, "4/4", 3)  # 12 beats of 4/4


@needs_node
def test_falls_back_to_the_highlighted_clip_slot(tmp_path: Path) -> None:
    steps = ui("x", bars=2) + [{"handle": ["/mgb/reply", "hello", "{}"]}, {"click": "Generate"}]
    rec = run_device(tmp_path, live_set(detail=None), steps)["record"]
    sent = json.loads(rec["sent"][-1][1])
    assert rec["sent"][-1][0] == "/mgb/generate"
    assert (sent["bars"], sent["bpm"], sent["time_signature"]) == (2, 100, "3/4")
    assert "melody" not in sent  # facebook/musicgen-small takes no melody


# -- live mode ---------------------------------------------------------------------------------

@needs_node
def test_live_mode_reports_transport_and_places_windows_in_the_arrangement(tmp_path: Path) -> None:
    live = live_set()
    live["set"]["is_playing"], live["set"]["current_song_time"] = 1, 4.5
    steps = ui("pads", bars=2) + [{"handle": ["/mgb/reply", "hello", "{}"]}, {"handle": ["live"]},
                                  {"handle": ["/mgb/reply", "live_start", "{\"session_id\": \"s-1\"}"]},
                                  {"sleep": 250},
                                  {"handle": ["/mgb/window", "s-1", 0, 3.0, 2, "/m/w0.wav", 4.2]},
                                  {"handle": ["/mgb/window", "s-2", 0, 5.0, 2, "/m/other.wav", 4.2]},
                                  {"handle": ["/mgb/underrun", "s-1", 13.5]},
                                  {"handle": ["live"]}]
    result = run_device(tmp_path, live, steps)
    status = result["record"]["status"]
    assert status[-2].startswith("Live: playback passed the generated audio at bar 5.5;"), status  # beat 13.5 in 3/4
    assert status[-1] == "Live stopped after 1 window(s), 1 underrun(s)."
    sent = result["record"]["sent"]
    start = json.loads(next(s for s in sent if s[0] == "/mgb/live/start")[1])
    assert (start["window_bars"], start["start_bar"], start["bpm"]) == (2, 3, 100)  # playing in bar 2 -> bar 3
    transports = sent_json(result["record"], "/mgb/transport")
    assert len(transports) >= 2
    assert {k: transports[0][k] for k in ("beat", "bpm", "playing", "session_id")} == \
        {"beat": 4.5, "bpm": 100, "playing": True, "session_id": "s-1"}  # drives our session only
    assert sent[-1][0] == "/mgb/live/stop" and json.loads(sent[-1][1])["session_id"] == "s-1"
    (created,) = [c for c in result["calls"] if c["fn"] == "create_audio_clip"]  # another session's is not ours
    assert created == {"path": "live_set tracks 1", "fn": "create_audio_clip", "args": ["/m/w0.wav", 6]}


@needs_node
def test_live_mode_over_real_osc_with_the_engine(tmp_path: Path, daw_server: Any, daw_engine: Any) -> None:
    live = live_set()
    live["set"]["is_playing"], live["set"]["current_song_time"] = 1, 4.5  # in bar 2 of 3/4
    steps = ui("pads", model="tiny", bars=2, ahead_bars=2, samplerate=44100) + [
        {"handle": ["live"]}, {"wait": {"status": "^(Live: window 0|Live stopped|Error|No answer)", "timeout_ms": 20000}},
        {"handle": ["live"]}, {"sleep": 300}]
    result = run_device(tmp_path, live, steps, engine_port=daw_server.udp.server_address[1])
    assert result["record"]["status"][-1].startswith("Live stopped after 1 window"), result["record"]["status"]
    (sent,) = daw_engine.live_starts
    assert (sent["start_bar"], sent["window_bars"], sent["ahead_bars"], sent["bpm"]) == (3, 2, 2, 100)
    (win, *_) = daw_engine.windows
    # the song time never moved; the transport names the session (client_id stays in the OSC layer)
    assert daw_engine.transports[0] == {"beat": 4.5, "bpm": 100.0, "playing": True, "session_id": win["session_id"]}
    assert daw_engine.stops == [win["session_id"]] and (win["index"], win["start_bar"], win["bars"]) == (0, 3, 2)
    (created,) = [c for c in result["calls"] if c["fn"] == "create_audio_clip"]
    path, position = created["args"]
    assert created["path"] == "live_set tracks 1" and position == 6  # bar 3 of 3/4 = beat 6
    assert path == win["path"] and frames_of(path) == (win["frames"], 44100) == (158760, 44100)
    assert Fraction(158760, 44100) == bar_seconds(2, 3, 4, 100)


# -- many devices, lifecycle and limits, against the real tiny engine --------------------------

@needs_node
def test_two_devices_run_live_sessions_at_once_and_each_gets_only_its_own(tmp_path: Path, daw_server: Any,
                                                                         daw_engine: Any) -> None:
    live = live_set()
    live["set"]["is_playing"], live["set"]["current_song_time"] = 1, 4.5  # bar 2 of 3/4
    tracks = live["set"]["tracks"]
    tracks.append({**json.loads(json.dumps(tracks[1])), "name": "MusicGen 2"})  # a device on each audio track
    devices = []
    for track, name in ((1, "a"), (2, "b")):
        steps = ui("pads " + name, model="tiny", bars=1, ahead_bars=2, samplerate=44100) + [
            {"click": "Live"}, {"wait": {"status": "^(Live: window 1|Live stopped|Error|No answer)", "timeout_ms": 60000}},
            {"click": "Live"}, {"sleep": 300}]
        devices.append({"this_device": f"live_set tracks {track} devices 0", "steps": steps})
    scen, out = tmp_path / "devices.json", tmp_path / "devices-out.json"
    scen.write_text(json.dumps({"live": live, "engine_port": daw_server.udp.server_address[1], "devices": devices}))
    proc = subprocess.run([NODE, str(HERE / "run_device.js"), str(scen), str(out)], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "NODE_PATH": str(M4L_DIR)}, check=False)
    result = json.loads(out.read_text())
    assert proc.returncode == 0 and all(d["record"]["errors"] == [] for d in result["devices"]), proc.stderr
    sessions = {}
    for track, device in zip((1, 2), result["devices"]):
        rec = device["record"]
        assert rec["status"][-1].startswith("Live stopped after 2 window"), rec["status"]
        (start,) = [json.loads(r[2]) for r in rec["received"] if r[0] == "/mgb/reply" and r[1] == "live_start"]
        sessions[track] = start["session_id"]
        windows = [r for r in rec["received"] if r[0] == "/mgb/window"]
        assert windows and {w[1] for w in windows} == {sessions[track]}  # only its own windows came
        # every reply it received answers its own requests: its hellos name it
        hello = [json.loads(r[2]) for r in rec["received"] if r[0] == "/mgb/reply" and r[1] == "hello"]
        assert hello and {h["client_id"] for h in hello} == {sent_json_id(rec)}
        placed = [c for c in device["calls"] if c["fn"] == "create_audio_clip"]
        assert [c["path"] for c in placed] == [f"live_set tracks {track}"] * len(windows)  # on its own track
        assert [c["args"][0] for c in placed] == [w[5] for w in windows]
        assert all(Path(c["args"][0]).is_file() for c in placed)
        transports = sent_json(rec, "/mgb/transport")
        assert transports and {t["session_id"] for t in transports} == {sessions[track]}
        # in the shared set, each track holds exactly its own device's windows
        assert [c["file_path"] for c in result["set"]["tracks"][track]["arrangement_clips"]] == [w[5] for w in windows]
    reply_ports = {d["record"]["reply_port"] for d in result["devices"]}
    assert sessions[1] != sessions[2] and len(reply_ports) == 2
    assert {t.get("session_id") for t in daw_engine.transports} == set(sessions.values())  # none went to every session
    assert sorted(daw_engine.stops) == sorted(sessions.values())
    assert {w["session_id"] for w in daw_engine.windows} == set(sessions.values())


@needs_node
def test_deleting_the_device_stops_its_live_session_on_the_engine(tmp_path: Path, daw_server: Any,
                                                                  daw_engine: Any) -> None:
    live = live_set()
    live["set"]["is_playing"] = 1
    steps = ui("pads", model="tiny", bars=1, ahead_bars=1, samplerate=44100) + [
        {"click": "Live"}, {"wait": {"status": "^(Live: window 0|Live stopped|Error|No answer)", "timeout_ms": 30000}},
        {"free": True}, {"sleep": 300}]
    result = run_device(tmp_path, live, steps, engine_port=daw_server.udp.server_address[1])
    rec = result["record"]
    assert rec["status"][-1].startswith("Live stopped after"), rec["status"]
    (window, *_) = daw_engine.windows
    # live/stop and bye both stop it (datagrams are handled concurrently, so both may try)
    assert set(daw_engine.stops) == {window["session_id"]} and window["session_id"] not in daw_engine.live._sessions
    assert rec["sent"][-1] == ["/mgb/bye", sent_json_id(rec)]  # then the engine forgets this instance


@needs_node
def test_a_300_note_melody_reaches_the_engine(tmp_path: Path, daw_server: Any, daw_engine: Any) -> None:
    live = live_set()
    clip = live["set"]["tracks"][0]["clip_slots"][0]["clip"]
    clip["notes"] = [{"note_id": i + 1, "pitch": 48 + i % 37, "start_time": i * 0.25, "duration": 0.2,
                      "velocity": 90, "mute": 0} for i in range(300)]
    clip["loop_end"] = clip["end_marker"] = clip["length"] = 75
    steps = ui("long line", model="tiny-melody", bars=1, samplerate=44100) + [
        {"click": "Generate"}, {"wait": {"status": "^(Placed|Error|No answer)", "timeout_ms": 40000}}]
    rec = run_device(tmp_path, live, steps, engine_port=daw_server.udp.server_address[1])["record"]
    assert rec["status"][-1].startswith("Placed 1 clip(s)"), rec["status"]
    parts = [s for s in rec["sent"] if s[0] == "/mgb/part"]
    assert len(parts) > 12 and all(len(s[5].encode()) <= 1800 for s in parts)  # > 8 KB in all, in small pieces
    (job_id,) = daw_engine.jobs
    req = json.loads(Path(daw_engine.status(job_id)["result"]["path"] + ".json").read_text())["request"]
    notes = req["melody"]["notes"]
    assert len(notes) == 300 and [n["pitch"] for n in notes] == [48 + i % 37 for i in range(300)]
    assert notes[-1]["start_beats"] == 74.75 and req["melody"]["clip_length_beats"] == 75
