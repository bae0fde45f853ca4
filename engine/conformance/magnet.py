"""MAGNeT conformance: window settings, conditioning, per-stage masked forwards, seeded generations.

Shapes and settings come from the fixture files: the checkpoint's ``xp.cfg`` (window, span length,
local context) and each ``*.pt``'s stored scalars (decoding steps, span arrangement, top-k/top-p,
temperature, guidance range, seed). Stages are whichever ``stage{s}_input`` tensors exist, and
the generations are whichever ``generate_*.pt`` files exist.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import torch

from ..generation.magnet import MagnetParams
from ..models.audiocraft.magnet import MagnetModel, load_magnet
from .audiogen import conditioning_checks
from .checks import Check, close, exact, load_fixture, rng_check, same


def checks(folder: Path) -> Iterator[Check]:
    model = load_magnet(folder)
    cross, prefix = yield from conditioning_checks(model.base, load_fixture(folder, "conditioning.pt"))
    yield from lm_forward_checks(model, load_fixture(folder, "lm_forward.pt"), cross, prefix)
    runs = sorted(p.name for p in folder.glob("generate_*.pt"))
    if not runs:
        yield Check("generate", False, "no generate_*.pt in the fixture folder")
    for name in runs:
        yield from generate_checks(model, name[:-3], load_fixture(folder, name), cross, prefix)


def _mask_check(name: str, got: torch.Tensor | None, ref: torch.Tensor | None) -> Check:
    if got is None or ref is None:
        ok = got is None and ref is None
        return Check(name, ok, f"mask {'absent' if got is None else 'present'}, reference "
                               f"{'absent' if ref is None else 'present'}")
    if got.shape != ref.shape:
        return Check(name, False, f"shape {tuple(got.shape)} != reference {tuple(ref.shape)}")
    wrong = int((got != ref).sum())  # 0 and -inf compare exactly
    return Check(name, wrong == 0, f"mismatches {wrong}/{ref.numel()} (bit-exact required)")


@torch.no_grad()
def lm_forward_checks(model: MagnetModel, ref: dict, cross, prefix) -> Iterator[Check]:
    lm = model.lm
    yield same("lm_forward.mask_id", lm.special_token_id, int(ref["mask_id"]))
    yield same("lm_forward.seq_len", model.frames, int(ref["seq_len"]))
    yield same("lm_forward.subcodes_context", model.subcodes_context, int(ref["subcodes_context"]))
    stages = sorted(int(m.group(1)) for key in ref if (m := re.fullmatch(r"stage(\d+)_input", key)))
    if not stages:
        yield Check("lm_forward.stages", False, "no stage{s}_input in lm_forward.pt")
    coef = float(ref["cfg_coef"])
    for s in stages:
        seq = ref[f"stage{s}_input"]
        batch, frames = seq.shape[0], seq.shape[-1]
        mask = model.stage_mask(s, frames)
        stored = ref.get(f"stage{s}_attn_mask") if int(ref[f"stage{s}_has_attn_mask"]) else None
        yield _mask_check(f"lm_forward.stage{s}.attn_mask", mask, stored)
        cond, uncond = model.forward(torch.cat([seq, seq]), cross, prefix, s).split(batch)
        yield close(f"lm_forward.stage{s}.logits_cond", cond, ref[f"stage{s}_logits_cond"])
        yield close(f"lm_forward.stage{s}.logits_uncond", uncond, ref[f"stage{s}_logits_uncond"])
        ref_cond, ref_uncond = ref[f"stage{s}_logits_cond"], ref[f"stage{s}_logits_uncond"]
        ref_guided = ref_uncond + (ref_cond - ref_uncond) * coef
        yield close(f"lm_forward.stage{s}.logits_guided", uncond + (cond - uncond) * coef, ref_guided)


def params_from(ref: dict) -> MagnetParams:
    """The generation settings a fixture stored (every one of them, none assumed)."""
    return MagnetParams(decoding_steps=tuple(json.loads(ref["decoding_steps_json"])),
                        span_arrangement=str(ref["span_arrangement"]), span_scoring=str(ref["span_scoring"]),
                        temperature=float(ref["temperature"]), anneal_temp=bool(int(ref["anneal_temp"])),
                        top_k=int(ref["top_k"]), top_p=float(ref["top_p"]),
                        max_cfg_coef=float(ref["max_cfg_coef"]), min_cfg_coef=float(ref["min_cfg_coef"]),
                        use_sampling=bool(int(ref["use_sampling"])))


@torch.no_grad()
def generate_checks(model: MagnetModel, name: str, ref: dict, cross, prefix) -> Iterator[Check]:
    params = params_from(ref)
    texts = json.loads(ref["texts_json"])
    yield same(f"{name}.span_len", model.span_len, int(ref["span_len"]))
    yield same(f"{name}.max_gen_len", model.frames, int(ref["max_gen_len"]))
    seed = int(ref["torch_manual_seed"])
    # a fresh generator with the seed draws what the global one draws after torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    tokens = model.generate(cross, prefix, batch=len(texts), params=params, generator=gen)
    if params.use_sampling:
        yield rng_check(f"{name}.rng_consumed", gen, seed, int(ref["num_multinomial_calls"]),
                        json.loads(ref["multinomial_input_shape_json"]))
    yield exact(f"{name}.tokens", tokens, ref["tokens"])
    if "audio" in ref:
        yield close(f"{name}.audio", model.base.require_codec().decode(tokens), ref["audio"])
