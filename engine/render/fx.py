"""Effect chains as data: JSON lists of pedalboard built-ins and VST3 plugins, checked up front.

    >>> chain = parse_chain([  # needs a Verb.vst3 plugin installed  # doctest: +SKIP
    ...     {"plugin": "HighpassFilter", "cutoff_frequency_hz": 30},
    ...     {"plugin": "Compressor", "threshold_db": -18, "ratio": 4},
    ...     {"vst3": "/usr/lib/vst3/Verb.vst3", "params": {"mix": 0.2}, "preset": "hall.vstpreset"},
    ... ], sample_rate=48000)
    >>> chain.to_json()[1]  # chain: from the line above  # doctest: +SKIP
    {'plugin': 'Compressor', 'ratio': 4.0, 'threshold_db': -18.0}

Every problem raises ``EngineError("bad_fx", ...)`` naming the entry, before any audio work:
an unknown plugin or parameter, a wrong type, a value out of range, a missing file.
Ranges come from pedalboard itself where it checks them (its ValueError text is passed on)
and from :data:`EXTRA_RANGES` where it does not. VST3 parameter names and ranges are only
known once the plugin is loaded; :class:`engine.render.vst3.PluginCache` checks them then.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pedalboard

from ..errors import EngineError

MAX_PLUGINS = 32

#: Built-ins a chain may name. Containers, Convolution (reads arbitrary files) and the
#: raw IIRFilter base are left out on purpose.
BUILTINS: tuple[str, ...] = (
    "Bitcrush", "Chorus", "Clipping", "Compressor", "Delay", "Distortion", "GSMFullRateCompressor",
    "Gain", "HighShelfFilter", "HighpassFilter", "Invert", "LadderFilter", "Limiter",
    "LowShelfFilter", "LowpassFilter", "MP3Compressor", "NoiseGate", "PeakFilter", "Phaser",
    "PitchShift", "Resample", "Reverb",
)

NYQUIST = "nyquist"
#: Ranges (inclusive) for values pedalboard accepts silently but that misbehave (NaN output,
#: JUCE assertions) or make no musical sense. ``"nyquist"`` means below sample_rate / 2.
#: Ranges that pedalboard enforces itself (Reverb levels, Delay, mixes, Bitcrush, PitchShift,
#: Compressor ratio, LadderFilter resonance/drive, filter q > 0, ...) are not repeated here.
EXTRA_RANGES: dict[tuple[str, str], tuple[float, float | str]] = {
    ("Chorus", "depth"): (0.0, 1.0),
    ("Chorus", "feedback"): (-1.0, 1.0),
    ("Chorus", "centre_delay_ms"): (0.0, 100.0),
    ("Clipping", "threshold_db"): (-60.0, 0.0),
    ("Compressor", "threshold_db"): (-100.0, 0.0),
    ("Compressor", "attack_ms"): (0.0, 1000.0),
    ("Compressor", "release_ms"): (0.0, 5000.0),
    ("Distortion", "drive_db"): (0.0, 60.0),
    ("Gain", "gain_db"): (-96.0, 24.0),
    ("HighShelfFilter", "cutoff_frequency_hz"): (1.0, NYQUIST),
    ("HighShelfFilter", "gain_db"): (-48.0, 48.0),
    ("HighShelfFilter", "q"): (0.01, 100.0),
    ("HighpassFilter", "cutoff_frequency_hz"): (1.0, NYQUIST),
    ("LadderFilter", "cutoff_hz"): (1.0, NYQUIST),
    ("LadderFilter", "drive"): (1.0, 100.0),
    ("Limiter", "threshold_db"): (-60.0, 0.0),
    ("Limiter", "release_ms"): (0.0, 5000.0),
    ("LowShelfFilter", "cutoff_frequency_hz"): (1.0, NYQUIST),
    ("LowShelfFilter", "gain_db"): (-48.0, 48.0),
    ("LowShelfFilter", "q"): (0.01, 100.0),
    ("LowpassFilter", "cutoff_frequency_hz"): (1.0, NYQUIST),
    ("NoiseGate", "threshold_db"): (-100.0, 0.0),
    ("NoiseGate", "ratio"): (1.0, 100.0),
    ("NoiseGate", "attack_ms"): (0.0, 1000.0),
    ("NoiseGate", "release_ms"): (0.0, 5000.0),
    ("PeakFilter", "cutoff_frequency_hz"): (1.0, NYQUIST),
    ("PeakFilter", "gain_db"): (-48.0, 48.0),
    ("PeakFilter", "q"): (0.01, 100.0),
    ("Phaser", "rate_hz"): (0.0, 99.0),
    ("Phaser", "depth"): (0.0, 1.0),
    ("Phaser", "feedback"): (-0.99, 0.99),
    ("Phaser", "mix"): (0.0, 1.0),
    ("Phaser", "centre_frequency_hz"): (1.0, NYQUIST),
    ("Resample", "target_sample_rate"): (1000.0, 192000.0),
}

#: Built-ins that only run at some sample rates (LAME's MPEG-1 rates).
RATE_LIMITS: dict[str, tuple[int, ...]] = {"MP3Compressor": (32000, 44100, 48000)}

ParamValue = float | str | bool


def _bad(message: str, **details: Any) -> EngineError:
    return EngineError("bad_fx", message, **details)


def builtin_parameters(plugin: str) -> dict[str, Any]:
    """Parameter name -> default value of a built-in, read from pedalboard itself.

        >>> sorted(builtin_parameters("Limiter"))
        ['release_ms', 'threshold_db']
    """
    cls = getattr(pedalboard, plugin)
    instance = cls()
    return {
        name: getattr(instance, name)
        for name in dir(cls)
        if isinstance(getattr(cls, name, None), property) and getattr(cls, name).fset is not None
    }


def _enum_names(default: Any) -> list[str] | None:
    members = getattr(type(default), "__members__", None)
    return list(members) if members else None


@dataclass(frozen=True)
class BuiltinFx:
    """One pedalboard built-in with its (validated) parameters."""

    plugin: str
    params: Mapping[str, float | str] = field(default_factory=dict)

    def make(self) -> pedalboard.Plugin:
        """A fresh pedalboard plugin instance."""
        cls = getattr(pedalboard, self.plugin)
        defaults = builtin_parameters(self.plugin)
        kwargs: dict[str, Any] = {}
        for name, value in self.params.items():
            if isinstance(value, str):  # enum member by name, e.g. LadderFilter mode "HPF24"
                kwargs[name] = getattr(type(defaults[name]), value)
            else:
                kwargs[name] = value
        return cls(**kwargs)

    def to_json(self) -> dict[str, Any]:
        return {"plugin": self.plugin, **dict(sorted(self.params.items()))}


@dataclass(frozen=True)
class Vst3Fx:
    """A VST3 plugin: bundle path, parameter values, optional .vstpreset and sub-plugin name."""

    path: Path
    params: Mapping[str, ParamValue] = field(default_factory=dict)
    preset: Path | None = None
    plugin_name: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"vst3": str(self.path), "params": dict(self.params)}
        if self.preset is not None:
            out["preset"] = str(self.preset)
        if self.plugin_name is not None:
            out["plugin_name"] = self.plugin_name
        return out


@dataclass(frozen=True)
class CodecFx:
    """EnCodec as an effect (``{"codec": "facebook/encodec_24khz", "bandwidth": 6}``): the clip encoded
    at that bandwidth and decoded again, at the session rate. Codec steps come first in a chain."""

    model: str
    bandwidth: float

    def to_json(self) -> dict[str, Any]:
        return {"codec": self.model, "bandwidth": self.bandwidth}


FxItem = BuiltinFx | Vst3Fx | CodecFx


@dataclass(frozen=True)
class FxChain:
    """An ordered, validated effect chain. Empty chains are allowed (no processing)."""

    items: tuple[FxItem, ...] = ()

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[FxItem]:
        return iter(self.items)

    def to_json(self) -> list[dict[str, Any]]:
        """The chain in the JSON form :func:`parse_chain` reads (for sidecars)."""
        return [item.to_json() for item in self.items]

    @property
    def has_vst3(self) -> bool:
        return any(isinstance(i, Vst3Fx) for i in self.items)

    def longest_delay_s(self) -> float:
        """The longest Delay time in the chain; tail detection waits at least this long."""
        return max(
            (float(i.params.get("delay_seconds", 0.5)) for i in self.items
             if isinstance(i, BuiltinFx) and i.plugin == "Delay"),
            default=0.0,
        )

    def check_rate(self, sample_rate: int) -> None:
        """Check the ranges that depend on the rate the chain runs at (cutoffs below Nyquist)."""
        for index, item in enumerate(self.items):
            if isinstance(item, BuiltinFx):
                _check_rate_limit(index, item.plugin, sample_rate)
                for name, value in item.params.items():
                    _check_extra_range(index, item.plugin, name, value, sample_rate)


def default_vst3_dirs() -> list[Path]:
    """The platform's standard VST3 folders (the only places plugins load from by default)."""
    home = Path.home()
    if sys.platform == "win32":
        dirs = [Path(os.environ.get("COMMONPROGRAMFILES", r"C:\Program Files\Common Files")) / "VST3"]
        if os.environ.get("LOCALAPPDATA"):
            dirs.append(Path(os.environ["LOCALAPPDATA"]) / "Programs" / "Common" / "VST3")
        return dirs
    if sys.platform == "darwin":
        return [home / "Library/Audio/Plug-Ins/VST3", Path("/Library/Audio/Plug-Ins/VST3")]
    return [home / ".vst3", Path("/usr/lib/vst3"), Path("/usr/local/lib/vst3")]


