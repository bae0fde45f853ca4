"""An audiocraft text-to-audio LM as a registry model: AudioGen (and the base for delay-pattern families).

:class:`AudiocraftLoaded` wraps an :class:`~.builder.AudiocraftModel` (LM + conditioners + codec)
in the :class:`~..families.FamilyModel` interface, so the engine's jobs drive it like MusicGen:

* ``generate`` runs :func:`~.delay_generation.generate_delay` one take at a time, each from a
  generator seeded with the take's seed (the cross-attention has no key mask, so batching prompts
  would let T5 padding change a take's sound). ``cond.audio_prompt_codes`` are continued from
  (long-form windows, ``continue``): the prompt frames go through the LM in one forward.
* the product's :class:`~...generation.sampling.SamplingParams` map onto audiocraft's sampling
  (:class:`~.sampling.AudiocraftSampling`): top-k, top-p (audiocraft applies top-p instead of
  top-k when both are set), temperature, greedy; guidance ``uncond + (cond - uncond) * cfg``
  when ``cfg > 1``, the conditioned rows alone otherwise (as for MusicGen).
* ``decode``/``encode`` use the checkpoint's codec (SEANet + RVQ, or a transformers EnCodec).

A family whose conditions are more than text (MusicGen-Style) overrides :meth:`conditions`.

>>> from musicgen_bridge.engine.generation.reference import Conditioning
>>> from musicgen_bridge.engine.generation.sampling import SamplingParams
>>> from musicgen_bridge.engine.models.registry import ModelRegistry
>>> loaded = ModelRegistry().load("tiny-audiogen")
>>> out = loaded.generate(Conditioning(["door slam"]), 25, SamplingParams(), [7])
>>> tuple(out.tokens.shape), out.audio.shape
((1, 4, 25), (1, 1, 8000))
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ...errors import EngineError
from ...generation.reference import Conditioning, GenerationOutput
from ...generation.sampling import SamplingParams
from ..families import FamilyModel, StepCallback
from ..specs import ModelSpec
from .builder import AudiocraftModel, load_model
from .checkpoint import resolve_folder
from .conditioners import T5Conditioner
from .delay_generation import generate_delay
from .sampling import AudiocraftSampling


def audiocraft_sampling(params: SamplingParams) -> AudiocraftSampling:
    """The product's sampling settings in audiocraft's terms."""
    return AudiocraftSampling(greedy=params.greedy, top_k=params.top_k, top_p=params.top_p,
                              temperature=params.temperature, cfg_coef=params.cfg)


@dataclass
class AudiocraftLoaded(FamilyModel):
    """A delay-pattern audiocraft LM with text conditions and its codec (``model`` is the AudiocraftModel)."""

    @property
    def net(self) -> AudiocraftModel:
        net: AudiocraftModel = self.model
        return net

    @property
    def sample_rate(self) -> int:
        return int(self.net.require_codec().sample_rate)

    @property
    def frame_rate(self) -> int:
        return int(self.net.require_codec().frame_rate)

    @property
    def num_codebooks(self) -> int:
        return int(self.net.lm.settings.n_q)

    @property
    def audio_channels(self) -> int:
        return int(self.net.require_codec().channels)

    @property
    def max_frames(self) -> int:
        """The trained window (``dataset.segment_duration``, 10 s for AudioGen) in frames."""
        return int(self.net.max_duration * self.frame_rate)

    @property
    def delays(self) -> list[int]:
        return list(self.net.delays)

    @property
    def supports_melody(self) -> bool:
        return False

    def conditions(self, text: str, guided: bool) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """(cross, prefix) for one take: rows ``[text, null]`` when guided, ``[text]`` otherwise."""
        rows: list[str | None] = [text, None] if guided else [text]
        tensors = {}
        for name, module in self.net.conditioners.items():
            if not isinstance(module, T5Conditioner):
                raise EngineError("unsupported", f"model {self.name} needs more than a text prompt "
                                  f"(conditioner {name!r})")
            tensors[name] = module(rows)
        return self.net.fuser.fuse(tensors)

    @torch.no_grad()
    def generate(self, cond: Conditioning, frames: int, params: SamplingParams, seeds: list[int],
                 on_step: StepCallback | None = None, cancel: threading.Event | None = None) -> GenerationOutput:
        takes = len(cond.prompts)
        if len(seeds) != takes:
            raise ValueError("one seed per take")
        if cond.melody_chroma is not None:
            raise EngineError("no_melody_support", f"model {self.name} has no melody conditioning")
        prompt = self.checked_prompt(cond, frames)
        known = 0 if prompt is None else int(prompt.shape[-1])
        sampling = audiocraft_sampling(params)
        steps = frames + max(self.delays) - (min(self.delays) if known else 0)
        tokens = []
        with self.lock:
            for i, (text, seed) in enumerate(zip(cond.prompts, seeds)):
                cross, prefix = self.conditions(text, params.uses_cfg)
                progress = None if on_step is None else (
                    lambda done, _total, base=i * steps: on_step(base + done, steps * takes))
                out = generate_delay(self.net.lm, self.delays, cross, prefix, frames, sampling,
                                     [torch.Generator(device=self.device).manual_seed(int(seed))],
                                     guided=params.uses_cfg, on_step=progress, cancel=cancel,
                                     prompt=None if prompt is None else prompt[i:i + 1])
                tokens.append(out.tokens.cpu())
        return self.output(torch.cat(tokens), prompt)

    def checked_prompt(self, cond: Conditioning, frames: int) -> torch.Tensor | None:
        """``cond.audio_prompt_codes`` (takes, K, P) checked against the takes and the model window."""
        prompt, takes = cond.audio_prompt_codes, len(cond.prompts)
        known = 0 if prompt is None else int(prompt.shape[-1])
        if prompt is not None and (prompt.dim() != 3 or tuple(prompt.shape[:2]) != (takes, self.num_codebooks)):
            raise ValueError(f"audio_prompt_codes must be (takes={takes}, codebooks={self.num_codebooks}, frames)")
        if known + frames > self.max_frames:
            raise EngineError("invalid_field", f"audio prompt ({known} frames) plus new audio ({frames} frames) "
                              f"exceeds the model window of {self.max_frames} frames; shorten the context or "
                              f"the window", field="context_bars")
        return prompt

    def output(self, new: torch.Tensor, prompt: torch.Tensor | None) -> GenerationOutput:
        """The new tokens and their audio; after a prompt, decoded with it and cut to the new frames."""
        if prompt is None:
            return GenerationOutput(tokens=new, audio=self.decode(new))
        known = int(prompt.shape[-1])
        hop = self.sample_rate // self.frame_rate  # decode with the prompt, keep the new frames' samples
        audio = self.decode(torch.cat([prompt.cpu().long(), new], dim=-1))[..., known * hop:]
        return GenerationOutput(tokens=new, audio=np.ascontiguousarray(audio))

    @torch.no_grad()
    def decode(self, tokens: torch.Tensor) -> np.ndarray:
        wav = self.net.require_codec().decode(tokens.to(self.device, torch.long))
        return wav.float().cpu().numpy()

    @torch.no_grad()
    def encode(self, audio: np.ndarray) -> torch.Tensor:
        x = np.asarray(audio, dtype=np.float32)
        x = x[None] if x.ndim == 1 else x
        if self.audio_channels == 1:
            x = x.mean(axis=0, keepdims=True)
        elif x.shape[0] == 1:
            x = np.repeat(x, self.audio_channels, axis=0)
        codes = self.net.require_codec().encode(torch.from_numpy(np.ascontiguousarray(x))[None].to(self.device))
        return codes[:, :self.num_codebooks].cpu().long()


def place(net: AudiocraftModel, device: torch.device) -> AudiocraftModel:
    """Move every part of ``net`` to ``device`` (float32, eval)."""
    net.lm.to(device).eval()
    for module in net.conditioners.values():
        module.to(device).eval()
    if net.codec is not None:
        net.codec.to(device).eval()
    return net


def load_audiogen(spec: ModelSpec, device: torch.device, cache_dir: Path) -> AudiocraftLoaded:
    """``tiny-audiogen`` built in code, or an AudioGen checkpoint from the local cache (T5 included)."""
    if spec.builtin:
        from .tiny import TINY_SEED, build_tiny_audiogen

        return AudiocraftLoaded(spec, place(build_tiny_audiogen(), device), None, device, torch.float32,
                                revision=f"builtin-seed{TINY_SEED}")
    assert spec.hf_id is not None
    folder = resolve_folder(spec.hf_id, cache_dir)
    net = load_model(folder, cache_dir)
    for module in net.conditioners.values():
        if isinstance(module, T5Conditioner):
            module.load_t5(cache_dir)
    # audiocraft runs these LMs in float32 on CPU; we keep float32 everywhere (exactness over memory)
    return AudiocraftLoaded(spec, place(net, device), None, device, torch.float32, revision=folder.name)
