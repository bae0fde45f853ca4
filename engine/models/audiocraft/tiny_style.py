"""``tiny-style``: a built-in random model with MusicGen-Style's architecture, built in code.

Same pieces as ``facebook/musicgen-style``: a style conditioner (a MERT stand-in with HuBERT's
layout and MERT's 768-wide output at 75 Hz, projection, batch norm, 4-codebook RVQ, every 15th
frame) and a T5 (``t5-base`` width) text conditioner, both *prepended* to a 4-codebook delay
pattern LM, and a 32 kHz SEANet + RVQ codec at 50 frames/s, with every size shrunk. The
``xp.cfg`` is written here and the seeded weights go through the same builder as a real
checkpoint (shared helpers of ``tiny-audiogen``). So that the model reacts to its style, the
batch-norm statistics and the style codebooks are measured on the stand-in's own features of
a few seeded test signals (as k-means initialisation draws codes from data), and the style and
text projections are scaled up.

>>> model = build_tiny_style()
>>> model.codec.sample_rate, model.codec.frame_rate, model.fuser.prepend
(32000, 50, ['self_wav', 'description'])
"""

from __future__ import annotations

import math

import torch

from ...conditioning.style import StyleConditioner, cut_excerpt, excerpt_start, resample_for_mert
from .builder import AudiocraftModel, build_conditioners, build_lm, delay_list, lm_settings, one_conditioner
from .checkpoint import CODEC_FILE, LM_FILE, Package
from .codec import build_seanet_codec
from .conditioners import T5Conditioner
from .config import XpConfig
from .lm import AudiocraftLM
from .mert import hubert_from_config
from .style_encoder import MERT_DIM, STYLE_DIMS
from .tiny import CONDITIONING_PROJ_SCALE, LM_WEIGHT_SCALE, TINY_SEED, codec_shapes, fill, init_codebooks, tiny_t5

NAME = "tiny-style"
STYLE_PROJ_SCALE = 10.0

CODEC_CFG = """\
compression_model: encodec
sample_rate: 32000
channels: 1
encodec: {autoencoder: seanet, quantizer: rvq, sample_rate: '${sample_rate}', channels: '${channels}',
          causal: false, renormalize: false}
seanet:
  dimension: 16
  channels: ${channels}
  causal: ${encodec.causal}
  n_filters: 4
  n_residual_layers: 1
  ratios: [8, 8, 10]
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
sample_rate: 32000
channels: 1
dataset: {segment_duration: 30}
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
fuser: {cross_attention_pos_emb: false, sum: [], prepend: [self_wav, description], cross: [],
        input_interpolate: []}
conditioners:
  self_wav:
    model: style
    style: {model_name: mert, transformer_scale: none, sample_rate: '${sample_rate}', length: 3.0,
            ds_factor: 15, n_q_out: 4, eval_q: 3, bins: 16, batch_norm: true,
            use_middle_of_segment: true}
  description:
    model: t5
    t5: {name: t5-base, finetune: false, word_dropout: 0.0, normalize_text: false}
"""

#: The MERT stand-in: HuBERT layout, MERT's width and 320x hop (75 Hz at 24 kHz), no layers.
TINY_MERT = {"hidden_size": MERT_DIM, "num_hidden_layers": 0, "num_attention_heads": 4,
             "intermediate_size": 16, "conv_dim": [8] * 7, "num_conv_pos_embeddings": 2,
             "num_conv_pos_embedding_groups": 16, "feat_extract_norm": "group",
             "do_stable_layer_norm": False}


