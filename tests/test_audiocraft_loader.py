"""Loading audiocraft-exported checkpoints: broken folders give ``bad_checkpoint`` naming the file, nothing else."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from musicgen_bridge.engine.errors import EngineError
from musicgen_bridge.engine.models.audiocraft.builder import load_model
from musicgen_bridge.engine.models.audiocraft.checkpoint import load_package
from musicgen_bridge.engine.models.audiocraft.config import XpConfig

SOURCE = Path(__file__).resolve().parent / "fixtures" / "audiocraft" / "audiogen"
FILES = ("state_dict.bin", "compression_state_dict.bin")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A checkpoint folder in audiocraft's exported layout, copied from the fixture set."""
    out = tmp_path / "audiogen-export"
    out.mkdir()
    for name in FILES:
        shutil.copy(SOURCE / name, out / name)
    return out


def _rewrite(path: Path, change) -> None:
    pkg = torch.load(path, weights_only=True)
    change(pkg)
    torch.save(pkg, path)


def _bad(folder: Path) -> EngineError:
    with pytest.raises(EngineError) as info:
        load_model(folder)
    assert info.value.code == "bad_checkpoint"
    return info.value


def test_the_exported_folder_loads_in_float32(folder):
    model = load_model(folder)
    assert all(p.dtype == torch.float32 for p in model.lm.parameters())
    raw = torch.load(folder / "state_dict.bin", weights_only=True)["best_state"]["emb.0.weight"]
    assert raw.dtype == torch.float16 and torch.equal(model.lm.emb[0].weight, raw.float())
    assert model.lm.settings.n_q == len(model.delays) and model.codec.frame_rate == 50


def test_missing_key(folder):
    _rewrite(folder / "state_dict.bin", lambda pkg: pkg["best_state"].pop("transformer.layers.1.linear2.weight"))
    err = _bad(folder)
    assert "state_dict.bin" in err.message and "transformer.layers.1.linear2.weight" in err.message
    assert err.details["key"] == "transformer.layers.1.linear2.weight"


def test_wrong_shape(folder):
    def widen(pkg):
        pkg["best_state"]["decoder.model.0.conv.conv.bias"] = torch.zeros(7)
    _rewrite(folder / "compression_state_dict.bin", widen)
    err = _bad(folder)
    assert "compression_state_dict.bin" in err.message and "decoder.model.0.conv.conv.bias" in err.message
    assert "wrong shape (7,)" in err.message


def test_a_tensor_the_config_does_not_describe(folder):
    def add(pkg):
        pkg["best_state"]["transformer.layers.0.linear1.bias"] = torch.zeros(128, dtype=torch.float16)
    _rewrite(folder / "state_dict.bin", add)
    err = _bad(folder)
    assert err.details["key"] == "transformer.layers.0.linear1.bias" and "unexpected tensor" in err.message


def test_truncated_file(folder):
    path = folder / "compression_state_dict.bin"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    err = _bad(folder)
    assert err.details["file"] == str(path)


def test_missing_file(folder):
    (folder / "state_dict.bin").unlink()
    err = _bad(folder)
    assert err.details["file"].endswith("state_dict.bin") and "not found" in err.message


def test_a_pickle_that_is_not_weights_only_is_refused(folder):
    import argparse

    # any class outside torch's safe list makes a weights-only load refuse the file (no code runs)
    torch.save({"best_state": {}, "xp.cfg": "", "obj": argparse.Namespace(a=1)}, folder / "state_dict.bin")
    err = _bad(folder)
    assert "weights-only" in err.message


@pytest.mark.parametrize("key, value", [
    ("transformer_lm.norm_first", "false"),
    ("transformer_lm.positional_embedding", "rope"),
    ("transformer_lm.activation", "swiglu"),
    ("codebooks_pattern.modeling", "unroll"),
])
def test_unsupported_setting_names_the_key(folder, key, value):
    section, name = key.split(".")

    def edit(pkg):
        lines = pkg["xp.cfg"].splitlines()
        top = lines.index(f"{section}:")
        at = next(i for i in range(top + 1, len(lines)) if lines[i].strip().startswith(f"{name}:"))
        lines[at] = lines[at].split(":")[0] + f": {value}"
        pkg["xp.cfg"] = "\n".join(lines)
    _rewrite(folder / "state_dict.bin", edit)
    err = _bad(folder)
    assert err.details["key"] == key and "state_dict.bin" in err.message


