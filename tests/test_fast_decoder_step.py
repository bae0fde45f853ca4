"""The fast decoder's pieces: delay pattern as transformers builds it, and the static (graph) step."""

from __future__ import annotations

import pytest
import torch
from transformers import MusicgenDecoderConfig, MusicgenForCausalLM

from musicgen_bridge.engine.generation.fast.conditioning import delay_pattern, prepare_melody, prepare_text
from musicgen_bridge.engine.generation.fast.decoder import generate_fast
from musicgen_bridge.engine.generation.fast.step import DecoderWeights, KVCache, cross_kv, embed, forward, step_static
from musicgen_bridge.engine.generation.reference import Conditioning, codebook_delays
from musicgen_bridge.engine.generation.sampling import SamplingParams
from musicgen_bridge.engine.models.registry import ModelRegistry

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def registry() -> ModelRegistry:
    return ModelRegistry(device="cpu")


def _transformers_pattern(channels: int, k: int, prompt: torch.Tensor | None, max_length: int, pad: int):
    config = MusicgenDecoderConfig(vocab_size=16, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                                   ffn_dim=8, num_codebooks=k, audio_channels=channels, pad_token_id=pad,
                                   bos_token_id=pad)
    decoder = MusicgenForCausalLM(config)
    takes = 2
    start = torch.full((takes * k, 1), pad)
    ids = start if prompt is None else torch.cat([start, prompt.reshape(takes * k, -1)], dim=1)
    _, pattern = decoder.build_delay_pattern_mask(ids, pad_token_id=pad, max_length=max_length)
    return pattern.reshape(takes, k, -1)


@pytest.mark.parametrize("channels, k", [(1, 4), (2, 8)], ids=["mono", "stereo"])
@pytest.mark.parametrize("prompt_frames", [0, 5])
def test_delay_pattern_matches_transformers(channels, k, prompt_frames):
    pad, frames = 16, 7
    delays = codebook_delays(k, channels)
    assert delays == (list(range(k)) if channels == 1 else [i // 2 for i in range(k)])
    prompt = torch.randint(0, 16, (2, k, prompt_frames), generator=torch.Generator().manual_seed(1)) \
        if prompt_frames else None
    ours = delay_pattern(prompt, 2, k, delays, frames, pad, torch.device("cpu"))
    assert ours.shape[-1] == 1 + prompt_frames + frames + max(delays)
    assert int((ours == -1).sum()) == 2 * k * frames  # exactly the new frames are generated
    assert torch.equal(ours, _transformers_pattern(channels, k, prompt, ours.shape[-1], pad))


def _prepared(loaded, prompts: list[str]):
    inputs = loaded.tokenizer(prompts, padding=True, return_tensors="pt")
    if loaded.supports_melody:
        return prepare_melody(loaded.model, inputs["input_ids"], inputs["attention_mask"], None, guided=True)
    return prepare_text(loaded.model, inputs["input_ids"], inputs["attention_mask"], guided=True)


@pytest.mark.parametrize("name", ["tiny", "tiny-melody"])
def test_static_step_logits_equal_exact_step(registry, name):
    loaded = registry.load(name)
    w = DecoderWeights(loaded.model)
    with torch.inference_mode():
        prep = _prepared(loaded, ["a b c", "de"])
        cross = cross_kv(w, prep.cross_states, prep.cross_mask) if prep.cross_states is not None else None
        start = torch.full((prep.rows, 4, 1), 64)
        length = prep.prefix_len + 12
        positions = w.position_table(length)
        # three spare slots, as the graph keeps a scratch slot: they must stay masked and untouched
        caches = [KVCache.allocate(w, prep.rows, length + 3) for _ in range(2)]
        hidden = embed(w, start)
        if prep.prefix is not None:
            hidden = torch.cat([prep.prefix, hidden], dim=1)
        hidden = hidden + positions[:hidden.shape[1]]
        for cache in caches:
            forward(w, cache, hidden, 0, cross)
        slots = torch.arange(length + 3)
        tokens = torch.randint(0, 64, (11, prep.rows, 4, 1), generator=torch.Generator().manual_seed(2))
        for i in range(11):
            pos = prep.prefix_len + 1 + i
            exact = forward(w, caches[0], embed(w, tokens[i]) + positions[pos:pos + 1], pos, cross)
            static = step_static(w, caches[1], tokens[i], torch.tensor([pos]), positions, slots, cross)
            assert exact.shape == (prep.rows * 4, 64)
            torch.testing.assert_close(static, exact, rtol=1e-5, atol=1e-5)
        assert not caches[1].keys[0][:, :, length:].any() and not caches[1].values[-1][:, :, length:].any()
        torch.testing.assert_close(caches[1].keys[-1], caches[0].keys[-1], rtol=1e-6, atol=1e-6)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a CUDA GPU")
def test_cuda_graph_step_matches_static_step():
    registry = ModelRegistry(device="cuda")
    loaded = registry.load("tiny")  # tiny models stay fp32, so graph and eager runs must agree exactly
    cond = Conditioning(["warm pads", "drums"])
    params = SamplingParams(top_k=250)
    graph = generate_fast(loaded, cond, 40, params, [1, 2], mode="graph")
    static = generate_fast(loaded, cond, 40, params, [1, 2], mode="static")
    assert torch.equal(graph.tokens, static.tokens)
