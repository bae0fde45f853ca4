"""Render and write-back: fx chains, resampling, loudness, safe file writing.

    >>> from musicgen_bridge.engine.render import PathPolicy, Renderer, RenderSpec, clip_name, write_clip
    >>> spec = RenderSpec.from_dict({"sample_rate": 48000, "fx": "master-lite", "loudness_lufs": -14})
    >>> clip, report = Renderer(spec).render_with_report(audio, 32000, frames=192000)  # audio: a model's output  # doctest: +SKIP
    >>> path = PathPolicy().resolve(None, clip_name(track="drums", prompt="dusty breakbeat", bar=1, take=1))
    >>> files = write_clip(clip, 48000, path, fmt=spec.format, auto=True,  # writes under the user's music folder  # doctest: +SKIP
    ...                    sidecar={"render": spec.to_dict(), "report": report.to_dict()})
"""

from ..paths import PathPolicy, default_output_root
from .dsp import apply_fades, convert_channels, fit_length, integrated_loudness, resample, true_peak_db
from .fx import BUILTINS, EXTRA_RANGES, BuiltinFx, FxChain, Vst3Fx, default_vst3_dirs, parse_chain
from .naming import DEFAULT_PATTERN, check_file_name, clip_name, safe_stem, slugify
from .output import FORMATS, AudioFormat, ClipFiles, get_format, sidecar_path, write_clip, write_sidecar
from .playback import preview
from .presets import list_presets, load_chain_file, resolve_chain
from .renderer import SAMPLE_RATES, Renderer, RenderReport, RenderSpec
from .stream import ChainStream, run_chain
from .vst3 import PluginCache

__all__ = [
    "BUILTINS",
    "DEFAULT_PATTERN",
    "EXTRA_RANGES",
    "FORMATS",
    "SAMPLE_RATES",
    "AudioFormat",
    "BuiltinFx",
    "ChainStream",
    "ClipFiles",
    "FxChain",
    "PathPolicy",
    "PluginCache",
    "RenderReport",
    "RenderSpec",
    "Renderer",
    "Vst3Fx",
    "apply_fades",
    "check_file_name",
    "clip_name",
    "convert_channels",
    "default_output_root",
    "default_vst3_dirs",
    "fit_length",
    "get_format",
    "integrated_loudness",
    "list_presets",
    "load_chain_file",
    "parse_chain",
    "preview",
    "resample",
    "resolve_chain",
    "run_chain",
    "safe_stem",
    "sidecar_path",
    "slugify",
    "true_peak_db",
    "write_clip",
    "write_sidecar",
]
