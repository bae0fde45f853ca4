"""MAGNeT as a registry model: the six published checkpoints and ``tiny-magnet`` behind the family interface.

:class:`MagnetLoaded` wraps a :class:`~.magnet.MagnetModel` so the generate job and live mode drive
it like any model (:mod:`..families`). What differs from a delay-pattern LM:

* ``generate`` always fills the whole trained window (one take at a time, each from a generator
  seeded with the take's seed, as audiocraft's own run) and returns its first ``frames`` frames;
  the render step trims them to the exact span. Non-overlapping spans drop the window's tail that
  is not a whole span: a 10 s window (``max_frames`` 500) keeps 498 frames with spans of 3.
* its settings are the request's MAGNeT settings (``params.magnet``,
  :mod:`~...generation.magnet_options`): decoding steps, span arrangement, annealed guidance and
  temperature; ``on_step`` counts decoding passes (``sum(decoding_steps)`` per take).
* it cannot continue audio (``cond.audio_prompt_codes``): ``unsupported``. The engine refuses
  what would need that before any work (:mod:`~...produce.fixed_window`).

>>> from musicgen_bridge.engine.generation.magnet import MagnetParams
>>> from musicgen_bridge.engine.generation.reference import Conditioning
>>> from musicgen_bridge.engine.generation.sampling import SamplingParams
>>> from musicgen_bridge.engine.models.registry import ModelRegistry
>>> loaded = ModelRegistry().load("tiny-magnet")
>>> loaded.max_frames, loaded.sample_rate
(500, 32000)
>>> quick = SamplingParams(magnet=MagnetParams(decoding_steps=(2, 1, 1, 1)))
>>> out = loaded.generate(Conditioning(["warm pads"]), 100, quick, [7])
>>> tuple(out.tokens.shape), out.audio.shape
((1, 4, 100), (1, 1, 64000))
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ...errors import EngineError
from ...generation.magnet import MagnetParams, output_frames
from ...generation.magnet_options import check_for_model
from ...generation.reference import Conditioning, GenerationOutput
from ...generation.sampling import SamplingParams
from ..families import FamilyModel, StepCallback
from ..specs import ModelSpec
from .checkpoint import resolve_folder
from .conditioners import T5Conditioner
from .loaded import place
from .magnet import MagnetModel, load_magnet


@dataclass
class MagnetLoaded(FamilyModel):
    """A loaded MAGNeT (``model`` is the :class:`~.magnet.MagnetModel`)."""

    @property
    def net(self) -> MagnetModel:
        net: MagnetModel = self.model
        return net

    @property
    def sample_rate(self) -> int:
        return int(self.net.base.require_codec().sample_rate)

    @property
    def frame_rate(self) -> int:
        return int(self.net.base.require_codec().frame_rate)

    @property
    def num_codebooks(self) -> int:
        return int(self.net.codebooks)

    @property
    def audio_channels(self) -> int:
        return int(self.net.base.require_codec().channels)

    @property
    def max_frames(self) -> int:
        """The trained window in frames (``window_frames`` says how many a request's spans keep)."""
        return int(self.net.frames)

    @property
    def window_seconds(self) -> int:
        return round(self.net.frames / self.frame_rate)

    @property
    def delays(self) -> list[int]:
        return [0] * self.num_codebooks

    @property
    def supports_melody(self) -> bool:
        return False

    def window_frames(self, params: MagnetParams) -> int:
        return output_frames(self.net.frames, self.net.span_len, params)

    @torch.no_grad()
    def generate(self, cond: Conditioning, frames: int, params: SamplingParams, seeds: list[int],
                 on_step: StepCallback | None = None, cancel: threading.Event | None = None) -> GenerationOutput:
        if len(seeds) != len(cond.prompts):
            raise ValueError("one seed per take")
        if cond.melody_chroma is not None:
            raise EngineError("no_melody_support", f"model {self.name} has no melody conditioning")
        if cond.audio_prompt_codes is not None:
            raise EngineError("unsupported", f"{self.name} fills a whole window at once and cannot continue "
                              f"audio; use a MusicGen model to continue")
        magnet = params.magnet or MagnetParams()
        check_for_model(magnet, self.name, self.num_codebooks)
        window = self.window_frames(magnet)
        if frames > window:
            raise EngineError("too_large", f"{self.name} generates one {self.window_seconds} s window "
                              f"({window} frames); {frames} frames were asked for", field="bars")

        def check_cancelled() -> None:
            if cancel is not None and cancel.is_set():
                raise EngineError("cancelled", "the job was cancelled")

        with self.lock:
            codes, audio = self.net.text_to_audio(list(cond.prompts), [int(s) for s in seeds], magnet,
                                                   progress=on_step, check_cancelled=check_cancelled)
        hop = self.sample_rate // self.frame_rate
        # the window's first frames: cut after decoding the whole window, as audiocraft plays it
        return GenerationOutput(tokens=codes[..., :frames].cpu(),
                                audio=np.ascontiguousarray(audio[..., :frames * hop].numpy()))

    @torch.no_grad()
    def decode(self, tokens: torch.Tensor) -> np.ndarray:
        wav = self.net.base.require_codec().decode(tokens.to(self.device, torch.long))
        return wav.float().cpu().numpy()

    def encode(self, audio: np.ndarray) -> torch.Tensor:
        raise EngineError("unsupported", f"{self.name} cannot continue audio; use a MusicGen model to continue")


def load_magnet_family(spec: ModelSpec, device: torch.device, cache_dir: Path) -> MagnetLoaded:
    """``tiny-magnet`` built in code, or a published MAGNeT from the local cache (T5 and EnCodec too)."""
    if spec.builtin:
        from .magnet_random import TINY_SEED, build_tiny_magnet

        net = build_tiny_magnet()
        place(net.base, device)
        return MagnetLoaded(spec, net, None, device, torch.float32, revision=f"builtin-seed{TINY_SEED}")
    assert spec.hf_id is not None
    folder = resolve_folder(spec.hf_id, cache_dir)
    net = load_magnet(folder, cache_dir)
    for module in net.base.conditioners.values():
        if isinstance(module, T5Conditioner):
            module.load_t5(cache_dir)
    place(net.base, device)  # float32 everywhere, as audiocraft runs MAGNeT on CPU
    return MagnetLoaded(spec, net, None, device, torch.float32, revision=folder.name)
