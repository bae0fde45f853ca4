"""MusicGen-Style on the fixture model: conformance against audiocraft, and the style steers tokens."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from musicgen_bridge.engine.conditioning.style import StyleClip
from musicgen_bridge.engine.models.audiocraft.guidance import Guidance
from musicgen_bridge.engine.models.audiocraft.sampling import AudiocraftSampling

FIXTURES = Path(__file__).parent / "fixtures" / "audiocraft"
STYLE_DIR = FIXTURES / "musicgen_style"


#: the checks the brief names; the runner may run more, never fewer
REQUIRED = {"style_embedding.excerpt_start", "style_embedding.excerpt", "style_embedding.mert_input_24k",
            "style_embedding.mert_hidden", "style_embedding.embed_out", "style_embedding.bn_out",
            "style_embedding.rvq_out", "style_embedding.ds_out", "style_embedding.style_embeds",
            "style_embedding.style_mask", "conditioning.description_embeds",
            "conditioning.description_mask", "conditioning.self_wav_embeds",
            "conditioning.self_wav_mask", "lm_forward.logits_cond", "lm_forward.logits_wav",
            "lm_forward.logits_uncond", "lm_forward.logits_double_cfg",
            "greedy.step_logits_double_cfg", "greedy.tokens", "greedy.audio"}


def _style_results(lines: list[str]) -> dict[str, str]:
    """check name (row list dropped) -> 'ok' / 'FAIL' for the musicgen_style lines."""
    out = {}
    for line in lines:
        parts = line.split()
        if parts and parts[0] == "musicgen_style":
            assert parts[1] != "skipped", line
            out[parts[1].split("[")[0]] = parts[-1]
    return out


def test_runner_passes_every_musicgen_style_check():
    from musicgen_bridge.engine.conformance.runner import run

    report = run(FIXTURES)
    results = _style_results(report.lines)
    assert REQUIRED <= set(results), f"missing checks: {REQUIRED - set(results)}"
    failed = [x for x in report.lines if x.startswith("musicgen_style") and not x.endswith("ok")]
    assert not failed, "\n".join(failed)


def _copy_style(tmp_path: Path) -> Path:
    import shutil

    root = tmp_path / "set"
    shutil.copytree(STYLE_DIR, root / "musicgen_style")
    return root


def _edit(path: Path, key: str, change) -> None:
    data = torch.load(path, weights_only=True)
    data[key] = change(data[key].clone())
    torch.save(data, path)


def test_a_perturbed_intermediate_or_token_fails_its_check(tmp_path):
    from musicgen_bridge.engine.conformance.runner import run

    root = _copy_style(tmp_path)
    _edit(root / "musicgen_style" / "style_embedding.pt", "bn_out", lambda x: x + 1e-2)

    def flip(tokens):
        tokens[1, 2, 3] = (tokens[1, 2, 3] + 1) % 8
        return tokens

    _edit(root / "musicgen_style" / "greedy.pt", "tokens", flip)
    report = run(root)
    results = _style_results(report.lines)
    assert results.pop("style_embedding.bn_out") == "FAIL"
    assert results.pop("greedy.tokens") == "FAIL"
    assert set(results.values()) == {"ok"} and report.exit_status == 1


@pytest.fixture(scope="module")
def style_model():
    from transformers import ByT5Tokenizer, T5Config, T5EncoderModel

    from musicgen_bridge.engine.models.audiocraft.builder import T5_DIMS, load_model
    from musicgen_bridge.engine.models.audiocraft.conditioners import T5Conditioner
    from musicgen_bridge.engine.models.audiocraft.mert import load_standin

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
    from musicgen_bridge.engine.models.audiocraft.style_generation import generate_style

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


def test_prefix_layout_per_mode(style_model):
    """[style tokens, text tokens]; text-only has audiocraft's single zero style token."""
    from musicgen_bridge.engine.models.audiocraft.guidance import default_guidance
    from musicgen_bridge.engine.models.audiocraft.style_generation import style_conditions

    se = torch.load(STYLE_DIR / "style_embedding.pt", weights_only=True)
    clip = StyleClip(se["wav"][0])
    style = style_model.conditioners["self_wav"]
    frames = style([clip])[0].shape[1]
    _, both = style_conditions(style_model, ["ab"], [clip], default_guidance(True, True))
    _, text_only = style_conditions(style_model, ["ab"], [None], default_guidance(True, False))
    _, style_only = style_conditions(style_model, [None], [clip], default_guidance(False, True))
    text_len = len("ab") + 1                        # byte tokens + </s>
    assert both.shape[:2] == (3, frames + text_len)
    assert text_only.shape[:2] == (2, 1 + text_len)
    assert text_only[:, :1].abs().sum() == 0        # the null style token
    assert style_only.shape[0] == 2 and style_only[1, :frames].abs().sum() == 0
    assert torch.equal(both[0, :frames], style([clip])[0][0])   # style first, then text
