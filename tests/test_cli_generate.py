"""Issue 2 acceptance: the CLI writes bar-exact files, reproducibly, and refuses bad requests cleanly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from musicgen_bridge.bridge.cli import main


def run_cli(*args: str) -> int:
    return main(list(args))


def gen_args(out: Path, *extra: str) -> list[str]:
    return ["generate", "--local", "--model", "tiny", "--prompt", "lofi drums", "--bars", "2", "--bpm", "90",
            "--sample-rate", "44100", "--out", str(out), *extra]


def test_two_bars_at_90_bpm_is_exactly_235200_frames(tmp_path: Path, capsys) -> None:
    out = tmp_path / "a.wav"
    assert run_cli(*gen_args(out)) == 0
    info = sf.info(out)
    assert info.frames == 235200  # 2 bars * 4 beats * 60/90 s * 44100 Hz
    assert info.samplerate == 44100
    assert info.subtype == "PCM_24"
    assert info.channels == 2
    assert str(out) in capsys.readouterr().out


def test_same_seed_gives_identical_audio_and_other_seed_differs(tmp_path: Path) -> None:
    paths = [tmp_path / "a.wav", tmp_path / "b.wav", tmp_path / "c.wav"]
    assert run_cli(*gen_args(paths[0], "--seed", "7")) == 0
    assert run_cli(*gen_args(paths[1], "--seed", "7")) == 0
    assert run_cli(*gen_args(paths[2], "--seed", "8")) == 0
    a, b, c = (sf.read(p, dtype="int32")[0] for p in paths)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    assert np.abs(a).max() > 0  # not silence


def test_sidecar_holds_what_reproduces_the_file(tmp_path: Path) -> None:
    out = tmp_path / "a.wav"
    assert run_cli(*gen_args(out, "--seed", "7")) == 0
    side = json.loads((tmp_path / "a.wav.json").read_text())
    assert side["seed"] == 7
    assert side["model"] == "tiny"
    assert side["model_revision"].startswith("builtin-seed")
    assert side["request"]["bars"] == 2 and side["request"]["bpm"] == 90
    assert side["request"]["time_signature"] == "4/4"
    assert side["prompt_sent"] == "lofi drums, 90 bpm"
    assert {"torch", "transformers", "pedalboard", "musicgen-bridge"} <= set(side["versions"])
    assert side["frames"] == 235200
    # the sidecar's request reproduces the audio exactly
    again = tmp_path / "again"
    again.mkdir()
    req = side["request"]
    args = ["generate", "--local", "--model", req["model"], "--prompt", req["prompt"], "--bars", str(req["bars"]),
            "--bpm", str(req["bpm"]), "--sample-rate", str(req["sample_rate"]), "--seed", str(req["seed"]),
            "--out", str(again / "b.wav")]
    assert run_cli(*args) == 0
    assert np.array_equal(sf.read(out, dtype="int32")[0], sf.read(again / "b.wav", dtype="int32")[0])


@pytest.mark.parametrize("rate", [44100, 48000, 88200, 96000])
def test_every_session_rate_is_exact(tmp_path: Path, rate: int) -> None:
    out = tmp_path / f"r{rate}.wav"
    assert run_cli("generate", "--local", "--model", "tiny", "--bars", "1", "--bpm", "93.5",
                   "--time-signature", "7/8", "--sample-rate", str(rate), "--out", str(out)) == 0
    # one bar of 7/8 = 3.5 quarter notes; at 93.5 bpm: 3.5 * 60 / 93.5 s
    from fractions import Fraction
    expected = Fraction(7, 2) * 60 / Fraction(187, 2) * rate
    assert sf.info(out).frames == int(expected + Fraction(1, 2))


def test_float_format_and_mono(tmp_path: Path) -> None:
    out = tmp_path / "f.wav"
    assert run_cli("generate", "--local", "--model", "tiny", "--bars", "1", "--bpm", "120", "--format", "wav32f",
                   "--channels", "1", "--out", str(out)) == 0
    info = sf.info(out)
    assert (info.subtype, info.channels, info.frames) == ("FLOAT", 1, 96000)


@pytest.mark.parametrize("bad, code", [
    (["--bars", "0"], "invalid_field"),
    (["--bpm", "-5"], "invalid_field"),
    (["--bpm", "nan"], "invalid_field"),
    (["--bars", "100000"], "too_large"),
    (["--model", "no-such-model"], "unknown_model"),
    (["--time-signature", "4/0"], "invalid_field"),
])
def test_bad_requests_exit_nonzero_with_one_line_and_write_nothing(tmp_path: Path, capsys, bad, code) -> None:
    out = tmp_path / "x.wav"
    args = ["generate", "--local", "--model", "tiny", "--bars", "2", "--bpm", "90", "--out", str(out)]
    # later flags win in argparse
    assert run_cli(*args, *bad) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith(f"musicgen-bridge: {code}: ")
    assert list(tmp_path.iterdir()) == []


def test_existing_file_is_never_overwritten(tmp_path: Path, capsys) -> None:
    out = tmp_path / "keep.wav"
    out.write_bytes(b"producer's take")
    assert run_cli(*gen_args(out)) == 2
    assert out.read_bytes() == b"producer's take"
    assert "file_exists" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.wav"]


def test_missing_weights_fail_fast_with_a_helpful_message(tmp_path: Path) -> None:
    out = tmp_path / "s.wav"
    env = {**os.environ, "HF_HUB_CACHE": str(tmp_path / "hf"), "HF_HOME": str(tmp_path / "hfhome")}
    env.pop("HF_HUB_OFFLINE", None)
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "musicgen_bridge.bridge.cli", "generate", "--local", "--model",
                           "facebook/musicgen-small", "--bars", "1", "--out", str(out)],
                          capture_output=True, text=True, env=env, timeout=60, check=False)
    elapsed = time.monotonic() - started
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "model_unavailable" in lines[0]
    assert "facebook/musicgen-small" in lines[0]
    assert str(tmp_path / "hf") in lines[0]  # names the cache dir
    assert "download" in lines[0]  # says how to fetch the weights
    assert elapsed < 10, elapsed
    assert not out.exists()


def test_models_lists_names_sizes_and_cache_state(tmp_path: Path, capsys) -> None:
    assert run_cli("models", "--cache-dir", str(tmp_path), "--json") == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["tiny"]["cached"] is True and rows["tiny"]["builtin"] is True
    assert rows["tiny-melody"]["melody"] is True
    assert rows["facebook/musicgen-small"]["cached"] is False
    assert rows["facebook/musicgen-stereo-melody-large"]["stereo"] is True
    for name in ("facebook/musicgen-medium", "facebook/musicgen-large", "facebook/musicgen-melody",
                 "facebook/musicgen-melody-large", "facebook/musicgen-stereo-small"):
        assert name in rows


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).with_name("musicgen-bridge")
    proc = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0
    for command in ("generate", "serve", "models", "demo"):
        assert command in proc.stdout
