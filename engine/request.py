"""The generation request: one validated object whatever the transport (CLI, ZeroMQ, OSC).

``GenerateRequest.from_dict`` is the only way in from the outside; it checks every field and raises
:class:`EngineError` with ``invalid_field``/``missing_field``/``too_large``. Unknown fields are
ignored (and not kept) so older engines accept newer clients.

>>> req = GenerateRequest.from_dict({"prompt": "lofi drums", "bars": 2, "bpm": 90, "model": "tiny"})
>>> req.frames                  # 2 bars of 4/4 at 90 bpm: 16/3 s at 48 kHz
256000
"""

from __future__ import annotations

import math
import secrets
from dataclasses import asdict, dataclass, field, replace
from fractions import Fraction
from typing import Any, cast, overload

from . import limits
from .conditioning.style_input import check_style_spec
from .errors import EngineError
from .generation.fast.precision import normalize as normalize_dtype
from .generation.magnet_options import magnet_params, sent_fields
from .generation.sampling import SamplingParams
from .render.naming import DEFAULT_PATTERN, check_pattern
from .timing.timeline import (
    TimeSignature,
    bars_to_seconds,
    check_bpm,
    check_sample_rate,
    exact,
    seconds_to_frames,
    span_frames,
)

FORMATS = ("wav16", "wav24", "wav32f", "flac", "aiff")
#: request fields that configure the render stage (engine.render.RenderSpec)
RENDER_FIELDS = ("fx", "loudness_lufs", "true_peak_dbtp", "fade_in_s", "fade_out_s", "tail", "max_tail_s")

GENERATORS = ("auto", "reference", "fast")  # which token loop runs (engine/generation)
DECODERS = ("encodec", "mbd")  # tokens -> audio (engine/decoders)
#: fields outside the dataclass that a request keeps (engine.jobs.journal reads ``retryable``)
KEPT_EXTRA = ("retryable",)


@overload
def _int(d: dict, name: str, default: int, lo: int, hi: int, code_hi: str = ...) -> int: ...
@overload
def _int(d: dict, name: str, default: None, lo: int, hi: int, code_hi: str = ...) -> int | None: ...
def _int(d: dict, name: str, default: int | None, lo: int, hi: int, code_hi: str = "invalid_field") -> int | None:
    value = d.get(name, default)
    if value is None:
        return None
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise EngineError("invalid_field", f"{name} must be an integer, got {value!r}", field=name)
    if value < lo:
        raise EngineError("invalid_field", f"{name} must be at least {lo}, got {value}", field=name)
    if value > hi:
        raise EngineError(code_hi, f"{name} must be at most {hi}, got {value}", field=name)
    return value


def _float(d: dict, name: str, default: float) -> float:
    value = d.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise EngineError("invalid_field", f"{name} must be a finite number, got {value!r}", field=name)
    return float(value)


def _bool(d: dict, name: str, default: bool | None) -> bool | None:
    """JSON true/false only: the string "false" is not true (and neither is 0)."""
    value = d.get(name, default)
    if value is None or isinstance(value, bool):
        return value
    raise EngineError("invalid_field", f"{name} must be true or false, got {value!r}", field=name)


def _str(d: dict, name: str, default: str | None, max_chars: int) -> str | None:
    value = d.get(name, default)
    if value is None:
        return None
    if not isinstance(value, str):
        raise EngineError("invalid_field", f"{name} must be a string, got {type(value).__name__}", field=name)
    if len(value) > max_chars:
        raise EngineError("too_large", f"{name} is {len(value)} characters; the limit is {max_chars}", field=name)
    return value


def _choice(d: dict, name: str, default: str, choices: tuple[str, ...]) -> str:
    value = d.get(name, default)
    if value not in choices:
        raise EngineError("invalid_field", f"{name} must be one of {', '.join(choices)}, got {value!r}", field=name)
    return value


def _generator(d: dict) -> str:
    """``generator``, or its alias ``backend`` (accepted through 1.x); both given must agree."""
    if "backend" in d and "generator" in d and d["backend"] != d["generator"]:
        raise EngineError("invalid_field", "generator and its old name backend disagree; send generator only",
                          field="generator")
    return _choice({"generator": d.get("generator", d.get("backend", "auto"))}, "generator", "auto", GENERATORS)


def _sampling_sent(d: dict, sampling: SamplingParams) -> dict[str, Any]:
    sent = sent_fields(d)
    if "decoding_steps" in sent and sampling.magnet is not None:
        sent["decoding_steps"] = list(sampling.magnet.decoding_steps)  # "20,10,10,10" -> [20, 10, 10, 10]
    return sent


def _bar(d: dict, name: str) -> Fraction:
    value = exact(d.get(name, 1), name)
    if not 1 <= value <= 100000:
        raise EngineError("invalid_field", f"{name} must be between 1 and 100000 (bar 1 is the session start)",
                          field=name)
    return value


