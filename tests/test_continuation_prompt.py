"""Audio-prompt generation on the reference path: the prompt stays in the model's context."""

import numpy as np
import pytest
import torch
from tiny_models import tiny_model

from musicgen_bridge.engine.errors import EngineError
from musicgen_bridge.engine.generation.continuation import encode_audio
from musicgen_bridge.engine.generation.reference import Conditioning, decode_tokens, generate_reference
from musicgen_bridge.engine.generation.sampling import SamplingParams
from musicgen_bridge.engine.models.tiny import TINY_CODEBOOK_SIZE

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def loaded():
    return tiny_model()


def random_codes(takes: int, frames: int, seed: int) -> torch.Tensor:
    return torch.randint(0, TINY_CODEBOOK_SIZE, (takes, 4, frames), generator=torch.Generator().manual_seed(seed))


def test_steps_see_the_prompt(loaded, monkeypatch):
    """Teacher forcing: one decoder pass over [start, prompt, new tokens] (delay pattern applied)
    must give, at every step, exactly the logits the sampler was handed during generation."""
    import musicgen_bridge.engine.generation.reference as generation

    seen = []
    real_choose = generation.choose_tokens

    def recording(scores, *args):
        seen.append(scores.clone())
        return real_choose(scores, *args)

    monkeypatch.setattr(generation, "choose_tokens", recording)
    prompt, frames, k = random_codes(1, 30, 1), 12, 4
    params = SamplingParams(cfg=1.0, top_k=0)  # no guidance: the sampler gets the raw logits
    out = generate_reference(loaded, Conditioning(["bass"], audio_prompt_codes=prompt), frames, params, [0])
    assert out.tokens.shape == (1, k, frames) and len(seen) == frames + k - 1

    def forced_logits(prompt_codes: torch.Tensor) -> torch.Tensor:
        pad = TINY_CODEBOOK_SIZE
        seq = torch.cat([torch.full((k, 1), pad), prompt_codes[0], out.tokens[0]], dim=1)
        _, delayed = loaded.model.decoder.build_delay_pattern_mask(seq, pad_token_id=pad,
                                                                   max_length=seq.shape[1] + k - 1)
        assert (delayed >= 0).all()
        text = loaded.tokenizer(["bass"], return_tensors="pt")
        with torch.inference_mode():
            return loaded.model(**text, decoder_input_ids=delayed).logits  # (k, positions, vocab)

    forced = forced_logits(prompt)
    p = prompt.shape[2]
    for step, scores in enumerate(seen):
        # step s reads position p + s (start token at 0, prompt at 1..p) and predicts p + s + 1
        torch.testing.assert_close(scores, forced[:, p + step], atol=1e-4, rtol=1e-4)
    # ... and those logits really depend on the prompt (tiny's decoder reacts weakly: ~0.2 here)
    other = forced_logits(random_codes(1, 30, 9))
    assert (other[:, p:p + frames] - forced[:, p:p + frames]).abs().max() > 0.05


def test_only_new_frames_come_back_and_audio_is_the_joint_decode(loaded):
    prompt = random_codes(2, 40, 4)
    out = generate_reference(loaded, Conditioning(["a", "b"], audio_prompt_codes=prompt), 15,
                             SamplingParams(cfg=3.0), [1, 2])
    assert out.tokens.shape == (2, 4, 15)
    assert out.audio.shape == (2, 1, 15 * 640)
    joint = decode_tokens(loaded, torch.cat([prompt, out.tokens], dim=2))
    np.testing.assert_allclose(out.audio, joint[..., 40 * 640:], atol=1e-5)


def test_prompt_longer_than_the_window_is_refused():
    small = tiny_model(max_frames=100)
    with pytest.raises(EngineError) as err:
        generate_reference(small, Conditioning(["x"], audio_prompt_codes=random_codes(1, 90, 5)), 20,
                           SamplingParams(), [0])
    assert err.value.code == "invalid_field"
    with pytest.raises(ValueError):
        generate_reference(small, Conditioning(["x", "y"], audio_prompt_codes=random_codes(1, 10, 5)), 5,
                           SamplingParams(), [0, 1])


def test_encode_matches_transformers_input_values_path(loaded):
    audio = (0.3 * np.random.default_rng(0).standard_normal((1, 640 * 37))).astype(np.float32)
    ours = encode_audio(loaded, audio)
    theirs = loaded.model._prepare_audio_encoder_kwargs_for_generation(torch.from_numpy(audio)[None], {})
    assert ours.shape == (1, 4, 37)
    assert torch.equal(ours, theirs["decoder_input_ids"].reshape(1, 4, 37))
    assert len(torch.unique(ours)) > 10  # real codes, not a constant
