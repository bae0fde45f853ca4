"""The Reaper "More like this" action (MusicGen-Style) under the mock: the selected audio item's
file range travels as the style clip, the result lands on a new track at the item, in bars."""

from __future__ import annotations

import json
from fractions import Fraction
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from daw.harness import LUA, bar_seconds, calls, cli_command, fake_cli_command, frames_of, run_reaper, script, write_wav

pytestmark = pytest.mark.skipif(LUA is None, reason="lua5.4 is not installed (apt-get install lua5.4)")

BPM, NUM, DEN = 100, 3, 4
BAR_S = float(bar_seconds(1, NUM, DEN, BPM))  # 1.8 s


def scenario(tmp: Path, wav: Path, answers: list[Any] | None, *, position: float = 1.5 * BAR_S,
             length: float = 3 * BAR_S, offset: float = 0.5 * BAR_S, cli: str | None = None,
             **take: Any) -> dict[str, Any]:
    item = {"position": position, "length": length, "selected": True,
            "takes": [{"source": str(wav), "start_offset": offset, **take}]}
    return {"project": {"bpm": BPM, "num": NUM, "denom": DEN, "media_path": str(tmp / "media"), "srate": 44100,
                        "tracks": [{"name": "Drums", "selected": True, "items": [item]}, {"name": "Bass", "items": []}]},
            "ext": {"musicgen-bridge/cli": cli or fake_cli_command()},
            "inputs": [answers] if answers is not None else [False],
            "steps": [{"script": script("More like this (selected audio item)")}, {"pump": 60}]}


#: CLI flag -> (request field, type): how the scripts' flags carry a request (older CLIs)
FLAGS = {"--prompt": ("prompt", str), "--model": ("model", str), "--bars": ("bars", int),
         "--start-bar": ("start_bar", float), "--variations": ("variations", int), "--bpm": ("bpm", float),
         "--time-signature": ("time_signature", str), "--audio": ("audio", str), "--melody": ("melody", str)}
STYLE_FLAGS = {"--style": ("path", str), "--style-file-start": ("start_seconds", float),
               "--style-file-end": ("end_seconds", float)}


def sent(log: Path) -> dict[str, Any]:
    """The request the action sent: the request file's content when the CLI took one (--request),
    else rebuilt from its flags."""
    record = json.loads(log.read_text())
    if record.get("request") is not None:
        return record["request"]
    argv, req = record["argv"], {}
    assert argv[0] == "generate"
    for flag, value in pairwise(argv[1:]):
        if flag in FLAGS:
            req[FLAGS[flag][0]] = FLAGS[flag][1](value)
        elif flag in STYLE_FLAGS:
            req.setdefault("style", {})[STYLE_FLAGS[flag][0]] = STYLE_FLAGS[flag][1](value)
    return req


def test_more_like_this_sends_the_items_range_as_style_and_places_takes_below(tmp_path: Path) -> None:
    wav = tmp_path / "groove.wav"
    write_wav(wav, bar_seconds(6, NUM, DEN, BPM), 44100)
    log = tmp_path / "cli.json"
    # the item starts mid-bar 2 (bar 2.5) and plays 3 bars of its file from half a bar in
    snap = run_reaper(scenario(tmp_path, wav, ["", "2", "tiny-style", "2"]), tmp_path, env={"MGB_FAKE_LOG": str(log)})
    assert snap["messages"] == []
    req = sent(log)
    assert req["style"] == {"path": str(wav), "start_seconds": pytest.approx(0.9, abs=1e-12),
                            "end_seconds": pytest.approx(0.9 + 5.4, abs=1e-12)}
    assert req["model"] == "tiny-style" and req.get("prompt", "") == ""  # style only
    assert (req["bars"], req["start_bar"], req["variations"]) == (2, 2.5, 2)
    assert (req["bpm"], req["time_signature"]) == (100, "3/4")
    assert "audio" not in req and "melody" not in req
    (dialog,) = snap["dialogs"]
    assert dialog["defaults"].split("\n") == ["", "3", "facebook/musicgen-style", "1"]  # bars: the item's
    # a new track under the item's, one item at the item's position, one take per variation
    assert [t["name"] for t in snap["tracks"]] == ["Drums", "MusicGen: like groove", "Bass"]
    (new,) = snap["tracks"][1]["items"]
    assert new["position"] == pytest.approx(1.5 * BAR_S, abs=1e-9)
    assert new["length"] == pytest.approx(2 * BAR_S, abs=1e-9)
    assert [t["name"] for t in new["takes"]] == ["like groove (take 1)", "like groove (take 2)"]
    for take in new["takes"]:
        frames, rate = frames_of(take["source"])
        assert Fraction(frames, rate) == bar_seconds(2, NUM, DEN, BPM)
    assert len(calls(snap, "Undo_BeginBlock")) == 1
    assert snap["tracks"][0]["items"][0]["takes"][0]["source"] == str(wav)  # the style item is untouched
    # its own dialog memory: the generate action's prompt and model are not overwritten
    assert snap["ext"]["musicgen-bridge/last_style_model"] == "tiny-style"
    assert "musicgen-bridge/last_model" not in snap["ext"]


