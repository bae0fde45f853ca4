"""Melody sources: DAW note lists, MIDI files (mido) and audio files (pedalboard.io)."""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path

import mido
import numpy as np
import pytest
import soundfile as sf
import torch

from musicgen_bridge.engine.conditioning import (
    Note,
    audio_chroma,
    melody_from_audio,
    melody_from_midi,
    melody_from_notes,
    pitch_track,
    set_stem_separator,
)
from musicgen_bridge.engine.conditioning.midi_file import seconds_to_beats
from musicgen_bridge.engine.errors import EngineError

torch.set_num_threads(1)

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "melody" / "c_major_line.mid"


def midi_bytes(tracks: list[list[tuple[int, mido.Message | mido.MetaMessage]]], *,
               type: int = 1, tpb: int = 480) -> bytes:
    """A MIDI file from tracks given as (absolute tick, message) lists."""
    midi = mido.MidiFile(type=type, ticks_per_beat=tpb)
    for events in tracks:
        track, last = mido.MidiTrack(), 0
        for tick, msg in sorted(events, key=lambda e: e[0]):
            track.append(msg.copy(time=tick - last))
            last = tick
        midi.tracks.append(track)
    out = io.BytesIO()
    midi.save(file=out)
    return out.getvalue()


def on(note: int, vel: int = 100, ch: int = 0) -> mido.Message:
    return mido.Message("note_on", note=note, velocity=vel, channel=ch)


def off(note: int, ch: int = 0) -> mido.Message:
    return mido.Message("note_off", note=note, channel=ch)


def tempo(bpm: float) -> mido.MetaMessage:
    return mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm))


def summary(melody) -> list[tuple[int, Fraction, Fraction]]:
    return [(n.pitch, n.start_beats, n.duration_beats) for n in melody.notes]


def code_of(call, *args, **kwargs) -> tuple[str, str]:
    with pytest.raises(EngineError) as err:
        call(*args, **kwargs)
    return err.value.code, err.value.message


# --- DAW note lists ---------------------------------------------------------------------

def test_note_list_drops_muted_and_shifts_to_clip_start() -> None:
    melody = melody_from_notes([
        {"pitch": 60, "start_beats": 7.5, "duration_beats": 1.0, "velocity": 100, "muted": False},
        {"pitch": 62, "start_beats": 9, "duration_beats": 0.5, "velocity": 90, "muted": True},
        {"pitch": 64, "start_beats": 9.25, "duration_beats": 1 / 3, "velocity": 80.4},
        {"pitch": 65, "start_beats": 2, "duration_beats": 1, "velocity": 80},  # before the clip
    ], clip_start_beats=8)
    assert summary(melody) == [(60, Fraction(0), Fraction(1, 2)),
                               (64, Fraction(5, 4), Fraction(1, 3))]
    assert melody.notes[1].velocity == 80 and melody.length_beats is None


@pytest.mark.parametrize("bad, code", [
    ({"pitch": 128}, "invalid_field"), ({"pitch": "60"}, "invalid_field"),
    ({"pitch": 60.5}, "invalid_field"), ({"pitch": True}, "invalid_field"),
    ({"start_beats": float("nan")}, "invalid_field"), ({"start_beats": None}, "invalid_field"),
    ({"duration_beats": 0}, "invalid_field"), ({"duration_beats": -1}, "invalid_field"),
    ({"velocity": 200}, "invalid_field"), ({"muted": "yes"}, "invalid_field"),
    ({"velocity": None, "pitch": 60}, "invalid_field"),
])
def test_note_list_validation(bad: dict, code: str) -> None:
    note = {"pitch": 60, "start_beats": 0, "duration_beats": 1, "velocity": 100} | bad
    got, message = code_of(melody_from_notes, [note])
    assert got == code and "notes[0]." in message


def test_note_list_missing_field_and_empty() -> None:
    assert code_of(melody_from_notes, [{"pitch": 60, "start_beats": 0, "velocity": 1}])[0] \
        == "missing_field"
    assert code_of(melody_from_notes, "notes")[0] == "invalid_field"
    assert code_of(melody_from_notes, [{"pitch": 60, "start_beats": 0, "duration_beats": 1,
                                        "velocity": 100, "muted": True}])[0] == "bad_midi"


# --- MIDI files ---------------------------------------------------------------------------

def test_type0_exact_beats() -> None:
    data = midi_bytes([[(0, tempo(90)), (0, on(60)), (160, off(60)), (160, on(67)),
                        (1000, off(67))]], type=0, tpb=480)
    melody = melody_from_midi(data)
    assert summary(melody) == [(60, Fraction(0), Fraction(1, 3)),
                               (67, Fraction(1, 3), Fraction(840, 480))]


