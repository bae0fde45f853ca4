"""Multi-Band Diffusion packages with seeded random weights: the built-in tiny MBD and benchmark sizes.

A package has exactly the layout of audiocraft's MBD checkpoints (cfg as an OmegaConf DictConfig,
``model_state``, ``processor_state`` per band), so ``torch.save(package, f)`` gives a file our
loader reads like a published one. ``tiny_mbd()`` matches the built-in ``tiny`` MusicGen's EnCodec
(32 kHz, 640-sample hop, 16-dim latent):

>>> mbd = tiny_mbd()
>>> mbd.sample_rate, len(mbd.bands)
(32000, 2)
>>> mbd.decode_latent(torch.zeros(1, 16, 3), torch.randn(1, 1, 1920), seed=7).shape
torch.Size([1, 1, 1920])
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from .diffusion_unet import DiffusionUnet, UnetConfig
from .mbd_checkpoint import parse_mbd_package

if TYPE_CHECKING:
    from ...decoders.mbd import MultiBandDiffusion

TINY_MBD_SEED = 18

#: audiocraft's real schedule (config/solver/diffusion/default.yaml).
SCHEDULE: dict[str, Any] = {"repartition": "power", "variable_step_batch": True, "beta_t0": 1.0e-5,
                            "beta_t1": 2.9e-2, "beta_exp": 7.5, "num_steps": 1000, "variance": "beta",
                            "clip": 5.0, "rescale": 1.0, "n_bands": None, "noise_scale": 1.0}

#: The published U-Net shape (audiocraft config/model/score/basic.yaml), conditioned on the codec latent.
PUBLISHED_UNET: dict[str, Any] = {"hidden": 48, "depth": 4, "res_blocks": 1, "norm_groups": 4, "kernel": 8,
                                  "stride": 4, "growth": 4, "max_channels": 10_000, "dropout": 0.0,
                                  "emb_all_layers": True, "bilstm": False, "transformer": False,
                                  "cross_attention": False}

#: The tiny U-Net: band 0 with the transformer bottleneck, the others with the BiLSTM (like fixture set a).
#: Stride 8 over 3 levels keeps the transformer's sequence short (62.5 positions per second at 32 kHz).
TINY_UNET: dict[str, Any] = {"hidden": 4, "depth": 3, "res_blocks": 1, "norm_groups": 4, "kernel": 16,
                             "stride": 8, "growth": 2.0, "max_channels": 10_000, "dropout": 0.0,
                             "emb_all_layers": True, "bilstm": False, "transformer": False,
                             "cross_attention": False}

TINY_SAMPLE_RATE = 32000  # the built-in tiny MusicGen's EnCodec
TINY_CODEC_DIM = 16


def band_cfg(sample_rate: int, codec_dim: int, index: int, n_bands: int, unet: dict[str, Any],
             processor_use: bool, power_std: float) -> dict[str, Any]:
    """One band's cfg with the keys and nesting of an audiocraft diffusion solver config."""
    return {
        "sample_rate": sample_rate, "channels": 1, "device": "cpu", "dtype": "float32",
        "schedule": dict(SCHEDULE), "diffusion_unet": dict(unet, codec_dim=codec_dim),
        "processor": {"name": "multi_band_processor", "use": processor_use, "n_bands": 8,
                      "num_samples": 10_000, "power_std": power_std},
        "filter": {"use": True, "n_bands": n_bands, "idx_band": index, "cutoffs": None},
    }


def _random_processor_state(gen: torch.Generator, sample_rate: int, n: int = 8) -> dict[str, torch.Tensor]:
    """Running statistics as a trained processor holds them (mean near 0, per-band energy > 0)."""
    from ...decoders.mbd import BandProcessor  # decoders build on models, so import late

    proc = BandProcessor(sample_rate, use=True, n_bands=n)
    counts = torch.full((1,), 10_000.0)
    mean = 0.01 * torch.randn(n, generator=gen)
    var = 0.01 + 0.1 * torch.rand(n, generator=gen)
    target = 0.5 + torch.rand(n, generator=gen)
    state = proc.state_dict()
    state.update(counts=counts, sum_x=mean * counts, sum_x2=(var + mean ** 2) * counts,
                 sum_target_x2=target * counts)
    return state


def random_package(sample_rate: int, codec_dim: int, unets: list[dict[str, Any]], seed: int = TINY_MBD_SEED,
                   power_stds: tuple[float, ...] = (0.4, 0.4, 0.4, 0.75)) -> dict[Any, Any]:
    """A checkpoint package (audiocraft layout) with one band per entry of ``unets``; bands >= n/2 use the
    band processor, as the published 4-band grid does. Weights are seeded and leave the global RNG alone."""
    from omegaconf import OmegaConf

    gen = torch.Generator().manual_seed(seed)
    n = len(unets)
    pkg: dict[Any, Any] = {"sample_rate": sample_rate, "n_bands": n}
    for i, unet in enumerate(unets):
        use = i >= n // 2 and n > 1
        cfg = band_cfg(sample_rate, codec_dim, i, n, unet, use, power_stds[min(i, len(power_stds) - 1)])
        with torch.random.fork_rng(devices=[]):  # module init draws from the global RNG; keep it untouched
            net = DiffusionUnet(UnetConfig.from_cfg(cfg["diffusion_unet"], 1, SCHEDULE["num_steps"]))
        state = {}
        for name, tensor in net.state_dict().items():
            if "norm" in name:
                state[name] = tensor.clone()  # GroupNorm/LayerNorm at identity (deterministic defaults)
            elif tensor.dim() == 1:
                state[name] = 0.1 * torch.randn(tensor.shape, generator=gen)  # biases
            else:
                state[name] = torch.randn(tensor.shape, generator=gen) / tensor[0].numel() ** 0.5
        pkg[i] = {"cfg": OmegaConf.create(cfg), "model_state": state,
                  "processor_state": _random_processor_state(gen, sample_rate) if use else {}}
    return pkg


def tiny_package(seed: int = TINY_MBD_SEED) -> dict[Any, Any]:
    """The tiny MBD's package: 2 bands (transformer bottleneck, then BiLSTM) for the tiny 32 kHz codec."""
    first = dict(TINY_UNET, transformer=True)
    second = dict(TINY_UNET, bilstm=True)
    return random_package(TINY_SAMPLE_RATE, TINY_CODEC_DIM, [first, second], seed)


def tiny_mbd(codec: Any = None, seed: int = TINY_MBD_SEED) -> MultiBandDiffusion:
    """The built-in tiny MBD (a ``MultiBandDiffusion``), optionally bound to a codec for ``tokens_to_wav``."""
    from ...decoders.mbd import MultiBandDiffusion

    ckpt = parse_mbd_package(tiny_package(seed), Path("<tiny-mbd>"))
    return MultiBandDiffusion.from_checkpoint(ckpt, codec)
