"""The Reaper "Generate sound effect" action: prompt, length in bars or seconds, where to place it."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from daw.harness import LUA, bar_seconds, calls, cli_command, fake_cli_command, frames_of, run_reaper, script

pytestmark = pytest.mark.skipif(LUA is None, reason="lua5.4 is not installed (apt-get install lua5.4)")

BPM, NUM, DEN = 90, 4, 4
BAR_S = float(bar_seconds(1, NUM, DEN, BPM))  # 8/3 s


def scenario(tmp: Path, answers: list[Any] | None, cli: str, cursor: float = 0.0, **extra: Any) -> dict[str, Any]:
    proj = {"bpm": BPM, "num": NUM, "denom": DEN, "media_path": str(tmp / "media"), "srate": 48000,
            "cursor": cursor, "tracks": [{"name": "Foley", "selected": True, "items": []}, {"name": "Music", "items": []}]}
    return {"project": proj, "ext": {"musicgen-bridge/cli": cli, **extra.pop("ext", {})},
            "inputs": [answers] if answers is not None else [False],
            "steps": [{"script": script("Generate sound effect")}, {"pump": extra.pop("pump", 20)}], **extra}


def test_seconds_at_the_cursor_with_audiogen_by_default(tmp_path: Path) -> None:
    log = tmp_path / "cli.json"
    snap = run_reaper(scenario(tmp_path, ["door slam, large hall", "1.5 s", "cursor", "", "1"], fake_cli_command(),
                               cursor=7.25), tmp_path, env={"MGB_FAKE_LOG": str(log)})
    assert snap["messages"] == []
    sent = json.loads(log.read_text())
    assert sent["argv"][0] == "generate" and "--request" in sent["argv"]
    req = sent["request"]
    assert "bars" not in req and (req["seconds"], req["model"]) == (1.5, "facebook/audiogen-medium")
    assert req["prompt"] == "door slam, large hall"
    assert [t["name"] for t in snap["tracks"]] == ["Foley", "SFX: door slam, large hall", "Music"]
    (item,) = snap["tracks"][1]["items"]
    assert item["position"] == pytest.approx(7.25, abs=1e-9) and item["length"] == pytest.approx(1.5, abs=1e-9)
    assert frames_of(item["takes"][0]["source"]) == (72000, 48000)
    (begin,), (end,) = calls(snap, "Undo_BeginBlock"), calls(snap, "Undo_EndBlock")
    assert all(begin < i < end for i in calls(snap, "AddMediaItemToTrack"))


def test_bars_at_a_bar_through_the_real_cli_and_engine(tmp_path: Path, daw_server: Any) -> None:
    snap = run_reaper(scenario(tmp_path, ["rain on a tin roof", "2", "bar 3", "tiny-audiogen", "1"], cli_command(),
                               ext={"musicgen-bridge/server": daw_server.addresses["zmq"]}, pump=80), tmp_path)
    assert snap["messages"] == []
    (item,) = snap["tracks"][1]["items"]
    assert item["position"] == pytest.approx(2 * BAR_S, abs=1e-9)
    assert item["length"] == pytest.approx(2 * BAR_S, abs=1e-9)
    path = Path(item["takes"][0]["source"])
    frames, rate = frames_of(path)
    assert (frames, rate) == (256000, 48000) and Fraction(frames, rate) == bar_seconds(2, NUM, DEN, BPM)
    req = json.loads(path.with_name(path.name + ".json").read_text())["request"]
    assert (req["model"], req["bars"], req["start_bar"], req["bpm"]) == ("tiny-audiogen", 2, 3, 90)


@pytest.mark.parametrize(("length", "where", "says"), [("two bars", "cursor", "Length must be"),
                                                        ("1.5", "cursor", "Length must be"),
                                                        ("2", "over there", "Place at must be")])
def test_unusable_answers_say_what_to_type(tmp_path: Path, length: str, where: str, says: str) -> None:
    snap = run_reaper(scenario(tmp_path, ["boom", length, where, "", "1"], fake_cli_command()), tmp_path)
    (msg,) = snap["messages"]
    assert says in msg["text"]
    assert snap["exec"] == [] and len(snap["tracks"]) == 2
