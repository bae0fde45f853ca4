"""The render stage: model-rate audio in, a DAW-ready clip at the session rate out.

    >>> spec = RenderSpec.from_dict({"sample_rate": 48000, "fx": "master-lite",
    ...                              "loudness_lufs": -14, "true_peak_dbtp": -1})
    >>> clip = Renderer(spec).render(audio, 32000, frames=192000)   # exactly 192000 frames  # audio: a model's output  # doctest: +SKIP
    >>> clip, report = Renderer(spec).render_with_report(audio, 32000, frames=192000)  # audio: a model's output  # doctest: +SKIP

Steps, in order: channels (mono duplicated / stereo averaged) -> resample to the session
rate (pedalboard's windowed-sinc stream resampler, in blocks) -> exact length ``frames``
-> fx chain in fixed blocks with its tail rendered from silence (``tail="cut"`` keeps
``frames``, ``"keep"`` appends the ring-out, at most ``max_tail_s``) -> fades -> one gain
that meets the loudness target, lowered if needed so the true peak stays under the
ceiling (the ceiling wins: put a limiter in the chain, as master-lite does, to be loud
and clean). The chain runs at the session rate, as it would inside the DAW.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, cast

import numpy as np
import pedalboard

from ..errors import EngineError
from . import dsp
from .fx import BuiltinFx, CodecFx, FxChain, Vst3Fx
from .output import DEFAULT_FORMAT, FORMATS
from .presets import resolve_chain
from .stream import CHAIN_BLOCK, MAX_TAIL_S, run_chain
from .vst3 import PluginCache

SAMPLE_RATES = (32000, 44100, 48000, 88200, 96000)
LOUDNESS_RANGE = (-60.0, 0.0)
CEILING_RANGE = (-20.0, 0.0)
MAX_FADE_S = 60.0
MAX_CLIP_S = 30 * 60  # longest clip accepted, in seconds of output
#: Aimed below the ceiling so 16/24-bit rounding cannot push the true peak over it.
PEAK_MARGIN_DB = 0.01


def _invalid(name: str, message: str) -> EngineError:
    return EngineError("invalid_field", message, field=name)


def _number(name: str, value: Any, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _invalid(name, f"{name} must be a finite number, got {value!r}")
    if not low <= value <= high:
        raise _invalid(name, f"{name}={value!r} is out of range [{low:g}, {high:g}]")
    return float(value)


@dataclass(frozen=True)
class RenderSpec:
    """What the clip should become. Validated on construction (``invalid_field`` / ``bad_fx``).

    sample_rate: 32000, 44100, 48000, 88200 or 96000. channels: 1 or 2. fx: validated chain.
    loudness_lufs: integrated loudness target or None. true_peak_dbtp: ceiling or None.
    fade_in_s / fade_out_s: raised-cosine fades at the start / at the very end of the returned
    clip (after the tail with tail="keep"). tail: "cut" or "keep"; max_tail_s <= 30.
    format: wav16, wav24, wav32f, flac, aiff (used by the writer).
    """

    sample_rate: int = 48000
    channels: int = 2
    fx: FxChain = field(default_factory=FxChain)
    loudness_lufs: float | None = None
    true_peak_dbtp: float | None = -1.0
    fade_in_s: float = 0.0
    fade_out_s: float = 0.0
    tail: str = "cut"
    max_tail_s: float = 10.0
    format: str = DEFAULT_FORMAT

    def __post_init__(self) -> None:
        if isinstance(self.sample_rate, bool) or self.sample_rate not in SAMPLE_RATES:
            raise _invalid("sample_rate", f"sample_rate must be one of {', '.join(map(str, SAMPLE_RATES))}")
        if isinstance(self.channels, bool) or self.channels not in (1, 2):
            raise _invalid("channels", "channels must be 1 or 2")
        if not isinstance(self.fx, FxChain):
            raise _invalid("fx", "fx must be an FxChain; use RenderSpec.from_dict for JSON")
        if self.loudness_lufs is not None:
            _number("loudness_lufs", self.loudness_lufs, *LOUDNESS_RANGE)
        if self.true_peak_dbtp is not None:
            _number("true_peak_dbtp", self.true_peak_dbtp, *CEILING_RANGE)
        _number("fade_in_s", self.fade_in_s, 0.0, MAX_FADE_S)
        _number("fade_out_s", self.fade_out_s, 0.0, MAX_FADE_S)
        if self.tail not in ("cut", "keep"):
            raise _invalid("tail", f"tail must be \"cut\" or \"keep\", got {self.tail!r}")
        _number("max_tail_s", self.max_tail_s, 0.0, MAX_TAIL_S)
        if self.format not in FORMATS:
            raise _invalid("format", f"format {self.format!r} is unknown; use one of {', '.join(FORMATS)}")
        self.fx.check_rate(self.sample_rate)

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, Any],
        *,
        preset_dirs: Iterable[str] | None = None,
        vst3_dirs: Iterable[str] | None = None,
    ) -> RenderSpec:
        """Build from request JSON; ``fx`` may be a preset name, a chain file or a list."""
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(data) - known)
        if unknown:
            raise _invalid(unknown[0], f"render field {unknown[0]!r} is unknown; fields: {', '.join(sorted(known))}")
        values = dict(data)
        rate = values.get("sample_rate", 48000)
        fx_rate = rate if rate in SAMPLE_RATES and not isinstance(rate, bool) else None
        values["fx"] = resolve_chain(values.get("fx"), sample_rate=fx_rate,
                                     preset_dirs=preset_dirs, vst3_dirs=vst3_dirs)
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (for the sidecar); ``from_dict(to_dict())`` rebuilds the spec."""
        out = asdict(self)
        out["fx"] = self.fx.to_json()
        return out


