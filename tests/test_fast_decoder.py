"""The fast decoder chooses exactly the reference's tokens (CPU, fp32).

Models: the built-in ``tiny`` / ``tiny-melody``, and a random model with musicgen-small's widths
(hidden 1024, 16 heads, ffn 4096, 2048-entry codebooks, T5-base widths, 32 kHz EnCodec) cut to 2
decoder layers, 1 text-encoder layer and a byte-sized text vocabulary so the file stays fast.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from transformers import LogitsProcessorList, MusicgenForConditionalGeneration

from musicgen_bridge.engine.errors import EngineError
from musicgen_bridge.engine.generation.fast.archs import BYTE_VOCAB, build_random
from musicgen_bridge.engine.generation.fast.decoder import generate_fast
from musicgen_bridge.engine.generation.reference import (
    Conditioning,
    StepSampler,
    codebook_delays,
    generate_reference,
    steps_for,
    undelay,
)
from musicgen_bridge.engine.generation.sampling import SamplingParams, make_generators
from musicgen_bridge.engine.models import tiny
from musicgen_bridge.engine.models.registry import LoadedModel, ModelRegistry, ModelSpec

torch.set_num_threads(1)

GREEDY = SamplingParams(greedy=True)
TOP_K = SamplingParams(top_k=250)
TOP_P = SamplingParams(top_k=0, top_p=0.9)
PROMPTS = ["warm analog pads", "drums"]  # different token lengths: exercises padding masks
SEEDS = [11, 12]


@pytest.fixture(scope="module")
def registry() -> ModelRegistry:
    return ModelRegistry(device="cpu")


@pytest.fixture(scope="module")
def small():
    return build_random("small", decoder_layers=2, text_layers=1, seed=3, text_vocab=BYTE_VOCAB)


def _chroma(frames: int = 30) -> torch.Tensor:
    chroma = torch.zeros(frames, 12)
    chroma[torch.arange(frames), (torch.arange(frames) * 5) % 12] = 1.0
    return chroma


def _codes(takes: int, k: int, frames: int, vocab: int, seed: int = 9) -> torch.Tensor:
    return torch.randint(0, vocab, (takes, k, frames), generator=torch.Generator().manual_seed(seed))


def _assert_same(ref, fast) -> None:
    assert fast.tokens.dtype == torch.int64 and fast.tokens.shape == ref.tokens.shape
    assert torch.equal(fast.tokens, ref.tokens), f"{int((fast.tokens != ref.tokens).sum())} tokens differ"
    np.testing.assert_array_equal(fast.audio, ref.audio)


@pytest.mark.parametrize("params", [GREEDY, TOP_K, TOP_P, SamplingParams(cfg=1.0, greedy=True)],
                         ids=["greedy", "top_k", "top_p", "no_cfg"])
def test_tiny_text_matches_reference(registry, params):
    loaded = registry.load("tiny")
    cond = Conditioning(PROMPTS)
    _assert_same(generate_reference(loaded, cond, 24, params, SEEDS), generate_fast(loaded, cond, 24, params, SEEDS))


@pytest.mark.parametrize("params", [GREEDY, TOP_K, TOP_P], ids=["greedy", "top_k", "top_p"])
@pytest.mark.parametrize("with_chroma", [True, False], ids=["chroma", "null_chroma"])
def test_tiny_melody_matches_reference(registry, params, with_chroma):
    loaded = registry.load("tiny-melody")
    cond = Conditioning(PROMPTS, melody_chroma=_chroma() if with_chroma else None)
    _assert_same(generate_reference(loaded, cond, 20, params, SEEDS), generate_fast(loaded, cond, 20, params, SEEDS))


@pytest.mark.parametrize("params", [GREEDY, TOP_K, TOP_P], ids=["greedy", "top_k", "top_p"])
def test_small_architecture_matches_reference(small, params):
    cond = Conditioning(PROMPTS)
    ref = generate_reference(small, cond, 8, params, SEEDS)
    fast = generate_fast(small, cond, 8, params, SEEDS)
    _assert_same(ref, fast)
    assert fast.audio.shape == (2, 1, 8 * 640)


def _reference_continuation(loaded, cond: Conditioning, frames: int, params: SamplingParams, seeds: list[int]):
    """transformers' ``generate`` with the prompt codes as ``decoder_input_ids``; only the new frames kept."""
    takes, k = len(cond.prompts), loaded.num_codebooks
    n_steps = steps_for(frames, list(range(k)))
    sampler = StepSampler(params, make_generators(seeds, loaded.device), k, n_steps, None, None)
    kwargs = dict(loaded.tokenizer(cond.prompts, padding=True, return_tensors="pt"))
    if cond.melody_chroma is not None:
        kwargs["input_features"] = cond.melody_chroma[None].expand(takes, -1, -1).contiguous()
    codes = cond.audio_prompt_codes
    kwargs["decoder_input_ids"] = codes.reshape(takes * k, codes.shape[-1])
    with torch.inference_mode():
        audio = loaded.model.generate(**kwargs, max_new_tokens=n_steps, do_sample=True, top_k=0, top_p=1.0,
                                      temperature=1.0, guidance_scale=params.cfg if params.uses_cfg else None,
                                      logits_processor=LogitsProcessorList([sampler]))
    return undelay(torch.stack(sampler.chosen, dim=1), takes, list(range(k)), frames), audio.numpy()


