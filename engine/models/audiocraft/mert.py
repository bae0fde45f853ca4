"""MERT, the style model's feature extractor, as transformers' ``HubertModel`` (no remote code).

``m-a-p/MERT-v1-95M`` ships its own modelling file and audiocraft loads it with
``trust_remote_code=True`` (audiocraft issue #532 is that load breaking). With the settings
that checkpoint uses (no CQT features, no DeepNorm, no attention relaxation, post-norm
encoder) its forward is HuBERT's forward, and its weight names are HuBERT's, so we build a
``HubertModel`` from its ``config.json`` and load its weights into it. Every setting that
would make MERT compute something HuBERT does not is refused with ``bad_checkpoint``
naming the key (docs/models.md, "MusicGen-Style", says how this was checked).

audiocraft feeds MERT the raw 24 kHz excerpt (no feature-extractor normalisation) and reads
``last_hidden_state``; :data:`MERT_FRAME_RATE` is the 75 Hz audiocraft assumes for it.

>>> import json, torch
>>> cfg = dict(hidden_size=16, num_hidden_layers=0, num_attention_heads=2, intermediate_size=8,
...            conv_dim=[4] * 7, num_conv_pos_embeddings=2, num_conv_pos_embedding_groups=2)
>>> model = hubert_from_config(cfg)
>>> model(torch.zeros(1, 24000)).last_hidden_state.shape
torch.Size([1, 74, 16])
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from ...errors import EngineError
from .config import bad_checkpoint

#: Input rate of MERT (audiocraft resamples the style excerpt to it).
MERT_SAMPLE_RATE = 24000
#: Frame rate audiocraft assumes for MERT's output (320x hop at 24 kHz) when it builds the mask.
MERT_FRAME_RATE = 75
#: The published model audiocraft's style conditioner uses.
MERT_HF_ID = "m-a-p/MERT-v1-95M"

# MERT config keys that switch on computation HubertModel does not have: key -> value that is
# HuBERT-compatible. A checkpoint lacking the key uses MERT's default, which is compatible.
_HUBERT_COMPATIBLE = {
    "feature_extractor_cqt": False,   # True concatenates CQT features (needs nnAudio)
    "deepnorm": False,                # True rescales residuals by a layer-count power
    "do_stable_layer_norm": False,    # MERT-v1 is post-norm; True would be a different encoder
    "add_adapter": False,
}


def _bad(source: str, key: str, message: str) -> EngineError:
    return bad_checkpoint(source, key, message)


def check_mert_config(config: dict[str, Any], source: str = "config.json") -> None:
    """Refuse MERT settings that a plain ``HubertModel`` would silently compute differently."""
    for key, ok in _HUBERT_COMPATIBLE.items():
        if key in config and bool(config[key]) != ok:
            raise _bad(source, key, f"{key}={config[key]!r} is not supported (HuBERT layout "
                                    f"needs {ok!r})")
    relax = config.get("attention_relax", -1.0)
    if relax is not None and float(relax) > 0:
        raise _bad(source, "attention_relax", f"attention_relax={relax} is not supported "
                                              "(HuBERT attention needs <= 0)")


def hubert_from_config(config: dict[str, Any],
                       state: dict[str, torch.Tensor] | None = None,
                       source: str = "config.json") -> torch.nn.Module:
    """A ``HubertModel`` in eval mode from a HuBERT or MERT config dict, weights loaded if given.

    Extra keys of a MERT config (``model_type``, ``auto_map``...) are ignored; dropout-like
    settings are irrelevant because the model runs in eval mode.
    """
    from transformers import HubertConfig, HubertModel

    check_mert_config(config, source)
    known = {k: v for k, v in config.items()
             if k not in ("architectures", "auto_map", "model_type", "transformers_version")}
    model = HubertModel(HubertConfig(**known))
    if state is not None:
        state = _rename_legacy_weight_norm(state)
        wanted = model.state_dict()
        missing = sorted(set(wanted) - set(state))
        if missing:
            raise _bad(source, missing[0], f"weights lack {missing[0]}"
                       + (f" and {len(missing) - 1} more" if len(missing) > 1 else ""))
        for name, ref in wanted.items():
            if tuple(state[name].shape) != tuple(ref.shape):
                raise _bad(source, name, f"{name} has shape {tuple(state[name].shape)}, the "
                                         f"config gives {tuple(ref.shape)}")
        # Unused extras (e.g. MERT's masked_spec_embed when masking is off) are harmless.
        model.load_state_dict({k: state[k].float() for k in wanted}, strict=True)
    return model.eval()


def _rename_legacy_weight_norm(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Old checkpoints store the positional conv's weight norm as weight_g/weight_v."""
    out = {}
    for key, value in state.items():
        if key.endswith("pos_conv_embed.conv.weight_g"):
            key = key[:-len("weight_g")] + "parametrizations.weight.original0"
        elif key.endswith("pos_conv_embed.conv.weight_v"):
            key = key[:-len("weight_v")] + "parametrizations.weight.original1"
        out[key] = value
    return out


def load_mert_folder(folder: str | Path) -> torch.nn.Module:
    """MERT from a local snapshot folder (``config.json`` + ``model.safetensors`` or
    ``pytorch_model.bin``), as ``HubertModel``; ``bad_checkpoint`` names a missing file or key.
    """
    folder = Path(folder)
    cfg_file = folder / "config.json"
    try:
        config = json.loads(cfg_file.read_text())
    except (OSError, ValueError) as exc:
        raise _bad(str(cfg_file), "config.json", f"cannot read the MERT config ({exc})") from None
    weights = folder / "model.safetensors"
    try:
        if weights.is_file():
            from safetensors.torch import load_file

            state = load_file(str(weights))
        else:
            weights = folder / "pytorch_model.bin"
            state = torch.load(weights, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the same user-facing error
        raise _bad(str(weights), "weights", f"cannot read the MERT weights ({exc})") from None
    # Saved from the remote-code class, some keys may carry the base-model prefix.
    state = {k.removeprefix("mert_model."): v for k, v in state.items()}
    return hubert_from_config(config, state, source=str(cfg_file))


def load_mert(hf_id: str = MERT_HF_ID, cache: Path | None = None) -> torch.nn.Module:
    """The published MERT from the Hugging Face cache (downloaded only if the hub answers)."""
    from ..hf import cache_dir, ensure_snapshot

    return load_mert_folder(ensure_snapshot(hf_id, cache_dir(cache)))


def load_standin(path: str | Path) -> torch.nn.Module:
    """The fixtures' tiny MERT stand-in: ``hubert_config_json`` + ``hubert.<name>`` tensors."""
    blob = torch.load(path, map_location="cpu", weights_only=True)
    try:
        config = json.loads(blob["hubert_config_json"])
    except KeyError:
        raise _bad(str(path), "hubert_config_json", "no hubert_config_json") from None
    state = {k[len("hubert."):]: v for k, v in blob.items() if k.startswith("hubert.")}
    return hubert_from_config(config, state, source=str(path))
