"""The models the registry knows, as plain data (importing this needs neither torch nor transformers).

>>> get_spec("tiny").builtin, get_spec("facebook/musicgen-melody").melody
(True, True)
>>> get_spec("tiny-audiogen").family, get_spec("tiny-audiogen").musical
('audiogen', False)
>>> get_spec("facebook/magnet-small-30secs").family, get_spec("facebook/magnet-small-30secs").window_s
('magnet', 30)
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import EngineError


@dataclass(frozen=True)
class ModelSpec:
    """What the registry knows about a model before loading it."""

    name: str
    params: str
    melody: bool = False
    stereo: bool = False
    hf_id: str | None = None  # None: built in code
    #: which loader builds it (engine/models/families.py); "musicgen" is transformers' MusicGen
    family: str = "musicgen"
    #: music with a beat: tempo hint in the prompt and conform by default (False for sound effects)
    musical: bool = True
    #: what a DAW user picks it for (the models listing shows it)
    purpose: str = "music"
    #: codebooks of its style conditioner (MusicGen-Style's ``eval_q`` range); 0: it has none
    style_codebooks: int = 0
    #: a fixed trained window in seconds (MAGNeT): a clip is cut from one generation, nothing
    #: continues it (engine/produce/fixed_window.py); None: windows continue each other
    window_s: int | None = None

    @property
    def style(self) -> bool:
        """Conditioned on a style clip ("more like this", the request's ``style``)."""
        return self.style_codebooks > 0

    @property
    def builtin(self) -> bool:
        return self.hf_id is None


def _hf(name: str, params: str, melody: bool = False, stereo: bool = False) -> ModelSpec:
    return ModelSpec(name=name, params=params, melody=melody, stereo=stereo, hf_id=name)


def _magnet(size: str, params: str, seconds: int) -> ModelSpec:
    name = f"facebook/magnet-{size}-{seconds}secs"
    return ModelSpec(name=name, params=params, hf_id=name, family="magnet", purpose="music, fast drafts",
                     window_s=seconds)


MODEL_SPECS: dict[str, ModelSpec] = {spec.name: spec for spec in [
    ModelSpec("tiny", "0.3M (random, makes noise)"),
    ModelSpec("tiny-melody", "0.3M (random, makes noise)", melody=True),
    _hf("facebook/musicgen-small", "300M"),
    _hf("facebook/musicgen-medium", "1.5B"),
    _hf("facebook/musicgen-large", "3.3B"),
    _hf("facebook/musicgen-melody", "1.5B", melody=True),
    _hf("facebook/musicgen-melody-large", "3.3B", melody=True),
    _hf("facebook/musicgen-stereo-small", "300M", stereo=True),
    _hf("facebook/musicgen-stereo-medium", "1.5B", stereo=True),
    _hf("facebook/musicgen-stereo-large", "3.3B", stereo=True),
    _hf("facebook/musicgen-stereo-melody", "1.5B", melody=True, stereo=True),
    _hf("facebook/musicgen-stereo-melody-large", "3.3B", melody=True, stereo=True),
    # audiocraft-only checkpoints (engine/models/families.py)
    ModelSpec("tiny-audiogen", "0.2M (random, makes noise)", family="audiogen", musical=False,
              purpose="sound effects"),
    ModelSpec("facebook/audiogen-medium", "1.5B", hf_id="facebook/audiogen-medium", family="audiogen",
              musical=False, purpose="sound effects"),
    # MusicGen-Style: "more like this" from a style clip (engine/models/audiocraft/style_loaded.py)
    ModelSpec("tiny-style", "0.3M (random, makes noise)", family="musicgen_style", style_codebooks=4,
              purpose="music like a clip"),
    ModelSpec("facebook/musicgen-style", "1.5B", hf_id="facebook/musicgen-style", family="musicgen_style",
              style_codebooks=6, purpose="music like a clip"),
    # MAGNeT: a whole window in a few dozen parallel passes (engine/models/audiocraft/magnet_loaded.py)
    ModelSpec("tiny-magnet", "0.1M (random, makes noise)", family="magnet", purpose="fast drafts", window_s=10),
    *(_magnet(size, params, seconds) for size, params in (("small", "300M"), ("medium", "1.5B"))
      for seconds in (10, 30)),
    *(ModelSpec(f"facebook/audio-magnet-{size}", params, hf_id=f"facebook/audio-magnet-{size}", family="magnet",
                musical=False, purpose="sound effects, fast", window_s=10)
      for size, params in (("small", "300M"), ("medium", "1.5B"))),
]}

DEFAULT_MODEL = "facebook/musicgen-small"
MELODY_MODELS = tuple(name for name, spec in MODEL_SPECS.items() if spec.melody)


def get_spec(name: str) -> ModelSpec:
    spec = MODEL_SPECS.get(name)
    if spec is None:
        raise EngineError("unknown_model", f"unknown model {name!r}; known models: {', '.join(MODEL_SPECS)}",
                          model=name)
    return spec


def check_melody_support(name: str, supports_melody: bool) -> None:
    """Refuse melody conditioning for a model without it (the one check: submit, job, generators).

    >>> check_melody_support("tiny-melody", True)
    >>> check_melody_support("tiny", False)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    musicgen_bridge.engine.errors.EngineError: no_melody_support: model tiny has no melody conditioning; ...
    """
    if not supports_melody:
        raise EngineError("no_melody_support", f"model {name} has no melody conditioning; "
                          f"use one of: {', '.join(MELODY_MODELS)}")
