"""The Reaper "More like this" action (MusicGen-Style) under the mock: the selected audio item's
file range travels as the style clip, the result lands on a new track at the item, in bars."""

from __future__ import annotations

import json
from fractions import Fraction
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


def argv_value(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


def test_more_like_this_sends_the_items_range_as_style_and_places_takes_below(tmp_path: Path) -> None:
    wav = tmp_path / "groove.wav"
    write_wav(wav, bar_seconds(6, NUM, DEN, BPM), 44100)
    log = tmp_path / "cli.json"
    # the item starts mid-bar 2 (bar 2.5) and plays 3 bars of its file from half a bar in
    snap = run_reaper(scenario(tmp_path, wav, ["", "2", "tiny-style", "2"]), tmp_path, env={"MGB_FAKE_LOG": str(log)})
    assert snap["messages"] == []
    argv = json.loads(log.read_text())["argv"]
    assert argv[0] == "generate" and argv_value(argv, "--style") == str(wav)
    assert float(argv_value(argv, "--style-file-start")) == pytest.approx(0.9, abs=1e-12)
    assert float(argv_value(argv, "--style-file-end")) == pytest.approx(0.9 + 5.4, abs=1e-12)
    assert argv_value(argv, "--model") == "tiny-style" and "--prompt" not in argv  # style only
    assert (argv_value(argv, "--bars"), argv_value(argv, "--start-bar"), argv_value(argv, "--variations")) == \
        ("2", "2.5", "2")
    assert (argv_value(argv, "--bpm"), argv_value(argv, "--time-signature")) == ("100", "3/4")
    assert "--audio" not in argv and "--melody" not in argv
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
    argv = json.loads(log.read_text())["argv"]
    assert argv_value(argv, "--prompt") == "dusty tape pad" and argv_value(argv, "--model") == "facebook/musicgen-style"
    assert float(argv_value(argv, "--style-file-start")) == 0 and "--variations" not in argv
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
