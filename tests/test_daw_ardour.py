"""Issue 19: the Ardour scripts against the real Ardour session API (headless ardour7-lua).

A 48 kHz session in 3/4, 100 BPM slowing to 90 BPM at bar 3, a MIDI region on bar 3 with a
C-major line; "generate" from it through the real CLI and a running tiny engine; the saved
`.ardour` XML must hold the new region at bar 3's exact sample with exactly the requested bars.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from daw.harness import HERE, ROOT, cli_command

ARDOUR_LUA = shutil.which("ardour7-lua")
pytestmark = pytest.mark.skipif(ARDOUR_LUA is None,
                                reason="ardour7-lua is not installed (apt-get install --no-install-recommends ardour)")

RATE = 48000


def samples(bars: Fraction, num: int, den: int, bpm: int) -> int:
    s = bars * Fraction(num * 4, den) * 60 / bpm * RATE
    assert s.denominator == 1
    return int(s)


def superclock_samples(value: str, superclocks_per_second: int) -> int:
    """Ardour 7 writes audio time as "a<superclocks>"; one sample is a whole number of them."""
    assert value.startswith("a"), value
    per_sample = Fraction(superclocks_per_second, RATE)
    n = Fraction(int(value[1:])) / per_sample
    assert n.denominator == 1, value
    return int(n)


def track_region(root: ET.Element, track: str) -> tuple[ET.Element, int]:
    """The one region on the playlist of the track named `track`, and the session's superclock rate."""
    spc = int(root.find("TempoMap").get("superclocks-per-second"))
    (route_id,) = [r.get("id") for r in root.iter("Route") if r.get("name") == track]
    (playlist,) = [p for p in root.find("Playlists").iter("Playlist") if p.get("orig-track-id") == route_id]
    (region,) = playlist.findall("Region")
    return region, spc


def run_flow(tmp_path: Path, server_addr: str) -> tuple[dict[str, Any], Path]:
    session = tmp_path / "Tom's Song (final) — ü"
    out = tmp_path / "flow.json"
    env = {**os.environ, "MGB_SESSION_DIR": str(session), "MGB_CLI": cli_command(), "MGB_SERVER": server_addr,
           "MGB_PYTHON": sys.executable, "MGB_OUT": str(out), "PYTHONPATH": str(ROOT),
           "MGB_ARDOUR_DIR": str(ROOT / "daw_scripts" / "ardour"),
           "MGB_ARDOUR_SETTINGS": str(tmp_path / "settings.json")}
    proc = subprocess.run([ARDOUR_LUA, str(HERE / "ardour_flow.lua")], capture_output=True, text=True, env=env,
                          timeout=300, cwd=ROOT, check=False)
    assert proc.returncode == 0 and out.exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(out.read_text()), session


def test_generate_from_a_midi_region_lands_on_the_exact_bar(tmp_path: Path, daw_server: Any) -> None:
    report, session = run_flow(tmp_path, daw_server.addresses["zmq"])
    assert "error" not in report, report.get("error")
    # bar 3 = 6 quarter notes at 100 BPM; then 90 BPM in 3/4
    bar3 = samples(Fraction(2), 3, 4, 100)
    assert bar3 == 172800 and report["bar3"] == bar3 and report["region_position"] == bar3
    timing = report["timing"]
    assert (timing["bpm"], timing["num"], timing["denom"], timing["start_bar"], timing["bars"]) == (90, 3, 4, 3, 4)
    assert report["ramp"] == "the tempo changes from 100 to 90 BPM"

    # the saved session: the new track's playlist holds one region at bar 3, exactly 2 bars long
    root = ET.parse(session / "song.ardour").getroot()
    region, spc = track_region(root, report["track"])
    length, _, position = region.get("length").partition("@")
    assert superclock_samples(position, spc) == bar3
    two_bars = samples(Fraction(2), 3, 4, 90)
    assert two_bars == 192000 and superclock_samples(length, spc) == two_bars

    # the region plays the generated file: its sources hold the result's samples
    generated, rate = sf.read(report["path"], dtype="float32", always_2d=True)
    assert (generated.shape[0], rate) == (two_bars, RATE)
    sources = {s.get("id"): s.get("name") for s in root.find("Sources").iter("Source")}
    files = [next((session / "interchange").rglob(sources[region.get(f"source-{i}")])) for i in range(2)]
    for ch, f in enumerate(files):
        data, _ = sf.read(f, dtype="float32")
        assert data.shape[0] == two_bars and np.array_equal(data, generated[:, ch])
    assert np.abs(generated).max() > 0  # real audio, not the silence the region was made with

    # what the engine was asked: tempo and meter at the region, its bar, its notes as the melody
    side = json.loads(Path(report["path"] + ".json").read_text())["request"]
    assert (side["bpm"], side["time_signature"], side["start_bar"], side["bars"], side["sample_rate"]) == \
        (90, "3/4", 3, 2, RATE)
    pitches = [60, 62, 64, 65, 67, 69, 71, 72, 71, 69, 67, 65]
    assert [(n["pitch"], n["start_beats"], n["duration_beats"]) for n in side["melody"]["notes"]] == \
        [(p, i, 0.5) for i, p in enumerate(pitches)]
    assert side["melody"]["clip_length_beats"] == 12

    # the Continue action on that region: the new bar starts on its last bar line (bar 5)
    assert report["continue_messages"] == [] and report["continue_fields"] == 4
    cont, _ = track_region(root, "MusicGen: continuation")
    length, _, position = cont.get("length").partition("@")
    assert superclock_samples(position, spc) == bar3 + two_bars == 364800
    assert superclock_samples(length, spc) == samples(Fraction(1), 3, 4, 90) == 96000
