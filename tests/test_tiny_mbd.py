"""The built-in tiny MBD decodes the built-in tiny MusicGen's tokens, reproducibly, from a saved file too."""

from __future__ import annotations

import pytest
import torch

from musicgen_bridge.engine.decoders.mbd import MultiBandDiffusion
from musicgen_bridge.engine.models.audiocraft.codec import HFEncodecCodec
from musicgen_bridge.engine.models.audiocraft.mbd_checkpoint import load_mbd_checkpoint
from musicgen_bridge.engine.models.audiocraft.tiny_mbd import tiny_mbd, tiny_package
from musicgen_bridge.engine.models.tiny import build_tiny


@pytest.fixture(scope="module")
def codec():
    return HFEncodecCodec(build_tiny().audio_encoder, "tiny")


def test_tiny_mbd_matches_the_tiny_musicgen_codec(codec):
    mbd = tiny_mbd(codec)
    cfg = codec.model.config
    assert mbd.sample_rate == cfg.sampling_rate
    assert all(b.unet.cfg.codec_dim == cfg.codebook_dim for b in mbd.bands)


def test_tokens_to_wav_gives_whole_frames_and_the_same_audio_for_the_same_seed(codec):
    mbd = tiny_mbd(codec)
    frames = 25  # 0.5 s at 50 frames/s
    codes = torch.randint(0, codec.cardinality, (1, codec.num_codebooks, frames),
                          generator=torch.Generator().manual_seed(1))
    a = mbd.tokens_to_wav(codes, seed=7)
    assert a.shape == (1, 1, frames * codec.hop_length) and torch.isfinite(a).all()
    assert torch.equal(a, mbd.tokens_to_wav(codes, seed=7))
    ref, emb = codec.decode(codes), codec.decode_latent(codes)
    assert torch.equal(a, mbd.decode_latent(emb, ref, seed=7))
    scale = a.abs().max()
    assert (a - mbd.decode_latent(emb, ref, seed=8)).abs().max() > 0.05 * scale
    # the latent conditions the diffusion (the tiny codec's own latents barely differ between codes,
    # so the check uses a clearly different latent with the same reference decode)
    other = torch.randn(emb.shape, generator=torch.Generator().manual_seed(2))
    assert (a - mbd.decode_latent(other, ref, seed=7)).abs().max() > 0.05 * scale


def test_a_saved_tiny_package_loads_like_a_published_checkpoint(tmp_path):
    state = torch.get_rng_state()
    torch.save(tiny_package(), tmp_path / "mbd_tiny.th")
    assert torch.equal(torch.get_rng_state(), state)
    loaded = MultiBandDiffusion.from_checkpoint(load_mbd_checkpoint(tmp_path / "mbd_tiny.th"))
    built = tiny_mbd()
    emb, ref = torch.randn(1, 16, 3), torch.randn(1, 1, 1920)
    assert torch.equal(loaded.decode_latent(emb, ref, seed=3), built.decode_latent(emb, ref, seed=3))


def test_a_codec_of_another_rate_or_channel_count_is_refused_with_the_reason():
    class AudioGenCodec:  # 16 kHz, as AudioGen's EnCodec
        sample_rate, channels = 16000, 1

    class StereoCodec:
        sample_rate, channels = 32000, 2

    mbd = tiny_mbd()
    assert mbd.incompatibility(AudioGenCodec()) == "the codec runs at 16000 Hz, this MBD at 32000 Hz"
    with pytest.raises(ValueError, match="2 channels"):
        mbd.bind(StereoCodec())
    assert mbd.codec is None