def _check_rate_limit(index: int, plugin: str, sample_rate: int | None) -> None:
    rates = RATE_LIMITS.get(plugin)
    if rates is not None and sample_rate is not None and sample_rate not in rates:
        raise _bad(f"fx[{index}] {plugin} only runs at {', '.join(map(str, rates))} Hz, not {sample_rate} Hz",
                   index=index, plugin=plugin)


def _check_extra_range(index: int, plugin: str, name: str, value: Any, sample_rate: int | None) -> None:
    bounds = EXTRA_RANGES.get((plugin, name))
    if bounds is None or isinstance(value, str):
        return
    low, high = bounds
    if high == NYQUIST:
        if sample_rate is None:
            return
        ok = low <= value < sample_rate / 2
        shown = f"[{low:g}, {sample_rate / 2:g}) at {sample_rate} Hz"
    else:
        ok = low <= value <= float(high)
        shown = f"[{low:g}, {float(high):g}]"
    if not ok:
        raise _bad(
            f"fx[{index}] {plugin}.{name}={value:g} is out of range {shown}",
            index=index, plugin=plugin, parameter=name,
        )


def _parse_builtin(index: int, entry: Mapping[str, Any], sample_rate: int | None) -> BuiltinFx:
    plugin = entry["plugin"]
    if not isinstance(plugin, str) or plugin not in BUILTINS:
        raise _bad(f"fx[{index}]: unknown plugin {plugin!r}; built-ins are {', '.join(BUILTINS)}", index=index)
    _check_rate_limit(index, plugin, sample_rate)
    defaults = builtin_parameters(plugin)
    params: dict[str, float | str] = {}
    for name, value in entry.items():
        if name == "plugin":
            continue
        if name not in defaults:
            known = ", ".join(sorted(defaults)) or "none"
            raise _bad(f"fx[{index}] {plugin} has no parameter {name!r}; its parameters: {known}",
                       index=index, plugin=plugin, parameter=name)
        choices = _enum_names(defaults[name])
        where = f"fx[{index}] {plugin}.{name}"
        if choices is not None:
            if not isinstance(value, str):
                raise _bad(f"{where} must be a string, one of {', '.join(choices)}", index=index, parameter=name)
            if value not in choices:
                raise _bad(f"{where}={value!r} is not one of {', '.join(choices)}", index=index, parameter=name)
            params[name] = value
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _bad(f"{where} must be a number, got {type(value).__name__}", index=index, parameter=name)
        if not math.isfinite(value):
            raise _bad(f"{where} must be finite, got {value!r}", index=index, parameter=name)
        _check_extra_range(index, plugin, name, float(value), sample_rate)
        try:  # pedalboard's own range checks live in its setters
            getattr(pedalboard, plugin)(**{name: float(value)})
        except ValueError as exc:
            raise _bad(f"{where}={value!r} is out of range: {exc}", index=index, parameter=name) from None
        params[name] = float(value)
    return BuiltinFx(plugin, params)


