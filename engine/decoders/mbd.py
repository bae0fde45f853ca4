"""Multi-Band Diffusion: codec tokens -> audio, one diffusion model per frequency band, then EQ matching.

Each band's U-Net turns noise into that band's signal, conditioned on the codec latent
(``codec.decode_latent(codes)``); the bands are summed and the sum is re-equalised so that each of 32
mel bands has the standard deviation of the plain codec decode. Settings (bands, schedule, band
processors, sample rate) all come from the checkpoint.

>>> from musicgen_bridge.engine.models.audiocraft.mbd_checkpoint import load_mbd_checkpoint
>>> mbd = MultiBandDiffusion.from_checkpoint(load_mbd_checkpoint("tests/fixtures/audiocraft/mbd/mbd_checkpoint.th"))
>>> emb, ref = torch.zeros(1, 16, 2), torch.randn(1, 1, 640)
>>> mbd.decode_latent(emb, ref, seed=7).shape
torch.Size([1, 1, 640])

Noise: by default every draw comes from a ``torch.Generator`` seeded with the request's seed (the
same seed gives the same audio, and the global RNG is untouched). ``noise=`` replaces the draws in
order, with a callable ``like -> tensor`` or a sequence of tensors (the conformance check replays
audiocraft's saved draws this way).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import julius
import torch
from torch import nn

from ..models.audiocraft.config import bad_checkpoint
from ..models.audiocraft.diffusion_unet import DiffusionUnet
from ..models.audiocraft.mbd_checkpoint import MBDCheckpoint, build_unet, load_state_strict
from .mbd_schedule import NoiseDraw, NoiseSchedule

RE_EQ_BANDS = 32  # audiocraft's tokens_to_wav default
RE_EQ_STRICTNESS = 1.0

NoiseSource = Callable[[torch.Tensor], torch.Tensor] | Sequence[torch.Tensor] | None


class LatentCodec(Protocol):
    """What MBD needs from a codec: the latent it conditions on and the plain decode it EQ-matches."""

    def decode_latent(self, codes: torch.Tensor) -> torch.Tensor: ...  # [B, K, T] -> [B, D, T]
    def decode(self, codes: torch.Tensor) -> torch.Tensor: ...  # [B, K, T] -> [B, C, T * hop]


class BandProcessor(nn.Module):
    """Maps a band model's normalised sample back to signal scale (identity when the cfg says ``use: false``).

    With ``use: true`` the sample is split into ``n_bands`` mel bands (julius), each scaled by
    ``(std / target_std) ** power_std`` and shifted by ``mean``, then summed. The statistics are
    running sums from training; as audiocraft defines them, ``target_std`` is the mean square of
    the reference noise *without* a square root, which is kept because the weights were trained so.
    """

    # running statistics (buffers, registered when ``use``)
    counts: torch.Tensor
    sum_x: torch.Tensor
    sum_x2: torch.Tensor
    sum_target_x2: torch.Tensor

    def __init__(self, sample_rate: int, use: bool, n_bands: int = 8, power_std: float | Sequence[float] = 1.0):
        super().__init__()
        self.use = use
        if not use:
            return
        self.split_bands = julius.SplitBands(sample_rate, n_bands=n_bands)
        power = torch.tensor(power_std, dtype=torch.float32) if not isinstance(power_std, (int, float)) \
            else float(power_std)
        self.power_std = power
        for name in ("counts", "sum_x", "sum_x2", "sum_target_x2"):
            self.register_buffer(name, torch.zeros(1 if name == "counts" else n_bands))

    @classmethod
    def from_cfg(cls, cfg: dict[str, Any] | None, sample_rate: int) -> BandProcessor:
        cfg = cfg or {}
        if not cfg.get("use", False):
            return cls(sample_rate, use=False)
        if cfg.get("name", "multi_band_processor") != "multi_band_processor":
            raise ValueError(f"processor.name {cfg.get('name')!r}")
        return cls(sample_rate, use=True, n_bands=int(cfg.get("n_bands", 8)), power_std=cfg.get("power_std", 1.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.use:
            return x
        mean = self.sum_x / self.counts
        std = (self.sum_x2 / self.counts - mean ** 2).clamp(min=0).sqrt()
        target_std = self.sum_target_x2 / self.counts
        scale = (std / target_std) ** self.power_std
        bands = self.split_bands(x)
        return (bands * scale.view(-1, 1, 1, 1) + mean.view(-1, 1, 1, 1)).sum(dim=0)


_SPLITS: dict[tuple[int, int], julius.SplitBands] = {}


def _split(sample_rate: int, n_bands: int) -> julius.SplitBands:
    """Band splitters are costly to build (long low-cut filters) and pure: cache them."""
    key = (sample_rate, n_bands)
    if key not in _SPLITS:
        _SPLITS[key] = julius.SplitBands(sample_rate, n_bands=n_bands)
    return _SPLITS[key]


def re_eq(wav: torch.Tensor, ref: torch.Tensor, sample_rate: int, n_bands: int = RE_EQ_BANDS,
          strictness: float = RE_EQ_STRICTNESS) -> torch.Tensor:
    """Scale each mel band of ``wav`` so its std matches ``ref``'s, to the power ``strictness``.

    As in audiocraft the std is unbiased and taken over the whole tensor, batch included, so the
    items of one batch influence each other's EQ; decode one item per call to keep them apart.
    """
    split = _split(sample_rate, n_bands).to(wav.device)
    bands, ref_bands = split(wav), split(ref)
    out = torch.zeros_like(ref)
    for band, ref_band in zip(bands, ref_bands):
        out += band * (ref_band.std() / band.std()) ** strictness
    return out


def make_draw(noise: NoiseSource = None, seed: int | None = None) -> NoiseDraw:
    """A noise draw function: replay ``noise`` (callable or tensors, in order) or a seeded generator."""
    if callable(noise):
        return noise
    if noise is not None:
        queue = iter(list(noise))
        count = [0]

        def replay(like: torch.Tensor) -> torch.Tensor:
            try:
                value = next(queue)
            except StopIteration:
                raise ValueError(f"the noise list ran out after {count[0]} draws") from None
            count[0] += 1
            if tuple(value.shape) != tuple(like.shape):
                raise ValueError(f"noise draw {count[0] - 1} has shape {list(value.shape)}, needs {list(like.shape)}")
            return value.to(like)
        return replay
    gen = torch.Generator()
    if seed is None:
        gen.seed()
    else:
        gen.manual_seed(int(seed))

    def seeded(like: torch.Tensor) -> torch.Tensor:
        return torch.randn(like.shape, generator=gen, dtype=like.dtype).to(like.device)
    return seeded


@dataclass
class DiffusionBand:
    """One band: its U-Net, noise schedule and output processor."""

    unet: DiffusionUnet
    schedule: NoiseSchedule
    processor: BandProcessor

    def generate(self, condition: torch.Tensor, initial: torch.Tensor, draw: NoiseDraw,
                 steps: list[int] | None = None) -> torch.Tensor:
        sample = self.schedule.generate(lambda x, s, c: self.unet(x, s, condition=c), initial, draw, condition,
                                        steps)
        return self.processor(sample)


@dataclass
class MBDTrace:
    """Intermediate results of one decode, for conformance checks and debugging."""

    band_outputs: list[torch.Tensor] = field(default_factory=list)
    generate_out: torch.Tensor | None = None


class MultiBandDiffusion:
    """The MBD decoder: ``tokens_to_wav(codes)`` with a codec, or ``decode_latent(emb, ref)`` without one."""

    def __init__(self, bands: list[DiffusionBand], sample_rate: int, codec: LatentCodec | None = None) -> None:
        if not bands:
            raise ValueError("MBD needs at least one band")
        self.bands = bands
        self.sample_rate = sample_rate
        self.codec: LatentCodec | None = None
        if codec is not None:
            self.bind(codec)

    def incompatibility(self, codec: Any) -> str | None:
        """Why this MBD cannot decode ``codec``'s tokens, or None. Checks rate, channels, latent size.

        >>> from musicgen_bridge.engine.models.audiocraft.tiny_mbd import tiny_mbd
        >>> class AudioGenCodec: sample_rate, channels = 16000, 1
        >>> tiny_mbd().incompatibility(AudioGenCodec())
        'the codec runs at 16000 Hz, this MBD at 32000 Hz'
        """
        rate = getattr(codec, "sample_rate", None)
        if rate is not None and int(rate) != self.sample_rate:
            return f"the codec runs at {int(rate)} Hz, this MBD at {self.sample_rate} Hz"
        unet = self.bands[0].unet.cfg
        channels = getattr(codec, "channels", None)
        if channels is not None and int(channels) != unet.chin:
            return f"the codec has {int(channels)} channels, this MBD decodes {unet.chin}"
        return None

    def bind(self, codec: LatentCodec) -> None:
        """Use ``codec`` for :meth:`tokens_to_wav`; ValueError (with the reason) if it does not fit."""
        reason = self.incompatibility(codec)
        if reason:
            raise ValueError(reason)
        self.codec = codec

    @classmethod
    def from_checkpoint(cls, ckpt: MBDCheckpoint, codec: LatentCodec | None = None) -> MultiBandDiffusion:
        """Build every band's U-Net, schedule and processor; cfg or weight mismatches are ``bad_checkpoint``."""
        bands = []
        for band in ckpt.bands:
            unet = build_unet(band, ckpt.path)
            try:
                schedule = NoiseSchedule.from_cfg(band.cfg["schedule"])
                processor = BandProcessor.from_cfg(band.cfg.get("processor"), ckpt.sample_rate)
            except (KeyError, ValueError, TypeError) as exc:
                raise bad_checkpoint(str(ckpt.path), f"{band.index}.cfg", f"band {band.index}: {exc}") from None
            load_state_strict(processor, band.processor_state, ckpt.path, f"band {band.index} processor")
            bands.append(DiffusionBand(unet, schedule, processor.eval()))
        return cls(bands, ckpt.sample_rate, codec)

    @torch.no_grad()
    def generate(self, emb: torch.Tensor, size: Iterable[int], noise: NoiseSource = None, seed: int | None = None,
                 steps: list[int] | None = None, trace: MBDTrace | None = None) -> torch.Tensor:
        """Sum of every band's diffusion output, shape ``size`` [B, C, N], conditioned on ``emb``.

        Draw order is band-major: each band draws its start noise, then one noise per stochastic step.
        """
        draw = make_draw(noise, seed)
        out = torch.zeros(tuple(size), device=emb.device)
        for band in self.bands:
            y = band.generate(emb, draw(out), draw, steps)
            if trace is not None:
                trace.band_outputs.append(y)
            out += y
        if trace is not None:
            trace.generate_out = out.clone()
        return out

    @torch.no_grad()
    def decode_latent(self, emb: torch.Tensor, ref: torch.Tensor, noise: NoiseSource = None,
                      seed: int | None = None, steps: list[int] | None = None, re_eq_bands: int = RE_EQ_BANDS,
                      strictness: float = RE_EQ_STRICTNESS, trace: MBDTrace | None = None) -> torch.Tensor:
        """Diffusion audio for latent ``emb``, EQ-matched to ``ref`` (the codec's own decode, same shape)."""
        out = self.generate(emb, ref.shape, noise=noise, seed=seed, steps=steps, trace=trace)
        return re_eq(out, ref, self.sample_rate, re_eq_bands, strictness)

    @torch.no_grad()
    def tokens_to_wav(self, codes: torch.Tensor, noise: NoiseSource = None, seed: int | None = None,
                      steps: list[int] | None = None, re_eq_bands: int = RE_EQ_BANDS,
                      strictness: float = RE_EQ_STRICTNESS, trace: MBDTrace | None = None) -> torch.Tensor:
        """codes [B, K, T] -> audio [B, C, T * hop] at the codec's rate."""
        if self.codec is None:
            raise ValueError("this MultiBandDiffusion has no codec; use decode_latent(emb, ref)")
        ref = self.codec.decode(codes)
        emb = self.codec.decode_latent(codes)
        if emb.shape[1] != (self.bands[0].unet.cfg.codec_dim or emb.shape[1]):
            raise ValueError(f"the codec latent has {emb.shape[1]} dims, this MBD is conditioned on "
                             f"{self.bands[0].unet.cfg.codec_dim}")
        return self.decode_latent(emb, ref, noise=noise, seed=seed, steps=steps, re_eq_bands=re_eq_bands,
                                  strictness=strictness, trace=trace)
