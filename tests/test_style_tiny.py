"""tiny-style: MusicGen-Style's architecture built in code; it must react to its style and text."""

from __future__ import annotations

import pytest
import torch

from musicgen_bridge.engine.conditioning.style import StyleClip
from musicgen_bridge.engine.models.audiocraft.sampling import AudiocraftSampling

SR = 32000


@pytest.fixture(scope="module")
def tiny():
    from musicgen_bridge.engine.models.audiocraft.tiny_style import build_tiny_style

    return build_tiny_style()


def _loops():
    t = torch.arange(SR * 4) / SR
    noise = torch.randn(1, SR * 4, generator=torch.Generator().manual_seed(1)) * 0.2
    tone = (0.4 * torch.sin(2 * torch.pi * 330 * t))[None]
    return noise, tone


def _tokens(model, texts, clips, seed=7, frames=25):
    from musicgen_bridge.engine.models.audiocraft.style_generation import generate_style

    gen = torch.Generator().manual_seed(seed)
    return generate_style(model, texts, clips, frames, AudiocraftSampling(top_k=250), [gen]).tokens


def test_tiny_style_is_seeded_and_has_the_style_architecture(tiny):
    from musicgen_bridge.engine.models.audiocraft.tiny_style import build_tiny_style

    assert (tiny.codec.sample_rate, tiny.codec.frame_rate) == (32000, 50)
    assert tiny.fuser.prepend == ["self_wav", "description"] and tiny.fuser.cross == []
    style = tiny.conditioners["self_wav"]
    assert (style.encoder.n_q, style.encoder.eval_q, style.encoder.ds_factor) == (4, 3, 15)
    again = build_tiny_style()
    for a, b in zip(tiny.lm.state_dict().values(), again.lm.state_dict().values()):
        assert torch.equal(a, b)
    assert torch.equal(style.encoder.codebooks, again.conditioners["self_wav"].encoder.codebooks)


def test_tiny_style_reacts_to_style_and_text(tiny):
    noise, tone = _loops()
    a1 = _tokens(tiny, ["lofi piano"], [StyleClip(noise)])
    a2 = _tokens(tiny, ["lofi piano"], [StyleClip(noise)])
    b = _tokens(tiny, ["lofi piano"], [StyleClip(tone)])
    c = _tokens(tiny, ["heavy metal"], [StyleClip(noise)])
    assert torch.equal(a1, a2)
    # Most tokens change with the style, and with the text (not just a stray one).
    assert (a1 != b).float().mean() > 0.5
    assert (a1 != c).float().mean() > 0.5
    s1 = _tokens(tiny, [None], [StyleClip(noise)])
    s2 = _tokens(tiny, [None], [StyleClip(tone)])
    assert (s1 != s2).float().mean() > 0.5           # style only, no text


def test_tiny_style_audio_length_is_frames_times_hop(tiny):
    noise, _ = _loops()
    tokens = _tokens(tiny, ["x"], [StyleClip(noise)], frames=20)
    assert tokens.shape == (1, 4, 20)
    assert tiny.codec.decode(tokens).shape == (1, 1, 20 * 640)