def tiny_mert(seed: int = TINY_SEED) -> torch.nn.Module:
    """The seeded HuBERT-layout stand-in for MERT (eval mode)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return hubert_from_config(TINY_MERT)


def _test_signals(gen: torch.Generator, rate: int, seconds: float) -> list[torch.Tensor]:
    """Seeded noises, tones, chords and click trains: the spread of inputs the style should tell apart."""
    t = torch.arange(int(rate * seconds)) / rate
    out = []
    for i in range(8):
        f0 = 55.0 * 2 ** (float(torch.rand((), generator=gen)) * 5)
        kind = i % 4
        if kind == 0:
            sig = torch.randn(t.shape, generator=gen) * (0.05 + 0.3 * float(torch.rand((), generator=gen)))
        elif kind == 1:
            sig = 0.4 * torch.sin(2 * math.pi * f0 * t)
        elif kind == 2:
            tones = [0.2 * torch.sin(2 * math.pi * f0 * r * t) for r in (1.0, 1.25, 1.5)]
            sig = tones[0] + tones[1] + tones[2]
        else:
            sig = ((t * f0 / 40) % 1 < 0.02).float() * 0.8
        out.append(sig[None].float())
    return out


@torch.no_grad()
def _calibrate_style(style: StyleConditioner, mert: torch.nn.Module, gen: torch.Generator) -> None:
    """Batch-norm statistics and RVQ codebooks from the stand-in's features of test signals."""
    enc, big_l = style.encoder, style.excerpt_samples
    clips = _test_signals(gen, style.sample_rate, style.excerpt_seconds)
    excerpts = torch.stack([cut_excerpt(c, excerpt_start(c.shape[-1], big_l), big_l) for c in clips])
    hidden = mert(resample_for_mert(excerpts, style.sample_rate)).last_hidden_state
    z = enc.embed(hidden).reshape(-1, enc.embed.out_features)
    enc.bn_mean.copy_(z.mean(0))
    enc.bn_var.copy_(z.var(0) + 1e-3)
    residual = (z - enc.bn_mean) / torch.sqrt(enc.bn_var + 1e-5)
    for stage in range(enc.n_q):
        pick = torch.randperm(residual.shape[0], generator=gen)[: enc.codebooks.shape[1]]
        enc.codebooks[stage].copy_(residual[pick])
        dist = torch.cdist(residual, enc.codebooks[stage])
        residual = residual - enc.codebooks[stage][dist.argmin(-1)]


def build_tiny_style(seed: int = TINY_SEED) -> AudiocraftModel:
    """The tiny style model, MERT stand-in and T5 attached; same seed, same weights."""
    gen = torch.Generator().manual_seed(seed)
    codec_pkg = Package(f"<{NAME}>/{CODEC_FILE}", {}, XpConfig.from_yaml(CODEC_CFG, f"<{NAME}>/{CODEC_FILE}"))
    codec_pkg.state = fill(codec_shapes(codec_pkg), gen)
    codec = build_seanet_codec(codec_pkg)
    init_codebooks(codec, gen)

    lm_cfg = XpConfig.from_yaml(LM_CFG, f"<{NAME}>/{LM_FILE}")
    settings = lm_settings(lm_cfg)
    state = fill(AudiocraftLM(settings).state_dict(), gen)
    for name, value in state.items():
        if value.dim() == 2 and not name.startswith("emb."):
            state[name] = value * LM_WEIGHT_SCALE
    dim, style_dim = settings.dim, STYLE_DIMS["none"]
    text = "condition_provider.conditioners.description."
    state[text + "output_proj.weight"] = torch.randn((dim, 768), generator=gen) / math.sqrt(768) \
        * CONDITIONING_PROJ_SCALE
    state[text + "output_proj.bias"] = torch.zeros(dim)
    sw = "condition_provider.conditioners.self_wav."
    state[sw + "embed.weight"] = torch.randn((style_dim, MERT_DIM), generator=gen) / math.sqrt(MERT_DIM)
    state[sw + "embed.bias"] = torch.zeros(style_dim)
    state[sw + "output_proj.weight"] = torch.randn((dim, style_dim), generator=gen) \
        / math.sqrt(style_dim) * STYLE_PROJ_SCALE
    state[sw + "output_proj.bias"] = torch.zeros(dim)
    n_q, bins = lm_cfg.get("conditioners.self_wav.style.n_q_out"), lm_cfg.get("conditioners.self_wav.style.bins")
    state[sw + "batch_norm.running_mean"] = torch.zeros(style_dim)   # measured below
    state[sw + "batch_norm.running_var"] = torch.ones(style_dim)
    for i in range(n_q):
        state[sw + f"rvq.vq.layers.{i}._codebook.embed"] = torch.zeros(bins, style_dim)
    pkg = Package(lm_cfg.file, state, lm_cfg)
    lm = build_lm(pkg)
    conditioners, fuser = build_conditioners(pkg, dim)
    one_conditioner(conditioners, T5Conditioner)[1].attach(*tiny_t5(seed))
    mert = tiny_mert(seed)
    style = one_conditioner(conditioners, StyleConditioner)[1].attach_mert(mert)
    _calibrate_style(style, mert, gen)
    return AudiocraftModel(lm, conditioners, fuser, delay_list(lm_cfg, settings.n_q), lm_cfg, codec)
