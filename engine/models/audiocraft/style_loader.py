"""Build MusicGen-Style's style conditioner from an audiocraft ``xp.cfg`` and LM state dict.

Reads ``conditioners.self_wav.style`` (``model_name``, ``transformer_scale``, ``n_q_out``,
``bins``, ``ds_factor``, ``eval_q``, ``batch_norm``, ``length``) and ``transformer_lm.dim``
(the output width) from the resolved config, and the tensors under
``condition_provider.conditioners.self_wav.`` from ``best_state``. MERT comes separately
(:mod:`engine.models.audiocraft.mert`): the published one, or a stand-in for tests.

>>> # cfg = resolved xp.cfg as a dict; state = best_state of state_dict.bin
>>> # cond = style_conditioner_from_cfg(cfg, state, load_mert(), "state_dict.bin")
"""

from __future__ import annotations

from typing import Any, Callable

import torch

from ...conditioning.style import StyleConditioner
from ...errors import EngineError
from .style_encoder import STYLE_DIMS, StyleEncoder

STYLE_PREFIX = "condition_provider.conditioners.self_wav."

#: Builds the style transformer for ``transformer_scale`` != none:
#: (scale, dim, tensors under ``transformer.``) -> module mapping [B, T, dim] -> [B, T, dim].
TransformerFactory = Callable[[str, int, dict[str, torch.Tensor]], torch.nn.Module]


def _bad(source: str, key: str, message: str) -> EngineError:
    return EngineError("bad_checkpoint", f"{source}: {message}", file=source, key=key)


def style_settings(cfg: dict[str, Any], source: str) -> dict[str, Any]:
    """The style conditioner's settings from a resolved ``xp.cfg`` (``bad_checkpoint`` if absent)."""
    try:
        style = cfg["conditioners"]["self_wav"]["style"]
        out_dim = int(cfg["transformer_lm"]["dim"])
    except (KeyError, TypeError):
        raise _bad(source, "conditioners.self_wav.style",
                   "xp.cfg has no conditioners.self_wav.style (not a style model)") from None
    name = style.get("model_name", "mert")
    if name != "mert":
        raise _bad(source, "conditioners.self_wav.style.model_name",
                   f"style feature extractor {name!r} is not supported (only mert)")
    scale = str(style.get("transformer_scale", "default"))
    if scale not in STYLE_DIMS:
        raise _bad(source, "conditioners.self_wav.style.transformer_scale",
                   f"unknown transformer_scale {scale!r}")
    try:
        return dict(scale=scale, dim=STYLE_DIMS[scale], output_dim=out_dim,
                    n_q=int(style.get("n_q_out", 6)), bins=int(style.get("bins", 1024)),
                    ds_factor=int(style.get("ds_factor", 15)),
                    eval_q=int(style.get("eval_q", 3)),
                    batch_norm=bool(style.get("batch_norm", True)),
                    excerpt_seconds=float(style.get("length", 3.0)),
                    sample_rate=int(style.get("sample_rate", cfg["sample_rate"])))
    except (TypeError, ValueError, KeyError) as exc:
        raise _bad(source, "conditioners.self_wav.style", f"bad style setting ({exc})") from None


def style_conditioner_from_cfg(cfg: dict[str, Any], state: dict[str, torch.Tensor],
                               mert: torch.nn.Module, source: str,
                               transformer_factory: TransformerFactory | None = None
                               ) -> StyleConditioner:
    """A ready :class:`StyleConditioner` (eval mode, fp32) for an audiocraft style LM."""
    s = style_settings(cfg, source)
    sub = {k[len(STYLE_PREFIX):]: v for k, v in state.items() if k.startswith(STYLE_PREFIX)}
    transformer = None
    if s["scale"] != "none":
        if transformer_factory is None:
            raise _bad(source, "conditioners.self_wav.style.transformer_scale",
                       f"transformer_scale {s['scale']!r} needs the style transformer")
        tr = {k[len("transformer."):]: v for k, v in sub.items() if k.startswith("transformer.")}
        transformer = transformer_factory(s["scale"], s["dim"], tr)
    if not 1 <= s["eval_q"] <= s["n_q"]:
        raise _bad(source, "conditioners.self_wav.style.eval_q",
                   f"eval_q {s['eval_q']} is outside 1..n_q_out ({s['n_q']})")
    enc = StyleEncoder(dim=s["dim"], output_dim=s["output_dim"], n_q=s["n_q"], bins=s["bins"],
                       ds_factor=s["ds_factor"], eval_q=s["eval_q"], batch_norm=s["batch_norm"],
                       transformer=transformer)
    enc.load_audiocraft_state(sub, source)
    return StyleConditioner(enc.eval(), mert, s["sample_rate"], s["excerpt_seconds"])
