"""A request's ``style`` field (MusicGen-Style's "more like this") -> a checked spec -> a style clip.

The field (docs/protocol.md, ``generate``)::

    {"path": PATH} or {"buffer": i, "format": "wav"}     the reference audio
    "start_seconds", "end_seconds"                        its range in the file (default: all of it)
    "excerpt_start_seconds" | "excerpt_start_bars"        where the excerpt the model hears begins,
                                                          from the range's start (default: the
                                                          middle, on a bar line of the request's tempo)
    "excerpt_seconds" | "excerpt_bars"                    the excerpt's length (default: the model's, 3 s)
    "eval_q"                                              style codebooks, 1..the model's (fewer: looser)
    "cfg_coef_beta"                                       double guidance's beta (text over style)

:func:`check_style_spec` runs when the request arrives (no file is read; it imports no torch);
:func:`check_style_support` and :func:`check_eval_q` need the model's facts; :func:`load_style`
reads the range and cuts nothing (the conditioner picks the excerpt).

>>> spec = check_style_spec({"path": "/loops/drums.wav", "excerpt_bars": 2, "eval_q": 2})
>>> spec["excerpt_bars"], spec["eval_q"]
(2, 2)
>>> excerpt_seconds(spec, bpm=120, quarters_per_bar=4)
4.0
>>> check_style_spec({"path": "/x.wav", "excerpt_bars": 1, "excerpt_seconds": 2})  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
musicgen_bridge.engine.errors.EngineError: invalid_field: style: give excerpt_seconds or excerpt_bars, not both
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from ..errors import EngineError

if TYPE_CHECKING:
    from ..paths import PathPolicy
    from .style import StyleClip

#: The style excerpt MERT can take: at least its receptive field, at most a model window.
MIN_EXCERPT_S, MAX_EXCERPT_S = 0.05, 30.0
#: Longest range of a style file that is read (the excerpt is a few seconds of it).
MAX_STYLE_RANGE_S = 600
MAX_EVAL_Q = 64
MAX_BETA = 100.0
_KEYS = ("path", "buffer", "format", "start_seconds", "end_seconds", "excerpt_start_seconds",
         "excerpt_start_bars", "excerpt_seconds", "excerpt_bars", "eval_q", "cfg_coef_beta")


def _bad(key: str, message: str) -> EngineError:
    return EngineError("invalid_field", f"style: {message}", field=f"style.{key}" if key else "style")


def _number(spec: dict[str, Any], key: str, lo: float, hi: float, *, low_open: bool = False) -> float | None:
    value = spec.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _bad(key, f"{key} must be a finite number, got {value!r}")
    if value < lo or (low_open and value == lo) or value > hi:
        raise _bad(key, f"{key} must be {'above' if low_open else 'at least'} {lo:g} and at most {hi:g}, "
                   f"got {value:g}")
    return value


def check_style_spec(value: Any) -> dict[str, Any]:
    """The ``style`` field, every value checked (``invalid_field`` naming ``style.<key>``).

    A string is taken as ``{"path": value}``. Unknown keys are refused: a typo here would
    silently give another excerpt.
    """
    if isinstance(value, str):
        value = {"path": value}
    if not isinstance(value, dict):
        raise _bad("", "style must be {\"path\": ...} or {\"buffer\": i} with optional range, excerpt, "
                   "eval_q and cfg_coef_beta")
    unknown = sorted(set(value) - set(_KEYS))
    if unknown:
        raise _bad(unknown[0], f"unknown key {unknown[0]!r}; known: {', '.join(_KEYS)}")
    spec = dict(value)
    if not isinstance(spec.get("path"), str) or not spec["path"]:
        # a buffer reference became a path when its bytes arrived (bridge/handlers.py)
        raise _bad("path", "style needs the audio: {\"path\": ...} or, over ZeroMQ, {\"buffer\": i}")
    start = _number(spec, "start_seconds", 0, 1e7)
    end = _number(spec, "end_seconds", 0, 1e7)
    if end is not None and end <= (start or 0):
        raise _bad("end_seconds", f"end_seconds ({end:g}) must be after start_seconds ({start or 0:g})")
    if end is not None and end - (start or 0) > MAX_STYLE_RANGE_S:
        raise EngineError("too_large", f"style: the range is longer than {MAX_STYLE_RANGE_S} s; the "
                          "model hears a few seconds of it", field="style.end_seconds")
    for a, b in (("excerpt_seconds", "excerpt_bars"), ("excerpt_start_seconds", "excerpt_start_bars")):
        if spec.get(a) is not None and spec.get(b) is not None:
            raise _bad(a, f"give {a} or {b}, not both")
    _number(spec, "excerpt_seconds", MIN_EXCERPT_S, MAX_EXCERPT_S)
    _number(spec, "excerpt_bars", 0, 64, low_open=True)
    _number(spec, "excerpt_start_seconds", 0, 1e7)
    _number(spec, "excerpt_start_bars", 0, 1e5)
    q = spec.get("eval_q")
    if q is not None:
        if isinstance(q, float) and q.is_integer():
            q = spec["eval_q"] = int(q)
        if isinstance(q, bool) or not isinstance(q, int) or not 1 <= q <= MAX_EVAL_Q:
            raise _bad("eval_q", f"eval_q must be a whole number of style codebooks (1..the model's), got {q!r}")
    _number(spec, "cfg_coef_beta", 0, MAX_BETA, low_open=True)
    return spec


def excerpt_seconds(spec: dict[str, Any], bpm: Fraction | float, quarters_per_bar: Fraction | float) -> float | None:
    """The excerpt length in seconds (bars at the request's tempo), or None for the model's default.
    ``invalid_field`` when bars make it shorter or longer than MERT can take."""
    if spec.get("excerpt_bars") is None:
        return None if spec.get("excerpt_seconds") is None else float(spec["excerpt_seconds"])
    seconds = float(spec["excerpt_bars"]) * float(quarters_per_bar) * 60.0 / float(bpm)
    if not MIN_EXCERPT_S <= seconds <= MAX_EXCERPT_S:
        raise _bad("excerpt_bars", f"{spec['excerpt_bars']:g} bars at {float(bpm):g} bpm is {seconds:.2f} s; "
                   f"the excerpt must be {MIN_EXCERPT_S:g}-{MAX_EXCERPT_S:g} s")
    return seconds


def check_style_support(name: str, supports_style: bool) -> None:
    """Refuse a style for a model without a style conditioner (submit, job and live all call this).

    >>> check_style_support("tiny", False)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    musicgen_bridge.engine.errors.EngineError: no_style_support: model tiny has no style conditioning; ...
    """
    if not supports_style:
        from ..models.specs import MODEL_SPECS

        style = [n for n, s in MODEL_SPECS.items() if s.style]
        raise EngineError("no_style_support", f"model {name} has no style conditioning; use one of: "
                          f"{', '.join(style) or '(none installed)'}", field="style")


def check_style_request(spec: Any, req: Any, paths: PathPolicy) -> None:
    """Everything about a request's style that can fail before work, for model ``spec``
    (a :class:`~..models.specs.ModelSpec`): support, combinations, codebooks, excerpt, the file."""
    assert req.style is not None
    check_style_support(spec.name, spec.style)
    if req.melody is not None and not spec.melody:
        raise EngineError("no_style_support", f"model {spec.name} cannot combine a style with a melody (no model "
                          "has both conditioners); send one of them", field="style")
    check_eval_q(req.style, spec.style_codebooks)
    excerpt_seconds(req.style, req.bpm, req.time_signature.quarters_per_bar)
    check_style_file(req.style, paths)


def check_eval_q(spec: dict[str, Any], n_q: int) -> None:
    """``eval_q`` within the model's style codebooks (known once the model's spec or weights are)."""
    q = spec.get("eval_q")
    if q is not None and not 1 <= q <= n_q:
        raise _bad("eval_q", f"eval_q must be 1..{n_q} for this model (its style codebooks), got {q}")


def check_style_file(spec: dict[str, Any], paths: PathPolicy) -> str:
    """The real path of the style audio, held to the allowed folders, and readable with audio in
    the range (the header is read, not the samples): ``path_not_allowed`` / ``bad_audio``."""
    from pedalboard.io import AudioFile

    path = str(paths.input_file(spec["path"], "style"))
    try:
        with AudioFile(path) as fh:
            seconds = fh.frames / fh.samplerate
    except Exception as exc:  # noqa: BLE001 - pedalboard raises several types for unreadable files
        raise EngineError("bad_audio", f"cannot read the style audio {spec['path']}: {exc}", field="style") from None
    if seconds <= float(spec.get("start_seconds") or 0):
        raise EngineError("bad_audio", f"the style audio {spec['path']} is {seconds:.2f} s long; nothing lies "
                          f"after start_seconds {spec.get('start_seconds')}", field="style")
    return path


def load_style(spec: dict[str, Any], paths: PathPolicy, model_rate: int, *, bpm: Fraction | float,
               quarters_per_bar: Fraction | float = 4) -> StyleClip:
    """The style clip of the spec's range at ``model_rate``, mono, with its excerpt start (or None:
    the conditioner picks the middle, snapped to a bar line of ``bpm``)."""
    import torch

    from .audio_source import read_audio
    from .melody import CHROMA_SAMPLE_RATE
    from .style import style_clip

    path = check_style_file(spec, paths)
    data = read_audio(path, spec.get("start_seconds") or 0, spec.get("end_seconds"))  # 32 kHz
    # StyleClip counts whole beats a bar: a 7/8 bar (3.5 quarters) is 4 beats at a scaled tempo
    return style_clip(torch.from_numpy(data), CHROMA_SAMPLE_RATE, model_rate,
                      start_seconds=spec.get("excerpt_start_seconds"), start_bar=spec.get("excerpt_start_bars"),
                      bpm=float(bpm) * 4 / float(quarters_per_bar), beats_per_bar=4)
