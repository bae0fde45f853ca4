"""The Reaper ReaScripts, run under lua5.4 against a mock ``reaper`` table (tests/daw/reaper_mock.lua).

The mock's ExecProcess really starts the scripts' background command, so these tests cover the
whole path: dialog -> request -> CLI words -> wrapper script -> result file -> defer poll -> insert.
"""

from __future__ import annotations

import json
import subprocess
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
import soundfile as sf
from daw.harness import (
    LUA,
    REAPER_DIR,
    bar_seconds,
    calls,
    cli_command,
    fake_cli_command,
    frames_of,
    run_reaper,
    script,
    split_windows,
    write_wav,
)

pytestmark = pytest.mark.skipif(LUA is None, reason="lua5.4 is not installed (apt-get install lua5.4)")

BPM, NUM, DEN = 100, 3, 4
BAR_S = float(bar_seconds(1, NUM, DEN, BPM))  # 1.8 s
ITEM_POS = 2 * BAR_S  # the MIDI item starts on bar 3
C_MAJOR = [60, 62, 64, 65, 67, 69, 71, 72, 71, 69, 67, 65]


def c_major_notes() -> list[dict[str, Any]]:
    """Quarter notes of a C-major line; the last one crosses the item's end, one is muted."""
    notes = [{"pitch": p, "start_qn": i, "end_qn": i + 0.75, "vel": 90 + i, "muted": i == 5}
             for i, p in enumerate(C_MAJOR)]
    notes[-1]["end_qn"] = 13.5
    return notes


