"""Audition a rendered clip on the machine's default output, when there is one.

    >>> print(preview(audio, 48000))  # plays on the output device  # doctest: +SKIP
    played 4.00 s on 'pulse'
    >>> print(preview(audio, 48000))       # on a headless server  # plays on the output device  # doctest: +SKIP
    no preview: sounddevice is not installed (pip install sounddevice)

:func:`preview` never raises for a missing library or device: it returns a line saying
what happened, for the CLI or a log.
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np


def _load_sounddevice() -> tuple[Any | None, str]:
    try:
        return importlib.import_module("sounddevice"), ""
    except ImportError:
        return None, "sounddevice is not installed (pip install sounddevice)"
    except OSError as exc:  # the module imports PortAudio at import time
        return None, f"the PortAudio library is missing ({exc})"


def preview(audio: np.ndarray, rate: int, *, blocking: bool = True) -> str:
    """Play ``audio`` ((channels, frames) or (frames,), float) at ``rate``; return a status line.

    With ``blocking=False`` playback starts and the call returns at once.
    """
    sd, why = _load_sounddevice()
    if sd is None:
        return f"no preview: {why}"
    try:
        device = sd.query_devices(kind="output")
    except Exception as exc:  # noqa: BLE001 - sounddevice raises PortAudioError (or ValueError) when there is none
        return f"no preview: no audio output device ({exc})"
    if not device:
        return "no preview: no audio output device"
    data = np.asarray(audio, dtype=np.float32)
    frames_first = data.T if data.ndim == 2 else data  # sounddevice wants (frames, channels)
    try:
        sd.play(np.ascontiguousarray(frames_first), samplerate=int(rate), blocking=blocking)
    except Exception as exc:  # noqa: BLE001 - a preview that cannot play says why and moves on
        return f"no preview: playback failed ({exc})"
    seconds = frames_first.shape[0] / float(rate)
    name = device.get("name", "default output") if isinstance(device, dict) else "default output"
    verb = "played" if blocking else "playing"
    return f"{verb} {seconds:.2f} s on {name!r}"
