"""Audio files -> :class:`AudioMelody`: read with pedalboard.io, 32 kHz mono, then chroma.

MusicGen-Melody was trained on chroma of audio with drums and bass removed by Demucs. No
separation model ships here, so ``remove_stems`` raises ``EngineError("unsupported")`` unless
a separator has been plugged in with :func:`set_stem_separator`; it is never ignored.

>>> melody = melody_from_audio("song.wav", start_seconds=12.0, end_seconds=20.0)  # needs an audio file of yours  # doctest: +SKIP
>>> melody.chroma.shape  # needs an audio file of yours  # doctest: +SKIP
torch.Size([63, 12])
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import IO, Any, cast

import numpy as np
from pedalboard.io import AudioFile

from ..errors import EngineError
from .chroma import audio_chroma
from .melody import CHROMA_SAMPLE_RATE, AudioMelody, to_fraction

#: Stem names a separator may be asked to remove (Demucs' four sources).
KNOWN_STEMS = ("drums", "bass", "vocals", "other")
#: Longest audio range read for a melody; the model uses at most 30 s of chroma.
MAX_AUDIO_SECONDS = 600
_READ_BLOCK = 1 << 18

#: ``separator(audio[channels, samples] float32 at 32 kHz, sample_rate, stems_to_remove)``
#: returns audio of the same shape with those stems removed.
StemSeparator = Callable[[np.ndarray, int, Sequence[str]], np.ndarray]
_separator: StemSeparator | None = None


def set_stem_separator(separator: StemSeparator | None) -> None:
    """Plug in (or, with None, remove) a local source-separation model, e.g. a Demucs wrapper."""
    global _separator
    _separator = separator


def _check_stems(remove_stems: Sequence[str]) -> tuple[str, ...]:
    if isinstance(remove_stems, str) or not isinstance(remove_stems, (list, tuple)):
        raise EngineError("invalid_field", "remove_stems must be a list of stem names, e.g. "
                          '["drums", "bass"]', field="remove_stems")
    for name in remove_stems:
        if name not in KNOWN_STEMS:
            raise EngineError("invalid_field", f"remove_stems has unknown stem {name!r}; "
                              f"known stems are {', '.join(KNOWN_STEMS)}", field="remove_stems")
    if remove_stems and _separator is None:
        raise EngineError("unsupported", "remove_stems needs a source-separation model (such as "
                          "Demucs) and none is installed in this engine; send the melody without "
                          "remove_stems, or as a stem or MIDI", field="remove_stems")
    return tuple(remove_stems)


def read_audio(source: str | os.PathLike | IO[bytes], start_seconds: Any = 0,
               end_seconds: Any = None) -> np.ndarray:
    """``float32[channels, samples]`` at 32 kHz of ``[start_seconds, end_seconds)`` of a file.

    Anything pedalboard.io reads (wav, aiff, flac, mp3, ogg, ...), by path or file object.
    Unreadable, or nothing in range, raises ``EngineError("bad_audio")``.
    """
    start = to_fraction(start_seconds, "start_seconds", minimum=Fraction(0))
    end = None if end_seconds is None else to_fraction(end_seconds, "end_seconds")
    if end is not None and end <= start:
        raise EngineError("invalid_field", f"end_seconds ({end_seconds}) must be after "
                          f"start_seconds ({start_seconds})", field="end_seconds")
    if end is not None and end - start > MAX_AUDIO_SECONDS:
        raise EngineError("too_large", f"the audio range is longer than {MAX_AUDIO_SECONDS} s; "
                          "choose a shorter range", field="end_seconds")
    first = round(start * CHROMA_SAMPLE_RATE)
    limit = round((start + MAX_AUDIO_SECONDS if end is None else end) * CHROMA_SAMPLE_RATE) - first
    is_path = isinstance(source, (str, os.PathLike))
    name = os.fspath(cast("str | os.PathLike[str]", source)) if is_path else "the audio data"
    try:
        with AudioFile(name if is_path else cast(Any, source)) as raw, \
                raw.resampled_to(CHROMA_SAMPLE_RATE) as audio:
            channels = audio.num_channels
            blocks = []
            if first < audio.frames:
                audio.seek(first)
                remaining = limit
                while remaining > 0:
                    block = audio.read(min(_READ_BLOCK, remaining))
                    if block.shape[-1] == 0:
                        break
                    blocks.append(block)
                    remaining -= block.shape[-1]
    except (ValueError, RuntimeError, OSError) as exc:
        raise EngineError("bad_audio", f"cannot read audio {name!r}: {exc}; use a wav, aiff, "
                          "flac, mp3 or ogg file") from exc
    data = np.concatenate(blocks, axis=-1) if blocks else np.zeros((channels, 0), np.float32)
    if data.shape[-1] == 0:
        raise EngineError("bad_audio", f"audio {name!r} has no samples from "
                          f"{float(start):g} s" + ("" if end is None else f" to {float(end):g} s")
                          + "; choose a range inside the file")
    return data.astype(np.float32, copy=False)


def melody_from_audio(source: str | os.PathLike | IO[bytes], *, start_seconds: Any = 0,
                      end_seconds: Any = None, remove_stems: Sequence[str] = ()) -> AudioMelody:
    """Chroma melody of an audio range; frame 0 is ``start_seconds``.

    >>> melody_from_audio("mix.wav", remove_stems=["drums", "bass"])  # needs an audio file of yours  # doctest: +SKIP
    Traceback (most recent call last):
    engine.errors.EngineError: unsupported: remove_stems needs a source-separation model ...
    """
    stems = _check_stems(remove_stems)  # before reading: fail fast and cheap
    data = read_audio(source, start_seconds, end_seconds)
    if stems:
        assert _separator is not None
        data = np.asarray(_separator(data, CHROMA_SAMPLE_RATE, stems), dtype=np.float32)
    mono = data.mean(axis=0)
    return AudioMelody(chroma=audio_chroma(mono), num_samples=mono.shape[-1])
