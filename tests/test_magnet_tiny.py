"""``tiny-magnet``: the built-in random MAGNeT goes through the real builder and reacts to its text."""

from __future__ import annotations

import pytest
import torch

from musicgen_bridge.engine.generation.magnet import MagnetParams
from musicgen_bridge.engine.models.audiocraft.magnet import text_conditions
from musicgen_bridge.engine.models.audiocraft.magnet_random import build_tiny_magnet

FAST = {"decoding_steps": (3, 2, 2, 1)}


@pytest.fixture(scope="module")
def tiny():
    return build_tiny_magnet()


def _tokens(model, text: str, seed: int, **params) -> torch.Tensor:
    cross, prefix = text_conditions(model, [text])
    return model.generate(cross, prefix, batch=1, params=MagnetParams(**{**FAST, **params}),
                          generator=torch.Generator().manual_seed(seed))


def test_window_and_architecture(tiny):
    cfg = tiny.base.cfg
    assert (tiny.frames, tiny.span_len, tiny.subcodes_context) == (500, 3, 5)
    # the loader took the window from dataset.segment_duration, not the placeholder
    assert cfg.get("transformer_lm.segment_duration") == 0
    assert tiny.base.codec.frame_rate == 50 and tiny.base.codec.sample_rate == 32000
    assert not tiny.lm.settings.causal and tiny.lm.settings.cross_attention


def test_same_seed_same_tokens_and_audio_different_text_different_tokens(tiny):
    a = _tokens(tiny, "door slam", 7)
    b = _tokens(tiny, "door slam", 7)
    c = _tokens(tiny, "rain on a tin roof", 7)
    assert torch.equal(a, b)
    assert torch.equal(tiny.base.codec.decode(a), tiny.base.codec.decode(b))
    assert (a != c).float().mean() > 0.3  # the text matters, not only the seed


def test_frames_per_arrangement_and_audio_length(tiny):
    nonoverlap = _tokens(tiny, "glass", 1)
    stride1 = _tokens(tiny, "glass", 1, span_arrangement="stride1", top_p=0.0, top_k=8)
    assert nonoverlap.shape == (1, 4, 498)  # whole spans of 3 only, as audiocraft
    assert stride1.shape == (1, 4, 500)
    assert int(stride1.max()) < tiny.card
    audio = tiny.base.codec.decode(stride1)
    assert audio.shape == (1, 1, 500 * tiny.base.codec.hop_length)


def test_later_stages_attend_locally(tiny):
    seq = torch.randint(0, tiny.card, (2, 4, 40))
    cross, prefix = text_conditions(tiny, ["wind"])
    stage1 = tiny.forward(seq, cross, prefix, 1)
    full = tiny.lm(seq, cross, prefix, causal=False)
    assert tiny.stage_mask(0, 40) is None
    assert torch.equal(tiny.forward(seq, cross, prefix, 0), full)
    assert not torch.allclose(stage1, full, atol=1e-3)
    # a token further than subcodes_context away cannot change position 0's stage-1 logits
    far = seq.clone()
    far[:, :, 30] = (far[:, :, 30] + 1) % tiny.card
    assert torch.allclose(tiny.forward(far, cross, prefix, 1)[:, :, 0], stage1[:, :, 0], atol=1e-5)
    assert not torch.allclose(tiny.lm(far, cross, prefix, causal=False)[:, :, 0], full[:, :, 0], atol=1e-5)


def test_text_to_audio_takes_are_independent_of_their_batch(tiny):
    params = MagnetParams(**FAST)
    seen = []
    tokens, audio = tiny.text_to_audio(["door slam", "rain on a tin roof"], [7, 8], params,
                                       progress=lambda done, total: seen.append((done, total)))
    alone, _ = tiny.text_to_audio(["rain on a tin roof"], [8], params)
    assert torch.equal(tokens[1:], alone)
    assert torch.equal(tokens[:1], _tokens(tiny, "door slam", 7))
    assert audio.shape == (2, 1, 498 * tiny.base.codec.hop_length)
    assert seen == [(i, 2 * params.passes) for i in range(1, 2 * params.passes + 1)]
