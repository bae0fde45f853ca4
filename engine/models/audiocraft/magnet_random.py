"""MAGNeT models with random weights, built in code: ``tiny-magnet`` for tests, published sizes for benches.

Both go through the same path as a real checkpoint: an ``xp.cfg`` written here (MAGNeT's keys,
including the placeholder ``transformer_lm`` window keys the loader must not trust), a seeded
state dict with checkpoint names, then the shared builder. ``tiny-magnet`` has the published
architecture -- T5 (``t5-base`` width) cross-attention, 4 codebooks, non-causal LM with the local
window for codebooks >= 1, spans of 3, 10 s window at 50 frames/s, a 32 kHz EnCodec -- with every
other size shrunk; its codec is the tiny MusicGen's transformers EnCodec (as published MAGNeT
checkpoints point at ``facebook/encodec_32khz``) and its T5 a one-layer random encoder behind a
byte-level tokenizer. Weights are scaled up so different texts give different tokens (a default
init barely reacts to the conditioning).

>>> model = build_tiny_magnet()
>>> model.frames, model.codebooks, model.base.codec.sample_rate
(500, 4, 32000)
"""

from __future__ import annotations

import math
from typing import Any

import torch

from .builder import AudiocraftModel, build_conditioners, build_lm, delay_list, lm_settings, one_conditioner
from .checkpoint import LM_FILE, Package
from .codec import HFEncodecCodec
from .conditioners import T5Conditioner
from .config import XpConfig
from .lm import AudiocraftLM
from .magnet import MagnetModel
from .tiny import tiny_t5

TINY_SEED = 1234
TINY_NAME = "tiny-magnet"
#: arch -> (dim, heads, layers, card) of the published MAGNeT LMs (hidden_scale 4, 4 codebooks)
ARCHS = {"tiny": (32, 4, 2, 64), "small": (1024, 16, 24, 2048), "medium": (1536, 24, 48, 2048)}
LM_WEIGHT_SCALE = 3.0
CONDITIONING_PROJ_SCALE = 10.0
T5_DIM = 768  # t5-base, what every published MAGNeT uses

_LM_CFG = """\
lm_model: transformer_lm_magnet
sample_rate: 32000
channels: 1
dataset: {{segment_duration: {seconds}}}
codebooks_pattern: {{modeling: parallel}}
transformer_lm:
  dim: {dim}
  num_heads: {heads}
  num_layers: {layers}
  hidden_scale: 4
  n_q: 4
  card: {card}
  activation: gelu
  norm_first: true
  bias_ff: false
  bias_attn: false
  bias_proj: false
  causal: false
  positional_embedding: sin
  cross_attention: false
  memory_efficient: true
  subcodes_context: 5
  compression_model_framerate: 50
  segment_duration: 0
  span_len: -1
masking: {{span_len: 3}}
fuser: {{cross_attention_pos_emb: false, sum: [], prepend: [], cross: [description], input_interpolate: []}}
conditioners:
  description:
    model: t5
    t5: {{name: t5-base, finetune: false, word_dropout: 0.0, normalize_text: false}}
"""


def magnet_cfg(arch: str, layers: int | None = None, seconds: int = 10) -> XpConfig:
    """An ``xp.cfg`` with a published MAGNeT's keys and the sizes of ``arch`` (``layers`` cuts depth)."""
    if arch not in ARCHS:
        raise ValueError(f"arch must be one of {', '.join(ARCHS)}")
    dim, heads, depth, card = ARCHS[arch]
    text = _LM_CFG.format(dim=dim, heads=heads, layers=layers or depth, card=card, seconds=seconds)
    return XpConfig.from_yaml(text, f"<random-magnet-{arch}>/{LM_FILE}")


def random_state(cfg: XpConfig, gen: torch.Generator, scale: float = 1.0) -> dict[str, torch.Tensor]:
    """Seeded weights under checkpoint names: unit norms, fan-in scaled matrices (times ``scale``)."""
    settings = lm_settings(cfg)
    state = {}
    for name, ref in AudiocraftLM(settings).state_dict().items():
        if ".norm" in name or name.startswith("out_norm"):
            state[name] = torch.ones_like(ref) if name.endswith("weight") else torch.zeros_like(ref)
        elif name.startswith("emb."):
            state[name] = torch.randn(ref.shape, generator=gen)
        elif ref.dim() == 2:
            state[name] = torch.randn(ref.shape, generator=gen) / math.sqrt(ref.shape[1]) * scale
        else:
            state[name] = torch.zeros_like(ref)
    proj = "condition_provider.conditioners.description.output_proj."
    state[proj + "weight"] = torch.randn(settings.dim, T5_DIM, generator=gen) / math.sqrt(T5_DIM) \
        * (CONDITIONING_PROJ_SCALE if scale != 1.0 else 1.0)
    state[proj + "bias"] = torch.zeros(settings.dim)
    return state


def build_random_magnet(arch: str, codec: HFEncodecCodec | None, tokenizer, t5, layers: int | None = None,
                        seed: int = 0, scale: float = 1.0, device: str | torch.device = "cpu",
                        dtype: torch.dtype = torch.float32, seconds: int = 10) -> MagnetModel:
    """A MAGNeT of ``arch``'s sizes with seeded weights, the given codec and T5 (tokenizer, encoder),
    trained window ``seconds`` long."""
    cfg = magnet_cfg(arch, layers, seconds)
    gen = torch.Generator().manual_seed(seed)
    pkg = Package(cfg.file, random_state(cfg, gen, scale), cfg)
    lm = build_lm(pkg).to(device=device, dtype=dtype)
    conditioners, fuser = build_conditioners(pkg, lm.settings.dim)
    one_conditioner(conditioners, T5Conditioner)[1].to(device=device, dtype=dtype).attach(tokenizer, t5)
    base = AudiocraftModel(lm, conditioners, fuser, delay_list(cfg, lm.settings.n_q), cfg, codec)
    frame_rate = codec.frame_rate if codec is not None else \
        cfg.require("transformer_lm.compression_model_framerate", int)
    return MagnetModel(base, int(cfg.get("dataset.segment_duration")) * frame_rate,
                       cfg.require("masking.span_len", int), cfg.require("transformer_lm.subcodes_context", int))


def build_tiny_magnet(seed: int = TINY_SEED) -> MagnetModel:
    """``tiny-magnet``: the same seed gives the same weights, so the same request gives the same audio."""
    from ..tiny import build_tiny

    # the tiny MusicGen's EnCodec: 32 kHz, 50 frames/s, 4 codebooks of 64, codebooks drawn from data
    musicgen: Any = build_tiny(seed=seed)  # a transformers MusicGen: its submodules are typed loosely
    codec = HFEncodecCodec(musicgen.audio_encoder.eval(), "tiny-encodec-32khz").eval()
    tokenizer, t5 = tiny_t5(seed)
    return build_random_magnet("tiny", codec, tokenizer, t5, seed=seed, scale=LM_WEIGHT_SCALE)