@pytest.mark.parametrize("name, params", [("tiny", GREEDY), ("tiny", TOP_K), ("tiny-melody", GREEDY),
                                          ("tiny-melody", TOP_P), ("small", TOP_K)],
                         ids=["tiny-greedy", "tiny-top_k", "melody-greedy", "melody-top_p", "small-top_k"])
def test_audio_prompt_continuation_matches_transformers(registry, small, name, params):
    loaded = small if name == "small" else registry.load(name)
    vocab = int(loaded.model.decoder.config.vocab_size)
    prompt_frames, frames = (7, 6) if name == "small" else (13, 9)
    chroma = _chroma() if loaded.supports_melody else None
    cond = Conditioning(PROMPTS, melody_chroma=chroma, audio_prompt_codes=_codes(2, 4, prompt_frames, vocab))
    ref_tokens, ref_audio = _reference_continuation(loaded, cond, frames, params, SEEDS)
    fast = generate_fast(loaded, cond, frames, params, SEEDS)
    assert torch.equal(fast.tokens, ref_tokens)
    hop = loaded.sample_rate // loaded.frame_rate
    assert ref_audio.shape[-1] == (prompt_frames + frames) * hop  # transformers returns prompt + new audio
    np.testing.assert_array_equal(fast.audio, ref_audio[..., prompt_frames * hop:])


@pytest.mark.parametrize("name", ["tiny", "tiny-melody", "small"])
def test_takes_batched_equal_takes_alone(registry, small, name):
    loaded = small if name == "small" else registry.load(name)
    # melody models read the (padded) text as a decoder prefix, so padding changes a take even in
    # transformers; prompts of equal token length keep that out of this test
    prompts = ["bass", "keys", "bell"] if loaded.supports_melody else ["a", "longer prompt here", "mid one"]
    seeds = [1, 2, 3]
    if name == "small":
        prompts, seeds = prompts[:2], seeds[:2]
    frames = 6 if name == "small" else 20
    together = generate_fast(loaded, Conditioning(prompts), frames, TOP_K, seeds).tokens
    for i, (prompt, seed) in enumerate(zip(prompts, seeds)):
        alone = generate_fast(loaded, Conditioning([prompt]), frames, TOP_K, [seed]).tokens
        assert torch.equal(together[i:i + 1], alone)


@pytest.mark.parametrize("name", ["tiny", "tiny-melody"])
def test_static_step_matches_reference(registry, name):
    # mode="static" runs the fixed-shape step that CUDA-graph capture records
    loaded = registry.load(name)
    cond = Conditioning(PROMPTS, melody_chroma=_chroma() if loaded.supports_melody else None)
    _assert_same(generate_reference(loaded, cond, 16, TOP_K, SEEDS),
                 generate_fast(loaded, cond, 16, TOP_K, SEEDS, mode="static"))