def _audio_ref(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = {"path": value}
    if not isinstance(value, dict) or not isinstance(value.get("path"), str):
        raise EngineError("invalid_field", "audio must be {\"path\": ..., \"start_seconds\": ..., "
                          "\"end_seconds\": ...} (or a buffer reference)", field="audio")
    for key in ("start_seconds", "end_seconds"):
        if value.get(key) is not None:
            seconds = exact(value[key], f"audio.{key}")
            if seconds < 0:
                raise EngineError("invalid_field", f"audio.{key} must not be negative", field=f"audio.{key}")
    return value


@dataclass
class GenerateRequest:
    """Everything one generation needs. Units: bpm in quarter notes per minute, bars in the time
    signature's bars, start_bar 1-based (bar 1 is the session start), sample_rate in Hz.

    >>> from musicgen_bridge import GenerateRequest
    >>> req = GenerateRequest.from_dict({"prompt": "lofi drums", "bars": 4, "bpm": 90, "time_signature": "7/8"})
    >>> req.duration, req.frames                  # exact: 4 bars of 7/8 at 90 bpm, at 48 kHz
    (Fraction(28, 3), 448000)
    """

    prompt: str = ""
    model: str | None = None  # None: the engine's default model
    bpm: Fraction = Fraction(120)
    time_signature: TimeSignature = field(default_factory=TimeSignature)
    bars: int | None = 4
    seconds: Fraction | None = None  # used only when bars is None
    start_bar: Fraction = Fraction(1)
    seed: int = 0
    sampling: SamplingParams = field(default_factory=SamplingParams)
    sample_rate: int = 48000
    channels: int = 2
    format: str = "wav24"
    output_dir: str | None = None
    output_name: str | None = None
    variations: int = 1
    tempo_hint: bool = True
    generator: str = "auto"  # wire field "generator"; "backend" is its 1.x alias
    dtype: str | None = None  # the fast generator's precision fp32|bf16|fp16|int8; None: the engine's
    decoder: str = "encodec"  # tokens -> audio: encodec | mbd (engine/decoders/choice.py)
    melody: dict[str, Any] | None = None
    style: dict[str, Any] | None = None  # MusicGen-Style's reference audio (conditioning/style_input.py)
    conform: bool | None = None  # tempo-conform to the bar grid; None: on for real models, off for tiny
    context_bars: int = 2  # bars of context for long-form windows and continuations
    window_bars: int | None = None  # bars per long-form window (None: as many as fit)
    audio: dict[str, Any] | None = None  # continue: the item {path, start_seconds, end_seconds}
    item_start_bar: Fraction = Fraction(1)  # continue: the bar where the item starts on the timeline
    track: str = ""
    name_pattern: str = DEFAULT_PATTERN
    render_fields: dict[str, Any] = field(default_factory=dict)  # fx, loudness_lufs, ... (RenderSpec)
    render: Any = None  # the validated RenderSpec, set by the engine at submit time
    melody_source: Any = None  # the parsed note list or MIDI melody, set by the engine at submit time
    #: the sampling fields (shared and MAGNeT's) as sent: MAGNeT keeps its own defaults for the rest
    sampling_sent: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # KEPT_EXTRA fields (unknown ones are dropped)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GenerateRequest:
        if not isinstance(d, dict):
            raise EngineError("invalid_field", "the request content must be a JSON object")
        prompt = _str(d, "prompt", "", limits.MAX_PROMPT_CHARS) or ""
        model = _str(d, "model", None, 200)
        bpm = check_bpm(d.get("bpm", 120))
        ts = TimeSignature.parse(d.get("time_signature", "4/4"))
        bars = _int(d, "bars", None, 1, limits.MAX_BARS, code_hi="too_large")
        seconds = None
        if bars is None:
            if d.get("seconds") is None:
                bars = 4
            else:
                seconds = exact(d["seconds"], "seconds")
                if seconds <= 0:
                    raise EngineError("invalid_field", f"seconds must be above 0, got {float(seconds):g}",
                                      field="seconds")
        length = seconds if seconds is not None else bars_to_seconds(cast(int, bars), ts, bpm)
        if length > limits.MAX_SECONDS:
            raise EngineError("too_large", f"the request asks for {float(length):.1f} s of audio; the limit is "
                              f"{limits.MAX_SECONDS} s", field="bars" if bars is not None else "seconds")
        if seconds is not None and seconds * check_sample_rate(d.get("sample_rate", 48000)) < 1:
            raise EngineError("invalid_field", "seconds is shorter than one sample", field="seconds")
        start_bar = _bar(d, "start_bar")
        seed = _int(d, "seed", None, 0, 2**63 - 1)
        if seed is None:
            seed = secrets.randbelow(2**31)
        sampling = SamplingParams(
            top_k=_int(d, "top_k", 250, 0, 4096),
            top_p=_float(d, "top_p", 0.0),
            temperature=_float(d, "temperature", 1.0),
            cfg=_float(d, "cfg", 3.0),
            greedy=bool(_bool(d, "greedy", False)),
        )
        # checked after the shared ranges, so a bad cfg is refused as cfg, not as MAGNeT's max_cfg
        sampling = replace(sampling, magnet=magnet_params(d))
        melody = d.get("melody")
        if melody is not None and not isinstance(melody, dict):
            raise EngineError("invalid_field", "melody must be an object", field="melody")
        render_fields = {k: d[k] for k in RENDER_FIELDS if k in d}
        req = cls(
            prompt=prompt, model=model, bpm=bpm, time_signature=ts, bars=bars, seconds=seconds,
            start_bar=start_bar, seed=seed, sampling=sampling,
            sample_rate=check_sample_rate(d.get("sample_rate", 48000)),
            channels=_int(d, "channels", 2, 1, 2),
            format=_choice(d, "format", "wav24", FORMATS),
            output_dir=_str(d, "output_dir", None, 4096),
            output_name=_str(d, "output_name", None, limits.MAX_NAME_CHARS),
            variations=_int(d, "variations", 1, 1, limits.MAX_VARIATIONS),
            tempo_hint=bool(_bool(d, "tempo_hint", True)),
            generator=_generator(d),
            dtype=normalize_dtype(d.get("dtype")),
            decoder=_choice(d, "decoder", "encodec", DECODERS),
            melody=melody,
            style=None if d.get("style") is None else check_style_spec(d["style"]),
            conform=_bool(d, "conform", None),
            context_bars=_int(d, "context_bars", 2, 1, 64),
            window_bars=_int(d, "window_bars", None, 1, 256),
            audio=_audio_ref(d.get("audio")),
            item_start_bar=_bar(d, "item_start_bar"),
            track=_str(d, "track", "", 100) or "",
            name_pattern=check_pattern(_str(d, "name_pattern", DEFAULT_PATTERN, limits.MAX_NAME_CHARS)
                                       or DEFAULT_PATTERN),
            render_fields=render_fields,
            sampling_sent=_sampling_sent(d, sampling),
            # unknown fields are accepted (newer clients) but not kept: they would be stored in the journal
            # and every sidecar; only the recovery flag travels on
            extra={k: d[k] for k in KEPT_EXTRA if k in d},
        )
        audio_bytes = req.variations * req.frames * req.channels * 4  # float32 takes held at once
        if audio_bytes > limits.MAX_REQUEST_AUDIO_BYTES:
            raise EngineError("too_large", f"the request's audio ({req.variations} take(s) x {req.frames} frames x "
                              f"{req.channels} channel(s)) needs {audio_bytes // 2**20} MiB; the limit is "
                              f"{limits.MAX_REQUEST_AUDIO_BYTES // 2**20} MiB: ask for fewer takes, less time or a "
                              "lower sample rate", field="variations")
        return req

    @property
    def duration(self) -> Fraction:
        """Exact length in seconds."""
        if self.bars is not None:
            return bars_to_seconds(self.bars, self.time_signature, self.bpm)
        assert self.seconds is not None
        return self.seconds

    @property
    def frames(self) -> int:
        """Exact length in frames at the output rate, rounded once."""
        if self.bars is not None:
            return span_frames(self.bars, self.time_signature, self.bpm, self.sample_rate,
                               start_bar=self.start_bar - 1)
        return seconds_to_frames(self.duration, self.sample_rate)

    def take_seeds(self) -> list[int]:
        """Take 0 uses the request's seed, so a single take reproduces with the seed it reports."""
        return [self.seed] + [(self.seed + 1_000_003 * i) % 2**63 for i in range(1, self.variations)]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form that ``from_dict`` turns back into an equal request (for sidecars)."""
        out = asdict(self)
        out.pop("sampling")
        out.pop("extra")
        out.pop("render")
        out.pop("render_fields")
        out.pop("melody_source")
        out.pop("sampling_sent")
        out.update(self.render.to_dict() if self.render is not None else self.render_fields)
        for key in ("sample_rate", "channels", "format"):
            out[key] = getattr(self, key)
        out.update(self.sampling_sent)  # as sent: an unsent one keeps each model family's default
        out.update(self.extra)
        out["bpm"] = float(self.bpm) if self.bpm.denominator != 1 else int(self.bpm)
        out["time_signature"] = str(self.time_signature)
        for key in ("start_bar", "item_start_bar"):
            value = getattr(self, key)
            out[key] = float(value) if value.denominator != 1 else int(value)
        if self.seconds is not None:
            out["seconds"] = float(self.seconds)
        return out
