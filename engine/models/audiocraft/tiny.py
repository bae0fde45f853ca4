"""``tiny-audiogen``: a built-in random model with AudioGen's architecture, built in code in milliseconds.

Same pieces as ``facebook/audiogen-medium`` — a T5 (``t5-base`` width) text conditioner feeding
cross-attention, a 4-codebook transformer LM with the delay pattern, a 16 kHz SEANet + RVQ codec at
50 frames/s — with every other size shrunk. The configuration is an ``xp.cfg`` written here and
the weights are seeded, and both go through the same builder as a real checkpoint. The T5 is a
one-layer random encoder behind a byte-level tokenizer (no vocabulary file). Weights are scaled
up so the LM reacts to its text (default init barely does); codebooks are drawn from the
encoder's own output so different codes sound different.

>>> model = build_tiny_audiogen()
>>> model.codec.sample_rate, model.codec.frame_rate, model.lm.settings.n_q
(16000, 50, 4)
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from .builder import AudiocraftModel, build_conditioners, build_lm, delay_list, lm_settings, one_conditioner
from .checkpoint import CODEC_FILE, LM_FILE, Package
from .codec import CompressionModel, build_seanet_codec, codec_settings
from .conditioners import T5Conditioner
from .config import XpConfig
from .lm import AudiocraftLM
from .quantizer import ResidualVQ
from .seanet import SEANetDecoder, SEANetEncoder, seanet_settings

TINY_SEED = 1234
NAME = "tiny-audiogen"
LM_WEIGHT_SCALE = 3.0
CONDITIONING_PROJ_SCALE = 10.0

CODEC_CFG = """\
compression_model: encodec
sample_rate: 16000
channels: 1
encodec: {autoencoder: seanet, quantizer: rvq, sample_rate: '${sample_rate}', channels: '${channels}',
          causal: false, renormalize: false}
seanet:
  dimension: 16
  channels: ${channels}
  causal: ${encodec.causal}
  n_filters: 4
  n_residual_layers: 1
  ratios: [8, 5, 4, 2]
  activation: ELU
  activation_params: {alpha: 1.0}
  norm: weight_norm
  kernel_size: 7
  residual_kernel_size: 3
  last_kernel_size: 7
  dilation_base: 2
  pad_mode: constant
  true_skip: true
  compress: 2
  lstm: 1
  disable_norm_outer_blocks: 0
  decoder: {trim_right_ratio: 1.0, final_activation: null, final_activation_params: null}
  encoder: {}
rvq: {n_q: 4, bins: 64}
"""

LM_CFG = """\
lm_model: transformer_lm
sample_rate: 16000
channels: 1
dataset: {segment_duration: 10}
codebooks_pattern:
  modeling: delay
  delay: {delays: [0, 1, 2, 3], flatten_first: 0, empty_initial: 0}
transformer_lm:
  dim: 32
  num_heads: 4
  num_layers: 2
  hidden_scale: 4
  n_q: 4
  card: 64
  activation: gelu
  norm_first: true
  bias_ff: false
  bias_attn: false
  bias_proj: false
  causal: true
  positional_embedding: sin
  cross_attention: false
classifier_free_guidance: {inference_coef: 3.0}
fuser: {cross_attention_pos_emb: false, sum: [], prepend: [], cross: [description], input_interpolate: []}
conditioners:
  description:
    model: t5
    t5: {name: t5-base, finetune: false, word_dropout: 0.0, normalize_text: false}
