"""MAGNeT's decoding loop on a stand-in LM: pass counts, draws, masking, progress, cancellation.

Bit-exactness against audiocraft itself is checked by the conformance test (test_magnet_conformance).
"""

from __future__ import annotations

import pytest
import torch

from musicgen_bridge.engine.errors import EngineError
from musicgen_bridge.engine.generation.magnet import (
    MagnetParams,
    generate_magnet,
    least_probable_spans,
    output_frames,
    spans_mask,
)

CARD = 16


class StandInLM:
    """Logits that depend on the whole input (so masking choices matter), recording every call."""

    def __init__(self, codebooks: int, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        self.table = torch.randn(codebooks, CARD + 1, CARD, generator=g) * 3
        self.calls: list[tuple[tuple[int, ...], int]] = []

    def __call__(self, seq: torch.Tensor, stage: int) -> torch.Tensor:
        self.calls.append((tuple(seq.shape), stage))
        logits = self.table[0][seq[:, 0]]
        for k in range(1, seq.shape[1]):
            logits = logits + self.table[k][seq[:, k]]
        # conditioned rows differ from unconditioned ones, so guidance changes the result
        half = seq.shape[0] // 2
        logits[:half] += torch.linspace(0, 1, CARD)
        return logits.roll(1, dims=1) + logits


def run(params: MagnetParams, batch: int = 2, frames: int = 12, span_len: int = 3, seed: int = 5,
        codebooks: int | None = None, **kw):
    codebooks = codebooks or len(params.decoding_steps)
    lm = StandInLM(codebooks)
    gen = torch.Generator().manual_seed(seed)
    out = generate_magnet(lm, batch=batch, codebooks=codebooks, frames=frames, card=CARD,
                          span_len=span_len, params=params, generator=gen, **kw)
    return out, lm


@pytest.mark.parametrize("arrangement", ["nonoverlap", "stride1"])
def test_one_forward_and_one_draw_per_pass(monkeypatch, arrangement):
    draws = []
    real = torch.multinomial

    def counting(probs, *a, **k):
        draws.append(tuple(probs.shape))
        return real(probs, *a, **k)

    monkeypatch.setattr(torch, "multinomial", counting)
    params = MagnetParams(decoding_steps=(3, 1, 2), span_arrangement=arrangement, top_p=0.0, top_k=4)
    progress = []
    out, lm = run(params, batch=2, frames=12, progress=lambda d, t: progress.append((d, t)))
    assert draws == [(2 * 12, CARD)] * 6
    assert lm.calls == [((4, 3, 12), 0)] * 3 + [((4, 3, 12), 1)] + [((4, 3, 12), 2)] * 2
    assert progress == [(i, 6) for i in range(1, 7)]
    assert out.shape == (2, 3, 12) and out.dtype == torch.long
    assert int(out.max()) < CARD and int(out.min()) >= 0  # no mask token survives


def test_nonoverlap_trims_to_whole_spans_stride1_does_not():
    nonoverlap = MagnetParams(decoding_steps=(2, 2), top_p=0.9)
    stride1 = MagnetParams(decoding_steps=(2, 2), span_arrangement="stride1")
    assert output_frames(500, 3, nonoverlap) == 498
    assert output_frames(500, 3, stride1) == 500
    assert output_frames(500, 1, nonoverlap) == 500
    out, lm = run(nonoverlap, frames=11, span_len=3)
    assert out.shape == (2, 2, 9) and lm.calls[0][0] == (4, 2, 9)
    out, _ = run(stride1, frames=11, span_len=3)
    assert out.shape == (2, 2, 11)


def test_seeded_runs_repeat_and_the_seed_matters():
    params = MagnetParams(decoding_steps=(3, 2))
    a, _ = run(params, seed=7)
    b, _ = run(params, seed=7)
    c, _ = run(params, seed=8)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_global_generator_is_used_when_none_given():
    params = MagnetParams(decoding_steps=(2, 2), span_arrangement="stride1", top_p=0.0, top_k=3)
    torch.manual_seed(11)
    lm = StandInLM(2)
    a = generate_magnet(lm, batch=1, codebooks=2, frames=9, card=CARD, span_len=3, params=params)
    own, _ = run(params, batch=1, frames=9, seed=11)
    assert torch.equal(a, own)


def test_single_step_stage_uses_the_temperature_floor_not_a_division_by_zero():
    # one step: t = temp * 0 / 1 = 0, floored to 1e-2, so sampling is (almost surely) the argmax
    params = MagnetParams(decoding_steps=(1,), top_p=0.0, temperature=5.0)
    lm = StandInLM(1)
    out = generate_magnet(lm, batch=2, codebooks=1, frames=6, card=CARD, span_len=2, params=params,
                          generator=torch.Generator().manual_seed(0))
    all_masked = torch.full((4, 1, 6), CARD)
    cond, uncond = lm(all_masked, 0).split(2)
    guided = uncond + (cond - uncond) * params.max_cfg_coef  # mask_p = cos(0) = 1 -> max coefficient
    assert torch.equal(out[:, 0], guided.argmax(-1))


def test_greedy_decoding_takes_the_argmax_of_guided_logits():
    params = MagnetParams(decoding_steps=(1, 1), use_sampling=False)
    out, lm = run(params, frames=6)
    assert len(lm.calls) == 2
    seq = torch.full((2, 2, 6), CARD)
    c, u = lm(torch.cat([seq, seq]), 0).split(2)
    assert torch.equal(out[:, 0], (u + (c - u) * params.max_cfg_coef).argmax(-1))


def test_cancel_is_checked_before_every_pass():
    seen = []

    def check():
        if len(seen) == 3:
            raise EngineError("cancelled", "the job was cancelled")
        seen.append(1)

    params = MagnetParams(decoding_steps=(2, 2))
    with pytest.raises(EngineError) as err:
        run(params, check_cancelled=check)
    assert err.value.code == "cancelled"


def test_unguided_forward_sees_the_real_batch_only():
    params = MagnetParams(decoding_steps=(2, 1))
    _out, lm = run(params, batch=3, guided=False)
    assert [shape for shape, _ in lm.calls] == [(3, 2, 12)] * 3


def test_spans_and_least_probable_spans():
    assert spans_mask(torch.tensor([0, 5]), 9, 3).tolist() == [1, 1, 1, 0, 0, 1, 1, 1, 0]
    scores = torch.zeros(10)
    scores[4:7] = 5.0  # the least probable tokens (highest scores)
    assert least_probable_spans(scores, 3, 3).nonzero().flatten().tolist() == [4, 5, 6]
    # asking for fewer tokens than a span still masks one whole span
    assert int(least_probable_spans(scores, 1, 3).sum()) == 3


@pytest.mark.parametrize("bad, field", [
    ({"decoding_steps": (2, 2, 2)}, "decoding_steps"),
    ({"decoding_steps": (2, 0)}, "decoding_steps"),
    ({"decoding_steps": (2, 2), "span_arrangement": "zigzag"}, "span_arrangement"),
    ({"decoding_steps": (2, 2), "span_scoring": "mean"}, "span_scoring"),
    ({"decoding_steps": (2, 2), "top_p": 1.5}, "top_p"),
    ({"decoding_steps": (2, 2), "top_k": -1}, "top_k"),
    ({"decoding_steps": (2, 2), "temperature": -1.0}, "temperature"),
])
def test_bad_settings_are_refused_with_the_field_named(bad, field):
    with pytest.raises(EngineError) as err:
        run(MagnetParams(**bad), codebooks=2)
    assert err.value.code == "invalid_field" and err.value.details["field"] == field


def test_top_k_above_the_vocabulary_keeps_every_token():
    wide = MagnetParams(decoding_steps=(2, 1), top_p=0.0, top_k=CARD * 4)
    exact = MagnetParams(decoding_steps=(2, 1), top_p=0.0, top_k=CARD)
    assert torch.equal(run(wide)[0], run(exact)[0])


@pytest.mark.parametrize("arrangement", ["nonoverlap", "stride1"])
def test_span_length_one_masks_token_by_token(arrangement):
    params = MagnetParams(decoding_steps=(3, 1), span_arrangement=arrangement)
    out, lm = run(params, frames=10, span_len=1)
    assert out.shape == (2, 2, 10) and len(lm.calls) == 4
    assert int(out.max()) < CARD
