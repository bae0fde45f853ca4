"""Conditioning inputs: melody (note lists, MIDI, audio) -> MusicGen-Melody chroma.

>>> from musicgen_bridge.engine.conditioning import melody_from_midi, chroma_for_window, CHROMA_LENGTH
>>> melody = melody_from_midi("examples/melody/c_major_line.mid")
>>> chroma_for_window(melody, bpm=120, num_frames=CHROMA_LENGTH).shape
torch.Size([235, 12])
"""

from .align import beats_per_frame, chroma_for_window, loop_length_beats, pitch_classes_to_chroma, pitch_track
from .audio_source import KNOWN_STEMS, melody_from_audio, read_audio, set_stem_separator
from .chroma import audio_chroma, chroma_features, chroma_filters, num_chroma_frames, one_hot
from .melody import (
                                       CHROMA_FRAME_RATE,
                                       CHROMA_HOP,
                                       CHROMA_LENGTH,
                                       CHROMA_N_FFT,
                                       CHROMA_SAMPLE_RATE,
                                       NUM_CHROMA,
                                       AudioMelody,
                                       Melody,
                                       MelodySource,
                                       Note,
                                       melody_from_notes,
)
from .midi_file import melody_from_midi

__all__ = [
                                       "CHROMA_FRAME_RATE",
                                       "CHROMA_HOP",
                                       "CHROMA_LENGTH",
                                       "CHROMA_N_FFT",
                                       "CHROMA_SAMPLE_RATE",
                                       "KNOWN_STEMS",
                                       "NUM_CHROMA",
                                       "AudioMelody",
                                       "Melody",
                                       "MelodySource",
                                       "Note",
                                       "audio_chroma",
                                       "beats_per_frame",
                                       "chroma_features",
                                       "chroma_filters",
                                       "chroma_for_window",
                                       "loop_length_beats",
                                       "melody_from_audio",
                                       "melody_from_midi",
                                       "melody_from_notes",
                                       "num_chroma_frames",
                                       "one_hot",
                                       "pitch_classes_to_chroma",
                                       "pitch_track",
                                       "read_audio",
                                       "set_stem_separator",
]