def test_type1_track_choice_and_tempo_map() -> None:
    conductor = [(0, tempo(120)), (960, tempo(60)), (1920, tempo(240))]
    lead = [(0, on(72)), (480, off(72)), (1440, on(74)), (2400, off(74))]
    bass = [(0, on(36)), (1920, off(36))]
    data = midi_bytes([conductor, lead, bass], type=1)
    assert summary(melody_from_midi(data, track=1)) == [(72, Fraction(0), Fraction(1)),
                                                        (74, Fraction(3), Fraction(2))]
    assert [n.pitch for n in melody_from_midi(data, track=2).notes] == [36]
    assert [n.pitch for n in melody_from_midi(data).notes] == [36, 72, 74]
    # Beats ignore the tempo map; seconds use it: 2 beats at 120 (1 s), 2 at 60 (2 s), then 240.
    tempos = [(0, 500_000), (960, 1_000_000), (1920, 250_000)]
    assert seconds_to_beats(Fraction(1), tempos, 480) == 2
    assert seconds_to_beats(Fraction(2), tempos, 480) == 3
    assert seconds_to_beats(Fraction(7, 2), tempos, 480) == 6
    ranged = melody_from_midi(data, track=1, start=2, end=3.5, unit="seconds")  # beats 3..6
    assert ranged.length_beats == 3
    assert summary(ranged) == [(74, Fraction(0), Fraction(2))]
    assert summary(melody_from_midi(data, track=1, start=3.5, end=4.5)) == \
        [(74, Fraction(0), Fraction(1))]
    code, message = code_of(melody_from_midi, data, track=3)
    assert code == "invalid_field" and "3 track(s)" in message


def test_several_tempos_at_one_tick_last_wins() -> None:
    data = midi_bytes([[(0, tempo(60)), (0, tempo(120)), (0, on(60)), (1920, off(60))]],
                      type=0)
    melody = melody_from_midi(data, start=0, end=1, unit="seconds")  # 120 bpm: 2 beats
    assert melody.length_beats == 2


def test_velocity_zero_is_note_off_and_overlaps_pair_fifo() -> None:
    data = midi_bytes([[(0, on(60)), (480, on(60, 0)),             # note_on vel 0 ends C
                        (480, on(62)), (960, on(62)), (1440, off(62)), (1920, off(62)),
                        (1920, on(64)), (2400, on(64, 0))]], type=0)
    melody = melody_from_midi(data)
    assert summary(melody) == [(60, Fraction(0), Fraction(1)), (62, Fraction(1), Fraction(2)),
                               (62, Fraction(2), Fraction(2)), (64, Fraction(4), Fraction(1))]
    track = pitch_track(melody, 120, 20)
    assert [p for p in track.tolist()] == [60] * 4 + [62] * 12 + [64] * 4


def test_unreleased_notes_end_with_track_and_drums_skipped() -> None:
    data = midi_bytes([[(0, on(38, ch=9)), (240, off(38, ch=9)), (480, on(60)),
                        (1440, mido.MetaMessage("end_of_track"))]], type=0)
    assert summary(melody_from_midi(data)) == [(60, Fraction(1), Fraction(2))]
    assert [n.pitch for n in melody_from_midi(data, include_drums=True).notes] == [38, 60]
    drums_only = midi_bytes([[(0, on(36, ch=9)), (480, off(36, ch=9))]], type=0)
    code, message = code_of(melody_from_midi, drums_only)
    assert code == "bad_midi" and "no notes in range" in message


def test_no_notes_in_range_is_bad_midi() -> None:
    data = midi_bytes([[(0, on(60)), (480, off(60))]], type=0)
    code, message = code_of(melody_from_midi, data, start=4, end=8)
    assert code == "bad_midi" and "no notes in range" in message
    assert code_of(melody_from_midi, data, start=2, end=1)[0] == "invalid_field"
    assert code_of(melody_from_midi, data, unit="bars")[0] == "invalid_field"


def test_type2_needs_a_track() -> None:
    data = midi_bytes([[(0, on(60)), (480, off(60))], [(0, on(64)), (960, off(64))]], type=2)
    assert code_of(melody_from_midi, data)[0] == "invalid_field"
    assert summary(melody_from_midi(data, track=1)) == [(64, Fraction(0), Fraction(2))]


