"""``--request FILE.json``: a DAW script passes the whole request in one UTF-8 file (issue 19)."""

from __future__ import annotations

import json
from pathlib import Path

import soundfile as sf

from musicgen_bridge.bridge.cli import main


def test_request_file_carries_every_field_and_non_ascii_text(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "Tom's Song (final) — ü"
    folder.mkdir()
    req = folder / "clip.request.json"
    req.write_text(json.dumps({"prompt": "Tom's \"dusty\" drums — ü", "model": "tiny", "bars": 1, "bpm": 100,
                               "time_signature": "3/4", "start_bar": 3, "sample_rate": 32000, "format": "flac"},
                              ensure_ascii=False), encoding="utf-8")
    out = folder / "clip.flac"
    # the command-line options are ignored when --request is given: the file decides
    assert main(["generate", "--local", "--request", str(req), "--bpm", "60", "--json", "--out", str(out)]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    info = sf.info(result["path"])
    assert Path(result["path"]) == out and info.format == "FLAC"
    assert (info.frames, info.samplerate) == (57600, 32000)  # 3 beats at 100 bpm = 1.8 s
    side = json.loads(out.with_name(out.name + ".json").read_text())
    assert side["request"]["prompt"] == "Tom's \"dusty\" drums — ü" and side["request"]["start_bar"] == 3


def test_unreadable_or_bad_request_file_is_a_clear_error(tmp_path: Path, capsys) -> None:
    assert main(["generate", "--local", "--request", str(tmp_path / "none.json")]) == 2
    assert capsys.readouterr().err.startswith("musicgen-bridge: invalid_field: cannot read the request file")
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    assert main(["continue", "--local", "--request", str(bad)]) == 2
    assert "must hold a JSON object" in capsys.readouterr().err
    assert main(["continue", "--local", "--model", "tiny"]) == 2
    assert capsys.readouterr().err.startswith("musicgen-bridge: missing_field: continue needs --audio")
