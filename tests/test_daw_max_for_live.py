"""The Max for Live device: its JavaScript under node (fake LiveAPI, real OSC over UDP) and its patch."""

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

needs_node = pytest.mark.skipif(NODE is None, reason="node is not installed (the device tests run its JS under node)")

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
    scen, out = tmp / "device-scenario.json", tmp / "device-out.json"
    scen.write_text(json.dumps({"live": live, "engine_port": engine_port, "steps": steps}))
    # NODE_PATH plays Max's search path: mgb_core.js finds mgb_live.js beside it
    proc = subprocess.run([NODE, str(HERE / "run_device.js"), str(scen), str(out)], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "NODE_PATH": str(M4L_DIR)}, check=False)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    assert result["record"]["errors"] == [], result["record"]["errors"]
    return result


def ui(prompt: str, **params: Any) -> list[dict[str, Any]]:
    steps = [{"handle": ["init"]}, {"handle": ["prompt", *prompt.split()]}]
    steps += [{"handle": [k, v]} for k, v in params.items()]
    return steps


@needs_node
def test_generate_sends_notes_over_osc_and_places_takes_in_empty_slots(tmp_path: Path, daw_server: Any) -> None:
    # slots: 0 taken, 1 free, 2 taken, 3 and 4 free -> two takes land in 3 and 4 (consecutive)
    live = live_set(slots=[True, False, True, False, False])
    steps = ui("c major line", model="tiny-melody", takes=2, samplerate=44100) + [
        {"handle": ["generate"]}, {"wait": {"status": "^(Placed|Error|No answer)", "timeout_ms": 40000}}]
    result = run_device(tmp_path, live, steps, engine_port=daw_server.udp.server_address[1])
    rec = result["record"]
    assert rec["status"][-1].startswith("Placed 2 clip(s) on track 2, scene 4"), rec["status"]
    addresses = [s[0] for s in rec["sent"]]
    assert addresses[0] == "/mgb/hello" and addresses.count("/mgb/generate") == 1
    assert addresses[-1] == "/mgb/status"  # /mgb/done names take 1 only; the status reply lists every take
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
    assert ["/mgb/cancel", "j-1"] in rec["sent"]
    assert "Generating... 25%" in rec["status"] and "Cancelled" in rec["status"]
    assert rec["status"][-1] == "Error (unknown_model): model 'x' is not in the registry"


@needs_node
def test_continue_sends_the_item_start_bar_and_places_at_the_engines_start_bar(tmp_path: Path) -> None:
    live = live_set(detail="live_set tracks 1 arrangement_clips 0")
    # an arrangement audio clip from beat 4.5 (bar 2.5 of 3/4) to beat 13.5 (bar 5.5)
    live["set"]["tracks"][1]["arrangement_clips"] = [{
        "name": "groove", "is_midi_clip": 0, "is_audio_clip": 1, "is_arrangement_clip": 1, "looping": 0,
        "start_marker": 0, "end_marker": 9, "loop_start": 0, "loop_end": 9, "start_time": 4.5, "end_time": 13.5,
        "file_path": "/m/groove.wav"}]
    # the engine's side is played by hand: the new bars start on the item's last bar line, bar 5
    steps = ui("", bars=1) + [{"handle": ["/mgb/reply", "hello", "{}"]}, {"handle": ["continue"]},
                              {"handle": ["/mgb/accepted", "j-1"]}, {"handle": ["/mgb/done", "j-1", "/m/c.wav", 5.0, 79380]}]
    result = run_device(tmp_path, live, steps)
    sent = json.loads(next(s for s in result["record"]["sent"] if s[0] == "/mgb/continue")[1])
    assert (sent["item_start_bar"], sent["context_bars"], sent["bars"]) == (2.5, 3, 1)
    assert sent["audio"] == {"path": "/m/groove.wav"} and "start_bar" not in sent
    arrangement = [c for c in result["calls"] if c["fn"] == "create_audio_clip" and c["path"] == "live_set tracks 1"]
    assert arrangement == [{"path": "live_set tracks 1", "fn": "create_audio_clip", "args": ["/m/c.wav", 12]}]


@needs_node
def test_falls_back_to_the_highlighted_clip_slot(tmp_path: Path) -> None:
    steps = ui("x", bars=2) + [{"handle": ["/mgb/reply", "hello", "{}"]}, {"handle": ["generate"]}]
    rec = run_device(tmp_path, live_set(detail=None), steps)["record"]
    sent = json.loads(rec["sent"][-1][1])
    assert rec["sent"][-1][0] == "/mgb/generate"
    assert (sent["bars"], sent["bpm"], sent["time_signature"]) == (2, 100, "3/4")
    assert "melody" not in sent  # facebook/musicgen-small takes no melody


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
    transports = [s for s in sent if s[0] == "/mgb/transport"]
    assert len(transports) >= 2 and transports[0][1:] == [4.5, 100, 1]
    assert sent[-1] == ["/mgb/live/stop", "s-1"]
    (created,) = [c for c in result["calls"] if c["fn"] == "create_audio_clip"]  # another session's is not ours
    assert created == {"path": "live_set tracks 1", "fn": "create_audio_clip", "args": ["/m/w0.wav", 6]}