"""


def fill(state: dict[str, torch.Tensor], gen: torch.Generator) -> dict[str, torch.Tensor]:
    """Seeded values for every tensor: unit norms, zero biases, fan-in scaled matrices."""
    out = {}
    for name, ref in state.items():
        leaf = name.rsplit(".", 1)[-1]
        if "norm" in name.split(".")[-2] and leaf in ("weight", "bias"):
            value = torch.ones_like(ref) if leaf == "weight" else torch.zeros_like(ref)
        elif leaf.startswith("bias"):
            value = torch.zeros_like(ref)
        elif leaf == "weight_g":
            value = torch.ones_like(ref)
        elif ref.dim() >= 2:
            fan_in = math.prod(ref.shape[1:]) if not name.startswith("emb.") else 1
            value = torch.randn(ref.shape, generator=gen) / math.sqrt(fan_in)
        else:
            value = torch.randn(ref.shape, generator=gen) * 0.1
        out[name] = value
    return out


def init_codebooks(codec: CompressionModel, gen: torch.Generator) -> None:
    """Codebook entries drawn from the encoder's (residual) output on noise, as k-means init draws from data."""
    noise = torch.randn((1, 1, codec.hop_length * 400), generator=gen) * 0.3
    with torch.no_grad():
        residual = codec.encoder(noise)
        for stage in codec.quantizer.stages:
            pick = torch.randperm(residual.shape[-1], generator=gen)[:codec.quantizer.bins]
            stage._codebook.embed.copy_(residual[0, :, pick].T)
            residual = residual - stage.lookup(stage.nearest(residual[0].T)[None])


def tiny_t5(gen_seed: int) -> tuple[Any, nn.Module]:
    """A seeded one-layer T5 encoder of ``t5-base`` width behind a byte-level tokenizer (no vocabulary file)."""
    from transformers import ByT5Tokenizer, T5Config, T5EncoderModel

    config = T5Config(vocab_size=384, d_model=768, d_kv=8, d_ff=16, num_layers=1, num_heads=2,
                      relative_attention_num_buckets=8, relative_attention_max_distance=16, dropout_rate=0.0,
                      feed_forward_proj="relu", is_encoder_decoder=False, use_cache=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(gen_seed)
        model = T5EncoderModel(config)
    return ByT5Tokenizer(), model.eval()


def build_tiny_audiogen(seed: int = TINY_SEED) -> AudiocraftModel:
    """The tiny model; the same seed gives the same weights (and so the same audio for the same request)."""
    gen = torch.Generator().manual_seed(seed)
    codec_pkg = Package(f"<{NAME}>/{CODEC_FILE}", {}, XpConfig.from_yaml(CODEC_CFG, f"<{NAME}>/{CODEC_FILE}"))
    shapes = codec_shapes(codec_pkg)
    codec_pkg.state = fill(shapes, gen)
    codec = build_seanet_codec(codec_pkg)
    init_codebooks(codec, gen)

    lm_cfg = XpConfig.from_yaml(LM_CFG, f"<{NAME}>/{LM_FILE}")
    lm_pkg = Package(lm_cfg.file, {}, lm_cfg)
    settings = lm_settings(lm_cfg)
    lm_state = fill(AudiocraftLM(settings).state_dict(), gen)
    for name, value in lm_state.items():
        if value.dim() == 2 and not name.startswith("emb."):
            lm_state[name] = value * LM_WEIGHT_SCALE
    proj = "condition_provider.conditioners.description.output_proj."
    lm_state[proj + "weight"] = torch.randn((settings.dim, 768), generator=gen) / math.sqrt(768) \
        * CONDITIONING_PROJ_SCALE
    lm_state[proj + "bias"] = torch.zeros(settings.dim)
    lm_pkg.state = lm_state
    lm = build_lm(lm_pkg)
    conditioners, fuser = build_conditioners(lm_pkg, settings.dim)
    one_conditioner(conditioners, T5Conditioner)[1].attach(*tiny_t5(seed))
    return AudiocraftModel(lm, conditioners, fuser, delay_list(lm_cfg, settings.n_q), lm_cfg, codec)


def codec_shapes(pkg: Package) -> dict[str, torch.Tensor]:
    """Every tensor name/shape our codec module expects, with the checkpoint's prefixes."""
    _, _, n_q, bins = codec_settings(pkg.config)
    enc, dec = seanet_settings(pkg.config, "encoder"), seanet_settings(pkg.config, "decoder")
    parts = {"encoder.": SEANetEncoder(enc), "decoder.": SEANetDecoder(dec),
             "quantizer.": ResidualVQ(enc.dimension, n_q, bins)}
    return {prefix + k: v for prefix, module in parts.items() for k, v in module.state_dict().items()}
