"""Minimal write-back used until the full render stage lands: resample, exact length, safe write.

Files are written under a temporary name in the destination folder and published with
``os.link`` (which fails if the final name exists), so an existing file is never overwritten and
no partial file is ever visible under a final name.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pedalboard
import soundfile as sf
from pedalboard.io import StreamResampler

from .errors import EngineError

SUBTYPES = {"wav16": ("WAV", "PCM_16"), "wav24": ("WAV", "PCM_24"), "wav32f": ("WAV", "FLOAT"),
            "flac": ("FLAC", "PCM_24"), "aiff": ("AIFF", "PCM_24")}
EXTENSIONS = {"wav16": ".wav", "wav24": ".wav", "wav32f": ".wav", "flac": ".flac", "aiff": ".aiff"}


def resample(audio: np.ndarray, source_rate: int, target_rate: int) -> np.ndarray:
    """(channels, frames) float32 from one rate to another with pedalboard's windowed-sinc resampler."""
    audio = np.ascontiguousarray(audio, dtype=np.float32)
    if source_rate == target_rate:
        return audio
    resampler = StreamResampler(source_rate, target_rate, audio.shape[0], pedalboard.Resample.Quality.WindowedSinc256)
    return np.concatenate([resampler.process(audio), resampler.process(None)], axis=1)


def conform_channels(audio: np.ndarray, channels: int) -> np.ndarray:
    if audio.shape[0] == channels:
        return audio
    if channels == 1:
        return audio.mean(axis=0, keepdims=True)
    return np.repeat(audio[:1], channels, axis=0)


def fit_length(audio: np.ndarray, frames: int) -> np.ndarray:
    """Trim or zero-pad (channels, n) to exactly ``frames``."""
    if audio.shape[1] >= frames:
        return audio[:, :frames]
    return np.pad(audio, ((0, 0), (0, frames - audio.shape[1])))


def slug(text: str, max_len: int = 40) -> str:
    out = re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()
    return out[:max_len].strip("-") or "clip"


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()  # read once at import: os.umask is process-wide, not thread-safe


def publish(tmp: Path, final: Path) -> None:
    """Give ``tmp`` the name ``final`` unless ``final`` exists; never replace a file."""
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; the DAW may run as another user
    try:
        os.link(tmp, final)
    except FileExistsError:
        raise EngineError("file_exists", f"{final} exists; files are never overwritten", path=str(final)) from None
    finally:
        tmp.unlink(missing_ok=True)


def write_audio(path: Path, audio: np.ndarray, sample_rate: int, fmt: str) -> None:
    """Write (channels, frames) audio to ``path`` safely in one of FORMATS."""
    container, subtype = SUBTYPES[fmt]
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".mgb-", suffix=".part", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        sf.write(tmp, np.ascontiguousarray(audio.T), sample_rate, subtype=subtype, format=container)
    except Exception:
        tmp.unlink(missing_ok=True)
        raise
    publish(tmp, path)


def write_sidecar(path: Path, data: dict[str, Any]) -> Path:
    """Write ``<audio file>.json`` safely next to the audio file."""
    side = path.with_name(path.name + ".json")
    fd, tmp_name = tempfile.mkstemp(prefix=".mgb-", suffix=".part", dir=path.parent)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=2, sort_keys=True, default=str)
    publish(Path(tmp_name), side)
    return side


def free_name(folder: Path, stem: str, ext: str) -> Path:
    """``stem.ext`` or the first ``stem-N.ext`` that does not exist yet."""
    candidate = folder / f"{stem}{ext}"
    n = 2
    while candidate.exists() or candidate.with_name(candidate.name + ".json").exists():
        candidate = folder / f"{stem}-{n}{ext}"
        n += 1
    return candidate


def default_name(prompt: str, start_bar: Any, take: int) -> str:
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{slug(prompt)}-bar{start_bar}-take{take + 1}"
