"""Model families beyond transformers' MusicGen: one loader per family, one interface for the jobs.

A registry entry (:class:`~.specs.ModelSpec`) names its ``family``. ``"musicgen"`` models load
through transformers (:mod:`.hf`, :mod:`.tiny`); every other family loads through
:data:`FAMILY_LOADERS` into a :class:`FamilyModel`, a :class:`~.registry.LoadedModel` that brings
its own token loop, decoder and encoder. The generate / continue / live jobs never ask which
family they hold: :func:`~..produce.context.choose_generator` hands them :func:`generate_family`
for a family model, :func:`~..generation.reference.decode_tokens` and
:func:`~..generation.continuation.encode_audio` call :meth:`FamilyModel.decode` /
:meth:`FamilyModel.encode`. So bar-exact length, resampling, conform, render, sidecars, variations
and long-form windows (:mod:`..generation.windows`: one token stream, decoded once, no seam) apply
unchanged.

Plugging in a family (MAGNeT, MusicGen-Style, ...):

1. Subclass :class:`FamilyModel` (or :class:`~.audiocraft.loaded.AudiocraftLoaded` for an
   audiocraft LM whose tokens an audiocraft codec decodes) and implement what differs:
   ``generate(cond, frames, params, seeds, on_step, cancel) -> GenerationOutput`` (one
   seeded take per prompt; ``cond.audio_prompt_codes`` (takes, K, P) are frames to continue from,
   which long-form windows and ``continue`` use), ``decode(tokens) -> (takes, channels, frames *
   hop)`` float32 at ``sample_rate``, ``encode((channels, samples)) -> (1, K, frames)`` codes,
   and the facts ``sample_rate``, ``frame_rate``, ``num_codebooks``, ``audio_channels``,
   ``max_frames`` (the trained window). A family that cannot continue from codes (MAGNeT fills a
   whole window at once) raises ``EngineError("unsupported", ...)`` for a prompt; windows then
   stop at one model window (``generate_job`` reports ``too_large``).
2. Write ``load(spec, device, cache_dir) -> FamilyModel`` (the built-in tiny model when
   ``spec.builtin``, else :func:`~.audiocraft.builder.load_model` on ``spec.hf_id``) and add it to
   :data:`FAMILY_LOADERS` as ``"family": ("module relative to this package", "function")``.
3. Add the models to :data:`~.specs.MODEL_SPECS` with ``family=...`` (``musical=False`` for
   sound effects: no tempo hint, no conform by default) and, for cache checks, the file a
   snapshot must hold in :data:`PROBE_FILES`.

>>> from musicgen_bridge.engine.models.registry import ModelRegistry
>>> loaded = ModelRegistry().load("tiny-audiogen")
>>> isinstance(loaded, FamilyModel), loaded.sample_rate, loaded.frame_rate, loaded.max_frames
(True, 16000, 50, 500)
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..errors import EngineError
from .registry import LoadedModel
from .specs import ModelSpec

if TYPE_CHECKING:
    from ..generation.reference import Conditioning, GenerationOutput
    from ..generation.sampling import SamplingParams

#: family -> (module relative to this package, loader function); imported on first use
FAMILY_LOADERS: dict[str, tuple[str, str]] = {
    "audiogen": (".audiocraft.loaded", "load_audiogen"),
    "musicgen_style": (".audiocraft.style_loaded", "load_style_model"),
    "magnet": (".audiocraft.magnet_loaded", "load_magnet_family"),
}
#: family -> a file every cached snapshot of its checkpoints holds (``models`` listing: "cached")
PROBE_FILES: dict[str, str] = {"musicgen": "config.json", "audiogen": "state_dict.bin",
                               "musicgen_style": "state_dict.bin", "magnet": "state_dict.bin"}

#: on_step(steps_done, steps_total)
StepCallback = Callable[[int, int], None]


@dataclass
class FamilyModel(LoadedModel):
    """A loaded model that runs its own token loop, decoder and encoder (subclasses implement them)."""

    @property
    def family(self) -> str:
        return self.spec.family

    @property
    def delays(self) -> list[int]:
        """Per-codebook delay of the token pattern (progress counts ``frames + max(delays)`` steps)."""
        return list(range(self.num_codebooks))

    def generate(self, cond: Conditioning, frames: int, params: SamplingParams, seeds: list[int],
                 on_step: StepCallback | None = None, cancel: threading.Event | None = None) -> GenerationOutput:
        """``frames`` new frames per take (one prompt and seed each), tokens on CPU, audio at the model rate."""
        raise NotImplementedError

    def decode(self, tokens: torch.Tensor) -> np.ndarray:
        """(takes, K, frames) codes -> (takes, channels, frames * hop) float32 at ``sample_rate``."""
        raise NotImplementedError

    def encode(self, audio: np.ndarray) -> torch.Tensor:
        """(channels, samples) float32 at ``sample_rate`` -> (1, K, frames) int64 codes on CPU."""
        raise NotImplementedError


def generate_family(loaded: LoadedModel, cond: Conditioning, frames: int, params: SamplingParams,
                    seeds: list[int], on_step: StepCallback | None = None,
                    cancel: threading.Event | None = None) -> GenerationOutput:
    """The generator (same signature as ``generate_reference``) for a family model: its own loop."""
    if not isinstance(loaded, FamilyModel):
        raise TypeError(f"{loaded.name} is not a family model")
    return loaded.generate(cond, frames, params, seeds, on_step, cancel)


def load_family(spec: ModelSpec, device: torch.device, cache_dir: Path) -> FamilyModel:
    """Build the model of a non-MusicGen family (its weights from the local cache, or built in code)."""
    if spec.family not in FAMILY_LOADERS:
        raise EngineError("unsupported", f"model family {spec.family!r} is not available in this build",
                          model=spec.name)
    module, name = FAMILY_LOADERS[spec.family]
    loader = getattr(importlib.import_module(module, __package__), name)
    loaded: FamilyModel = loader(spec, device, cache_dir)
    return loaded
