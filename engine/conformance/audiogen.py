"""AudioGen conformance: codec, conditioning, LM forward, greedy and seeded-sampled generation.

Every shape and setting is read from the fixture files (``xp.cfg`` inside the checkpoints, the
scalars of each ``*.pt``), so fixture sets of other sizes are checked the same way.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import torch

from ..models.audiocraft.builder import AudiocraftModel, load_model, one_conditioner
from ..models.audiocraft.codec import CompressionModel
from ..models.audiocraft.conditioners import T5Conditioner
from ..models.audiocraft.delay_generation import frame_logits, generate_delay, pattern_sequence
from ..models.audiocraft.sampling import AudiocraftSampling
from .checks import Check, close, exact, load_fixture, rng_check, same


def checks(folder: Path) -> Iterator[Check]:
    model = load_model(folder)
    yield from codec_checks(model, load_fixture(folder, "codec.pt"))
    cond = load_fixture(folder, "conditioning.pt")
    cross, prefix = yield from conditioning_checks(model, cond)
    yield from lm_forward_checks(model, load_fixture(folder, "lm_forward.pt"), cross, prefix)
    yield from greedy_checks(model, load_fixture(folder, "greedy.pt"), cross, prefix)
    yield from sampled_checks(model, load_fixture(folder, "sampled.pt"), cross, prefix)


@torch.no_grad()
def codec_checks(model: AudiocraftModel, ref: dict) -> Iterator[Check]:
    codec = model.require_codec()
    if not isinstance(codec, CompressionModel):
        raise TypeError(f"AudioGen's codec is audiocraft's SEANet EnCodec, this checkpoint points at {codec.name!r}")
    # hop_length in the fixtures is int(sample_rate / frame_rate); decoded lengths are checked by codec.wav_out
    yield same("codec.rates", (codec.sample_rate, codec.frame_rate, int(codec.sample_rate / codec.frame_rate)),
               (int(ref["sample_rate"]), int(ref["frame_rate"]), int(ref["hop_length"])))
    yield close("codec.encoder_out", codec.encoder(ref["wav_in"]), ref["encoder_out"])
    yield exact("codec.codes", codec.encode(ref["wav_in"]), ref["codes"])
    yield close("codec.latent", codec.decode_latent(ref["codes"]), ref["latent"])
    yield close("codec.wav_out", codec.decode(ref["codes"]), ref["wav_out"])


@torch.no_grad()
def conditioning_checks(model: AudiocraftModel, ref: dict):
    """Checks on the T5 conditioner fed with the stored T5 outputs; returns (cross, prefix) for the LM."""
    from transformers import ByT5Tokenizer

    texts = json.loads(ref["texts_json"])
    name, t5 = one_conditioner(model.conditioners, T5Conditioner)
    yield same("conditioning.t5_name", t5.t5_name, ref["t5_name"])
    # the fixtures' T5 stand-in tokenizes bytes; our tokenize() must add audiocraft's null-row masking
    t5.tokenizer = ByT5Tokenizer()
    ids, mask = t5.tokenize(texts + [None] * len(texts))
    yield exact("conditioning.t5_input_ids", ids, ref["t5_input_ids"])
    yield exact("conditioning.t5_attention_mask", mask, ref["t5_attention_mask"])
    embeds, out_mask = t5.project(ref["t5_last_hidden_state"], ref["t5_attention_mask"])
    yield close("conditioning.description_embeds", embeds, ref["description_embeds"])
    yield exact("conditioning.description_mask", out_mask, ref["description_mask"])
    return model.fuser.fuse({name: (embeds, out_mask)})


@torch.no_grad()
def lm_forward_checks(model: AudiocraftModel, ref: dict, cross, prefix) -> Iterator[Check]:
    lm, delays = model.lm, model.delays
    yield same("lm_forward.special_token_id", lm.special_token_id, int(ref["special_token_id"]))
    sequence, valid = pattern_sequence(ref["codes"], delays, lm.special_token_id)
    yield exact("lm_forward.sequence", sequence, ref["sequence"])
    yield exact("lm_forward.sequence_valid_mask", valid, ref["sequence_valid_mask"])
    batch = sequence.shape[0]
    cond, uncond = lm(torch.cat([sequence, sequence]), cross, prefix).split(batch)
    yield close("lm_forward.logits_cond", cond, ref["logits_cond"])
    yield close("lm_forward.logits_uncond", uncond, ref["logits_uncond"])
    yield close("lm_forward.logits_cfg", uncond + (cond - uncond) * float(ref["cfg_coef"]), ref["logits_cfg"])
    pred, mask = frame_logits(lm(torch.cat([sequence, sequence]), cross, prefix), delays)
    yield exact("lm_forward.pred_mask", mask.expand(ref["pred_mask"].shape), ref["pred_mask"])
    yield close("lm_forward.pred_logits", pred, ref["pred_logits"])


def _frames(ref: dict) -> int:
    return int(ref["max_gen_len"])


@torch.no_grad()
def greedy_checks(model: AudiocraftModel, ref: dict, cross, prefix) -> Iterator[Check]:
    params = AudiocraftSampling(greedy=True, cfg_coef=float(ref["cfg_coef"]))
    out = generate_delay(model.lm, model.delays, cross, prefix, _frames(ref), params, [], record_logits=True)
    yield close("greedy.step_logits_cfg", torch.stack(out.step_logits), ref["step_logits_cfg"])
    yield exact("greedy.tokens", out.tokens, ref["tokens"])
    yield close("greedy.audio", model.require_codec().decode(out.tokens), ref["audio"])


@torch.no_grad()
def sampled_checks(model: AudiocraftModel, ref: dict, cross, prefix) -> Iterator[Check]:
    params = AudiocraftSampling(top_k=int(ref["top_k"]), top_p=float(ref["top_p"]),
                                temperature=float(ref["temperature"]), cfg_coef=float(ref["cfg_coef"]))
    # a fresh generator with the seed draws what the global one draws after torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(int(ref["torch_manual_seed"]))
    out = generate_delay(model.lm, model.delays, cross, prefix, _frames(ref), params, [gen])
    yield rng_check("sampled.rng_consumed", gen, int(ref["torch_manual_seed"]), int(ref["num_multinomial_calls"]),
                    json.loads(ref["multinomial_input_shape_json"]))
    yield exact("sampled.tokens", out.tokens, ref["tokens"])
    yield close("sampled.audio", model.require_codec().decode(out.tokens), ref["audio"])