@dataclass(frozen=True)
class RenderReport:
    """What a render did, for the sidecar and the done event."""

    sample_rate: int
    channels: int
    frames: int  # total frames returned (body + tail)
    tail_frames: int
    gain_db: float
    loudness_lufs: float | None  # after the gain; None when undefined (too short or silent)
    true_peak_dbtp: float | None  # after the gain; None for silence
    peak_limited: bool  # True when the ceiling lowered the gain (loudness then under target)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check_audio(audio: np.ndarray, in_rate: int) -> np.ndarray:
    if isinstance(in_rate, bool) or not isinstance(in_rate, int) or not 1000 <= in_rate <= 384000:
        raise _invalid("in_rate", f"input rate {in_rate!r} must be an integer between 1000 and 384000 Hz")
    data = np.asarray(audio)
    if data.ndim == 1:
        data = data[np.newaxis, :]
    if data.ndim != 2 or data.shape[0] not in (1, 2) or data.shape[1] == 0:
        raise EngineError("bad_audio", f"audio must be shaped (channels, frames) with 1-2 channels, got {data.shape}")
    if not np.issubdtype(data.dtype, np.floating):
        raise EngineError("bad_audio", f"audio must be floating point, got {data.dtype}")
    data = data.astype(np.float32, copy=False)
    if not np.isfinite(data).all():
        raise EngineError("bad_audio", "audio contains NaN or infinite samples")
    return data


