"""The diffusion U-Net of Multi-Band Diffusion: bottleneck variants, conditioning path, eval mode."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from musicgen_bridge.engine.models.audiocraft.diffusion_unet import DiffusionUnet, UnetConfig
from musicgen_bridge.engine.models.audiocraft.mbd_checkpoint import _mha_name

BASE = {"hidden": 4, "depth": 2, "res_blocks": 1, "norm_groups": 4, "kernel": 8, "stride": 4, "growth": 2.0,
        "max_channels": 10_000, "dropout": 0.1, "emb_all_layers": True, "bilstm": False, "transformer": False,
        "cross_attention": False, "codec_dim": 6}


def _net(**over) -> DiffusionUnet:
    torch.manual_seed(0)
    net = DiffusionUnet(UnetConfig.from_cfg(dict(BASE, **over), channels=1, num_steps=100))
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0, 0.3)
    return net


def _capture(net: DiffusionUnet, x, step, cond):
    """Deepest encoder output and the first decoder's input, for one forward."""
    seen = {}
    h1 = net.encoders[-1].register_forward_hook(lambda m, i, o: seen.__setitem__("enc", o))
    h2 = net.decoders[0].register_forward_pre_hook(lambda m, i: seen.__setitem__("dec_in", i[0]))
    with torch.no_grad():
        out = net(x, step, condition=cond)
    h1.remove(), h2.remove()
    return out, seen


def test_without_bottleneck_network_the_bottleneck_is_zero_and_the_skip_carries_the_condition():
    net = _net()
    x, cond = torch.randn(2, 1, 330), torch.randn(2, 6, 3)
    out, seen = _capture(net, x, 42, cond)
    bottom = seen["enc"] + net.embeddings[-1](torch.tensor([42, 42])).unsqueeze(-1)
    cond_up = F.interpolate(net.conv_codec(cond), bottom.shape[-1])
    # zeroed bottleneck + skip, where the skip holds the condition (audiocraft adds it in place)
    assert torch.allclose(seen["dec_in"], bottom + cond_up, atol=1e-6)
    out_other, _ = _capture(net, x, 42, torch.randn(2, 6, 3))
    assert out.shape == x.shape and (out - out_other).abs().max() > 1e-3


@pytest.mark.parametrize("kind", ["bilstm", "transformer"])
def test_bottleneck_network_output_is_added_to_the_skip(kind):
    net = _net(**{kind: True, "hidden": 8})
    x, cond = torch.randn(1, 1, 256), torch.randn(1, 6, 2)
    seen_mid = {}
    mod = net.bilstm if kind == "bilstm" else net.transformer
    hook = mod.register_forward_hook(lambda m, i, o: seen_mid.__setitem__("o", o))
    _, seen = _capture(net, x, 7, cond)
    hook.remove()
    bottom = seen["enc"] + net.embeddings[-1](torch.tensor([7])).unsqueeze(-1)
    bottom = bottom + F.interpolate(net.conv_codec(cond), bottom.shape[-1])
    mid = seen_mid["o"] if kind == "bilstm" else seen_mid["o"].permute(0, 2, 1)
    assert torch.allclose(seen["dec_in"], mid + bottom, atol=1e-5)


def test_the_unet_refuses_train_mode_so_output_is_deterministic():
    net = _net(transformer=True, hidden=8)
    net.train()
    assert not any(m.training for m in net.modules())
    x, cond = torch.randn(1, 1, 200), torch.randn(1, 6, 2)
    with torch.no_grad():
        assert torch.equal(net(x, 3, cond), net(x, 3, cond))


def test_step_embeddings_per_level_only_with_emb_all_layers():
    assert "embeddings.0.weight" in _net().state_dict()
    names = _net(emb_all_layers=False).state_dict()
    assert not any(k.startswith("embeddings.") for k in names) and "embedding.weight" in names


def test_unconditional_net_has_no_codec_projection_and_conditioned_one_needs_a_condition():
    assert _net(codec_dim=None).conv_codec is None
    with pytest.raises(ValueError, match="condition"):
        _net()(torch.randn(1, 1, 64), 1)


def test_attention_weights_saved_without_the_mha_level_are_renamed():
    assert _mha_name("transformer.layers.3.self_attn.in_proj_weight") == "transformer.layers.3.self_attn.mha.in_proj_weight"
    assert _mha_name("transformer.layers.0.self_attn.out_proj.weight") == "transformer.layers.0.self_attn.mha.out_proj.weight"
    assert _mha_name("transformer.layers.0.self_attn.mha.in_proj_weight") == "transformer.layers.0.self_attn.mha.in_proj_weight"


def test_missing_required_unet_key_is_named():
    with pytest.raises(KeyError, match="diffusion_unet.hidden"):
        UnetConfig.from_cfg({"depth": 2}, channels=1, num_steps=10)
