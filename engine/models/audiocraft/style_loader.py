"""Build MusicGen-Style's style conditioner (``model: style``) from an audiocraft checkpoint.

Reads ``conditioners.<name>.style`` (``model_name``, ``transformer_scale``, ``n_q_out``,
``bins``, ``ds_factor``, ``eval_q``, ``batch_norm``, ``length``, ``sample_rate``) from the
resolved ``xp.cfg`` and the tensors under ``condition_provider.conditioners.<name>.``.
The loader's conditioner table (``CONDITIONER_BUILDERS`` in builder.py) names this builder, so
every loading path understands style checkpoints. MERT is not loaded here (as T5 is not):
``model.conditioners["self_wav"].load_mert()`` or ``.attach_mert(module)``.

>>> from musicgen_bridge.engine.models.audiocraft.builder import load_model
>>> model = load_model("tests/fixtures/audiocraft/musicgen_style", with_codec=False)
>>> model.fuser.order, model.conditioners["self_wav"].encoder.eval_q
(['description', 'self_wav'], 3)
"""

from __future__ import annotations

import torch
from torch import nn

from ...conditioning.style import StyleConditioner
from .builder import PREFIX
from .checkpoint import Package, load_into
from .config import XpConfig, bad_checkpoint
from .lm import Layer, LMSettings, sin_embedding
from .style_encoder import STYLE_DIMS, StyleEncoder

#: transformer_scale -> (heads, layers) of audiocraft's style transformer (d_model in STYLE_DIMS).
STYLE_TRANSFORMERS = {"xsmall": (8, 4), "default": (8, 8), "large": (16, 24)}


class StyleTransformer(nn.Module):
    """audiocraft's style transformer: sinusoidal positions, then non-causal pre-norm layers
    (GELU, no biases, feed-forward 4 x dim), no final norm. Layer names match the checkpoint's
    ``transformer.layers.<i>.*``.
    """

    def __init__(self, dim: int, heads: int, layers: int) -> None:
        super().__init__()
        self.settings = LMSettings(dim=dim, num_heads=heads, num_layers=layers, ffn=4 * dim,
                                   n_q=1, card=1, causal=False, bias_attn=False, bias_ff=False)
        self.layers = nn.ModuleList(Layer(self.settings) for _ in range(layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(x.shape[1], device=x.device).view(1, -1, 1)
        x = x + sin_embedding(positions, x.shape[-1], self.settings.max_period, x.dtype)
        for idx, layer in enumerate(self.layers):
            x = layer(x, False, None, None, None, idx)
        return x


def style_settings(cfg: XpConfig, name: str) -> dict:
    """The style conditioner's settings; ``bad_checkpoint`` names what cannot be honoured."""
    key = f"conditioners.{name}.style"
    cfg.one_of(f"{key}.model_name", ("mert",), "mert")
    scale = cfg.one_of(f"{key}.transformer_scale", tuple(STYLE_DIMS), "default")
    s = {"scale": scale, "dim": STYLE_DIMS[scale],
         "n_q": cfg.require(f"{key}.n_q_out", int, 6), "bins": cfg.require(f"{key}.bins", int, 1024),
         "ds_factor": cfg.require(f"{key}.ds_factor", int, 15),
         "eval_q": cfg.require(f"{key}.eval_q", int, 3),
         "batch_norm": cfg.require(f"{key}.batch_norm", bool, True),
         "excerpt_seconds": float(cfg.require(f"{key}.length", (int, float), 3.0)),
         "sample_rate": cfg.require(f"{key}.sample_rate", int, cfg.require("sample_rate", int))}
    if s["n_q"] < 1:
        raise bad_checkpoint(cfg.file, f"{key}.n_q_out", "the style needs at least one codebook")
    if not 1 <= s["eval_q"] <= s["n_q"]:
        raise bad_checkpoint(cfg.file, f"{key}.eval_q", f"{s['eval_q']} is outside 1..n_q_out ({s['n_q']})")
    if s["ds_factor"] < 1:
        raise bad_checkpoint(cfg.file, f"{key}.ds_factor", "must be >= 1")
    return s


def build_style(pkg: Package, name: str, dim: int) -> tuple[str, nn.Module]:
    """Conditioner-table entry: ``("wav", StyleConditioner)`` with weights loaded, no MERT yet."""
    s = style_settings(pkg.config, name)
    prefix = f"{PREFIX}{name}."
    sub = {k[len(prefix):]: v for k, v in pkg.state.items() if k.startswith(prefix)}
    transformer = None
    if s["scale"] != "none":
        heads, layers = STYLE_TRANSFORMERS[s["scale"]]
        transformer = StyleTransformer(s["dim"], heads, layers)
        load_into(transformer, pkg, f"{prefix}transformer.")
    enc = StyleEncoder(dim=s["dim"], output_dim=dim, n_q=s["n_q"], bins=s["bins"],
                       ds_factor=s["ds_factor"], eval_q=s["eval_q"], batch_norm=s["batch_norm"],
                       transformer=transformer)
    enc.load_audiocraft_state(sub, pkg.file, prefix)
    return "wav", StyleConditioner(enc.eval(), s["sample_rate"], s["excerpt_seconds"]).eval()

