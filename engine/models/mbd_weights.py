"""Which Multi-Band Diffusion weights decode which model's tokens, and loading them from the local cache.

``facebook/multiband-diffusion`` publishes one file per codec it was trained on (as audiocraft's
``MultiBandDiffusion.get_mbd_musicgen`` / ``get_mbd_24khz`` pick them):

* ``mbd_musicgen_32khz.th``: MusicGen's codec, ``facebook/encodec_32khz`` (32 kHz, 4 codebooks);
  MAGNeT and MusicGen-Style use the same codec;
* ``mbd_comp_2.pt`` / ``mbd_comp_4.pt`` / ``mbd_comp_8.pt``: ``facebook/encodec_24khz`` at 1.5 / 3 /
  6 kbps (2 / 4 / 8 codebooks).

There is none for 16 kHz (AudioGen) or for any other codec. Built-in models get the built-in tiny
MBD (``tiny_mbd``, made for the tiny MusicGen's 32 kHz codec). Files are read only from the
Hugging Face cache and through the safe loader (:mod:`.audiocraft.mbd_checkpoint`).

>>> weights_for(32000, 4).filename, weights_for(24000, 8).filename, weights_for(16000, 4)
('mbd_musicgen_32khz.th', 'mbd_comp_8.pt', None)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from ..errors import EngineError

if TYPE_CHECKING:
    from ..decoders.mbd import LatentCodec, MultiBandDiffusion
    from .registry import LoadedModel

MBD_REPO = "facebook/multiband-diffusion"
TINY_MBD = "tiny-mbd"


@dataclass(frozen=True)
class MBDWeights:
    """One published MBD file and the codec whose tokens it was trained to decode."""

    filename: str
    codec: str
    sample_rate: int
    codebooks: int


MBD_FILES: tuple[MBDWeights, ...] = (
    MBDWeights("mbd_musicgen_32khz.th", "facebook/encodec_32khz", 32000, 4),
    MBDWeights("mbd_comp_2.pt", "facebook/encodec_24khz", 24000, 2),
    MBDWeights("mbd_comp_4.pt", "facebook/encodec_24khz", 24000, 4),
    MBDWeights("mbd_comp_8.pt", "facebook/encodec_24khz", 24000, 8),
)


def weights_for(sample_rate: int, codebooks: int) -> MBDWeights | None:
    """The published file for a mono codec of this rate and codebook count, or None."""
    return next((w for w in MBD_FILES if (w.sample_rate, w.codebooks) == (sample_rate, codebooks)), None)


@dataclass
class LoadedMBD:
    """An MBD bound to a model's codec; ``record`` is what the sidecar says about it."""

    mbd: MultiBandDiffusion
    codec: LatentCodec
    record: dict[str, Any] = field(default_factory=dict)


def refused(loaded: LoadedModel, reason: str) -> EngineError:
    return EngineError("unsupported_decoder", f"decoder mbd cannot decode the tokens of model {loaded.name}: "
                       f"{reason}; use decoder encodec", field="decoder", decoder="mbd", model=loaded.name)


def latent_codec(loaded: LoadedModel) -> Any:
    """The model's codec with ``decode`` and ``decode_latent``: an audiocraft family's own (AudioGen's
    model, MAGNeT's ``base``), else a transformers MusicGen's EnCodec; ``unsupported_decoder`` if none."""
    for holder in (loaded.model, getattr(loaded.model, "base", None)):
        require = getattr(holder, "require_codec", None)
        if callable(require):
            return require()
    encoder = getattr(loaded.model, "audio_encoder", None)
    if encoder is None:
        raise refused(loaded, "its codec cannot be reached for a Multi-Band Diffusion decode")
    from .audiocraft.codec import HFEncodecCodec

    return HFEncodecCodec(encoder, loaded.name)


def _published(loaded: LoadedModel, codec: Any, cache: Path) -> tuple[Any, dict[str, Any]]:
    from huggingface_hub import try_to_load_from_cache

    from .audiocraft.mbd_checkpoint import load_mbd_checkpoint

    rate = int(codec.sample_rate)
    per_channel = loaded.num_codebooks // max(1, loaded.audio_channels)
    weights = weights_for(rate, per_channel)
    if weights is None:
        raise refused(loaded, f"Multi-Band Diffusion has no model for a {rate} Hz codec with {per_channel} "
                      f"codebooks (published: 32 kHz with 4, for MusicGen's EnCodec; 24 kHz with 2, 4 or 8)")
    found = try_to_load_from_cache(MBD_REPO, weights.filename, cache_dir=str(cache))
    if not isinstance(found, str):
        raise EngineError("model_unavailable", f"{MBD_REPO}/{weights.filename} is not in the cache at {cache}; "
                          f"on a machine with internet run `hf download {MBD_REPO} {weights.filename} "
                          f"--cache-dir {cache}` and copy that folder here", model=MBD_REPO, cache_dir=str(cache))
    record = {"name": "mbd", "weights": f"{MBD_REPO}/{weights.filename}", "revision": Path(found).parent.name,
              "codec": weights.codec}
    return load_mbd_checkpoint(found), record


def load_mbd(loaded: LoadedModel, cache: Path) -> LoadedMBD:
    """The MBD for ``loaded``'s tokens, on its device; ``unsupported_decoder`` (with the reason) when none fits."""
    from ..decoders.mbd import MultiBandDiffusion
    from .audiocraft.tiny_mbd import TINY_MBD_SEED, tiny_mbd

    codec = latent_codec(loaded)
    if int(getattr(codec, "channels", 1)) != 1:
        raise refused(loaded, f"its codec has {codec.channels} channels; MBD decodes mono codecs")
    if loaded.spec.builtin:
        mbd = tiny_mbd(seed=TINY_MBD_SEED)
        record = {"name": "mbd", "weights": TINY_MBD, "revision": f"builtin-seed{TINY_MBD_SEED}"}
    else:
        ckpt, record = _published(loaded, codec, cache)
        mbd = MultiBandDiffusion.from_checkpoint(ckpt)
    reason = mbd.incompatibility(codec)
    if reason is None:  # the latent the U-Nets are conditioned on must have the codec's width
        width = mbd.bands[0].unet.cfg.codec_dim
        per_channel = loaded.num_codebooks // max(1, loaded.audio_channels)
        probe = torch.zeros((1, per_channel, 1), dtype=torch.long, device=loaded.device)
        got = int(codec.decode_latent(probe).shape[1])
        if width and got != width:
            reason = f"its codec's latent has {got} dims, this MBD is conditioned on {width}"
    if reason:
        raise refused(loaded, reason)
    for band in mbd.bands:
        band.unet.to(loaded.device)
        band.processor.to(loaded.device)
    mbd.bind(codec)
    return LoadedMBD(mbd, codec, record)
