"""The Max for Live device's "More like this" button (MusicGen-Style): the selected audio clip's
file travels as the style clip of a generate request; the result lands like any generation."""

from __future__ import annotations

import json
from fractions import Fraction
from itertools import pairwise
from pathlib import Path
from typing import Any

from daw.harness import M4L_DIR, bar_seconds, frames_of, write_wav
from daw.m4l_device import live_set, needs_node, requests, run_device, sent_json, ui


def audio_set(warping: int = 0, arrangement: bool = False) -> dict[str, Any]:
    """3/4 at 100 bpm; track 1 (the device's) holds an audio clip: in session slot 0 (unwarped: its
    markers are seconds of the file, 1.2 s to 6.6 s = 3 bars) or in the arrangement from beat 4.5."""
    clip = {"name": "groove", "is_midi_clip": 0, "is_audio_clip": 1, "is_arrangement_clip": int(arrangement),
            "looping": 0, "warping": warping, "start_marker": 1.2, "end_marker": 6.6, "loop_start": 1.2,
            "loop_end": 6.6, "file_path": "/m/groove.wav"}
    if arrangement:
        live = live_set(detail="live_set tracks 1 arrangement_clips 0")
        live["set"]["tracks"][1]["arrangement_clips"] = [{**clip, "start_marker": 0, "end_marker": 9,
                                                          "start_time": 4.5, "end_time": 13.5}]
    else:
        live = live_set(detail="live_set tracks 1 clip_slots 0 clip", slots=[True, False, False])
        live["set"]["tracks"][1]["clip_slots"][0] = {"clip": clip}
    return live


def by_hand(job: str = "j-1", path: str = "/m/like.wav") -> list[dict[str, Any]]:
    """The engine's side, played by hand: the hello answer before the click, then accepted and done."""
    return [{"handle": ["/mgb/accepted", job]}, {"handle": ["/mgb/done", job, path, 1.0, 158760]}]


@needs_node
def test_more_like_this_sends_the_clips_file_range_as_style_and_places_the_result(tmp_path: Path) -> None:
    steps = ui("", bars=2) + [{"handle": ["/mgb/reply", "hello", "{}"]}, {"click": "More like this"}] + by_hand()
    result = run_device(tmp_path, audio_set(), steps)
    rec = result["record"]
    (sent,) = sent_json(rec, "/mgb/generate")
    # unwarped: the markers are seconds of the file, sent as the exact stretch the clip plays
    assert sent["style"] == {"path": "/m/groove.wav", "start_seconds": 1.2, "end_seconds": 6.6}
    assert sent["model"] == "facebook/musicgen-style"  # the menu's model has no style: the style model
    assert (sent["bars"], sent["start_bar"], sent["variations"], sent["prompt"]) == (2, 1, 1, "")
    assert (sent["bpm"], sent["time_signature"]) == (100, "3/4") and "melody" not in sent and "audio" not in sent
    assert rec["status"][-1].startswith("Placed 1 clip(s) on track 2, scene 2"), rec["status"]
    (created,) = [c for c in result["calls"] if c["fn"] == "create_audio_clip"]
    assert created == {"path": "live_set tracks 1 clip_slots 1", "fn": "create_audio_clip", "args": ["/m/like.wav"]}
    names = [c["args"][1] for c in result["calls"] if c["fn"] == "set" and c["args"][0] == "name"]
    assert names == ["like groove"]


@needs_node
def test_a_style_model_chosen_in_the_menu_is_kept_and_the_prompt_goes_along(tmp_path: Path) -> None:
    steps = ui("dusty tape drums") + [{"param": ["Model", "facebook/musicgen-style"]}, {"param": ["Takes", 2]},
                                     {"handle": ["/mgb/reply", "hello", "{}"]}, {"click": "More like this"}]
    (sent,) = sent_json(run_device(tmp_path, audio_set(arrangement=True, warping=1), steps)["record"], "/mgb/generate")
    assert (sent["model"], sent["prompt"], sent["variations"]) == ("facebook/musicgen-style", "dusty tape drums", 2)
    # warped: the markers are beats, so the whole file goes; the clip's bar on the timeline is kept
    assert sent["style"] == {"path": "/m/groove.wav"}
    assert (sent["start_bar"], sent["bars"]) == (2.5, 3)


