"""Codecs behind audiocraft checkpoints: our SEANet + RVQ model, or a pointer to a transformers EnCodec.

Both expose the same small API, in audiocraft's conventions:

* ``encode(wav (B, C, N)) -> codes (B, K, ceil(N / hop))`` int64 (the input is padded to whole frames);
* ``decode(codes) -> wav (B, C, frames * hop)``: **not** trimmed to any original length;
* ``decode_latent(codes) -> (B, D, frames)``: the summed codebook vectors the decoder consumes.

>>> codec = build_codec(load_package(folder / "compression_state_dict.bin"))  # needs an exported checkpoint folder  # doctest: +SKIP
>>> codec.decode(codec.encode(wav)).shape[-1] % codec.hop_length  # the codec above  # doctest: +SKIP
0
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from .checkpoint import Package, load_into
from .config import XpConfig, bad_checkpoint
from .quantizer import ResidualVQ
from .seanet import SEANetDecoder, SEANetEncoder, seanet_settings

#: per-codebook training statistics in the checkpoints, unused at inference
CODEBOOK_STATS = ("._codebook.inited", "._codebook.cluster_size", "._codebook.embed_avg")


class CompressionModel(nn.Module):
    """audiocraft's EnCodec: SEANet encoder, residual VQ, SEANet decoder."""

    def __init__(self, encoder: SEANetEncoder, decoder: SEANetDecoder, quantizer: ResidualVQ,
                 sample_rate: int, channels: int) -> None:
        super().__init__()
        self.encoder, self.decoder, self.quantizer = encoder, decoder, quantizer
        self.sample_rate, self.channels = sample_rate, channels
        self.hop_length = encoder.hop_length
        self.frame_rate = sample_rate // self.hop_length  # integer division, as audiocraft's builder does

    @property
    def num_codebooks(self) -> int:
        return self.quantizer.n_q

    @property
    def cardinality(self) -> int:
        return self.quantizer.bins

    @torch.no_grad()
    def encode(self, wav: torch.Tensor) -> torch.Tensor:
        return self.quantizer.encode(self.encoder(wav))

    @torch.no_grad()
    def decode_latent(self, codes: torch.Tensor) -> torch.Tensor:
        return self.quantizer.decode(codes)

    @torch.no_grad()
    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.decode_latent(codes))


class HFEncodecCodec(nn.Module):
    """A transformers ``EncodecModel`` behind the same API (checkpoints that say ``pretrained: <hf id>``)."""

    def __init__(self, model: Any, name: str) -> None:
        super().__init__()
        self.model, self.name = model, name
        cfg = model.config
        self.sample_rate, self.channels = int(cfg.sampling_rate), int(cfg.audio_channels)
        self.hop_length = int(torch.tensor(cfg.upsampling_ratios).prod())
        self.frame_rate = self.sample_rate // self.hop_length
        self.bandwidth = max(cfg.target_bandwidths)
        self.cardinality = int(cfg.codebook_size)
        self.num_codebooks = int(1000 * self.bandwidth // (self.frame_rate * (self.cardinality.bit_length() - 1)))

    @torch.no_grad()
    def encode(self, wav: torch.Tensor) -> torch.Tensor:
        return self.model.encode(wav, None, self.bandwidth).audio_codes[0]

    @torch.no_grad()
    def decode_latent(self, codes: torch.Tensor) -> torch.Tensor:
        return self.model.quantizer.decode(codes.transpose(0, 1))

    @torch.no_grad()
    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        return self.model.decode(codes[None], [None]).audio_values


def codec_settings(cfg: XpConfig) -> tuple[int, int, int, int]:
    """(sample_rate, channels, n_q, bins) of a SEANet + RVQ codec; refuses what we do not implement."""
    cfg.one_of("compression_model", ("encodec",))
    cfg.one_of("encodec.autoencoder", ("seanet",))
    cfg.one_of("encodec.quantizer", ("rvq",))
    if cfg.get("encodec.renormalize", False):
        raise bad_checkpoint(cfg.file, "encodec.renormalize", "renormalising codecs are not supported")
    sample_rate = cfg.require("encodec.sample_rate", int, cfg.get("sample_rate", None))
    channels = cfg.require("encodec.channels", int, cfg.get("channels", None))
    n_q = cfg.require("rvq.n_q", int)
    bins = cfg.require("rvq.bins", int)
    if cfg.get("rvq.dimension", None) not in (None, cfg.get("seanet.dimension")):
        raise bad_checkpoint(cfg.file, "rvq.dimension", "a projected quantizer dimension is not supported")
    return sample_rate, channels, n_q, bins


def build_codec(pkg: Package, cache_dir: str | Path | None = None) -> CompressionModel | HFEncodecCodec:
    """Our codec module from a loaded ``compression_state_dict.bin`` (float32, eval mode)."""
    if pkg.pretrained is not None:
        return load_hf_encodec(pkg.pretrained, cache_dir)
    return build_seanet_codec(pkg)


def build_seanet_codec(pkg: Package) -> CompressionModel:
    """Our SEANet + RVQ codec from a package that holds its config and tensors."""
    cfg = pkg.config
    sample_rate, channels, n_q, bins = codec_settings(cfg)
    enc_s, dec_s = seanet_settings(cfg, "encoder"), seanet_settings(cfg, "decoder")
    for s in (enc_s, dec_s):
        s.channels = channels
    codec = CompressionModel(SEANetEncoder(enc_s), SEANetDecoder(dec_s), ResidualVQ(enc_s.dimension, n_q, bins),
                             sample_rate, channels)
    load_into(codec.encoder, pkg, "encoder.")
    load_into(codec.decoder, pkg, "decoder.")
    load_into(codec.quantizer, pkg, "quantizer.", ignore=CODEBOOK_STATS)
    return codec.eval()


def load_hf_encodec(hf_id: str, cache_dir: str | Path | None = None) -> HFEncodecCodec:
    """A pointer checkpoint's EnCodec from the Hugging Face cache (``model_unavailable`` when absent)."""
    from transformers import EncodecModel

    from ..hf import cache_dir as default_cache
    from ..hf import ensure_snapshot

    snapshot = ensure_snapshot(hf_id, default_cache(cache_dir))
    return HFEncodecCodec(EncodecModel.from_pretrained(snapshot).eval(), hf_id).eval()
