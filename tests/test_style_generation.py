"""MusicGen-Style on the fixture model: conformance against audiocraft, and the style steers tokens."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from engine.conditioning.style import StyleClip
from engine.models.audiocraft.guidance import Guidance
from engine.models.audiocraft.sampling import AudiocraftSampling

FIXTURES = Path(__file__).parent / "fixtures" / "audiocraft"
STYLE_DIR = FIXTURES / "musicgen_style"


def test_every_musicgen_style_check_passes():
    from engine.conformance.musicgen_style import checks

    results = list(checks(STYLE_DIR))
    names = {c.name.split("[")[0] for c in results}
    # Every intermediate and stage the README lists is checked, not just some.
    for needed in ("style_embedding.excerpt", "style_embedding.mert_input_24k",
                   "style_embedding.mert_hidden", "style_embedding.embed_out",
                   "style_embedding.bn_out", "style_embedding.rvq_out", "style_embedding.ds_out",
                   "style_embedding.style_embeds", "style_embedding.style_mask",
                   "conditioning.description_embeds", "conditioning.self_wav_embeds",
                   "conditioning.self_wav_mask", "lm_forward.logits_double_cfg",
                   "greedy.step_logits_double_cfg", "greedy.tokens", "greedy.audio"):
        assert needed in names, needed
    failed = [c.line("musicgen_style") for c in results if not c.passed]
    assert not failed, "\n".join(failed)


@pytest.fixture(scope="module")
def style_model():
    from transformers import ByT5Tokenizer, T5Config, T5EncoderModel

    from engine.models.audiocraft.builder import T5_DIMS, load_model
    from engine.models.audiocraft.conditioners import T5Conditioner
    from engine.models.audiocraft.mert import load_standin
    from engine.models.audiocraft.style_loader import build_style  # noqa: F401 - registers "style"

    model = load_model(STYLE_DIR)
    for cond in model.conditioners.values():
        if isinstance(cond, T5Conditioner):   # a tiny seeded T5 (the fixtures ship no T5 weights)
            torch.manual_seed(0)
            t5 = T5EncoderModel(T5Config(vocab_size=259, d_model=T5_DIMS[cond.t5_name], d_kv=8,
                                         d_ff=16, num_layers=1, num_heads=2, dropout_rate=0.0,
                                         is_encoder_decoder=False, use_cache=False)).eval()
            cond.attach(ByT5Tokenizer(), t5)
        else:
            cond.attach_mert(load_standin(STYLE_DIR / "mert_standin.pt"))
    return model


def _tokens(model, texts, clips, seed=7, guidance=None):
    from engine.models.audiocraft.style_generation import generate_style

    gen = torch.Generator().manual_seed(seed)
    return generate_style(model, texts, clips, frames=20, params=AudiocraftSampling(top_k=10),
                          generators=[gen], guidance=guidance).tokens


def test_two_style_clips_with_the_same_seed_give_different_tokens(style_model):
    se = torch.load(STYLE_DIR / "style_embedding.pt", weights_only=True)
    clip_a = se["wav"][0]
    t = torch.arange(clip_a.shape[-1]) / 32000
    clip_b = 0.3 * torch.sin(2 * torch.pi * 220 * t)[None] * (1 + torch.sin(2 * torch.pi * 3 * t))
    a1 = _tokens(style_model, ["lofi piano"], [StyleClip(clip_a)])
    a2 = _tokens(style_model, ["lofi piano"], [StyleClip(clip_a)])
    b = _tokens(style_model, ["lofi piano"], [StyleClip(clip_b)])
    assert torch.equal(a1, a2)                 # same clip, same seed: same tokens
    assert not torch.equal(a1, b)              # the style changes the music
    # Style only (no text) and text only work, and differ from text+style.
    style_only = _tokens(style_model, [None], [StyleClip(clip_a)])
    text_only = _tokens(style_model, ["lofi piano"], [None])
    assert style_only.shape == text_only.shape == a1.shape
    assert not torch.equal(style_only, a1) and not torch.equal(text_only, a1)


def test_double_guidance_is_one_batched_forward_per_step(style_model):
    calls = []
    hook = style_model.lm.register_forward_hook(lambda m, a, o: calls.append(a[0].shape[0]))
    try:
        se = torch.load(STYLE_DIR / "style_embedding.pt", weights_only=True)
        _tokens(style_model, ["a", "b"], [StyleClip(se["wav"][0]), None], guidance=Guidance(3.0, 5.0))
    finally:
        hook.remove()
    steps = 20 + max(style_model.delays)
    assert calls == [6] * steps                 # [cond, wav-only, null] x B=2, once per step
