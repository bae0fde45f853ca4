"""Issue 19: the Reaper scripts on every OS, checked against a mock that can fail.

Project paths with apostrophes, parentheses and non-ASCII letters on the POSIX path (ExecProcess
without a shell) and through an emulation of Windows' CreateProcess + cmd.exe rules
(tests/daw/wincmd.py); the start watchdog; the file extension of the format; tempo ramps; MIDI
take offsets; Space; undo points; writes that survive a reader holding the file; the API check.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import soundfile as sf
from daw.harness import HERE, LUA, REAPER_DIR, calls, fake_cli_command, frames_of, run_reaper, script

pytestmark = pytest.mark.skipif(LUA is None, reason="lua5.4 is not installed (apt-get install lua5.4)")

BPM, NUM, DEN = 100, 3, 4
BAR_S = 1.8
AWKWARD = "Tom's Song (final) — ü"
PROMPT = 'Tom\'s "dusty" keys — ü & co'


def midi_item(position: float = 2 * BAR_S, length: float = 4 * BAR_S, offset: float = 0) -> dict[str, Any]:
    notes = [{"pitch": 60 + i, "start_qn": i, "end_qn": i + 0.5} for i in range(12)]
    return {"position": position, "length": length, "selected": True,
            "takes": [{"midi": {"ppq": 960, "notes": notes}, "start_offset": offset}]}


def scenario(media: Path, answers: list[Any], cli: str, items: list[dict[str, Any]] | None = None,
             markers: list[dict[str, Any]] | None = None, action: str = "Generate from selected MIDI item",
             pump: float = 20, **extra: Any) -> dict[str, Any]:
    project = {"bpm": BPM, "num": NUM, "denom": DEN, "media_path": str(media), "srate": 44100,
               "markers": markers or [], "tracks": [{"name": "Keys", "selected": True,
                                                    "items": items if items is not None else [midi_item()]}]}
    return {"project": project, "ext": {"musicgen-bridge/cli": cli, **extra.pop("ext", {})}, "inputs": [answers],
            "steps": [{"script": script(action)}, {"pump": pump}], **extra}


def test_posix_project_path_with_apostrophe_parentheses_and_non_ascii(tmp_path: Path) -> None:
    media = tmp_path / AWKWARD / "media"
    log = tmp_path / "cli.json"
    snap = run_reaper(scenario(media, [PROMPT, "2", "tiny", "1"], fake_cli_command()), tmp_path,
                      env={"MGB_FAKE_LOG": str(log)})
    assert snap["messages"] == []
    (command,) = snap["exec"]  # what ExecProcess got: no shell runs it, REAPER splits it
    assert command.startswith('/bin/sh "') and AWKWARD in command
    sent = json.loads(log.read_text())
    assert sent["request"]["prompt"] == PROMPT  # free text only in the request file
    (item,) = snap["tracks"][1]["items"]
    path = Path(item["takes"][0]["source"])
    assert path.parent == media / "musicgen-bridge" and path.is_file()
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


def test_posix_cancel_in_an_awkward_folder(tmp_path: Path) -> None:
    log = tmp_path / "cli.json"
    snap = run_reaper(scenario(tmp_path / AWKWARD, ["x", "4", "tiny", "1"], fake_cli_command(),
                               gfx={"cancel_when_text": r"%d+%%"}), tmp_path,
                      env={"MGB_FAKE_MODE": "slow", "MGB_FAKE_LOG": str(log)})
    assert snap["messages"] == [] and len(snap["tracks"]) == 1
    assert Path(str(log) + ".term").read_text() == "cancelled"
    assert list((tmp_path / AWKWARD / "musicgen-bridge").iterdir()) == []


def awkward_cli(tmp_path: Path) -> Path:
    """The CLI installed in a folder whose name needs UTF-8 and quoting (a user name with ü)."""
    folder = tmp_path / "Jürgen (x86) & co — tools"
    folder.mkdir()
    cli = folder / "musicgen-bridge"
    cli.write_text(f"#!/bin/sh\nexec {sys.executable} {HERE / 'fake_cli.py'} \"$@\"\n")
    cli.chmod(0o755)
    return cli


def test_windows_wrapper_runs_under_cmd_rules_in_an_awkward_folder(tmp_path: Path) -> None:
    media = tmp_path / AWKWARD
    log = tmp_path / "cli.json"
    snap = run_reaper(scenario(media, [PROMPT, "2", "tiny", "1"], str(awkward_cli(tmp_path)), os="Win64"), tmp_path,
                      env={"MGB_FAKE_LOG": str(log)})
    assert snap["messages"] == [], snap["messages"]
    (command,) = snap["exec"]
    assert command.startswith('cmd.exe /d /s /c ""') and command.endswith('.cmd""')
    sent = json.loads(log.read_text())
    # the .cmd changed to its own folder: job files are named relative to it
    assert Path(sent["cwd"]) == media / "musicgen-bridge"
    assert sent["argv"][:3] == ["generate", "--request", "tom-s-dusty-keys-co.request.json"]
    assert sent["request"]["prompt"] == PROMPT
    (item,) = snap["tracks"][1]["items"]
    path = Path(item["takes"][0]["source"])
    assert path.parent == media / "musicgen-bridge" and frames_of(path) == (158760, 44100)
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


def wincmd(tmp_path: Path, line: str) -> subprocess.CompletedProcess[str]:
    f = tmp_path / "cmdline.txt"
    f.write_text(line, encoding="utf-8")
    return subprocess.run([sys.executable, str(HERE / "wincmd.py"), str(f)], capture_output=True, text=True,
                          timeout=30, cwd=tmp_path, check=False)


def test_the_cmd_emulation_fails_where_cmd_fails(tmp_path: Path) -> None:
    """The rules the fix relies on, shown failing for what the scripts used to do."""
    folder = tmp_path / "Song (final)"
    folder.mkdir()
    bat = folder / "job.cmd"
    bat.write_bytes(b"@echo off\r\necho ran> \"out.txt\"\r\n")
    # without /s, quotes around a path holding ( ) are stripped: the path splits at its space
    old = wincmd(tmp_path, f'cmd.exe /C "{bat}"')
    assert old.returncode == 9009 % 256 and "is not recognized" in old.stderr and not (folder / "out.txt").exists()
    new = wincmd(tmp_path, f'cmd.exe /d /s /c ""{bat}""')
    assert new.returncode == 0 and (tmp_path / "out.txt").read_bytes() == b"ran\r\n"
    # a UTF-8 batch line is read in the OEM code page unless chcp 65001 came first
    target = tmp_path / "Jürgen"
    target.mkdir()
    for chcp, ok in ((b"", False), (b"chcp 65001 > nul\r\n", True)):
        bat.write_bytes(b"@echo off\r\n" + chcp + f'cd /d "{target}"\r\necho here> "x.txt"\r\n'.encode())
        (target / "x.txt").unlink(missing_ok=True)
        wincmd(tmp_path, f'cmd.exe /d /s /c ""{bat}""')
        assert (target / "x.txt").exists() == ok


def test_a_job_that_never_starts_ends_in_an_error_within_the_watchdog_time(tmp_path: Path) -> None:
    log = tmp_path / "cli.json"
    snap = run_reaper(scenario(tmp_path, ["x", "2", "tiny", "1"], fake_cli_command(),
                               ext={"musicgen-bridge/start_timeout": "1.5"}, pump=30), tmp_path,
                      env={"MGB_FAKE_MODE": "mute", "MGB_FAKE_LOG": str(log)})
    assert not snap["timed_out"] and snap["window_closed"]
    assert snap["ticks"] * 0.05 < 1.5 + 1.0  # ended right after the watchdog time, not at the pump's limit
    (msg,) = snap["messages"]
    assert "did not start the job within 1.5 s" in msg["text"]
    assert "loading the tokenizer... (stuck)" in msg["text"]  # the CLI's stderr is shown
    deadline = time.monotonic() + 30  # the stuck CLI was told to stop (SIGTERM); generous under load
    while not Path(str(log) + ".term").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert Path(str(log) + ".term").exists()
    assert len(snap["tracks"]) == 1


def test_a_command_that_never_runs_is_reported_too(tmp_path: Path) -> None:
    # a wrapper that cannot even start: no stderr file ever appears
    snap = run_reaper(scenario(tmp_path, ["x", "2", "tiny", "1"], fake_cli_command(), os="Win64",
                               ext={"musicgen-bridge/start_timeout": "1"}, pump=10), tmp_path,
                      env={"MGB_PYTHON": "/nonexistent/python"})
    (msg,) = snap["messages"]
    assert "did not start the job within 1 s" in msg["text"] and "never started" in msg["text"]


@pytest.mark.parametrize(("fmt", "ext", "container"), [("flac", ".flac", "FLAC"), ("aiff", ".aiff", "AIFF"),
                                                      ("wav16", ".wav", "WAV")])
def test_the_file_extension_follows_the_format(tmp_path: Path, fmt: str, ext: str, container: str) -> None:
    log = tmp_path / "cli.json"
    snap = run_reaper(scenario(tmp_path, ["pads", "2", "tiny", "1"], fake_cli_command(),
                               ext={"musicgen-bridge/format": fmt}), tmp_path, env={"MGB_FAKE_LOG": str(log)})
    sent = json.loads(log.read_text())
    out = sent["argv"][sent["argv"].index("--out") + 1]
    assert out.endswith("pads" + ext) and sent["request"]["format"] == fmt
    (item,) = snap["tracks"][1]["items"]
    assert item["takes"][0]["source"] == out and sf.info(out).format == container


RAMP = [{"qn": 15, "bpm": 100, "linear": True}, {"qn": 27, "bpm": 130}]  # bar 6 ramps to 130 at bar 10


@pytest.mark.parametrize(("bars", "markers", "says"), [
    ("4", RAMP, "the tempo ramps from 100 to 130 BPM"),  # bars 3-6 reach the ramp
    ("2", [{"qn": 0, "bpm": 90, "linear": True}, {"qn": 27, "bpm": 130}], "the tempo ramps from 90 to 130"),
    ("4", [{"qn": 12, "bpm": 120}], "the tempo changes from 100 to 120 BPM"),
    ("4", [{"qn": 12, "bpm": 100, "num": 4, "denom": 4}], "the time signature changes to 4/4"),
])
def test_generate_refuses_tempo_ramps_and_changes_in_the_bars_it_fills(tmp_path: Path, bars: str,
                                                                        markers: list[dict[str, Any]],
                                                                        says: str) -> None:
    snap = run_reaper(scenario(tmp_path, ["x", bars, "tiny", "1"], fake_cli_command(), markers=markers), tmp_path)
    (msg,) = snap["messages"]
    assert says in msg["text"] and snap["exec"] == [] and len(snap["tracks"]) == 1


def test_bars_before_a_ramp_and_a_marker_that_changes_nothing_are_fine(tmp_path: Path) -> None:
    log = tmp_path / "cli.json"
    markers = [{"qn": 9, "bpm": 100}, *RAMP]  # a no-op marker inside bars 3-4, the ramp after them
    snap = run_reaper(scenario(tmp_path, ["x", "3", "tiny", "1"], fake_cli_command(), markers=markers), tmp_path,
                      env={"MGB_FAKE_LOG": str(log)})
    assert snap["messages"] == [] and json.loads(log.read_text())["request"]["bpm"] == 100
    (item,) = snap["tracks"][1]["items"]
    assert item["position"] == pytest.approx(2 * BAR_S) and item["length"] == pytest.approx(3 * BAR_S)


def test_continue_refuses_a_ramp_inside_the_item(tmp_path: Path) -> None:
    wav = tmp_path / "a.wav"
    sf.write(wav, [[0.0, 0.0]] * 44100 * 10, 44100)
    item = {"position": 4 * BAR_S, "length": 3 * BAR_S, "selected": True, "takes": [{"source": str(wav)}]}
    snap = run_reaper(scenario(tmp_path, ["", "2", "2", "tiny"], fake_cli_command(), items=[item], markers=RAMP,
                               action="Continue selected audio item"), tmp_path)
    (msg,) = snap["messages"]
    assert "Inside the item, the tempo ramps from 100 to 130 BPM" in msg["text"] and snap["exec"] == []


def test_mock_time_map_follows_a_ramp() -> None:
    # tempo 100 -> 130 linearly over 12 quarter notes: t = 60/k * ln(b1/b0), k = 30/12 bpm per quarter note
    code = (f'local mock = dofile("{HERE}/reaper_mock.lua")\n'
            'local tm = mock.time_map({bpm = 100, num = 3, denom = 4, markers = '
            '{{qn = 15, bpm = 100, linear = true}, {qn = 27, bpm = 130}}})\n'
            'io.write(string.format("%.12f %.12f %.12f", tm.time(27), tm.qn(tm.time(21)), tm.bpm_at_qn(21)))\n')
    out = subprocess.run([LUA, "-e", code], capture_output=True, text=True, check=True).stdout.split()
    import math
    assert float(out[0]) == pytest.approx(9.0 + 60 / 2.5 * math.log(1.3), abs=1e-9)
    assert float(out[1]) == pytest.approx(21, abs=1e-9) and float(out[2]) == pytest.approx(115, abs=1e-9)


def test_midi_take_start_offset_shifts_the_notes(tmp_path: Path) -> None:
    log = tmp_path / "cli.json"
    # the take starts one bar (3 quarter notes) into its MIDI: notes 0-2 are before the item
    snap = run_reaper(scenario(tmp_path, ["x", "3", "tiny-melody", "1"], fake_cli_command(),
                               items=[midi_item(length=3 * BAR_S, offset=BAR_S)]), tmp_path,
                      env={"MGB_FAKE_LOG": str(log)})
    assert snap["messages"] == []
    notes = json.loads(log.read_text())["request"]["melody"]["notes"]
    assert [(n["pitch"], n["start_beats"]) for n in notes] == [(63 + i, i) for i in range(9)]


def test_space_in_the_progress_window_plays_and_stops(tmp_path: Path) -> None:
    snap = run_reaper(scenario(tmp_path, ["x", "4", "tiny", "1"], fake_cli_command(),
                               gfx={"keys": [{"tick": 3, "char": 32}], "cancel_when_text": r"%d+%%"}), tmp_path,
                      env={"MGB_FAKE_MODE": "slow"})
    (i,) = calls(snap, "Main_OnCommand")
    assert snap["calls"][i]["args"] == [40044, 0] and snap["play"]["playing"] is True
    assert snap["esc_tick"] >= 0 and snap["messages"] == []  # Space did not cancel; Esc did


@pytest.mark.parametrize("action", ["Cancel", "Settings", "Live continuation stop"])
def test_cancel_settings_and_stop_add_no_undo_point(tmp_path: Path, action: str) -> None:
    snap = run_reaper({"project": {}, "inputs": [False], "steps": [{"script": script(action)}, {"pump": 1}]},
                      tmp_path)
    assert snap["undo"] == []


def test_the_mock_adds_the_undo_point_reaper_adds(tmp_path: Path) -> None:
    plain = tmp_path / "plain.lua"
    plain.write_text('reaper.SetExtState("musicgen-bridge", "cancel", "1", false)\n')
    snap = run_reaper({"project": {}, "steps": [{"script": str(plain)}]}, tmp_path)
    assert snap["undo"] == ["ReaScript: Run"]


def lua(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([LUA, "-e", code], capture_output=True, text=True, timeout=30, check=False)


@pytest.mark.parametrize(("call", "says"), [
    ('reaper.GetProjectPath("")', "reaper.GetProjectPath takes 0 to 0 arguments, got 1"),
    ("reaper.TimeMap2_timeToQN(0)", "reaper.TimeMap2_timeToQN takes 2 to 2 arguments, got 1"),
    ('reaper.GetMediaSourceFileName(nil, "")', "takes 1 to 1 arguments, got 2"),
    ("reaper.GetItemPosition(nil)", "reaper.GetItemPosition is not a REAPER API function"),
])
def test_the_mock_rejects_unknown_functions_and_wrong_argument_counts(call: str, says: str) -> None:
    proc = lua(f'local mock = dofile("{HERE}/reaper_mock.lua"); mock.install({{}}); {call}')
    assert proc.returncode != 0 and says in proc.stderr


def test_api_list_comes_from_the_sdk_header() -> None:
    text = (HERE / "reaper_api.txt").read_text()
    assert "github:justinfrankel/reaper-sdk" in text.splitlines()[0] and "at commit " in text.splitlines()[1]
    rows = {line.split("\t")[0]: line.split("\t")[1:3] for line in text.splitlines() if not line.startswith("#")}
    # out-parameters are returned, buffer sizes implied, InOptional may be left off (ReaScript's mapping)
    assert rows["MIDI_GetNote"] == ["2", "2"] and rows["GetUserInputs"] == ["4", "4"]
    assert rows["CreateNewMIDIItemInProj"] == ["3", "4"] and rows["TimeMap2_timeToBeats"] == ["2", "2"]
    assert len(rows) > 800 and rows["defer"] == ["1", "1"]


def test_writes_survive_a_reader_holding_the_file(tmp_path: Path) -> None:
    """Windows: a rename cannot replace a file and a file another process has open cannot be
    deleted. write_file must still get the new data in, and never raise (it runs in a defer loop)."""
    target = tmp_path / "t.json"
    target.write_text("old")
    code = (f'reaper = {{}}; local jobs = dofile("{REAPER_DIR}/mgb/job.lua")\n'
            'local rename, remove = os.rename, os.remove\n'
            'os.rename = function(a, b) local f = io.open(b, "rb") if f then f:close() return nil, "exists" end '
            'return rename(a, b) end\n'
            f'os.remove = function(p) if p == "{target}" then return nil, "in use" end return remove(p) end\n'
            f'assert(jobs.write_file("{target}", "new") == true)\n'
            f'local ok, why = jobs.write_file("{tmp_path}/no/such/folder/x.json", "x")\n'
            'io.write(tostring(ok), " ", tostring(why ~= nil))\n')
    proc = lua(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "nil true" and target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.json"]


def test_every_reaper_call_in_the_scripts_is_a_real_api_function() -> None:
    """Also the calls no scenario reaches: each reaper.NAME the scripts use is in the SDK's list."""
    api = {line.split("\t")[0] for line in (HERE / "reaper_api.txt").read_text().splitlines()
           if not line.startswith("#")}
    used = set()
    for lua in REAPER_DIR.rglob("*.lua"):
        used |= set(re.findall(r"\breaper\.(\w+)", lua.read_text()))
    assert len(used) > 50 and used - api == set()
