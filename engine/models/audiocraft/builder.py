"""From an exported audiocraft folder (or HF id) to our modules: LM, conditioners, fuser, codec.

Every shape and setting comes from ``xp.cfg`` and the tensors; settings we do not implement are
refused with ``bad_checkpoint`` naming the file and key, never silently ignored. Families extend
the conditioner table (:data:`CONDITIONER_BUILDERS`) instead of editing this module's logic.

>>> model = load_model("tests/fixtures/audiocraft/audiogen")
>>> model.lm.settings.n_q, model.delays, model.codec.frame_rate
(4, [0, 1, 2, 3], 50)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import torch
from torch import nn

from .checkpoint import CODEC_FILE, LM_FILE, Package, load_into, load_package, resolve_folder
from .codec import CompressionModel, HFEncodecCodec, build_codec
from .conditioners import T5Conditioner
from .config import XpConfig, bad_checkpoint
from .lm import ACTIVATIONS, AudiocraftLM, LMSettings

LM_MODELS = ("transformer_lm", "transformer_lm_magnet")
T5_DIMS = {"t5-small": 512, "t5-base": 768, "t5-large": 1024, "t5-3b": 1024, "t5-11b": 1024,
           "google/flan-t5-small": 512, "google/flan-t5-base": 768, "google/flan-t5-large": 1024,
           "google/flan-t5-xl": 2048, "google/flan-t5-xxl": 4096}
#: settings of ``transformer_lm`` that must have exactly these values (anything else changes the maths)
FIXED = {"norm_first": True, "norm": "layer_norm", "layer_scale": None, "qk_layer_norm": False,
         "qk_layer_norm_cross": False, "kv_repeat": 1, "xpos": False, "positional_embedding": "sin",
         "past_context": None}
PREFIX = "condition_provider.conditioners."


def lm_settings(cfg: XpConfig) -> LMSettings:
    cfg.one_of("lm_model", LM_MODELS)
    t = "transformer_lm"
    for key, value in FIXED.items():
        got = cfg.get(f"{t}.{key}", value)
        if got != value:
            raise bad_checkpoint(cfg.file, f"{t}.{key}", f"unsupported value {got!r} (supported: {value!r})")
    dim, heads = cfg.require(f"{t}.dim", int), cfg.require(f"{t}.num_heads", int)
    if dim % heads or dim % 2:
        raise bad_checkpoint(cfg.file, f"{t}.num_heads", f"dim {dim} is not divisible by {heads} heads")
    fuser = fuser_lists(cfg)
    extra = {k: cfg.get(f"{t}.{k}") for k in ("subcodes_context", "span_len", "segment_duration",
                                               "compression_model_framerate") if cfg.get(f"{t}.{k}", None) is not None}
    return LMSettings(
        dim=dim, num_heads=heads, num_layers=cfg.require(f"{t}.num_layers", int),
        ffn=int(cfg.require(f"{t}.hidden_scale", (int, float)) * dim),
        n_q=cfg.require(f"{t}.n_q", int), card=cfg.require(f"{t}.card", int),
        activation=cfg.one_of(f"{t}.activation", tuple(ACTIVATIONS), "gelu"),
        causal=cfg.require(f"{t}.causal", bool, True),
        cross_attention=bool(fuser["cross"]) or cfg.require(f"{t}.cross_attention", bool, False),
        bias_attn=cfg.require(f"{t}.bias_attn", bool, True), bias_ff=cfg.require(f"{t}.bias_ff", bool, True),
        bias_proj=cfg.require(f"{t}.bias_proj", bool, True),
        max_period=float(cfg.require(f"{t}.max_period", (int, float), 10000.0)),
        positional_scale=float(cfg.require(f"{t}.positional_scale", (int, float), 1.0)), extra=extra)


def fuser_lists(cfg: XpConfig) -> dict[str, list[str]]:
    for key in ("sum", "input_interpolate"):
        if cfg.get(f"fuser.{key}", []):
            raise bad_checkpoint(cfg.file, f"fuser.{key}", "this fusing method is not supported")
    if cfg.get("fuser.cross_attention_pos_emb", False):
        raise bad_checkpoint(cfg.file, "fuser.cross_attention_pos_emb", "positional embedding on conditions "
                             "is not supported")
    return {k: list(cfg.get(f"fuser.{k}", []) or []) for k in ("cross", "prepend")}


def delay_list(cfg: XpConfig, n_q: int) -> list[int]:
    """Per-codebook delays of the token pattern (all zero for MAGNeT's parallel pattern)."""
    modeling = cfg.one_of("codebooks_pattern.modeling", ("delay", "parallel"))
    if modeling == "parallel":
        return [0] * n_q
    for key in ("flatten_first", "empty_initial"):
        if cfg.get(f"codebooks_pattern.delay.{key}", 0) != 0:
            raise bad_checkpoint(cfg.file, f"codebooks_pattern.delay.{key}", "only 0 is supported")
    delays = cfg.get("codebooks_pattern.delay.delays", None) or list(range(n_q))
    if len(delays) != n_q or any(not isinstance(d, int) or d < 0 for d in delays):
        raise bad_checkpoint(cfg.file, "codebooks_pattern.delay.delays", f"expected {n_q} delays >= 0, got {delays}")
    return list(delays)


def _t5(pkg: Package, name: str, dim: int) -> tuple[str, nn.Module]:
    cfg = pkg.config
    key = f"conditioners.{name}.t5"
    t5_name = cfg.require(f"{key}.name", str)
    if t5_name not in T5_DIMS:
        raise bad_checkpoint(cfg.file, f"{key}.name", f"unknown T5 {t5_name!r} (known: {sorted(T5_DIMS)})")
    if cfg.get(f"{key}.normalize_text", False):
        raise bad_checkpoint(cfg.file, f"{key}.normalize_text", "text normalisation is not supported")
    module = T5Conditioner(t5_name, T5_DIMS[t5_name], dim)
    load_into(module, pkg, f"{PREFIX}{name}.")
    return "text", module


def _style(pkg: Package, name: str, dim: int) -> tuple[str, nn.Module]:
    from .style_loader import build_style  # imported on use: style_loader builds on this module

    return build_style(pkg, name, dim)


#: conditioner ``model`` -> builder(pkg, name, lm dim) -> (kind, module); kind orders the fusion
CONDITIONER_BUILDERS: dict[str, Callable[[Package, str, int], tuple[str, nn.Module]]] = {"t5": _t5, "style": _style}
#: audiocraft collects conditions text first, then waveforms, then joint embeddings
KIND_ORDER = ("text", "wav", "joint_embed")


@dataclass
class Fuser:
    """Where each condition goes: cross-attention source or prefix, in audiocraft's order."""

    cross: list[str]
    prepend: list[str]
    order: list[str]  # condition names in the order audiocraft iterates them

    def fuse(self, tensors: dict[str, tuple[torch.Tensor, torch.Tensor]]
             ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """(cross source, prefix) from ``{name: (embeds (B, L, dim), mask)}``; masks are not applied (as audiocraft)."""
        cross = prefix = None
        for name in self.order:
            if name not in tensors:
                continue
            embeds = tensors[name][0]
            if name in self.cross:
                cross = embeds if cross is None else torch.cat([cross, embeds], dim=1)
            elif name in self.prepend:  # each prepend goes in front of what is there already
                prefix = embeds if prefix is None else torch.cat([embeds, prefix], dim=1)
        return cross, prefix


C = TypeVar("C", bound=nn.Module)


def one_conditioner(conditioners: Mapping[str, nn.Module], kind: type[C]) -> tuple[str, C]:
    """The name and module of the single conditioner of type ``kind`` (typed for the caller).

    >>> one_conditioner({"description": T5Conditioner("t5-base", 768, 16)}, T5Conditioner)[0]
    'description'
    """
    found = [(name, module) for name, module in conditioners.items() if isinstance(module, kind)]
    if len(found) != 1:
        raise ValueError(f"expected one {kind.__name__} among the conditioners, found {len(found)}")
    return found[0]


@dataclass
class AudiocraftModel:
    """Everything built from one exported folder."""

    lm: AudiocraftLM
    conditioners: dict[str, nn.Module]
    fuser: Fuser
    delays: list[int]
    cfg: XpConfig
    codec: CompressionModel | HFEncodecCodec | None

    def require_codec(self) -> CompressionModel | HFEncodecCodec:
        """The codec; a model loaded with ``with_codec=False`` has none, so asking for it is a bug."""
        if self.codec is None:
            raise RuntimeError("this model was loaded with with_codec=False: it has no codec")
        return self.codec

    @property
    def max_duration(self) -> float:
        return float(self.cfg.get("dataset.segment_duration"))


def build_conditioners(pkg: Package, dim: int) -> tuple[dict[str, nn.Module], Fuser]:
    cfg = pkg.config
    lists = fuser_lists(cfg)
    spec = cfg.get("conditioners", {}) or {}
    if not isinstance(spec, dict):
        raise bad_checkpoint(cfg.file, "conditioners", "expected a mapping")
    modules, kinds = {}, {}
    for name in spec:
        kind_key = f"conditioners.{name}.model"
        model = cfg.get(kind_key)
        if model not in CONDITIONER_BUILDERS:
            raise bad_checkpoint(cfg.file, kind_key, f"unsupported conditioner {model!r} "
                                 f"(supported: {sorted(CONDITIONER_BUILDERS)})")
        if name not in lists["cross"] and name not in lists["prepend"]:
            raise bad_checkpoint(cfg.file, "fuser", f"conditioner {name!r} is not fused by cross or prepend")
        kinds[name], modules[name] = CONDITIONER_BUILDERS[model](pkg, name, dim)
    for name in lists["cross"] + lists["prepend"]:
        if name not in modules:
            raise bad_checkpoint(cfg.file, "fuser", f"fuses {name!r}, which is not among the conditioners")
    order = [n for kind in KIND_ORDER for n in modules if kinds[n] == kind]
    return modules, Fuser(lists["cross"], lists["prepend"], order)


def build_lm(pkg: Package) -> AudiocraftLM:
    lm = AudiocraftLM(lm_settings(pkg.config))
    load_into(lm, pkg, ignore=("condition_provider.",))
    return lm.eval()


def load_model(source: str | Path, cache_dir: str | Path | None = None, with_codec: bool = True) -> AudiocraftModel:
    """Build the LM (+ conditioners, + codec) from a folder or a cached Hugging Face id.

    The T5 encoder is not loaded here (``model.conditioners[name].load_t5()`` does that), so
    checkpoints can be checked without T5 weights.
    """
    folder = resolve_folder(source, cache_dir)
    pkg = load_package(folder / LM_FILE)
    lm = build_lm(pkg)
    conditioners, fuser = build_conditioners(pkg, lm.settings.dim)
    delays = delay_list(pkg.config, lm.settings.n_q)
    codec = build_codec(load_package(folder / CODEC_FILE), cache_dir) if with_codec else None
    if codec is not None and (codec.num_codebooks < lm.settings.n_q or codec.cardinality != lm.settings.card):
        raise bad_checkpoint(str(folder / CODEC_FILE), "rvq", f"codec has {codec.num_codebooks} codebooks of "
                             f"{codec.cardinality}, the LM needs {lm.settings.n_q} of {lm.settings.card}")
    return AudiocraftModel(lm, conditioners, fuser, delays, pkg.config, codec)