# -- the patch -----------------------------------------------------------------------------------

#: (inlets, outlets) of the objects the patch uses, from their Max reference pages
SIGNATURES = {"live.thisdevice": (1, 3), "udpsend": (1, 0), "udpreceive": (1, 1), "dspstate~": (1, 4),
              "prepend": (1, 1), "plugin~": (2, 2), "plugout~": (2, 0), "t": (1, None), "route": (1, None),
              "message": (2, 1), "comment": (1, 0), "textedit": (1, 4), "umenu": (1, 3), "live.numbox": (1, 2),
              "live.dial": (1, 2), "live.text": (1, 2), "slider": (1, 1)}


def signature(box: dict[str, Any]) -> tuple[int, int | None]:
    if box["maxclass"] != "newobj":
        return SIGNATURES[box["maxclass"]]
    words = box["text"].split()
    if words[0] in ("t", "trigger"):
        return 1, len(words) - 1
    if words[0] == "route":
        return 1, len(words)
    if words[0] == "js":
        source = (M4L_DIR / words[1]).read_text()
        return int(re.search(r"^inlets = (\d+);", source, re.MULTILINE)[1]), int(re.search(r"^outlets = (\d+);", source, re.MULTILINE)[1])
    return SIGNATURES[words[0]]


def test_patch_is_valid_and_every_line_joins_real_inlets_and_outlets() -> None:
    patch = json.loads((M4L_DIR / "musicgen-bridge.maxpat").read_text())["patcher"]
    boxes = {b["box"]["id"]: b["box"] for b in patch["boxes"]}
    assert len(boxes) == len(patch["boxes"])  # ids are unique
    for box in boxes.values():
        ins, outs = signature(box)
        assert box["numinlets"] == ins, box["id"]
        assert outs is None or box["numoutlets"] == outs, box["id"]
        assert len(box.get("outlettype", [])) == box["numoutlets"], box["id"]
    scripts = [b["text"].split()[1] for b in boxes.values() if b["maxclass"] == "newobj" and b["text"].startswith("js ")]
    assert scripts == ["mgb_device.js"]
    for name in scripts + [d["name"] for d in patch["dependency_cache"]]:
        assert (M4L_DIR / name).is_file(), name
    assert "require(\"mgb_core\")" in (M4L_DIR / "mgb_device.js").read_text()
    assert "require(\"mgb_live\")" in (M4L_DIR / "mgb_core.js").read_text()
    assert {"mgb_device.js", "mgb_core.js", "mgb_live.js"} <= {d["name"] for d in patch["dependency_cache"]}
    for line in patch["lines"]:
        (src, outlet), (dst, inlet) = line["patchline"]["source"], line["patchline"]["destination"]
        assert src in boxes and dst in boxes, line
        assert 0 <= outlet < boxes[src]["numoutlets"], line
        assert 0 <= inlet < boxes[dst]["numinlets"], line
    # the parts the device cannot work without are wired
    joined = {(l["patchline"]["source"][0], l["patchline"]["destination"][0]) for l in patch["lines"]}
    js = next(i for i, b in boxes.items() if b.get("text", "").startswith("js "))
    send = next(i for i, b in boxes.items() if b.get("text", "").startswith("udpsend"))
    recv = next(i for i, b in boxes.items() if b.get("text", "").startswith("udpreceive"))
    assert (js, send) in joined and (recv, js) in joined
    plug_in = next(i for i, b in boxes.items() if b.get("text") == "plugin~")
    plug_out = next(i for i, b in boxes.items() if b.get("text") == "plugout~")
    assert (plug_in, plug_out) in joined  # the device passes the track's audio through
    reply_port = int(boxes[recv]["text"].split()[1])
    assert re.search(rf"port: {reply_port}\b", (M4L_DIR / "mgb_core.js").read_text())  # /mgb/hello announces it


def test_device_javascript_is_es5_for_max_js() -> None:
    for name in ("mgb_core.js", "mgb_live.js", "mgb_device.js"):
        code = re.sub(r"//[^\n]*", "", (M4L_DIR / name).read_text())
        code = re.sub(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'', '""', code)  # string literals
        for pattern in (r"=>", r"\blet\b", r"\bconst\b", r"`", r"\bclass\b", r"\.\.\."):
            assert not re.search(pattern, code), f"{name} uses {pattern}, which Max's js object cannot run"


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
    assert daw_engine.transports[0] == {"beat": 4.5, "bpm": 100.0, "playing": True}  # the song time never moved
    (win, *_) = daw_engine.windows
    assert daw_engine.stops == [win["session_id"]] and (win["index"], win["start_bar"], win["bars"]) == (0, 3, 2)
    (created,) = [c for c in result["calls"] if c["fn"] == "create_audio_clip"]
    path, position = created["args"]
    assert created["path"] == "live_set tracks 1" and position == 6  # bar 3 of 3/4 = beat 6
    assert path == win["path"] and frames_of(path) == (win["frames"], 44100) == (158760, 44100)
    assert Fraction(158760, 44100) == bar_seconds(2, 3, 4, 100)