def _resolve_file(raw: Any, what: str, index: int, bases: Iterable[Path], roots: Iterable[Path] | None = None) -> Path:
    """The real path of ``raw`` (absolute, or relative to one of ``bases``) inside ``roots`` (default:
    ``bases``). Outside the roots nothing is probed, and missing and outside get one and the same
    error, so a refusal reveals nothing about files elsewhere."""
    if not isinstance(raw, str) or not raw or "\x00" in raw:
        raise _bad(f"fx[{index}] {what} must be a non-empty path string", index=index)
    bases = list(bases)
    real_roots = [Path(r).expanduser().resolve() for r in (bases if roots is None else roots)]
    path = Path(raw).expanduser()
    candidates = [path] if path.is_absolute() else [b / path for b in bases]
    for candidate in candidates:
        real = candidate.resolve()
        if any(real.is_relative_to(r) and real != r for r in real_roots) and real.exists():
            return real
    raise _bad(f"fx[{index}] {what} {raw} is not available: it must be in the allowed folders "
               f"({', '.join(map(str, real_roots)) or 'none'})", index=index, path=raw)


def _parse_vst3(
    index: int, entry: Mapping[str, Any], vst3_dirs: list[Path], base_dir: Path | None
) -> Vst3Fx:
    allowed = {"vst3", "params", "preset", "plugin_name"}
    extra = sorted(set(entry) - allowed)
    if extra:
        raise _bad(f"fx[{index}] VST3 entry has unknown key {extra[0]!r}; keys are {', '.join(sorted(allowed))}",
                   index=index)
    path = _resolve_file(entry["vst3"], "VST3 plugin", index, vst3_dirs)  # inside the VST3 folders only
    if path.suffix.lower() != ".vst3":
        raise _bad(f"fx[{index}] {path} is not a .vst3 plugin", index=index)
    params = entry.get("params", {})
    if not isinstance(params, Mapping):
        raise _bad(f"fx[{index}] params must be an object of name: value", index=index)
    for name, value in params.items():
        if not isinstance(value, (int, float, str, bool)) or (
            isinstance(value, float) and not math.isfinite(value)
        ):
            raise _bad(f"fx[{index}] VST3 parameter {name!r} has an unusable value {value!r}", index=index)
    preset = None
    if entry.get("preset") is not None:
        bases = [base_dir] if base_dir is not None else []
        preset = _resolve_file(entry["preset"], "preset file", index, bases, roots=[*bases, *vst3_dirs])
    name = entry.get("plugin_name")
    if name is not None and not isinstance(name, str):
        raise _bad(f"fx[{index}] plugin_name must be a string", index=index)
    return Vst3Fx(path, dict(params), preset, name)