def project(tmp: Path, items: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    midi_item = {"position": ITEM_POS, "length": 4 * BAR_S, "selected": True,
                 "takes": [{"midi": {"ppq": 960, "notes": c_major_notes()}}]}
    return {"bpm": BPM, "num": NUM, "denom": DEN, "media_path": str(tmp / "media"), "srate": 44100,
            "tracks": [{"name": "Keys", "selected": True, "items": items if items is not None else [midi_item]},
                       {"name": "Drums", "items": []}]}


def generate_scenario(tmp: Path, answers: list[Any] | None, cli: str, **extra: Any) -> dict[str, Any]:
    return {"project": project(tmp), "ext": {"musicgen-bridge/cli": cli, **extra.pop("ext", {})},
            "inputs": [answers] if answers is not None else [False],
            "steps": [{"script": script("Generate from selected MIDI item")}, {"pump": extra.pop("pump", 20)}],
            **extra}


def argv_value(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


def test_generate_from_midi_item_sends_notes_tempo_and_inserts_exact_bars(tmp_path: Path) -> None:
    log = tmp_path / "cli.json"
    snap = run_reaper(generate_scenario(tmp_path, ["c major line, piano", "4", "facebook/musicgen-melody", "1"],
                                        fake_cli_command()), tmp_path, env={"MGB_FAKE_LOG": str(log)})
    assert snap["messages"] == []
    sent = json.loads(log.read_text())
    argv, req = sent["argv"], sent["request"]
    # every request field travels in the request file; the command line holds file names only
    assert argv[:2] == ["generate", "--request"] and "--json" in argv and "--prompt" not in argv
    assert (req["bpm"], req["time_signature"], req["bars"], req["start_bar"]) == (100, "3/4", 4, 3)
    assert (req["sample_rate"], req["format"], req["model"]) == (44100, "wav24", "facebook/musicgen-melody")
    assert req["prompt"] == "c major line, piano"
    # notes in quarter-note beats from the item's start, cut at its end
    expected = []
    for n in c_major_notes():
        start, end = n["start_qn"], min(n["end_qn"], 12)
        expected.append({"pitch": n["pitch"], "start_beats": start, "duration_beats": end - start,
                         "velocity": n["vel"], "muted": n["muted"]})
    melody = req["melody"]
    assert melody["clip_start_beats"] == 0 and melody["clip_length_beats"] == 12
    assert melody["notes"] == expected
    out = Path(argv_value(argv, "--out"))
    assert out.parent == tmp_path / "media" / "musicgen-bridge"
    assert sorted(p.name for p in out.parent.iterdir()) == [out.name]  # job files are cleaned up

    names = [t["name"] for t in snap["tracks"]]
    assert names == ["Keys", "MusicGen: c major line, piano", "Drums"]
    (item,) = snap["tracks"][1]["items"]
    assert item["position"] == pytest.approx(ITEM_POS, abs=1e-9)
    assert item["length"] == pytest.approx(7.2, abs=1e-9)
    (take,) = item["takes"]
    assert take["source"] == str(out) and take["active"]
    frames, rate = frames_of(take["source"])
    assert Fraction(frames, rate) == bar_seconds(4, NUM, DEN, BPM) == Fraction(36, 5)
    # everything inserted inside one undo block
    (begin,), (end,) = calls(snap, "Undo_BeginBlock"), calls(snap, "Undo_EndBlock")
    for name in ("InsertTrackAtIndex", "AddMediaItemToTrack", "AddTakeToMediaItem", "SetMediaItemTake_Source"):
        assert all(begin < i < end for i in calls(snap, name)) and calls(snap, name)
    assert snap["tracks"][0]["items"][0]["takes"][0]["source"] == ""  # the MIDI item is untouched
    # the dialog's answers are remembered for next time (persisted)
    assert snap["ext"]["musicgen-bridge/last_prompt"] == "c major line, piano"
    persisted = [c["args"] for c in snap["calls"] if c["name"] == "SetExtState" and c["args"][1] == "last_prompt"]
    assert persisted == [["musicgen-bridge", "last_prompt", "c major line, piano", True]]
    assert snap["window_closed"]


def test_variations_become_takes_of_one_item(tmp_path: Path) -> None:
    snap = run_reaper(generate_scenario(tmp_path, ["pads", "2", "tiny", "3"], fake_cli_command()), tmp_path,
                      env={"MGB_FAKE_LOG": str(tmp_path / "cli.json")})
    req = json.loads((tmp_path / "cli.json").read_text())["request"]
    assert req["variations"] == 3 and "melody" not in req  # tiny has no melody input
    (item,) = snap["tracks"][1]["items"]
    assert item["length"] == pytest.approx(2 * BAR_S, abs=1e-9)
    assert [t["active"] for t in item["takes"]] == [True, False, False]
    assert [t["name"] for t in item["takes"]] == [f"pads (take {i})" for i in (1, 2, 3)]
    for i, take in enumerate(item["takes"], start=1):
        assert take["source"].endswith(f"pads-take{i}.wav")
        frames, rate = frames_of(take["source"])
        assert Fraction(frames, rate) == bar_seconds(2, NUM, DEN, BPM)


def test_last_answers_prefill_the_dialog(tmp_path: Path) -> None:
    ext = {"musicgen-bridge/last_prompt": "old prompt", "musicgen-bridge/last_model": "tiny",
           "musicgen-bridge/last_takes": "2"}
    snap = run_reaper(generate_scenario(tmp_path, None, fake_cli_command(), ext=ext), tmp_path)
    (dialog,) = snap["dialogs"]
    assert dialog["defaults"].split("\n") == ["old prompt", "4", "tiny", "2"]  # bars come from the item
    assert snap["exec"] == [] and len(snap["tracks"]) == 2  # cancelled dialog: nothing runs


def test_engine_not_running_says_how_to_start_it(tmp_path: Path) -> None:
    snap = run_reaper(generate_scenario(tmp_path, ["x", "4", "tiny", "1"], fake_cli_command()), tmp_path,
                      env={"MGB_FAKE_MODE": "unreachable"})
    (msg,) = snap["messages"]
    assert "not running" in msg["text"] and "musicgen-bridge serve --model" in msg["text"]
    assert len(snap["tracks"]) == 2 and calls(snap, "Undo_BeginBlock") == []


def test_missing_cli_is_explained(tmp_path: Path) -> None:
    snap = run_reaper(generate_scenario(tmp_path, ["x", "4", "tiny", "1"], str(tmp_path / "no" / "musicgen-bridge")),
                      tmp_path)
    (msg,) = snap["messages"]
    assert "was not found" in msg["text"] and "Settings" in msg["text"]


def test_engine_error_is_shown(tmp_path: Path) -> None:
    fake = tmp_path / "fail.sh"
    fake.write_text("#!/bin/sh\necho 'musicgen-bridge: too_large: bars must be at most 1024, got 2000' >&2\nexit 2\n")
    fake.chmod(0o755)
    snap = run_reaper(generate_scenario(tmp_path, ["x", "4", "tiny", "1"], str(fake)), tmp_path)
    (msg,) = snap["messages"]
    assert "too_large" in msg["text"] and "bars must be at most 1024" in msg["text"]


def test_an_older_cli_without_the_option_is_explained(tmp_path: Path) -> None:
    fake = tmp_path / "old.sh"  # what argparse prints for an option this CLI lacks
    fake.write_text("#!/bin/sh\necho 'usage: musicgen-bridge [-h] ...' >&2\n"
                    "echo 'musicgen-bridge: error: unrecognized arguments: --request /x.json' >&2\nexit 2\n")
    fake.chmod(0o755)
    snap = run_reaper(generate_scenario(tmp_path, ["x", "4", "facebook/musicgen-melody", "1"], str(fake)), tmp_path)
    (msg,) = snap["messages"]
    assert "unrecognized arguments: --request" in msg["text"] and "Update musicgen-bridge" in msg["text"]


def test_cancel_sends_sigterm_and_cleans_up(tmp_path: Path) -> None:
    log = tmp_path / "cli.json"
    # Esc as soon as the window shows the first percentage
    scenario = generate_scenario(tmp_path, ["x", "4", "tiny", "1"], fake_cli_command(),
                                 gfx={"cancel_when_text": r"%d+%%"}, pump=20)
    snap = run_reaper(scenario, tmp_path, env={"MGB_FAKE_MODE": "slow", "MGB_FAKE_LOG": str(log)})
    assert snap["messages"] == [] and len(snap["tracks"]) == 2 and snap["window_closed"]
    assert snap["esc_tick"] >= 0 and "Cancelling..." in snap["texts"]
    (kill,) = [c for c in snap["exec"] if "kill" in c]
    assert kill.startswith("/bin/kill -TERM ") and "-9" not in kill and "KILL" not in kill
    # the CLI got SIGTERM (and answered "cancelled"), ended, and its job files are gone
    assert Path(str(log) + ".term").read_text() == "cancelled"
    assert list((tmp_path / "media" / "musicgen-bridge").iterdir()) == []


def test_ending_the_script_while_the_job_runs_cancels_it(tmp_path: Path) -> None:
    log = tmp_path / "cli.json"
    scenario = generate_scenario(tmp_path, ["x", "4", "tiny", "1"], fake_cli_command())
    scenario["steps"][1:] = [{"pump": 0.5}, {"atexit": True}]  # e.g. terminated from the action list
    snap = run_reaper(scenario, tmp_path, env={"MGB_FAKE_MODE": "slow", "MGB_FAKE_LOG": str(log)})
    assert snap["timed_out"] and snap["window_closed"]
    (kill,) = [c for c in snap["exec"] if "kill" in c]
    assert kill.startswith("/bin/kill -TERM ")
    for _ in range(100):  # the signal is delivered asynchronously
        if Path(str(log) + ".term").exists():
            break
        subprocess.run(["sleep", "0.05"], check=False)
    assert Path(str(log) + ".term").read_text() == "cancelled"


def test_not_a_midi_item(tmp_path: Path) -> None:
    wav = tmp_path / "loop.wav"
    write_wav(wav, Fraction(18, 5), 44100)
    scenario = generate_scenario(tmp_path, ["x", "4", "tiny", "1"], fake_cli_command())
    scenario["project"] = project(tmp_path, [{"position": 0, "length": 3.6, "selected": True,
                                              "takes": [{"source": str(wav)}]}])
    snap = run_reaper(scenario, tmp_path)
    (msg,) = snap["messages"]
    assert "not a MIDI item" in msg["text"] and snap["exec"] == [] and snap["dialogs"] == []


def test_generate_melody_through_the_real_cli_and_a_running_engine(tmp_path: Path, daw_server: Any) -> None:
    # two bars keep the test quick on a shared CPU; the mock test above checks the 4-bar case
    scenario = generate_scenario(tmp_path, ["c major line", "2", "tiny-melody", "1"], cli_command(),
                                 ext={"musicgen-bridge/server": daw_server.addresses["zmq"]}, pump=60)
    snap = run_reaper(scenario, tmp_path)
    assert snap["messages"] == []
    (item,) = snap["tracks"][1]["items"]
    (take,) = item["takes"]
    path = Path(take["source"])
    assert path.parent == tmp_path / "media" / "musicgen-bridge" and path.is_file()
    frames, rate = frames_of(path)
    assert (frames, rate) == (158760, 44100) and Fraction(frames, rate) == bar_seconds(2, NUM, DEN, BPM)
    assert item["position"] == pytest.approx(ITEM_POS, abs=1e-9)
    assert item["length"] == pytest.approx(3.6, abs=1e-9)
    # the sidecar the CLI fetched beside it records the request the engine ran: the item's notes
    req = json.loads(path.with_name(path.name + ".json").read_text())["request"]
    assert (req["model"], req["bpm"], req["time_signature"], req["start_bar"], req["bars"]) == \
        ("tiny-melody", 100, "3/4", 3, 2)
    melody = req["melody"]
    assert melody["clip_length_beats"] == 12
    assert [(n["pitch"], n["start_beats"]) for n in melody["notes"]] == [(p, i) for i, p in enumerate(C_MAJOR)]
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name, path.name + ".json"]


def test_flac_through_the_real_cli_is_a_flac_file(tmp_path: Path, daw_server: Any) -> None:
    """format=flac: the script asks for <name>.flac and the engine's FLAC lands under that name."""
    scenario = generate_scenario(tmp_path, ["flac pads", "1", "tiny", "1"], cli_command(),
                                 ext={"musicgen-bridge/server": daw_server.addresses["zmq"],
                                      "musicgen-bridge/format": "flac"}, pump=60)
    snap = run_reaper(scenario, tmp_path)
    assert snap["messages"] == []
    (item,) = snap["tracks"][1]["items"]
    path = Path(item["takes"][0]["source"])
    assert path.name == "flac-pads.flac" and path.read_bytes()[:4] == b"fLaC"
    info = sf.info(str(path))
    assert info.format == "FLAC" and (info.frames, info.samplerate) == (79380, 44100)


@pytest.mark.parametrize("os_name", ["linux64", "Win64"])
def test_cancel_through_the_real_cli_cancels_the_engine_job(tmp_path: Path, daw_server: Any, daw_engine: Any,
                                                            os_name: str) -> None:
    """POSIX: SIGTERM to the CLI, which cancels the job. Windows: `musicgen-bridge cancel JOB_ID`
    with the id from the CLI's "accepted" line; the waiting CLI then ends by itself."""
    scenario = generate_scenario(tmp_path, ["a long one", "64", "tiny", "1"], cli_command(),
                                 ext={"musicgen-bridge/server": daw_server.addresses["zmq"]},
                                 gfx={"cancel_when_text": r"%d+%%"})
    scenario["steps"].insert(1, {"os": os_name})  # the CLI was started; cancel as on that system
    snap = run_reaper(scenario, tmp_path)
    assert snap["messages"] == [] and len(snap["tracks"]) == 2 and snap["esc_tick"] >= 0
    (job_id,) = daw_engine.jobs
    job = daw_engine.wait(job_id, timeout=30)
    assert job.state == "cancelled"
    if os_name == "Win64":
        (cmd,) = [c for c in snap["exec"] if "\"cancel\"" in c]
        assert cmd.endswith(f'"cancel" "{job_id}" "--server" "{daw_server.addresses["zmq"]}"')
        assert not [c for c in snap["exec"] if "kill" in c]
    else:
        (kill,) = [c for c in snap["exec"] if "kill" in c]
        assert kill.startswith("/bin/kill -TERM ")
        assert not [c for c in snap["exec"] if "'cancel'" in c]  # the CLI itself told the engine
    # the CLI ended (its exit status was read) and every job file is gone; nothing was placed
    assert list((tmp_path / "media" / "musicgen-bridge").iterdir()) == []


# -- continuation ------------------------------------------------------------------------------

def continue_scenario(tmp: Path, wav: Path, position: float, length: float, answers: list[Any], offset: float = 0,
                      cli: str | None = None, **take: Any) -> dict[str, Any]:
    item = {"position": position, "length": length, "selected": True,
            "takes": [{"source": str(wav), "start_offset": offset, **take}]}
    return {"project": project(tmp, [item]), "ext": {"musicgen-bridge/cli": cli or fake_cli_command()},
            "inputs": [answers], "steps": [{"script": script("Continue selected audio item")}, {"pump": 60}]}


def test_continue_sends_the_trimmed_range_and_places_the_result_at_its_start_bar(tmp_path: Path) -> None:
    wav = tmp_path / "groove.wav"
    write_wav(wav, bar_seconds(6, NUM, DEN, BPM), 44100)
    log = tmp_path / "cli.json"
    # the item starts mid-bar 2 (bar 2.5), plays 3 bars of its file from half a bar in: ends at bar 5.5
    snap = run_reaper(continue_scenario(tmp_path, wav, 1.5 * BAR_S, 3 * BAR_S, ["", "2", "2", "tiny"],
                                        offset=0.5 * BAR_S), tmp_path, env={"MGB_FAKE_LOG": str(log)})
    assert snap["messages"] == []
    sent = json.loads(log.read_text())
    argv, req = sent["argv"], sent["request"]
    assert argv[:2] == ["continue", "--request"] and req["audio"]["path"] == str(wav)
    assert req["audio"]["start_seconds"] == pytest.approx(0.9, abs=1e-12)
    assert req["audio"]["end_seconds"] == pytest.approx(0.9 + 5.4, abs=1e-12)
    assert req["item_start_bar"] == 2.5 and "start_bar" not in req
    assert (req["context_bars"], req["bars"], req["bpm"], req["time_signature"]) == (2, 2, 100, "3/4")
    (dialog,) = snap["dialogs"]
    assert dialog["defaults"].split("\n")[2] == "2"  # whole bars inside: bars 3 and 4
    items = snap["tracks"][0]["items"]
    assert len(items) == 2 and len(snap["tracks"]) == 2  # same track, no new one
    new = items[1]
    # the item's last bar line is bar 5: the new clip starts there (the item's last half bar overlaps it)
    assert new["position"] == pytest.approx(4 * BAR_S, abs=1e-9)
    assert new["length"] == pytest.approx(2 * BAR_S, abs=1e-9)
    frames, rate = frames_of(new["takes"][0]["source"])
    assert Fraction(frames, rate) == bar_seconds(2, NUM, DEN, BPM)
    assert len(calls(snap, "Undo_BeginBlock")) == 1


@pytest.mark.parametrize(("take", "offset", "length", "says"), [
    ({"playrate": 1.5}, 0, 3, "rate 1.5; continuation needs rate 1.0"),
    ({"stretch_markers": 2}, 0, 3, "stretch markers"),
    ({}, 2 * BAR_S, 3, "past the edges of its file"),  # a 4-bar file played from bar 3 for 3 bars: it loops
    ({}, 0, 0.8, "no whole bar"),
])
def test_continue_refuses_items_whose_audio_is_not_what_the_file_holds(tmp_path: Path, take: dict[str, Any],
                                                                       offset: float, length: float,
                                                                       says: str) -> None:
    wav = tmp_path / "loop.wav"
    write_wav(wav, bar_seconds(4, NUM, DEN, BPM), 44100)
    snap = run_reaper(continue_scenario(tmp_path, wav, BAR_S, length * BAR_S, ["", "2", "3", "tiny"], offset=offset,
                                        **take), tmp_path)
    (msg,) = snap["messages"]
    assert says in msg["text"] and snap["exec"] == [] and snap["dialogs"] == []


def test_continue_through_the_real_cli_lands_on_the_engines_start_bar(tmp_path: Path, daw_server: Any) -> None:
    wav = tmp_path / "groove.wav"
    write_wav(wav, bar_seconds(6, NUM, DEN, BPM), 44100)
    scenario = continue_scenario(tmp_path, wav, 1.5 * BAR_S, 3 * BAR_S, ["", "1", "2", "tiny"], offset=0.5 * BAR_S,
                                 cli=cli_command())
    scenario["ext"]["musicgen-bridge/server"] = daw_server.addresses["zmq"]
    snap = run_reaper(scenario, tmp_path)
    assert snap["messages"] == []
    new = snap["tracks"][0]["items"][1]
    path = Path(new["takes"][0]["source"])
    side = json.loads(path.with_name(path.name + ".json").read_text())
    assert side["item"]["end_bar"] == pytest.approx(5.5) and side["item"]["frames"] == round(3 * BAR_S * 44100)
    assert new["position"] == pytest.approx(4 * BAR_S, abs=1e-9)  # bar 5, the engine's start_bar
    assert new["length"] == pytest.approx(BAR_S, abs=1e-9)
    assert frames_of(path) == (79380, 44100) and Fraction(79380, 44100) == bar_seconds(1, NUM, DEN, BPM)


def test_windows_command_line_quoting_splits_back_into_the_same_words() -> None:
    # split_windows follows the rules Windows programs split their command line by
    words = ["C:\\Program Files\\mgb\\", 'say "hi"', 'a\\"b', "plain", ""]
    code = (f'reaper = {{}}; local jobs = dofile("{REAPER_DIR}/mgb/job.lua")\n'
            'for line in io.lines() do io.write(jobs.win_quote(line), "\\n") end\n')
    proc = subprocess.run([LUA, "-e", code], input="\n".join(words) + "\n", capture_output=True, text=True, check=True)
    quoted = proc.stdout.splitlines()
    assert quoted == ['"C:\\Program Files\\mgb\\\\"', '"say \\"hi\\""', '"a\\\\\\"b"', '"plain"', '""']
    assert split_windows(" ".join(quoted)) == words



def test_lua_json_matches_python_json(tmp_path: Path) -> None:
    code = (f'local json = dofile("{REAPER_DIR}/mgb/json.lua")\n'
            'local v = json.decode(io.read("a"))\n'
            'v.added = {1.5, -2, 1e-7, "tab\\t", json.array({})}\n'
            'io.write(json.encode(v))\n')
    source = {"s": "quote \" backslash \\ é 🎹 \u0001", "n": [0, -3, 2.5, 1e21], "t": True, "f": False,
              "z": None, "o": {"b": 1, "a": [{}]}}
    proc = subprocess.run([LUA, "-e", code], input=json.dumps(source), capture_output=True, text=True, check=True)
    back = json.loads(proc.stdout)
    assert back == {**source, "added": [1.5, -2, 1e-7, "tab\t", []]}


# -- live mode -------------------------------------------------------------------------------

def test_live_follows_the_play_cursor_and_places_windows_at_their_bars(tmp_path: Path, daw_server: Any,
                                                                      daw_engine: Any) -> None:
    import sys

    scenario = {"project": project(tmp_path),
                "ext": {"musicgen-bridge/server": daw_server.addresses["zmq"], "musicgen-bridge/python": sys.executable},
                "inputs": [["ambient pads", "tiny", "2", "2", "2"]],
                "steps": [{"play": {"playing": True, "position": 0}},
                          {"script": script("Live continuation start")}, {"pump": 2.6},
                          # a loaded machine may not have made window 1 yet: wait for it (bounded)
                          {"pump": 60, "until_items": {"track": "MusicGen live: ambient pads", "count": 2}},
                          {"script": script("Live continuation stop")}, {"pump": 20}, {"atexit": True}]}
    snap = run_reaper(scenario, tmp_path)
    assert snap["messages"] == []
    (sent,) = daw_engine.live_starts
    assert {k: sent[k] for k in ("prompt", "model", "bpm", "time_signature", "window_bars", "context_bars",
                                 "ahead_bars", "start_bar")} == {
        "prompt": "ambient pads", "model": "tiny", "bpm": 100, "time_signature": "3/4", "window_bars": 2,
        "context_bars": 2, "ahead_bars": 2, "start_bar": 2}  # playing from bar 1: starts on the next bar
    beats = [t["beat"] for t in daw_engine.transports]
    assert len(beats) >= 3 and beats == sorted(beats) and beats[-1] > 3  # the play cursor, in quarter notes
    assert all(t["bpm"] == 100 and t["playing"] is True for t in daw_engine.transports)
    assert len(daw_engine.stops) == 1 and daw_engine.stops[0] == daw_engine.windows[0]["session_id"]
    assert [t["name"] for t in snap["tracks"]] == ["Keys", "MusicGen live: ambient pads", "Drums"]
    items = snap["tracks"][1]["items"]
    # every window the engine made was placed, at its (1-based) bar: 2, 4, ...
    assert len(items) == len(daw_engine.windows) >= 2
    for i, (item, win) in enumerate(zip(items, daw_engine.windows)):
        assert (win["index"], win["start_bar"], win["bars"]) == (i, 2 + 2 * i, 2)
        assert item["position"] == pytest.approx(BAR_S * (win["start_bar"] - 1), abs=1e-9)
        assert item["length"] == pytest.approx(2 * BAR_S, abs=1e-9)
        path = Path(item["takes"][0]["source"])
        assert path.parent == tmp_path / "media" / "musicgen-bridge"  # copied into the project
        assert path.read_bytes() == Path(win["path"]).read_bytes()
        assert frames_of(path) == (win["frames"], 44100) == (158760, 44100)
    assert len(calls(snap, "Undo_BeginBlock")) == 1 + len(items)  # the track, then one per window
    # the helper files are gone; the windows stay
    assert sorted(p.name for p in (tmp_path / "media" / "musicgen-bridge").iterdir()) == \
        sorted(Path(i["takes"][0]["source"]).name for i in items)
