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
from ..generation.fast.precision import FLOAT_DTYPES, normalize, plan_for
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
    #: the fast generator's default precision (fp32|bf16|fp16|int8); None: the model's own dtype
    decode_dtype: str | None = None
    #: the fast generator's converted weights per precision, built on first use (generation/fast/decoder.py)
    fast_weights: dict[str, Any] = field(default_factory=dict, repr=False)

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


def mps_available() -> bool:
    """An Apple GPU through Metal (MPS) is usable by this torch build."""
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def resolve_device(device: str) -> torch.device:
    """``auto`` picks CUDA, then Apple's MPS, then the CPU; ``cpu``, ``cuda[:N]`` and ``mps`` are checked.

    >>> resolve_device("cpu")
    device(type='cpu')
    """
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if mps_available() else "cpu")
    if device not in ("cpu", "cuda", "mps") and not device.startswith("cuda:"):
        raise EngineError("invalid_field", f"device must be auto, cpu, cuda or mps, got {device!r}", field="device")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise EngineError("unsupported", "device cuda was asked for but this machine has no CUDA GPU; use --device cpu")
    if device == "mps" and not mps_available():
        raise EngineError("unsupported", "device mps was asked for but no Apple GPU (Metal) is usable here; "
                          "use --device cpu")
    return torch.device(device)


def resolve_precision(dtype: str | None, device: torch.device) -> tuple[torch.dtype, str | None]:
    """An engine's ``dtype`` -> (the dtype its models load in, the fast generator's default precision).

    ``auto``/None: fp32 on CPU, bf16 on CUDA GPUs that have it (else fp16), fp16 on Apple GPUs (MPS);
    the fast generator then decodes in the model's dtype. ``int8`` loads fp32 weights (the
    reference generator keeps them) and makes int8 the fast generator's default.

    >>> resolve_precision("int8", torch.device("cpu"))
    (torch.float32, 'int8')
    >>> resolve_precision(None, torch.device("mps"))
    (torch.float16, None)
    """
    name = normalize(dtype)
    if name is None:
        if device.type == "cuda":
            return (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16), None
        return (torch.float16 if device.type == "mps" else torch.float32), None
    plan_for(name, device, torch.float32)  # unsupported combinations (int8 on a GPU) fail at start
    return (torch.float32 if name == "int8" else FLOAT_DTYPES[name]), name


def resolve_dtype(dtype: str | None, device: torch.device) -> torch.dtype:
    """The dtype models load in for an engine's ``dtype`` (see :func:`resolve_precision`)."""
    return resolve_precision(dtype, device)[0]


class ModelRegistry:
    """Loads models by name once and keeps them warm (thread-safe)."""

    def __init__(self, device: str = "auto", dtype: str | None = None, cache_dir: str | Path | None = None) -> None:
        self.device = resolve_device(device)
        self.dtype, self.decode_dtype = resolve_precision(dtype, self.device)
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
                                     revision=f"builtin-seed{tiny.TINY_SEED}", decode_dtype=self.decode_dtype)
            else:
                assert spec.hf_id is not None  # every non-builtin spec names its checkpoint
                model, tokenizer, revision = hf.load_pretrained(spec.hf_id, melody=spec.melody,
                                                                cache_dir=self.cache_dir, device=self.device,
                                                                dtype=self.dtype)
                loaded = LoadedModel(spec, model, tokenizer, self.device, self.dtype, revision,
                                     decode_dtype=self.decode_dtype)
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