def test_corrupt_and_truncated_midi() -> None:
    good = midi_bytes([[(0, on(60)), (480, off(60)), (480, on(62)), (960, off(62))]], type=0)
    assert len(melody_from_midi(good).notes) == 2
    for bad in (good[: len(good) // 2], good[:10], b"", b"RIFF" + bytes(40),
                good[:18] + (len(good) - 12).to_bytes(4, "big") + good[22:],  # chunk overruns
                good[:18] + (len(good) - 23).to_bytes(4, "big") + good[22:],  # chunk ends mid-event
                good.replace(b"\x90\x3c", b"\x90\xbc", 1)):   # data byte > 127
        code, message = code_of(melody_from_midi, bad)
        assert code == "bad_midi", (bad, code, message)
    smpte = bytearray(good)
    smpte[12:14] = b"\xe7\x28"  # SMPTE division, 25 fps
    assert code_of(melody_from_midi, bytes(smpte))[0] == "bad_midi"


def test_midi_from_path(tmp_path: Path) -> None:
    assert code_of(melody_from_midi, tmp_path / "missing.mid")[0] == "bad_midi"
    broken = tmp_path / "broken.mid"
    broken.write_bytes(b"MThd\x00\x00\x00\x06\x00\x01\x00\x02\x01\xe0MTrk\x00\x00\x01\x00")
    assert code_of(melody_from_midi, broken)[0] == "bad_midi"


def test_example_file_is_the_script_output() -> None:
    import importlib.util
    script = EXAMPLE.with_name("make_melody.py")
    spec = importlib.util.spec_from_file_location("make_melody", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = io.BytesIO()
    module.build().save(file=out)
    assert EXAMPLE.read_bytes() == out.getvalue()
    melody = melody_from_midi(EXAMPLE)
    assert [n.pitch for n in melody.notes] == [p for p, _ in module.TUNE]
    assert melody.end_beats == 16 and sum(n.duration_beats for n in melody.notes) == 16


# --- audio files --------------------------------------------------------------------------

def tone(seconds: float, rate: int, freq: float = 440.0, channels: int = 2) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return np.repeat((0.4 * np.sin(2 * np.pi * freq * t))[:, None], channels, axis=1)


def test_audio_file_resampled_ranged_mono(tmp_path: Path) -> None:
    path = tmp_path / "a.wav"
    sf.write(path, tone(2.0, 44100, freq=261.63), 44100)  # C4, stereo
    melody = melody_from_audio(path, start_seconds=0.25, end_seconds=1.75)
    assert melody.num_samples == 48000  # 1.5 s at 32 kHz
    assert melody.chroma.shape == (1 + 48000 // 4096, 12)
    assert set(melody.chroma.argmax(-1).tolist()) == {0}
    whole = melody_from_audio(str(path))
    assert whole.num_samples == 64000


def test_audio_chroma_follows_audio_content(tmp_path: Path) -> None:
    wave = np.concatenate([tone(1.0, 32000, 440.0, 1), tone(1.0, 32000, 392.0, 1)])[:, 0]
    path = tmp_path / "two.flac"
    sf.write(path, wave, 32000)
    melody = melody_from_audio(path)
    direct = audio_chroma(wave.astype(np.float32))
    assert melody.num_samples == 64000
    # FLAC quantises to 16 bits; the argmax must not move
    assert torch.equal(melody.chroma, direct)
    classes = melody.chroma.argmax(-1).tolist()
    assert classes[:6] == [9] * 6 and classes[-6:] == [7] * 6


def test_unreadable_or_empty_audio(tmp_path: Path) -> None:
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"not audio at all" * 64)
    assert code_of(melody_from_audio, junk)[0] == "bad_audio"
    assert code_of(melody_from_audio, tmp_path / "missing.wav")[0] == "bad_audio"
    assert code_of(melody_from_audio, io.BytesIO(b"\x00" * 100))[0] == "bad_audio"
    short = tmp_path / "short.wav"
    sf.write(short, tone(0.5, 32000), 32000)
    code, message = code_of(melody_from_audio, short, start_seconds=1.0)
    assert code == "bad_audio" and "no samples" in message
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros((0, 1)), 32000)
    assert code_of(melody_from_audio, empty)[0] == "bad_audio"
    assert code_of(melody_from_audio, short, start_seconds=0.4, end_seconds=0.2)[0] \
        == "invalid_field"


def test_stem_removal_is_refused_not_ignored(tmp_path: Path) -> None:
    path = tmp_path / "mix.wav"
    sf.write(path, tone(1.0, 32000), 32000)
    code, message = code_of(melody_from_audio, path, remove_stems=["drums", "bass"])
    assert code == "unsupported" and "source-separation model" in message
    assert code_of(melody_from_audio, path, remove_stems=["kazoo"])[0] == "invalid_field"
    calls = []

    def fake_separator(audio: np.ndarray, rate: int, stems) -> np.ndarray:
        calls.append((audio.shape, rate, tuple(stems)))
        return audio * 0  # "everything was drums and bass"

    set_stem_separator(fake_separator)
    try:
        melody = melody_from_audio(path, remove_stems=["drums", "bass"])
    finally:
        set_stem_separator(None)
    assert calls == [((2, 32000), 32000, ("drums", "bass"))]
    assert set(melody.chroma.argmax(-1).tolist()) == {0}  # silence after separation


def test_note_dataclass_end() -> None:
    assert Note(60, Fraction(1, 2), Fraction(3, 4), 1).end_beats == Fraction(5, 4)