def test_more_like_this_with_a_prompt_names_the_clip_after_it(tmp_path: Path) -> None:
    wav = tmp_path / "pad.wav"
    write_wav(wav, bar_seconds(4, NUM, DEN, BPM), 44100)
    log = tmp_path / "cli.json"
    snap = run_reaper(scenario(tmp_path, wav, ["dusty tape pad", "1", "", "1"], position=0, length=2 * BAR_S,
                               offset=0), tmp_path, env={"MGB_FAKE_LOG": str(log)})
    req = sent(log)
    assert (req["prompt"], req["model"]) == ("dusty tape pad", "facebook/musicgen-style")
    assert req["style"]["start_seconds"] == 0 and req.get("variations", 1) == 1
    (new,) = snap["tracks"][1]["items"]
    assert snap["tracks"][1]["name"] == "MusicGen: dusty tape pad"
    assert new["length"] == pytest.approx(BAR_S, abs=1e-9)


@pytest.mark.parametrize(("take", "says"), [
    ({"playrate": 1.5}, "rate 1.5; More like this needs rate 1.0"),
    ({"stretch_markers": 2}, "stretch markers"),
    ({"midi": {"ppq": 960, "notes": []}}, "select an audio item"),
])
def test_items_whose_sound_is_not_the_file_are_refused_before_anything_runs(tmp_path: Path, take: dict[str, Any],
                                                                            says: str) -> None:
    wav = tmp_path / "loop.wav"
    write_wav(wav, bar_seconds(4, NUM, DEN, BPM), 44100)
    snap = run_reaper(scenario(tmp_path, wav, ["", "2", "tiny-style", "1"], offset=0, **take), tmp_path)
    (msg,) = snap["messages"]
    assert says in msg["text"] and snap["exec"] == [] and snap["dialogs"] == []


def test_no_selection_and_a_cancelled_dialog_run_nothing(tmp_path: Path) -> None:
    wav = tmp_path / "loop.wav"
    write_wav(wav, bar_seconds(4, NUM, DEN, BPM), 44100)
    cancelled = run_reaper(scenario(tmp_path, wav, None), tmp_path)
    assert cancelled["exec"] == [] and len(cancelled["tracks"]) == 2 and cancelled["messages"] == []
    none = scenario(tmp_path, wav, ["", "2", "tiny-style", "1"])
    none["project"]["tracks"][0]["items"][0]["selected"] = False
    snap = run_reaper(none, tmp_path)
    (msg,) = snap["messages"]
    assert "Select an audio item" in msg["text"] and snap["exec"] == []


def test_more_like_this_through_the_real_cli_and_a_running_engine(tmp_path: Path, daw_server: Any) -> None:
    """tiny-style for real: the item's range travels as a ZeroMQ buffer, the result is exact bars."""
    wav = tmp_path / "groove.wav"
    write_wav(wav, bar_seconds(6, NUM, DEN, BPM), 44100)
    sc = scenario(tmp_path, wav, ["", "1", "tiny-style", "1"], cli=cli_command())
    sc["ext"]["musicgen-bridge/server"] = daw_server.addresses["zmq"]
    snap = run_reaper(sc, tmp_path)
    assert snap["messages"] == []
    (new,) = snap["tracks"][1]["items"]
    path = Path(new["takes"][0]["source"])
    assert frames_of(path) == (79380, 44100) and Fraction(79380, 44100) == bar_seconds(1, NUM, DEN, BPM)
    assert new["position"] == pytest.approx(1.5 * BAR_S, abs=1e-9)
    req = json.loads(path.with_name(path.name + ".json").read_text())["request"]
    assert (req["model"], req["bars"], req["start_bar"], req["bpm"], req["time_signature"]) == \
        ("tiny-style", 1, 2.5, 100, "3/4")
    # the range the item plays, read from the copy of the file the engine received
    assert (req["style"]["start_seconds"], req["style"]["end_seconds"]) == (pytest.approx(0.9), pytest.approx(6.3))