def test_progress_reports_every_step_and_cancel_stops(registry):
    loaded = registry.load("tiny")
    calls: list[tuple[int, int]] = []
    generate_fast(loaded, Conditioning(["x"]), 6, TOP_K, [1], on_step=lambda done, total: calls.append((done, total)))
    assert calls == [(i, 9) for i in range(1, 10)]  # 6 frames + 3 delay steps

    cancel = threading.Event()

    def stop_at_three(done: int, total: int) -> None:
        if done == 3:
            cancel.set()

    seen: list[int] = []
    with pytest.raises(EngineError) as err:
        generate_fast(loaded, Conditioning(["x"]), 6, TOP_K, [1], cancel=cancel,
                      on_step=lambda d, t: (seen.append(d), stop_at_three(d, t)))
    assert err.value.code == "cancelled" and seen == [1, 2, 3]


def test_bad_inputs_raise_engine_errors(registry):
    tiny, melody = registry.load("tiny"), registry.load("tiny-melody")
    with pytest.raises(EngineError) as err:
        generate_fast(tiny, Conditioning(["x"], melody_chroma=_chroma()), 4, TOP_K, [1])
    assert err.value.code == "no_melody_support"
    with pytest.raises(EngineError) as err:
        generate_fast(melody, Conditioning(["x"], audio_prompt_codes=_codes(1, 3, 5, 64)), 4, TOP_K, [1])
    assert err.value.code == "invalid_field" and "shape" in err.value.message
    with pytest.raises(EngineError) as err:
        generate_fast(tiny, Conditioning(["x"], audio_prompt_codes=torch.full((1, 4, 5), 64)), 4, TOP_K, [1])
    assert err.value.code == "invalid_field"
    with pytest.raises(EngineError) as err:
        generate_fast(tiny, Conditioning(["x"]), 0, TOP_K, [1])
    assert err.value.code == "invalid_field"
    with pytest.raises(EngineError) as err:
        generate_fast(tiny, Conditioning(["x"]), 4, TOP_K, [1], mode="graph")
    assert err.value.code == "unsupported"
    with pytest.raises(ValueError):
        generate_fast(tiny, Conditioning(["x", "y"]), 4, TOP_K, [1])


def test_stereo_delays_match_transformers():
    # stereo checkpoints interleave left/right codebooks that share a delay: both our paths must
    # read tokens back the way transformers lays them out
    config = tiny._configs(melody=False)
    config.decoder.num_codebooks, config.decoder.audio_channels = 8, 2
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = MusicgenForConditionalGeneration(config).eval()
    with torch.no_grad():
        for param in model.decoder.parameters():
            param.mul_(3.0)  # as tiny does, so tokens depend on the prompt
    model.generation_config = tiny._generation_config(tiny.TINY_CODEBOOK_SIZE)
    loaded = LoadedModel(ModelSpec("tiny-stereo", "test"), model, tiny.tiny_tokenizer(), torch.device("cpu"),
                         torch.float32, "test")
    frames, delays = 12, codebook_delays(8, 2)
    sampler = StepSampler(TOP_K, make_generators(SEEDS, "cpu"), 8, frames + 3, None, None)
    with torch.inference_mode():
        audio = model.generate(**loaded.tokenizer(PROMPTS, padding=True, return_tensors="pt"),
                               max_new_tokens=frames + max(delays), do_sample=True, top_k=0, top_p=1.0,
                               guidance_scale=TOP_K.cfg, logits_processor=LogitsProcessorList([sampler]))
    steps = torch.stack(sampler.chosen, dim=1).reshape(2, 8, -1)
    expected = torch.stack([steps[:, k, d:d + frames] for k, d in enumerate(delays)], dim=1)
    fast = generate_fast(loaded, Conditioning(PROMPTS), frames, TOP_K, SEEDS)
    assert torch.equal(fast.tokens, expected)
    np.testing.assert_array_equal(fast.audio, audio.numpy())
    assert fast.audio.shape == (2, 2, frames * 640)
    ref = generate_reference(loaded, Conditioning(PROMPTS), frames, TOP_K, SEEDS)
    assert torch.equal(ref.tokens, expected)
