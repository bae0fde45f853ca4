"""Write examples/melody/c_major_line.mid: a 4-bar C-major tune at 120 bpm, one track (type 0).

Run from the repository root:  python examples/melody/make_melody.py
Use it as a melody:  engine.conditioning.melody_from_midi("examples/melody/c_major_line.mid")
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import mido

TICKS_PER_BEAT = 480
BPM = 120
# (MIDI pitch, length in beats): four bars of 4/4 in C major, ending on the tonic.
TUNE = [
    (60, 1), (62, 1), (64, 1), (65, 1),        # C D E F
    (67, 2), (64, 2),                           # G - E -
    (65, 1), (69, 1), (67, 1), (65, 1),         # F A G F
    (64, 1), (62, 1), (60, 2),                  # E D C -
]


def build() -> mido.MidiFile:
    """The tune as a type-0 MIDI file (tempo, time signature and notes in one track)."""
    midi = mido.MidiFile(type=0, ticks_per_beat=TICKS_PER_BEAT)
    track = mido.MidiTrack()
    midi.tracks.append(track)
    track.append(mido.MetaMessage("track_name", name="C major line", time=0))
    track.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(BPM), time=0))
    track.append(mido.MetaMessage("time_signature", numerator=4, denominator=4, time=0))
    for pitch, beats in TUNE:
        track.append(mido.Message("note_on", note=pitch, velocity=96, time=0))
        track.append(mido.Message("note_off", note=pitch, velocity=0,
                                  time=beats * TICKS_PER_BEAT))
    track.append(mido.MetaMessage("end_of_track", time=0))
    return midi


DEFAULT_PATH = Path(__file__).with_name("c_major_line.mid")


def main(path: Path = DEFAULT_PATH) -> None:
    # Write to a temp name beside the target, then rename: never leave a half-written file.
    fd, tmp = tempfile.mkstemp(suffix=".mid", dir=path.parent)
    try:
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; this is a file to share
        with os.fdopen(fd, "wb") as fh:
            build().save(file=fh)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    print(f"wrote {path} ({sum(beats for _, beats in TUNE)} beats at {BPM} bpm)")


if __name__ == "__main__":
    main()