@needs_node
def test_a_midi_clip_or_no_clip_is_refused_without_a_request(tmp_path: Path) -> None:
    steps = ui("x") + [{"handle": ["/mgb/reply", "hello", "{}"]}, {"click": "More like this"}]
    rec = run_device(tmp_path, live_set(), steps)["record"]  # the detail clip is MIDI
    assert rec["status"][-1] == "Select an audio clip: its sound is the style to follow."
    assert requests(rec) == []
    rec = run_device(tmp_path, live_set(detail=None, slots=[False, False, False]), steps)["record"]
    assert rec["status"][-1] == "Select an audio clip: its sound is the style to follow." and requests(rec) == []


@needs_node
def test_pressing_it_again_while_running_cancels(tmp_path: Path) -> None:
    steps = ui("") + [{"handle": ["/mgb/reply", "hello", "{}"]}, {"click": "More like this"},
                      {"handle": ["/mgb/accepted", "j-7"]}, {"click": "More like this"},
                      {"handle": ["/mgb/error", "j-7", "cancelled", "the job was cancelled"]}]
    rec = run_device(tmp_path, audio_set(), steps)["record"]
    assert [a for a, _ in requests(rec)] == ["/mgb/generate", "/mgb/cancel"]
    assert sent_json(rec, "/mgb/cancel")[0]["job_id"] == "j-7" and rec["status"][-1] == "Cancelled"


def test_the_patch_wires_the_button_to_the_script_and_offers_the_style_model() -> None:
    patch = json.loads((M4L_DIR / "musicgen-bridge.maxpat").read_text())["patcher"]
    boxes = {b["box"]["id"]: b["box"] for b in patch["boxes"]}
    joined = {(tuple(line["patchline"]["source"]), tuple(line["patchline"]["destination"])) for line in patch["lines"]}
    chain = [("obj-button-style", 0), ("obj-route-style", 0), ("obj-trigger-style", 0), ("obj-msg-style", 0),
             ("obj-js", 0)]
    for (src, out), (dst, _) in pairwise(chain):
        assert ((src, out), (dst, 0)) in joined
    assert boxes["obj-msg-style"]["text"] == "style" and boxes["obj-button-style"]["text"] == "More like this"
    assert (("obj-trigger-style", 1), ("obj-prompt", 0)) in joined  # the typed prompt is read first
    assert "facebook/musicgen-style" in boxes["obj-model"]["items"]
    items = [i for i in boxes["obj-model"]["items"] if i != ","]
    assert boxes["obj-model"]["saved_attribute_attributes"]["valueof"]["parameter_mmax"] == len(items) - 1
    # on the device's face: under the three action buttons, above the progress bar, inside the device
    x, y, w, h = boxes["obj-button-style"]["presentation_rect"]
    assert y >= 72 + 20 and y + h <= boxes["obj-progress"]["presentation_rect"][1] and x + w <= patch["devicewidth"]
    assert boxes["obj-status"]["presentation_rect"][1] + boxes["obj-status"]["presentation_rect"][3] <= 169


@needs_node
def test_more_like_this_with_the_engine_over_real_osc(tmp_path: Path, daw_server: Any) -> None:
    """tiny-style for real: the clip's file (inside the engine's folders) is the style; 1 bar lands in a slot."""
    root = daw_server.engine.paths.output_root
    root.mkdir(parents=True, exist_ok=True)
    wav = root / "m4l-groove.wav"
    write_wav(wav, bar_seconds(4, 3, 4, 100), 44100)
    live = audio_set()
    live["set"]["tracks"][1]["clip_slots"][0]["clip"]["file_path"] = str(wav)
    steps = ui("", bars=1, samplerate=44100, model="tiny-style") + [
        {"click": "More like this"}, {"wait": {"status": "^(Placed|Error|No answer)", "timeout_ms": 40000}}]
    result = run_device(tmp_path, live, steps, engine_port=daw_server.udp.server_address[1])
    assert result["record"]["status"][-1].startswith("Placed 1 clip(s) on track 2, scene 2"), result["record"]["status"]
    (created,) = [c for c in result["calls"] if c["fn"] == "create_audio_clip"]
    path = Path(created["args"][0])
    frames, rate = frames_of(path)
    assert (frames, rate) == (79380, 44100) and Fraction(frames, rate) == bar_seconds(1, 3, 4, 100)
    req = json.loads(path.with_name(path.name + ".json").read_text())["request"]
    assert req["model"] == "tiny-style" and req["style"] == {"path": str(wav), "start_seconds": 1.2, "end_seconds": 6.6}
