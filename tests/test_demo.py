"""`musicgen-bridge demo` runs the product path over the wire and leaves real files behind."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import soundfile as sf


def test_demo_leaves_bar_exact_files_and_sidecars(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    env_cache = tmp_path / "empty-hf-cache"
    proc = subprocess.run([sys.executable, "-m", "musicgen_bridge.bridge.cli", "demo", "--out-dir", str(out),
                           "--cache-dir", str(env_cache)], capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "NOISE" in proc.stdout and "tiny" in proc.stdout  # says plainly what it runs on
    assert str(out) in proc.stdout
    wavs = sorted(out.glob("*.wav"))
    assert len(wavs) == 10  # 1 + 3 takes + melody + continuation + 3 live windows + OSC
    frames = {}
    for wav in wavs:
        side = json.loads(wav.with_name(wav.name + ".json").read_text())
        assert side["file"] == wav.name and side["frames"] == sf.info(wav).frames
        frames.setdefault(side["request"]["prompt"], []).append(sf.info(wav).frames)
    bar_96 = 4 * 60 * 48000 // 96
    assert sorted(frames["dusty lofi hip hop drums"]) == [2 * bar_96, 4 * bar_96]  # continuation, original
    assert frames["odd-meter synth arpeggio"] == [round(2 * 3.5 * 60 / 93.5 * 48000)] * 3
    assert frames["warm electric piano"] == [4 * 4 * 60 * 48000 // 120]
    assert frames["ambient pads"] == [96000] * 3
    assert frames["808 bass hit"] == [96000]
    assert not list(out.glob(".*.part"))  # no temp files left behind
