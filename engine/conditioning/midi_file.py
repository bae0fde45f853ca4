"""MIDI files (type 0, 1, and 2 with one track chosen) -> :class:`Melody`, read with mido.

Positions are kept in quarter-note beats, exactly: a note at tick ``t`` starts at beat
``Fraction(t, ticks_per_beat)``. The file's tempo map is used only to turn a range given in
seconds into beats; the melody itself then follows the session tempo.

>>> melody = melody_from_midi("examples/melody/c_major_line.mid", start=0, end=4)
>>> melody.length_beats
Fraction(4, 1)
"""

from __future__ import annotations

import io
import os
from collections import defaultdict, deque
from fractions import Fraction
from typing import Any, Literal

import mido

from ..errors import EngineError
from .melody import MAX_NOTES, Melody, Note, clip_notes, to_fraction
from .midi_scan import count_note_ons

#: MIDI files larger than this are refused (a melody file is a few kB; 20,000 notes take about 160 kB).
MAX_MIDI_BYTES = 2 * 1024 * 1024
#: note-ons in the whole file (every track) beyond which it is refused before a full parse
MAX_FILE_NOTES = 4 * MAX_NOTES
#: MIDI's default tempo (120 bpm) in microseconds per beat, in force until a set_tempo.
DEFAULT_TEMPO = 500_000
#: Channel 10 (index 9) is General MIDI percussion: its "pitches" are drum kinds, not notes.
DRUM_CHANNEL = 9


def _load(source: str | os.PathLike | bytes) -> mido.MidiFile:
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    else:
        try:
            if os.path.getsize(source) > MAX_MIDI_BYTES:
                raise EngineError("too_large", f"MIDI file {os.fspath(source)!r} is larger than "
                                  f"{MAX_MIDI_BYTES} bytes")
            with open(source, "rb") as fh:
                data = fh.read(MAX_MIDI_BYTES + 1)
        except OSError as exc:
            raise EngineError("bad_midi", f"cannot read MIDI file {os.fspath(source)!r}: "
                              f"{exc.strerror or exc}; check the path") from exc
    if len(data) > MAX_MIDI_BYTES:
        raise EngineError("too_large", f"MIDI data is larger than {MAX_MIDI_BYTES} bytes")
    # counted while scanning, before mido builds every message: an oversized file is refused cheaply
    if count_note_ons(data, stop_after=MAX_FILE_NOTES) > MAX_FILE_NOTES:
        raise EngineError("too_large", f"the MIDI file holds more than {MAX_FILE_NOTES} notes in all; a melody "
                          f"uses at most {MAX_NOTES}: export only the melody's track and range")
    try:
        midi = mido.MidiFile(file=io.BytesIO(data))
    except Exception as exc:  # mido raises OSError, EOFError, ValueError, KeyError... on junk
        detail = str(exc) or type(exc).__name__
        raise EngineError("bad_midi", f"the MIDI file is corrupt or truncated ({detail}); "
                          "export it again from the DAW") from exc
    if midi.type not in (0, 1, 2):
        raise EngineError("bad_midi", f"MIDI format {midi.type} does not exist (expected 0, 1 "
                          "or 2); the file is corrupt")
    if midi.ticks_per_beat <= 0:
        raise EngineError("bad_midi", "the MIDI file uses SMPTE or zero time division; only "
                          "ticks-per-beat files are supported, export with a PPQ resolution")
    return midi


def _absolute(track: mido.MidiTrack) -> list[tuple[int, Any]]:
    tick, out = 0, []
    for msg in track:
        tick += msg.time
        out.append((tick, msg))
    return out


def tempo_map(tracks: list[list[tuple[int, Any]]]) -> list[tuple[int, int]]:
    """(tick, microseconds per beat) changes in time order, starting with tick 0."""
    changes = [(tick, msg.tempo) for events in tracks for tick, msg in events
               if msg.type == "set_tempo"]
    # stable sort by tick only: of several changes at one tick the one later in the file wins
    changes.sort(key=lambda c: c[0])
    out = [(0, DEFAULT_TEMPO)]
    for tick, tempo in changes:
        if tempo <= 0:
            raise EngineError("bad_midi", "the MIDI file has a set_tempo of 0; it is corrupt")
        if out[-1][0] == tick:
            out[-1] = (tick, tempo)
        else:
            out.append((tick, tempo))
    return out


def seconds_to_beats(seconds: Fraction, tempos: list[tuple[int, int]],
                     ticks_per_beat: int) -> Fraction:
    """Beat position of a time in seconds under a tempo map, exactly.

    >>> seconds_to_beats(Fraction(3), [(0, 500_000), (960, 1_000_000)], 480)
    Fraction(4, 1)
    """
    elapsed, tick = Fraction(0), Fraction(0)
    for i, (start, tempo) in enumerate(tempos):
        sec_per_tick = Fraction(tempo, 1_000_000 * ticks_per_beat)
        end = tempos[i + 1][0] if i + 1 < len(tempos) else None
        span = None if end is None else (end - start) * sec_per_tick
        if span is None or elapsed + span >= seconds:
            tick = start + (seconds - elapsed) / sec_per_tick
            break
        elapsed += span
    return tick / ticks_per_beat