def _parse_codec(index: int, entry: Mapping[str, Any]) -> CodecFx:
    from ..decoders.encodec import CODEC_MODELS  # imported on use: it needs torch

    model, bandwidth = entry.get("codec"), entry.get("bandwidth")
    if model not in CODEC_MODELS:
        raise _bad(f"fx[{index}]: codec must be one of {', '.join(CODEC_MODELS)}, got {model!r}", index=index)
    if set(entry) - {"codec", "bandwidth"}:
        raise _bad(f"fx[{index}]: a codec step takes codec and bandwidth only", index=index)
    if isinstance(bandwidth, bool) or not isinstance(bandwidth, (int, float)) or not 0 < bandwidth <= 48:
        raise _bad(f"fx[{index}]: bandwidth must be a number of kbps (the codec's list is checked when it "
                   f"loads), got {bandwidth!r}", index=index)
    return CodecFx(str(model), float(bandwidth))


def parse_chain(
    data: Any,
    *,
    sample_rate: int | None = None,
    vst3_dirs: Iterable[str | os.PathLike[str]] | None = None,
    base_dir: str | os.PathLike[str] | None = None,
) -> FxChain:
    """Validate a JSON chain (a list of entries) and return an :class:`FxChain`.

    ``sample_rate`` enables the checks that depend on it (cutoffs below Nyquist).
    ``vst3_dirs`` (default :func:`default_vst3_dirs`) are where VST3 plugins may load from;
    relative plugin paths are looked up there. ``base_dir`` is where relative preset paths
    are found (the chain file's folder).
    """
    if isinstance(data, FxChain):
        if sample_rate is not None:
            data.check_rate(sample_rate)
        return data
    if not isinstance(data, list):
        raise _bad("an fx chain must be a JSON list of plugin entries")
    if len(data) > MAX_PLUGINS:
        raise _bad(f"the fx chain has {len(data)} entries; at most {MAX_PLUGINS} are allowed")
    dirs = [Path(d) for d in vst3_dirs] if vst3_dirs is not None else default_vst3_dirs()
    base = Path(base_dir) if base_dir is not None else None
    items: list[FxItem] = []
    for index, entry in enumerate(data):
        if not isinstance(entry, Mapping):
            raise _bad(f"fx[{index}] must be an object like {{\"plugin\": \"Gain\", \"gain_db\": -3}}", index=index)
        has_plugin, has_vst3, has_codec = "plugin" in entry, "vst3" in entry, "codec" in entry
        if has_plugin + has_vst3 + has_codec != 1:
            raise _bad(f"fx[{index}] needs exactly one of \"plugin\" (a built-in), \"vst3\" (a path) or "
                       f"\"codec\" (an EnCodec)", index=index)
        if has_codec:
            if any(not isinstance(i, CodecFx) for i in items):
                raise _bad(f"fx[{index}]: codec steps run on the clip before the effects; put them first",
                           index=index)
            items.append(_parse_codec(index, entry))
            continue
        items.append(_parse_builtin(index, entry, sample_rate) if has_plugin
                     else _parse_vst3(index, entry, dirs, base))
    return FxChain(tuple(items))
