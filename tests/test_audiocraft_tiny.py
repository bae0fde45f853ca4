"""tiny-audiogen (built in code) and the audiocraft LM's decoding paths: cache, masks, seeds, text."""

from __future__ import annotations

import pytest
import torch

from musicgen_bridge.engine.models.audiocraft.delay_generation import generate_delay, pattern_sequence
from musicgen_bridge.engine.models.audiocraft.lm import KVCache
from musicgen_bridge.engine.models.audiocraft.sampling import AudiocraftSampling
from musicgen_bridge.engine.models.audiocraft.text_to_audio import text_conditions, text_to_audio
from musicgen_bridge.engine.models.audiocraft.tiny import build_tiny_audiogen

FRAMES = 40


@pytest.fixture(scope="module")
def model():
    return build_tiny_audiogen()


def test_length_is_frames_times_hop(model):
    out = text_to_audio(model, ["door slam"], FRAMES, AudiocraftSampling(), seeds=[7])
    assert out.tokens.shape == (1, model.lm.settings.n_q, FRAMES)
    assert out.audio.shape == (1, 1, FRAMES * model.codec.hop_length)
    assert model.codec.sample_rate // model.codec.hop_length == model.codec.frame_rate == 50


def test_same_seed_same_audio_other_seed_other_tokens(model):
    params = AudiocraftSampling()
    a, b = (text_to_audio(model, ["door slam"], FRAMES, params, seeds=[7]) for _ in range(2))
    c = text_to_audio(model, ["door slam"], FRAMES, params, seeds=[8])
    assert torch.equal(a.tokens, b.tokens) and torch.equal(a.audio, b.audio)
    assert (a.tokens != c.tokens).float().mean() > 0.3


def test_a_take_does_not_depend_on_its_batch(model):
    params = AudiocraftSampling()
    alone = text_to_audio(model, ["door slam"], FRAMES, params, seeds=[7])
    batch = text_to_audio(model, ["door slam", "rain on a tin roof"], FRAMES, params, seeds=[7, 3])
    assert torch.equal(alone.tokens[0], batch.tokens[0])


def test_the_text_steers_the_tokens(model):
    out = text_to_audio(model, ["door slam", "rain on a tin roof"], FRAMES, AudiocraftSampling(greedy=True),
                        seeds=[0, 0])
    assert (out.tokens[0] != out.tokens[1]).float().mean() > 0.3


def test_the_same_seed_rebuilds_the_same_weights(model):
    other = build_tiny_audiogen()
    for (name, a), b in zip(model.lm.state_dict().items(), other.lm.state_dict().values()):
        assert torch.equal(a, b), name


@torch.no_grad()
def test_cached_steps_equal_one_full_forward(model):
    """Each cached decoding step's logits are the full (non-streaming) forward's at that position."""
    cross, prefix = text_conditions(model, ["door slam"])
    params = AudiocraftSampling(greedy=True, cfg_coef=3.0)
    out = generate_delay(model.lm, model.delays, cross, prefix, 12, params, [], record_logits=True)
    steps = len(out.step_logits)
    special = model.lm.special_token_id
    # the sequence the loop built: step s of codebook q holds frame s - 1 - delay_q while that is a frame
    full_seq = torch.full((1, model.lm.settings.n_q, steps), special)
    for q, d in enumerate(model.delays):
        full_seq[:, q, 1 + d:1 + d + 12] = out.tokens[:, q, :steps - 1 - d]
    assert torch.equal(full_seq[..., :13], pattern_sequence(out.tokens, model.delays, special)[0])
    logits = model.lm(torch.cat([full_seq, full_seq]), cross, prefix)
    cond, uncond = logits.split(1)
    guided = uncond + (cond - uncond) * 3.0
    for s, step in enumerate(out.step_logits):
        ref = guided[:, :, s]
        # the fixtures' tolerance; the tiny model's scaled-up weights give logits of about 30
        assert (step - ref).abs().max() <= 1e-4 * max(1.0, float(ref.abs().max())), s


@torch.no_grad()
def test_chunked_cache_matches_full_forward(model):
    """Feeding 5 then 3 positions through the cache equals one causal forward over all 8."""
    lm = model.lm
    cross, _ = text_conditions(model, ["glass"])
    codes = torch.randint(0, lm.settings.card, (2, lm.settings.n_q, 8), generator=torch.Generator().manual_seed(0))
    full = lm(codes, cross)
    cache = KVCache.empty(lm.settings.num_layers)
    first = lm(codes[..., :5], cross, cache=cache)
    second = lm(codes[..., 5:], cross, cache=cache)
    assert cache.length == 8
    assert (torch.cat([first, second], dim=2) - full).abs().max() <= 1e-5 * max(1.0, float(full.abs().max()))


@torch.no_grad()
def test_non_causal_with_an_additive_mask(model):
    """MAGNeT's use: bidirectional attention, optionally restricted to a local window by an additive mask."""
    lm = model.lm
    cross, _ = text_conditions(model, ["glass"])
    codes = torch.randint(0, lm.settings.card, (2, lm.settings.n_q, 10), generator=torch.Generator().manual_seed(1))
    free = lm(codes, cross, causal=False)
    zero_mask = lm(codes, cross, causal=False, attn_mask=torch.zeros(10, 10))
    assert torch.allclose(free, zero_mask, atol=1e-6)
    assert not torch.allclose(free, lm(codes, cross), atol=1e-3)  # causal differs from bidirectional
    i = torch.arange(10)
    local = torch.zeros(10, 10).masked_fill((i[:, None] - i[None, :]).abs() > 2, float("-inf"))
    windowed = lm(codes, cross, causal=False, attn_mask=local)
    assert not torch.allclose(free, windowed, atol=1e-3)
    # with the window, position 0 cannot see position 9: changing token 9 leaves output 0 unchanged
    changed = codes.clone()
    changed[..., 9] = (changed[..., 9] + 1) % lm.settings.card
    assert torch.allclose(lm(changed, cross, causal=False, attn_mask=local)[..., 0, :], windowed[..., 0, :], atol=1e-6)