def _track_notes(events: list[tuple[int, Any]],
                 include_drums: bool) -> list[tuple[int, int, int, int]]:
    """(start_tick, end_tick, pitch, velocity) of one track's notes."""
    # Several note_ons of one pitch may overlap; each note_off ends the oldest open one (FIFO),
    # which keeps the total sounding time of that pitch whatever the pairing.
    open_notes: dict[tuple[int, int], deque[tuple[int, int]]] = defaultdict(deque)
    out = []
    for tick, msg in events:
        if msg.type not in ("note_on", "note_off"):
            continue
        if msg.channel == DRUM_CHANNEL and not include_drums:
            continue
        key = (msg.channel, msg.note)
        if msg.type == "note_on" and msg.velocity > 0:
            open_notes[key].append((tick, msg.velocity))
        elif open_notes[key]:  # note_off, or note_on with velocity 0
            start, velocity = open_notes[key].popleft()
            out.append((start, tick, msg.note, velocity))
    last_tick = events[-1][0] if events else 0
    for (_, pitch), pending in open_notes.items():  # never released: sound to the track's end
        out.extend((start, last_tick, pitch, velocity) for start, velocity in pending)
    return [n for n in out if n[1] > n[0]]


def melody_from_midi(source: str | os.PathLike | bytes, *, track: int | None = None,
                     start: Any = 0, end: Any = None,
                     unit: Literal["beats", "seconds"] = "beats",
                     include_drums: bool = False) -> Melody:
    """Read a MIDI file (path or bytes) into a Melody.

    ``track``: index into the file's tracks, or ``None`` for all tracks (type 2 files need an
    index). ``start``/``end``: the range to use, in quarter-note beats of the file (``unit=
    "beats"``, the default, as a DAW counts) or in seconds under the file's tempo map
    (``unit="seconds"``). ``start`` becomes beat 0; notes crossing the range edges are cut;
    a given ``end`` makes ``end - start`` the loop length. Channel 10 (drums) is skipped
    unless ``include_drums``. Corrupt/truncated data or no notes in range raise
    ``EngineError("bad_midi")``.

    >>> melody_from_midi(open("examples/melody/c_major_line.mid", "rb").read()).notes[0].pitch
    60
    """
    if unit not in ("beats", "seconds"):
        raise EngineError("invalid_field", f"unit must be 'beats' or 'seconds', got {unit!r}",
                          field="unit")
    lo = to_fraction(start, "start", minimum=Fraction(0))
    hi = None if end is None else to_fraction(end, "end")
    if hi is not None and hi <= lo:
        raise EngineError("invalid_field", f"end ({end}) must be after start ({start})",
                          field="end")
    midi = _load(source)
    if track is not None and (isinstance(track, bool) or not isinstance(track, int)
                              or not 0 <= track < len(midi.tracks)):
        raise EngineError("invalid_field", f"track {track!r} does not exist; the file has "
                          f"{len(midi.tracks)} track(s), numbered from 0", field="track")
    if midi.type == 2 and track is None:
        raise EngineError("invalid_field", "this is a type 2 MIDI file (independent tracks); "
                          "choose one with track", field="track")
    tracks = [_absolute(t) for t in midi.tracks]
    chosen = tracks if track is None else [tracks[track]]
    tpb = midi.ticks_per_beat
    if unit == "seconds":
        tempos = tempo_map(chosen if midi.type == 2 else tracks)
        lo = seconds_to_beats(lo, tempos, tpb)
        hi = None if hi is None else seconds_to_beats(hi, tempos, tpb)
    notes = [Note(pitch, Fraction(s, tpb), Fraction(e - s, tpb), vel)
             for events in chosen for s, e, pitch, vel in _track_notes(events, include_drums)]
    kept = clip_notes(notes, lo, hi)
    if len(kept) > MAX_NOTES:
        raise EngineError("too_large", f"the MIDI range holds {len(kept)} notes; at most {MAX_NOTES} are allowed; "
                          "choose a shorter range or one track", field="midi_file")
    if not kept:
        where = "the file" if track is None else f"track {track}"
        span = f"from beat {float(lo):g}" + ("" if hi is None else f" to beat {float(hi):g}")
        raise EngineError("bad_midi", f"no notes in range: {where} has no notes {span}"
                          + ("" if include_drums else " (drum channel 10 is skipped)")
                          + "; choose another track or range")
    return Melody(tuple(kept), None if hi is None else hi - lo)
