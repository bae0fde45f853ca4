"""MusicGen-Style conformance: style embedding, the 3B-row conditioning, double-CFG LM forward,
greedy generation.

Every setting comes from the fixture folder: the style conditioner's shape from ``xp.cfg``,
``eval_q`` and the excerpt length from ``style_embedding.pt`` (audiocraft's
``set_style_conditioner_params``), ``cfg_coef`` / ``cfg_coef_beta`` from ``lm_forward.pt`` and
``greedy.pt``. MERT is the fixture's HuBERT stand-in (``mert_standin.pt``), loaded the way the
real MERT is. The fixtures store the style waveform of batch row 0 only, so the conditioning
checks compare every row we can rebuild (row 0 in its cond and wav-only copies, and all null
rows) and name them; the LM checks use our rows there and the stored rows elsewhere.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import torch

from ..conditioning.style import StyleClip, StyleConditioner, excerpt_start
from ..models.audiocraft.builder import AudiocraftModel, load_model, one_conditioner
from ..models.audiocraft.conditioners import T5Conditioner
from ..models.audiocraft.delay_generation import generate_delay, pattern_sequence
from ..models.audiocraft.guidance import Guidance
from ..models.audiocraft.mert import load_standin
from ..models.audiocraft.sampling import AudiocraftSampling
from .checks import Check, close, exact, load_fixture, same

_UNKNOWN = object()  # a batch row whose style waveform the fixtures do not store


def checks(folder: Path) -> Iterator[Check]:
    folder = Path(folder)
    model = load_model(folder)
    style_name, style = one_conditioner(model.conditioners, StyleConditioner)
    style.attach_mert(load_standin(folder / "mert_standin.pt"))
    se = load_fixture(folder, "style_embedding.pt")
    style.set_params(eval_q=int(se["eval_q"]), excerpt_seconds=float(se["excerpt_length"]))
    yield from style_embedding_checks(style, se)
    fwd = load_fixture(folder, "lm_forward.pt")
    guidance = Guidance(float(fwd["cfg_coef"]), float(fwd["cfg_coef_beta"]))
    prefix = yield from conditioning_checks(model, style_name, style, se,
                                            load_fixture(folder, "conditioning.pt"), guidance)
    yield from lm_forward_checks(model, fwd, prefix, guidance)
    yield from greedy_checks(model, load_fixture(folder, "greedy.pt"), prefix)


@torch.no_grad()
def style_embedding_checks(style: StyleConditioner, ref: dict) -> Iterator[Check]:
    wav, lengths = ref["wav"], ref["wav_lengths"]
    yield same("style_embedding.sample_rate", style.sample_rate, int(ref["sample_rate"]))
    yield same("style_embedding.ds_factor", style.encoder.ds_factor, int(ref["ds_factor"]))
    yield same("style_embedding.excerpt_samples", style.excerpt_samples, int(ref["excerpt_samples"]))
    start = excerpt_start(wav.shape[-1], style.excerpt_samples)
    yield same("style_embedding.excerpt_start", start, int(ref["excerpt_start"]))
    got = style.trace(wav, lengths)
    big_l = int(ref["excerpt_samples"])
    s0 = int(ref["excerpt_start"])
    yield exact("style_embedding.excerpt", got.excerpt.view(-1).float().view(torch.int32),
                wav[..., s0:s0 + big_l].reshape(-1).float().view(torch.int32))
    yield close("style_embedding.mert_input_24k", got.mert_input, ref["mert_input_24k"])
    yield close("style_embedding.mert_hidden", got.mert_hidden, ref["mert_last_hidden_state"])
    yield close("style_embedding.embed_out", got.embed_out, ref["embed_out"])
    yield close("style_embedding.bn_out", got.bn_out, ref["bn_out"])
    yield close("style_embedding.rvq_out", got.rvq_out, ref["rvq_out"])
    yield close("style_embedding.ds_out", got.ds_out, ref["ds_out"])
    yield close("style_embedding.style_embeds", got.embeds, ref["style_embeds"])
    yield exact("style_embedding.style_mask", got.mask, ref["style_mask"])
    if got.mask.dtype != ref["style_mask"].dtype:
        yield Check("style_embedding.mask_dtype", False, f"{got.mask.dtype} != {ref['style_mask'].dtype}")


@torch.no_grad()
def conditioning_checks(model: AudiocraftModel, style_name: str, style: StyleConditioner,
                        se: dict, ref: dict, guidance: Guidance):
    """The 3B-row double-CFG batch ``[cond, wav-only, null]``; returns the LM prefix."""
    from transformers import ByT5Tokenizer

    texts = json.loads(ref["texts_json"])
    batch = len(texts)
    text_name, t5 = one_conditioner(model.conditioners, T5Conditioner)
    yield same("conditioning.t5_name", t5.t5_name, ref["t5_name"])
    clips = [StyleClip(se["wav"][0])] + [_UNKNOWN] * (batch - 1)
    text_rows, style_rows = guidance.rows(texts, clips)
    t5.tokenizer = ByT5Tokenizer()  # the fixtures' T5 stand-in is byte-level
    ids, mask = t5.tokenize(text_rows)
    yield exact("conditioning.t5_input_ids", ids, ref["t5_input_ids"])
    yield exact("conditioning.t5_attention_mask", mask, ref["t5_attention_mask"])
    desc, desc_mask = t5.project(ref["t5_last_hidden_state"], ref["t5_attention_mask"])
    yield close("conditioning.description_embeds", desc, ref["description_embeds"])
    yield exact("conditioning.description_mask", desc_mask, ref["description_mask"])

    known = [i for i, c in enumerate(style_rows) if c is not _UNKNOWN]
    embeds, smask = style([None if c is _UNKNOWN else c for c in style_rows])
    rows = ",".join(map(str, known))
    yield same("conditioning.self_wav_shape", tuple(embeds.shape), tuple(ref["self_wav_embeds"].shape))
    if embeds.shape == ref["self_wav_embeds"].shape:
        yield close(f"conditioning.self_wav_embeds[{rows}]", embeds[known], ref["self_wav_embeds"][known])
        yield exact(f"conditioning.self_wav_mask[{rows}]", smask[known], ref["self_wav_mask"][known])
        merged, merged_mask = ref["self_wav_embeds"].clone(), ref["self_wav_mask"].clone()
        merged[known], merged_mask[known] = embeds[known], smask[known]
    else:
        merged, merged_mask = ref["self_wav_embeds"], ref["self_wav_mask"]
    _, prefix = model.fuser.fuse({text_name: (desc, desc_mask), style_name: (merged, merged_mask)})
    if prefix is None:
        raise ValueError("the checkpoint's fuser prepends nothing: not a MusicGen-Style model")
    # audiocraft's prefix order is [self_wav, description] (dict order, each prepend in front).
    yield close("conditioning.prefix_order", prefix,
                torch.cat([ref["self_wav_embeds"], ref["description_embeds"]], dim=1))
    return prefix


@torch.no_grad()
def lm_forward_checks(model: AudiocraftModel, ref: dict, prefix: torch.Tensor,
                      guidance: Guidance) -> Iterator[Check]:
    lm = model.lm
    yield same("lm_forward.special_token_id", lm.special_token_id, int(ref["special_token_id"]))
    sequence, _ = pattern_sequence(ref["codes"], model.delays, lm.special_token_id)
    yield exact("lm_forward.sequence", sequence, ref["sequence"])
    logits = lm(torch.cat([sequence] * guidance.copies), None, prefix)
    cond, wav, uncond = logits.chunk(3)
    yield close("lm_forward.logits_cond", cond, ref["logits_cond"])
    yield close("lm_forward.logits_wav", wav, ref["logits_wav"])
    yield close("lm_forward.logits_uncond", uncond, ref["logits_uncond"])
    yield close("lm_forward.logits_double_cfg", guidance.combine(logits), ref["logits_double_cfg"])


@torch.no_grad()
def greedy_checks(model: AudiocraftModel, ref: dict, prefix: torch.Tensor) -> Iterator[Check]:
    guidance = Guidance(float(ref["cfg_coef"]), float(ref["cfg_coef_beta"]))
    frames = int(ref["max_gen_len"])
    yield same("greedy.max_gen_len", frames, int(float(ref["duration"]) * model.require_codec().frame_rate))
    params = AudiocraftSampling(greedy=True, cfg_coef=guidance.cfg_coef)
    out = generate_delay(model.lm, model.delays, None, prefix, frames, params, [],
                         record_logits=True, guidance=guidance)
    yield close("greedy.step_logits_double_cfg", torch.stack(out.step_logits),
                ref["step_logits_double_cfg"])
    yield exact("greedy.tokens", out.tokens, ref["tokens"])
    yield close("greedy.audio", model.require_codec().decode(out.tokens), ref["audio"])
