"""Issue 18 items 2-3: the request's decoder (encodec | mbd) picks the tokens -> audio step for every job kind."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from musicgen_bridge.engine.decoders.choice import check_live, choose_decoder, mbd_takes
from musicgen_bridge.engine.decoders.encodec_decoder import decode_encodec
from musicgen_bridge.engine.errors import EngineError
from musicgen_bridge.engine.generation.reference import decode_tokens
from musicgen_bridge.engine.generation.sampling import SamplingParams
from musicgen_bridge.engine.generation.windows import generate_long
from musicgen_bridge.engine.models.audiocraft.tiny import build_tiny_audiogen
from musicgen_bridge.engine.models.audiocraft.tiny_mbd import tiny_package
from musicgen_bridge.engine.models.mbd_weights import MBD_REPO, load_mbd, weights_for
from musicgen_bridge.engine.models.registry import LoadedModel, ModelRegistry
from musicgen_bridge.engine.models.specs import ModelSpec, get_spec
from musicgen_bridge.engine.request import GenerateRequest
from musicgen_bridge.engine.timing.timeline import Grid


@pytest.fixture(scope="module")
def registry() -> ModelRegistry:
    torch.set_num_threads(1)
    return ModelRegistry(device="cpu")


@pytest.fixture(scope="module")
def tiny(registry: ModelRegistry) -> LoadedModel:
    return registry.load("tiny")


def codes(takes: int, k: int, frames: int, seed: int) -> torch.Tensor:
    return torch.randint(0, 64, (takes, k, frames), generator=torch.Generator().manual_seed(seed))


def test_request_field_defaults_to_encodec_checks_its_value_and_round_trips() -> None:
    assert GenerateRequest.from_dict({}).decoder == "encodec"
    req = GenerateRequest.from_dict({"decoder": "mbd"})
    assert req.decoder == "mbd" and GenerateRequest.from_dict(req.to_dict()).decoder == "mbd"
    with pytest.raises(EngineError) as err:
        GenerateRequest.from_dict({"decoder": "hifigan"})
    assert (err.value.code, err.value.details["field"]) == ("invalid_field", "decoder")


def test_encodec_choice_is_the_models_own_decode(registry, tiny) -> None:
    choice = choose_decoder(registry, tiny, "encodec", [7])
    tokens = codes(2, 4, 10, 1)
    assert choice.record == {"name": "encodec"}
    assert np.array_equal(choice.decode(tiny, tokens), decode_tokens(tiny, tokens))
    assert decode_tokens(tiny, tokens).shape == (2, 1, 6400)


def test_mbd_decodes_each_take_alone_with_its_own_seed(registry, tiny) -> None:
    choice = choose_decoder(registry, tiny, "mbd", [7, 8])
    assert choice.record["weights"] == "tiny-mbd" and choice.name == "mbd"
    tokens = codes(2, 4, 6, 2)
    both = choice.decode(tiny, tokens)
    assert both.shape == (2, 1, 6 * 640) and np.isfinite(both).all()
    mbd = registry.load_mbd(tiny)
    for i, seed in enumerate((7, 8)):  # batch independence: the same as decoding the take alone
        alone = mbd.mbd.tokens_to_wav(tokens[i:i + 1], seed=seed).numpy()
        assert np.array_equal(both[i:i + 1], alone)
    assert np.array_equal(mbd_takes(mbd, [7, 8])(tiny, tokens), both)  # same seeds, same audio
    other = mbd_takes(mbd, [9, 8])(tiny, tokens)
    assert not np.array_equal(other[0], both[0]) and np.array_equal(other[1], both[1])
    # it is not the EnCodec decode
    assert np.abs(both - decode_encodec(tiny, tokens)).max() > 0.05 * np.abs(both).max()
    assert registry.load_mbd(tiny) is mbd  # loaded once, kept warm


@dataclass
class StereoTiny(LoadedModel):
    """The tiny model as a stereo MusicGen sees it: 8 codebooks, left/right interleaved, one mono codec."""

    @property
    def audio_channels(self) -> int:
        return 2

    @property
    def num_codebooks(self) -> int:
        return 8


def test_stereo_tokens_decode_each_channel_apart_with_the_take_seed(registry, tiny) -> None:
    stereo = StereoTiny(tiny.spec, tiny.model, tiny.tokenizer, tiny.device, tiny.dtype, tiny.revision)
    mbd = registry.load_mbd(tiny)
    decode = mbd_takes(mbd, [7])
    left, right = codes(1, 4, 5, 3), codes(1, 4, 5, 4)
    mixed = torch.stack([left, right], dim=2).reshape(1, 8, 5)  # codebook 2q is left q, 2q+1 right q
    out = decode(stereo, mixed)
    assert out.shape == (1, 2, 5 * 640)
    assert np.array_equal(out[:, :1], mbd.mbd.tokens_to_wav(left, seed=7).numpy())
    assert np.array_equal(out[:, 1:], mbd.mbd.tokens_to_wav(right, seed=7).numpy())
    same = decode(stereo, torch.stack([left, left], dim=2).reshape(1, 8, 5))
    assert np.array_equal(same[:, 0], same[:, 1])  # same noise on both sides: a centred source stays centred


@dataclass
class AudioGenLike(LoadedModel):
    """An AudioGen model as the registry holds one: its own audiocraft codec at 16 kHz, 4 codebooks."""

    @property
    def num_codebooks(self) -> int:
        return 4

    @property
    def audio_channels(self) -> int:
        return 1


@pytest.mark.parametrize("spec", [ModelSpec("tiny-audiogen", "test"),
                                  ModelSpec("facebook/audiogen-medium", "1.5B", hf_id="facebook/audiogen-medium")])
def test_audiogen_16khz_tokens_are_refused_with_the_reason(spec, tmp_path) -> None:
    # tiny-audiogen's registry entry is not on this branch: the audiocraft builder's model stands in
    loaded = AudioGenLike(spec, build_tiny_audiogen(), None, torch.device("cpu"), torch.float32, "test")
    assert loaded.model.require_codec().sample_rate == 16000
    registry = ModelRegistry(device="cpu", cache_dir=tmp_path)
    with pytest.raises(EngineError) as err:
        choose_decoder(registry, loaded, "mbd", [7])
    assert err.value.code == "unsupported_decoder" and err.value.details["field"] == "decoder"
    reason = "16000 Hz, this MBD at 32000 Hz" if spec.builtin else "no model for a 16000 Hz codec"
    assert reason in err.value.message and spec.name in err.value.message
    assert choose_decoder(registry, loaded, "encodec", [7]).name == "encodec"  # encodec stays available


def _cache_with(tmp_path: Path, filename: str, payload: dict) -> Path:
    rev = "0123456789abcdef0123456789abcdef01234567"
    root = tmp_path / "models--facebook--multiband-diffusion"
    (root / "snapshots" / rev).mkdir(parents=True)
    (root / "refs").mkdir()
    (root / "refs" / "main").write_text(rev)
    torch.save(payload, root / "snapshots" / rev / filename)
    return tmp_path


def test_published_weights_load_from_the_cache_for_the_models_codec(tiny, tmp_path) -> None:
    assert weights_for(32000, 4).filename == "mbd_musicgen_32khz.th"
    assert [weights_for(24000, k).filename for k in (2, 4, 8)] == ["mbd_comp_2.pt", "mbd_comp_4.pt", "mbd_comp_8.pt"]
    small = LoadedModel(get_spec("facebook/musicgen-small"), tiny.model, tiny.tokenizer, tiny.device, tiny.dtype,
                        "test")  # a published spec whose codec is the tiny one: 32 kHz, 4 codebooks
    with pytest.raises(EngineError) as err:
        load_mbd(small, tmp_path)
    assert err.value.code == "model_unavailable" and "mbd_musicgen_32khz.th" in err.value.message
    cache = _cache_with(tmp_path, "mbd_musicgen_32khz.th", tiny_package())
    got = load_mbd(small, cache)
    assert got.record == {"name": "mbd", "weights": f"{MBD_REPO}/mbd_musicgen_32khz.th",
                          "revision": "0123456789abcdef0123456789abcdef01234567", "codec": "facebook/encodec_32khz"}
    tokens = codes(1, 4, 4, 5)
    assert got.mbd.tokens_to_wav(tokens, seed=3).shape == (1, 1, 2560)


def test_a_published_file_conditioned_on_another_latent_width_is_refused(tiny, tmp_path) -> None:
    from musicgen_bridge.engine.models.audiocraft.tiny_mbd import TINY_UNET, random_package

    pkg = random_package(32000, 128, [dict(TINY_UNET)])  # encodec_32khz's 128-dim latent, not tiny's 16
    small = LoadedModel(get_spec("facebook/musicgen-small"), tiny.model, tiny.tokenizer, tiny.device, tiny.dtype,
                        "test")
    with pytest.raises(EngineError) as err:
        load_mbd(small, _cache_with(tmp_path, "mbd_musicgen_32khz.th", pkg))
    assert err.value.code == "unsupported_decoder" and "latent has 16 dims" in err.value.message


def test_live_mode_refuses_mbd() -> None:
    check_live(GenerateRequest.from_dict({"decoder": "encodec"}))
    with pytest.raises(EngineError) as err:
        check_live(GenerateRequest.from_dict({"decoder": "mbd"}))
    assert err.value.code == "unsupported_decoder" and "live" in err.value.message


def test_long_form_decodes_the_whole_stream_once_with_the_chosen_decoder(registry, tiny) -> None:
    grid = Grid.constant("4/4", 240)  # 1 s bars
    choice = choose_decoder(registry, tiny, "mbd", [11])
    stream, plan = generate_long(tiny, ["x"], grid, 0, 2, SamplingParams(), [11], context_bars=1, window_bars=1,
                                 decoder=choice.decode)
    assert len(plan) == 2
    audio = stream.span_audio(2)
    assert audio.shape == (1, 1, 64000)  # exactly 2 bars at 32 kHz
    whole = registry.load_mbd(tiny).mbd.tokens_to_wav(stream.tokens, seed=11).numpy()
    assert np.array_equal(audio, whole[..., :64000])
    assert not np.array_equal(audio, decode_tokens(tiny, stream.tokens)[..., :64000])
