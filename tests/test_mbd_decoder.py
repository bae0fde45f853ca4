"""Multi-Band Diffusion sampling: seeds, noise injection, schedule, band processor and EQ quirks."""

from __future__ import annotations

import julius
import pytest
import torch

from musicgen_bridge.engine.decoders.mbd import BandProcessor, re_eq
from musicgen_bridge.engine.decoders.mbd_schedule import NoiseSchedule
from musicgen_bridge.engine.models.audiocraft.tiny_mbd import SCHEDULE, tiny_mbd

SR = 32000


@pytest.fixture(scope="module")
def mbd():
    return tiny_mbd()


def _inputs(frames: int = 4, batch: int = 1):
    gen = torch.Generator().manual_seed(3)
    emb = torch.randn(batch, 16, frames, generator=gen)
    ref = 0.1 * torch.randn(batch, 1, frames * 640, generator=gen)
    return emb, ref


def test_same_seed_same_audio_other_seed_other_audio_and_the_global_rng_is_untouched(mbd):
    emb, ref = _inputs()
    state = torch.get_rng_state()
    a = mbd.decode_latent(emb, ref, seed=7)
    b = mbd.decode_latent(emb, ref, seed=7)
    c = mbd.decode_latent(emb, ref, seed=8)
    assert torch.equal(torch.get_rng_state(), state)
    assert a.shape == ref.shape and torch.equal(a, b)
    assert (a - c).abs().max() > 1e-3


def test_injected_noise_replaces_every_draw_in_band_major_order(mbd):
    emb, ref = _inputs()
    steps = NoiseSchedule.from_cfg(SCHEDULE).default_steps()
    shapes = []

    def draw(like):
        shapes.append(tuple(like.shape))
        return torch.full_like(like, 0.01 * len(shapes))

    out = mbd.decode_latent(emb, ref, noise=draw)
    per_band = len(steps) - 1  # start noise + one per call but the last
    assert len(shapes) == len(mbd.bands) * per_band and set(shapes) == {tuple(ref.shape)}
    listed = [torch.full_like(ref, 0.01 * (i + 1)) for i in range(len(shapes))]
    assert torch.equal(mbd.decode_latent(emb, ref, noise=listed, steps=steps), out)
    with pytest.raises(ValueError, match="ran out"):
        mbd.decode_latent(emb, ref, noise=listed[:-1])
    with pytest.raises(ValueError, match="shape"):
        mbd.decode_latent(emb, ref, noise=[torch.zeros(1, 1, 5)] * len(shapes))


def test_a_shorter_step_list_calls_the_model_once_per_transition(mbd):
    emb, ref = _inputs()
    calls = []
    hook = mbd.bands[0].unet.register_forward_pre_hook(lambda m, args: calls.append(args[1]))
    mbd.decode_latent(emb, ref, seed=1, steps=[999, 500, 100, 0])
    hook.remove()
    assert calls == [999, 500, 100]


def test_schedule_defaults_and_step_list_checks():
    sched = NoiseSchedule.from_cfg(SCHEDULE)
    steps = sched.default_steps()
    assert steps[0] == 999 and steps[-2:] == [49, 0] and len(steps) == 21
    betas = sched.betas()
    assert betas.dtype == torch.float32 and betas[0].item() == pytest.approx(1e-5, rel=1e-4)
    assert betas[-1].item() == pytest.approx(2.9e-2, rel=1e-4)
    for bad in ([999], [0, 10], [1000, 0], [999, 999, 0]):
        with pytest.raises(ValueError):
            sched.check_steps(bad)
    with pytest.raises(ValueError, match="n_bands"):
        NoiseSchedule.from_cfg(dict(SCHEDULE, n_bands=4))


def test_band_processor_target_std_is_a_mean_square_not_a_std():
    proc = BandProcessor(SR, use=True, n_bands=8, power_std=1.0)
    proc.counts.fill_(1.0)
    proc.sum_x.zero_()
    proc.sum_x2.fill_(4.0)          # std 2
    proc.sum_target_x2.fill_(4.0)   # target "std" 4 (no square root), so every band scales by 2/4
    x = torch.randn(2, 1, 4000)
    bands_sum = julius.SplitBands(SR, n_bands=8)(x).sum(0)
    assert torch.allclose(proc(x), 0.5 * bands_sum, atol=1e-6)
    assert torch.equal(BandProcessor(SR, use=False)(x), x)


def test_re_eq_uses_one_std_over_the_whole_batch():
    gen = torch.Generator().manual_seed(0)
    wav = torch.randn(2, 1, 6000, generator=gen)
    ref = torch.randn(2, 1, 6000, generator=gen) * torch.tensor([1.0, 5.0]).view(2, 1, 1)
    together = re_eq(wav, ref, SR)
    alone = re_eq(wav[:1], ref[:1], SR)
    assert together.shape == ref.shape
    assert (together[:1] - alone).abs().max() > 0.1  # item 1's loudness changed item 0's EQ
    flat = re_eq(wav, ref, SR, strictness=0.0)       # no matching: the bands just sum back
    assert torch.allclose(flat, julius.SplitBands(SR, n_bands=32)(wav).sum(0), atol=1e-6)
