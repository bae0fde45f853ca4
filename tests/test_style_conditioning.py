"""MusicGen-Style conditioning: excerpt choice, style encoder, null rows, MERT loading, guidance."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
import torch

from musicgen_bridge.engine.conditioning.style import (
    StyleClip,
    StyleConditioner,
    bar_samples,
    cut_excerpt,
    excerpt_start,
    style_mask,
)
from musicgen_bridge.engine.errors import EngineError
from musicgen_bridge.engine.models.audiocraft.guidance import Guidance, default_guidance
from musicgen_bridge.engine.models.audiocraft.mert import (
    check_mert_config,
    hubert_from_config,
    load_mert_folder,
    load_standin,
)
from musicgen_bridge.engine.models.audiocraft.style_encoder import StyleEncoder

STYLE_DIR = Path(__file__).parent / "fixtures" / "audiocraft" / "musicgen_style"
TINY_HUBERT = {"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 8,
               "conv_dim": [4] * 7, "num_conv_pos_embeddings": 2, "num_conv_pos_embedding_groups": 2}


def test_excerpt_middle_is_audiocrafts_rule():
    assert excerpt_start(28800, 16000) == int((28800 - 16000) / 2)
    assert excerpt_start(16001, 16000) == 0  # int(0.5)
    assert excerpt_start(17003, 16000) == 501


def test_excerpt_start_is_settable_and_checked():
    assert excerpt_start(50000, 16000, start=1234) == 1234
    assert excerpt_start(50000, 16000, start=34000) == 34000
    with pytest.raises(EngineError) as err:
        excerpt_start(50000, 16000, start=34001)
    assert err.value.code == "invalid_field"
    with pytest.raises(EngineError):
        excerpt_start(50000, 16000, start=-1)


def test_excerpt_snaps_to_the_nearest_bar_that_fits():
    bar = bar_samples(100, 32000)                 # 2.4 s = 76800 samples
    assert bar == 76800.0
    n, big_l = 5 * 76800, 96000                   # 5 bars, 3 s excerpt: middle at 144000
    start = excerpt_start(n, big_l, bar_samples=bar)
    assert start == 153600                         # bar 2, nearest to the middle
    assert start + big_l <= n
    # Only bar 0 fits: the excerpt starts at the clip start.
    assert excerpt_start(100000, 96000, bar_samples=bar) == 0
    # A fractional bar (90 bpm at 32 kHz: 85333.3 samples) rounds to a whole sample.
    assert excerpt_start(6 * 85334, 96000, bar_samples=bar_samples(90, 32000)) == 170667


def test_short_clip_is_looped_to_the_excerpt_length():
    wav = torch.arange(5.0)[None]
    out = cut_excerpt(wav, excerpt_start(5, 12), 12)
    assert out.tolist() == [[0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1]]


def test_mask_counts_whole_clip_length_not_excerpt():
    # 32 kHz, ds 15 -> one token per 6400 samples; 28800 samples -> 4.5 tokens.
    mask = style_mask(torch.tensor([28800, 6400, 6401, 0]), 32000, 15, 5)
    assert mask.dtype == torch.int32
    assert mask.tolist() == [[1, 1, 1, 1, 1], [1, 0, 0, 0, 0], [1, 1, 0, 0, 0], [0] * 5]


def _fixture_conditioner(eval_q: int | None = None) -> tuple[StyleConditioner, dict]:
    from musicgen_bridge.engine.models.audiocraft.builder import load_model

    se = torch.load(STYLE_DIR / "style_embedding.pt", weights_only=True)
    cond = load_model(STYLE_DIR, with_codec=False).conditioners["self_wav"]
    cond.attach_mert(load_standin(STYLE_DIR / "mert_standin.pt"))
    cond.set_params(eval_q=eval_q or se["eval_q"], excerpt_seconds=se["excerpt_length"])
    return cond, se


def test_null_rows_are_zero_and_all_null_batch_is_one_token():
    cond, se = _fixture_conditioner()
    embeds, mask = cond([StyleClip(se["wav"][0]), None])
    assert embeds.shape[0] == 2 and embeds.shape[1] == se["style_embeds"].shape[1]
    assert mask[1].sum() == 0 and embeds[1].abs().sum() == 0
    assert torch.allclose(embeds[0], se["style_embeds"][0], atol=1e-4)
    embeds, mask = cond([None, None, None])
    assert embeds.shape == (3, 1, cond.encoder.output_proj.out_features)
    assert embeds.abs().sum() == 0 and mask.tolist() == [[0], [0], [0]]


def test_eval_q_is_settable_and_changes_the_style():
    cond, se = _fixture_conditioner()
    n_q = cond.encoder.n_q
    outs = []
    for q in range(1, n_q + 1):
        cond.set_params(eval_q=q)
        outs.append(cond([StyleClip(se["wav"][0])])[0])
    assert all(not torch.equal(a, b) for a, b in itertools.pairwise(outs))
    for bad in (0, n_q + 1):
        with pytest.raises(EngineError) as err:
            cond.set_params(eval_q=bad)
        assert err.value.code == "invalid_field"


def test_excerpt_position_changes_the_style():
    cond, se = _fixture_conditioner()
    wav = se["wav"][0]
    first = cond([StyleClip(wav, start=0)])[0]
    middle = cond([StyleClip(wav)])[0]
    assert torch.allclose(middle, se["style_embeds"], atol=1e-4)
    assert not torch.allclose(first, middle, atol=1e-3)


def test_mert_config_with_remote_only_features_is_refused():
    for key, value in (("feature_extractor_cqt", True), ("deepnorm", True),
                       ("attention_relax", 32.0), ("do_stable_layer_norm", True)):
        with pytest.raises(EngineError) as err:
            check_mert_config({key: value}, "config.json")
        assert err.value.code == "bad_checkpoint" and err.value.details["key"] == key
    check_mert_config({"feature_extractor_cqt": False, "deepnorm": False,
                       "attention_relax": -1.0, "do_stable_layer_norm": False})


def test_mert_folder_in_the_published_layout_loads_as_hubert(tmp_path):
    """A MERT-style folder (remote-code config keys, legacy weight-norm names) loads exactly."""
    torch.manual_seed(0)
    ref = hubert_from_config(TINY_HUBERT)
    state = dict(ref.state_dict())
    g = state.pop("encoder.pos_conv_embed.conv.parametrizations.weight.original0")
    v = state.pop("encoder.pos_conv_embed.conv.parametrizations.weight.original1")
    state["encoder.pos_conv_embed.conv.weight_g"] = g
    state["encoder.pos_conv_embed.conv.weight_v"] = v
    torch.save(state, tmp_path / "pytorch_model.bin")
    cfg = dict(TINY_HUBERT, model_type="mert_model", architectures=["MERTModel"],
               auto_map={"AutoModel": "modeling_MERT.MERTModel"}, feature_extractor_cqt=False,
               deepnorm=False, attention_relax=-1.0, feat_proj_layer_norm=True,
               sample_rate=24000)
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    model = load_mert_folder(tmp_path)
    x = torch.randn(1, 4000)
    with torch.no_grad():
        assert torch.equal(model(x).last_hidden_state, ref(x).last_hidden_state)
    # A missing weight names the key.
    state.pop("feature_projection.projection.weight")
    torch.save(state, tmp_path / "pytorch_model.bin")
    with pytest.raises(EngineError) as err:
        load_mert_folder(tmp_path)
    assert err.value.code == "bad_checkpoint"
    assert err.value.details["key"] == "feature_projection.projection.weight"


def test_guidance_rows_and_formulas():
    double = Guidance(3.0, 5.0)
    assert double.rows(["a", None], ["x", "y"]) == (["a", None, None, None, None, None],
                                                    ["x", "y", "x", "y", None, None])
    logits = torch.randn(6, 4, 7)
    c, w, u = logits.chunk(3)
    assert torch.equal(double.combine(logits), u + 3.0 * (w + 5.0 * (c - w) - u))
    plain = Guidance(3.0)
    assert plain.rows(["a"], [None]) == (["a", None], [None, None])
    c, u = logits[:4].chunk(2)
    assert torch.equal(plain.combine(logits[:4]), u + (c - u) * 3.0)
    assert default_guidance(True, True) == Guidance(3.0, 5.0)
    assert default_guidance(False, True) == Guidance(3.0, None)   # style only
    assert default_guidance(True, False) == Guidance(3.0, None)   # text only
    with pytest.raises(ValueError):
        double.combine(logits[:4])


def test_encoder_rvq_uses_only_the_first_eval_q_codebooks():
    torch.manual_seed(1)
    enc = StyleEncoder(dim=8, output_dim=4, n_q=3, bins=5, ds_factor=1, eval_q=1)
    enc.codebooks.normal_()
    x = torch.randn(2, 8, 6)
    one = enc.quantize(x)
    # Nearest first-stage code, by brute force.
    flat = x.transpose(1, 2).reshape(-1, 8)
    idx = torch.cdist(flat, enc.codebooks[0]).argmin(-1)
    assert torch.allclose(one.transpose(1, 2).reshape(-1, 8), enc.codebooks[0][idx])
    enc.set_eval_q(3)
    assert not torch.allclose(enc.quantize(x), one)


def test_per_call_overrides_do_not_change_the_defaults():
    cond, se = _fixture_conditioner()
    clip = StyleClip(se["wav"][0])
    base = cond([clip])[0]
    shorter = cond([clip], excerpt_seconds=0.3, eval_q=1)[0]
    assert not torch.equal(base, shorter)
    assert torch.equal(cond([clip])[0], base)          # the defaults stayed as set
    assert cond.encoder.eval_q == se["eval_q"] and cond.excerpt_seconds == se["excerpt_length"]
    for bad in ({"eval_q": 0}, {"eval_q": True}, {"excerpt_seconds": 0.0},
                {"excerpt_seconds": float("nan")}):
        with pytest.raises(EngineError) as err:
            cond([clip], **bad)
        assert err.value.code == "invalid_field"


def test_style_clip_from_any_rate_and_start_in_bars():
    from musicgen_bridge.engine.conditioning.style import style_clip

    stereo = torch.randn(2, 44100)
    clip = style_clip(stereo, 44100, 32000, start_bar=0.5, bpm=120)
    assert clip.wav.shape == (1, 32000)
    assert clip.start == 32000                     # half a 4/4 bar at 120 bpm = 1 s
    assert style_clip(stereo, 44100, 32000, start_seconds=0.25).start == 8000
    for wav, code in ((torch.zeros(1, 0), "bad_audio"), (torch.full((1, 10), float("nan")), "bad_audio")):
        with pytest.raises(EngineError) as err:
            style_clip(wav, 32000, 32000)
        assert err.value.code == code
    with pytest.raises(EngineError) as err:
        style_clip(stereo, 44100, 32000, start_bar=1)
    assert err.value.code == "missing_field"


def _style_package(scale: str, drop: str | None = None):
    from musicgen_bridge.engine.models.audiocraft.checkpoint import Package
    from musicgen_bridge.engine.models.audiocraft.config import XpConfig
    from musicgen_bridge.engine.models.audiocraft.style_encoder import STYLE_DIMS
    from musicgen_bridge.engine.models.audiocraft.style_loader import STYLE_TRANSFORMERS, StyleTransformer

    cfg = XpConfig.from_yaml(
        "sample_rate: 32000\ntransformer_lm: {dim: 16}\nconditioners:\n  self_wav:\n"
        f"    model: style\n    style: {{model_name: mert, transformer_scale: {scale}, n_q_out: 2,"
        " bins: 4, ds_factor: 3, eval_q: 1, batch_norm: true, length: 0.2, sample_rate: '${sample_rate}'}\n",
        "state_dict.bin")
    dim = STYLE_DIMS[scale]
    g = torch.Generator().manual_seed(0)
    p = "condition_provider.conditioners.self_wav."
    state = {p + "embed.weight": torch.randn(dim, 768, generator=g) / 28, p + "embed.bias": torch.zeros(dim),
             p + "output_proj.weight": torch.randn(16, dim, generator=g), p + "output_proj.bias": torch.zeros(16),
             p + "batch_norm.running_mean": torch.zeros(dim), p + "batch_norm.running_var": torch.ones(dim)}
    for i in range(2):
        state[p + f"rvq.vq.layers.{i}._codebook.embed"] = torch.randn(4, dim, generator=g)
    if scale != "none":
        heads, layers = STYLE_TRANSFORMERS[scale]
        for k, v in StyleTransformer(dim, heads, layers).state_dict().items():
            state[p + "transformer." + k] = torch.randn(v.shape, generator=g) * 0.02
    if drop:
        del state[p + drop]
    return Package("state_dict.bin", state, cfg)


def test_style_transformer_scale_loads_from_the_checkpoint_names():
    from musicgen_bridge.engine.models.audiocraft.style_loader import build_style

    kind, cond = build_style(_style_package("xsmall"), "self_wav", 16)
    assert kind == "wav" and cond.encoder.transformer is not None
    assert len(cond.encoder.transformer.layers) == 4
    cond.attach_mert(hubert_from_config(dict(TINY_HUBERT, hidden_size=768, num_attention_heads=4)))
    embeds, mask = cond([StyleClip(torch.randn(1, 9600))])
    assert embeds.shape[-1] == 16 and torch.isfinite(embeds).all() and mask.all()
    with pytest.raises(EngineError) as err:
        build_style(_style_package("xsmall", drop="transformer.layers.3.linear2.weight"), "self_wav", 16)
    assert err.value.code == "bad_checkpoint"
    assert err.value.details["key"].endswith("transformer.layers.3.linear2.weight")
    with pytest.raises(EngineError) as err:
        build_style(_style_package("none", drop="rvq.vq.layers.1._codebook.embed"), "self_wav", 16)
    assert err.value.details["key"].endswith("rvq.vq.layers.1._codebook.embed")


def test_loader_knows_style_checkpoints_without_importing_style_loader_first():
    # a fresh interpreter: in this one another test may already have imported style_loader
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from musicgen_bridge.engine.models.audiocraft.builder import load_model\n"
        "name = 'musicgen_bridge.engine.models.audiocraft.style_loader'\n"
        "assert name not in sys.modules\n"
        f"model = load_model({str(STYLE_DIR)!r}, with_codec=False)\n"
        "print(type(model.conditioners['self_wav']).__name__, name in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["StyleConditioner", "True"]
