"""A request's ``melody`` field -> the chroma MusicGen-Melody conditions on.

Three sources, one field (docs/protocol.md):

- ``{"notes": [{pitch, start_beats, duration_beats, velocity, muted}], "clip_start_beats": 0,
  "clip_length_beats": 16}`` — as DAW scripts read a MIDI clip; beats follow the session tempo;
- ``{"midi_file": PATH | {"path": PATH}, "track": N, "start": 0, "end": 16, "unit": "beats"}``;
- ``{"audio": {"path": PATH, "start_seconds": 0, "end_seconds": 30}, "remove_stems": []}``.

``mode`` (highest | lowest | loudest) picks the melody line from chords in note sources.
"""

from __future__ import annotations

from typing import Any

import torch

from ..errors import EngineError
from ..paths import PathPolicy
from ..request import GenerateRequest
from . import CHROMA_LENGTH, MelodySource, chroma_for_window, melody_from_audio, melody_from_midi
from .melody import melody_from_notes

MODES = ("highest", "lowest", "loudest")


def _path_of(value: Any, field: str) -> str:
    if isinstance(value, dict):
        value = value.get("path")
    if not isinstance(value, str):
        raise EngineError("invalid_field", f"{field} must be a path or {{\"path\": ...}}", field=field)
    return value


def check_melody_spec(spec: dict[str, Any]) -> str:
    """Which source the spec names; raises invalid_field unless exactly one is given."""
    given = [key for key in ("notes", "midi_file", "audio") if spec.get(key) is not None]
    if len(given) != 1:
        raise EngineError("invalid_field", "melody needs exactly one of notes, midi_file or audio", field="melody")
    mode = spec.get("mode", "highest")
    if mode not in MODES:
        raise EngineError("invalid_field", f"melody.mode must be one of {', '.join(MODES)}", field="melody.mode")
    return given[0]


def load_melody(spec: dict[str, Any], paths: PathPolicy) -> MelodySource:
    """Read the melody source (files are checked against the allowed folders first)."""
    kind = check_melody_spec(spec)
    if kind == "notes":
        notes = spec["notes"]
        if not isinstance(notes, list):
            raise EngineError("invalid_field", "melody.notes must be a list", field="melody.notes")
        return melody_from_notes(notes, spec.get("clip_start_beats", 0), spec.get("clip_length_beats"))
    if kind == "midi_file":
        midi = spec["midi_file"]
        path = paths.input_file(_path_of(midi, "melody.midi_file"), "melody.midi_file")
        options = midi if isinstance(midi, dict) else spec
        return melody_from_midi(str(path), track=options.get("track"), start=options.get("start", 0),
                                end=options.get("end"), unit=options.get("unit", "beats"))
    audio = spec["audio"]
    if not isinstance(audio, dict):
        audio = {"path": audio}
    path = paths.input_file(_path_of(audio, "melody.audio"), "melody.audio")
    return melody_from_audio(str(path), start_seconds=audio.get("start_seconds", 0),
                             end_seconds=audio.get("end_seconds"), remove_stems=spec.get("remove_stems", ()))


def melody_chroma(source: MelodySource, spec: dict[str, Any], req: GenerateRequest) -> torch.Tensor:
    """The (235, 12) chroma for bar 1 of the request onward: shorter melodies repeat, longer are cut."""
    return chroma_for_window(source, req.bpm, CHROMA_LENGTH, beats_per_bar=req.time_signature.quarters_per_bar,
                             mode=spec.get("mode", "highest"))