class Renderer:
    """Renders clips to one :class:`RenderSpec`; reusable across clips (stateless between renders).

    ``plugin_cache`` lends VST3 plugins (one cache per render worker); ``chunk_frames``
    only changes how input is fed to the chain, never the result.
    """

    def __init__(
        self, spec: RenderSpec, *, plugin_cache: PluginCache | None = None, chunk_frames: int | None = None
    ) -> None:
        self.spec = spec
        self.plugin_cache = plugin_cache if plugin_cache is not None else PluginCache()
        self.chunk_frames = chunk_frames

    def render(self, audio: np.ndarray, in_rate: int, frames: int | None = None, *,
               cancelled: Callable[[], bool] | None = None) -> np.ndarray:
        """The rendered clip, float32 (channels, frames [+ tail]) at ``spec.sample_rate``."""
        return self.render_with_report(audio, in_rate, frames, cancelled=cancelled)[0]

    def render_with_report(self, audio: np.ndarray, in_rate: int, frames: int | None = None, *,
                           cancelled: Callable[[], bool] | None = None) -> tuple[np.ndarray, RenderReport]:
        """Like :meth:`render`, plus a :class:`RenderReport`.

        ``frames`` is the exact output length (from the timeline); None derives it from the
        input length. Raises ``bad_fx`` for VST3 problems before any audio is processed.
        """
        spec = self.spec
        data = _check_audio(audio, in_rate)
        if frames is None:
            frames = round(data.shape[1] * spec.sample_rate / in_rate)
        if isinstance(frames, bool) or not isinstance(frames, int) or not 0 < frames <= MAX_CLIP_S * spec.sample_rate:
            raise _invalid("frames", f"frames={frames!r} must be a positive integer up to {MAX_CLIP_S} s of audio")
        with ExitStack() as stack:
            board = self._open_chain(stack)  # loads/validates VST3s before any audio work
            if spec.channels == 1:  # average first: half the resampling work
                data = dsp.convert_channels(data, 1)
            data = dsp.resample(data, in_rate, spec.sample_rate)
            data = dsp.fit_length(dsp.convert_channels(data, spec.channels), frames)
            for item in spec.fx:  # codec steps come first (fx.parse_chain): the codec's sound, then effects
                if isinstance(item, CodecFx):
                    data = codec_bounce(item, data, spec.sample_rate)
            tail_frames = 0
            if board is not None:
                try:
                    data, tail_frames = run_chain(
                        board, data, spec.sample_rate, tail=cast(Literal["cut", "keep"], spec.tail), max_tail_s=spec.max_tail_s,
                        longest_delay_s=spec.fx.longest_delay_s(), chunk_frames=self.chunk_frames,
                        block_frames=CHAIN_BLOCK, cancelled=cancelled,
                    )
                except (ValueError, RuntimeError) as exc:  # pedalboard's way of refusing audio
                    why = " ".join(str(exc).split())
                    raise EngineError("bad_fx", f"the fx chain failed while processing: {why}") from exc
        data = dsp.apply_fades(data, spec.sample_rate, spec.fade_in_s, spec.fade_out_s)
        return self._level(data, tail_frames)

    def _open_chain(self, stack: ExitStack) -> pedalboard.Pedalboard | None:
        if not any(not isinstance(item, CodecFx) for item in self.spec.fx):
            return None
        plugins = []
        for index, item in enumerate(self.spec.fx):
            if isinstance(item, BuiltinFx):
                plugins.append(item.make())
            elif isinstance(item, Vst3Fx):
                plugins.append(stack.enter_context(self.plugin_cache.lease(item, index=index)))
        return pedalboard.Pedalboard(plugins)

    def _level(self, data: np.ndarray, tail_frames: int) -> tuple[np.ndarray, RenderReport]:
        spec = self.spec
        lufs = dsp.integrated_loudness(data, spec.sample_rate)
        peak = dsp.true_peak_db(data)
        gain = 0.0
        if spec.loudness_lufs is not None and lufs is not None:
            gain = spec.loudness_lufs - lufs
        limited = False
        if spec.true_peak_dbtp is not None and math.isfinite(peak):
            most = spec.true_peak_dbtp - PEAK_MARGIN_DB - peak
            if gain > most:
                limited, gain = True, most
        if gain != 0.0:
            data = data * np.float32(10 ** (gain / 20))
        report = RenderReport(
            sample_rate=spec.sample_rate,
            channels=spec.channels,
            frames=int(data.shape[1]),
            tail_frames=tail_frames,
            gain_db=round(gain, 4),
            loudness_lufs=None if lufs is None else round(lufs + gain, 3),
            true_peak_dbtp=round(peak + gain, 3) if math.isfinite(peak) else None,
            peak_limited=limited,
        )
        return data.astype(np.float32, copy=False), report


def codec_bounce(item: CodecFx, data: np.ndarray, rate: int) -> np.ndarray:
    """One codec step of a chain; a bandwidth the codec lacks is ``bad_fx`` naming the ones it has."""
    from ..decoders.encodec import shared_codec  # imported on use: it needs torch and transformers

    codec = shared_codec(item.model)
    try:
        codec.check_bandwidth(item.bandwidth)
    except EngineError as exc:
        raise EngineError("bad_fx", f"the fx chain's codec step: {exc.message}") from None
    return codec.bounce(data, rate, item.bandwidth)
