"""The model registry: names map to loaders; loaded models stay warm.

>>> registry = ModelRegistry()
>>> model = registry.load("tiny")            # built in code, milliseconds
>>> model.sample_rate, model.frame_rate, model.num_codebooks
(32000, 50, 4)
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..errors import EngineError
from . import hf, tiny
from .specs import DEFAULT_MODEL, MELODY_MODELS, MODEL_SPECS, ModelSpec, get_spec  # noqa: F401 - re-exported


@dataclass
class LoadedModel:
    """A model ready to generate, with the facts the pipeline needs."""

    spec: ModelSpec
    model: Any  # MusicgenForConditionalGeneration | MusicgenMelodyForConditionalGeneration
    tokenizer: Any
    device: torch.device
    dtype: torch.dtype
    revision: str
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def sample_rate(self) -> int:
        return int(self.model.config.audio_encoder.sampling_rate)

    @property
    def frame_rate(self) -> int:
        return int(self.model.config.audio_encoder.frame_rate)

    @property
    def num_codebooks(self) -> int:
        return int(self.model.decoder.num_codebooks)

    @property
    def audio_channels(self) -> int:
        return int(self.model.decoder.config.audio_channels)

    @property
    def max_frames(self) -> int:
        """The longest single window in token frames (the published models were trained on 30 s)."""
        return min(int(self.model.generation_config.max_length or 1500), 1500)

    @property
    def supports_melody(self) -> bool:
        return self.spec.melody


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise EngineError("invalid_field", f"device must be auto, cpu or cuda, got {device!r}", field="device")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise EngineError("unsupported", "device cuda was asked for but this machine has no CUDA GPU; use --device cpu")
    return torch.device(device)


def resolve_dtype(dtype: str | None, device: torch.device) -> torch.dtype:
    """fp32 on CPU; bf16 on GPUs that have it (else fp16) unless asked otherwise."""
    names = {"fp32": torch.float32, "float32": torch.float32, "bf16": torch.bfloat16,
             "bfloat16": torch.bfloat16, "fp16": torch.float16, "float16": torch.float16}
    if dtype in (None, "auto"):
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    if dtype not in names:
        raise EngineError("invalid_field", f"dtype must be one of auto, {', '.join(names)}; got {dtype!r}", field="dtype")
    return names[dtype]


class ModelRegistry:
    """Loads models by name once and keeps them warm (thread-safe)."""

    def __init__(self, device: str = "auto", dtype: str | None = None, cache_dir: str | Path | None = None) -> None:
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype, self.device)
        self.cache_dir = hf.cache_dir(cache_dir)
        self._loaded: dict[str, LoadedModel] = {}
        self._lock = threading.Lock()
        self._mbd: dict[str, Any] = {}  # model name -> LoadedMBD (engine/models/mbd_weights.py)

    def load(self, name: str) -> LoadedModel:
        spec = get_spec(name)
        with self._lock:
            if name in self._loaded:
                return self._loaded[name]
            loaded: LoadedModel
            if spec.family != "musicgen":  # audiocraft families: engine/models/families.py
                from .families import load_family

                loaded = load_family(spec, self.device, self.cache_dir)
            elif spec.builtin:
                model: Any = tiny.build_tiny(melody=spec.melody)
                model = model.to(self.device)
                # tiny models stay fp32: their point is exact, portable tests
                loaded = LoadedModel(spec, model, tiny.tiny_tokenizer(), self.device, torch.float32,
                                     revision=f"builtin-seed{tiny.TINY_SEED}")
            else:
                assert spec.hf_id is not None  # every non-builtin spec names its checkpoint
                model, tokenizer, revision = hf.load_pretrained(spec.hf_id, melody=spec.melody,
                                                                cache_dir=self.cache_dir, device=self.device,
                                                                dtype=self.dtype)
                loaded = LoadedModel(spec, model, tokenizer, self.device, self.dtype, revision)
            self._loaded[name] = loaded
            return loaded

    def load_mbd(self, loaded: LoadedModel) -> Any:
        """The Multi-Band Diffusion decoder (``facebook/multiband-diffusion``, or the built-in tiny MBD for
        built-in models) bound to ``loaded``'s codec, loaded once; ``unsupported_decoder`` when none fits."""
        from .mbd_weights import load_mbd

        with self._lock:
            if loaded.name not in self._mbd:
                self._mbd[loaded.name] = load_mbd(loaded, self.cache_dir)
            return self._mbd[loaded.name]

    def loaded_names(self) -> list[str]:
        with self._lock:
            return list(self._loaded)

    def describe(self) -> list[dict[str, Any]]:
        """One row per known model: name, size, melody/stereo, cached here, loaded in this process."""
        rows = []
        for spec in MODEL_SPECS.values():
            rows.append({
                "name": spec.name,
                "params": spec.params,
                "melody": spec.melody,
                "stereo": spec.stereo,
                "style": spec.style,
                "builtin": spec.builtin,
                "family": spec.family,
                "purpose": spec.purpose,
                "cached": spec.builtin or hf.is_cached(spec.hf_id or spec.name, self.cache_dir,
                                                       _probe_file(spec.family)),
                "loaded": spec.name in self._loaded,
            })
        return rows


def _probe_file(family: str) -> str:
    from .families import PROBE_FILES

    return PROBE_FILES.get(family, "config.json")