def test_unresolvable_interpolation_in_a_key_we_read(folder):
    def edit(pkg):
        pkg["xp.cfg"] = pkg["xp.cfg"].replace("channels: ${channels}", "channels: ${nowhere.channels}", 1)
    _rewrite(folder / "compression_state_dict.bin", edit)
    err = _bad(folder)
    assert err.details["key"] == "encodec.channels" and "nowhere.channels" in err.message


def test_unresolvable_interpolation_in_a_key_nobody_reads_is_ignored(folder):
    def edit(pkg):
        pkg["xp.cfg"] += "logging:\n  folder: ${dora.dir}/logs\n"
    _rewrite(folder / "state_dict.bin", edit)
    assert load_model(folder).lm.settings.n_q == 4


def test_config_resolves_interpolations_and_ignores_extra_keys():
    cfg = XpConfig.from_yaml("a: 3\nlm:\n  n_q: ${a}\n  unknown_extra: {deep: 1}\nb: ${lm.n_q}\n", "f.bin")
    assert cfg.get("lm.n_q") == 3 and cfg.get("b") == 3
    with pytest.raises(EngineError) as info:
        cfg.get("lm.card")
    assert info.value.code == "bad_checkpoint" and info.value.details == {"file": "f.bin", "key": "lm.card"}


def test_a_pointer_package_is_recognised(tmp_path):
    path = tmp_path / "compression_state_dict.bin"
    torch.save({"pretrained": "facebook/encodec_32khz"}, path)
    pkg = load_package(path)
    assert pkg.pretrained == "facebook/encodec_32khz" and pkg.cfg is None


def test_an_uncached_hf_id_is_model_unavailable(tmp_path, monkeypatch):
    monkeypatch.setenv("MGB_OFFLINE", "1")
    with pytest.raises(EngineError) as info:
        load_model("facebook/audiogen-medium", cache_dir=tmp_path)
    assert info.value.code == "model_unavailable" and "facebook/audiogen-medium" in info.value.message


def test_a_pointer_codec_not_in_the_cache_is_model_unavailable(tmp_path, monkeypatch):
    from musicgen_bridge.engine.models.audiocraft.codec import build_codec

    monkeypatch.setenv("MGB_OFFLINE", "1")
    torch.save({"pretrained": "facebook/encodec_32khz"}, tmp_path / "compression_state_dict.bin")
    with pytest.raises(EngineError) as info:
        build_codec(load_package(tmp_path / "compression_state_dict.bin"), cache_dir=tmp_path / "cache")
    assert info.value.code == "model_unavailable" and "facebook/encodec_32khz" in info.value.message


def test_the_pointer_codec_wraps_a_transformers_encodec():
    from transformers import EncodecConfig, EncodecModel

    from musicgen_bridge.engine.models.audiocraft.codec import HFEncodecCodec

    # encodec_32khz's layout (4 codebooks of 2048 at 50 Hz = 2.2 kbps) at a tiny width, random weights
    config = EncodecConfig(sampling_rate=32000, audio_channels=1, num_filters=4, hidden_size=16, codebook_dim=16,
                           upsampling_ratios=[8, 5, 4, 4], codebook_size=2048, target_bandwidths=[2.2],
                           num_lstm_layers=1, normalize=False, use_causal_conv=False, chunk_length_s=None)
    torch.manual_seed(0)
    codec = HFEncodecCodec(EncodecModel(config).eval(), "facebook/encodec_32khz")
    assert (codec.sample_rate, codec.frame_rate, codec.hop_length, codec.num_codebooks) == (32000, 50, 640, 4)
    codes = codec.encode(torch.randn(2, 1, 3000))
    assert codes.shape == (2, 4, 5) and codes.dtype == torch.long
    assert codec.decode(codes).shape == (2, 1, 5 * 640)
    assert codec.decode_latent(codes).shape == (2, 16, 5)
