"""Multi-Band Diffusion conformance: codec latent and decode, every band output, their sum, the final audio.

Every setting comes from the files: bands, schedules and processors from ``mbd_checkpoint.th``
(loaded weights-only with the OmegaConf allowlist), the codec from ``compression_state_dict.bin``,
the step list, re-EQ band count and strictness from ``mbd.pt``. audiocraft's saved noise draws are
replayed in order, so the outputs must match within the waveform tolerance.

The diffusion checks run on the reference latent, so a codec difference can neither hide nor cause
a miss there; ``tokens_to_wav(codes)`` then runs the whole path from codes through our codec.

>>> for check in checks(Path("tests/fixtures/audiocraft/mbd")): print(check.line("mbd"))  # slow, prints many lines  # doctest: +SKIP
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import torch

from ..decoders.mbd import MBDTrace, MultiBandDiffusion, re_eq
from ..models.audiocraft.checkpoint import load_package
from ..models.audiocraft.codec import build_codec
from ..models.audiocraft.mbd_checkpoint import load_mbd_checkpoint
from .checks import Check, close, load_fixture, same


class _CountingReplay:
    """Replays the saved noise draws in order and counts them (the count is itself a check)."""

    def __init__(self, noises: torch.Tensor) -> None:
        self.noises, self.used = noises, 0

    def __call__(self, like: torch.Tensor) -> torch.Tensor:
        if self.used >= self.noises.shape[0]:
            raise ValueError(f"the sampler wants more than the {self.noises.shape[0]} saved noise draws")
        out = self.noises[self.used]
        if out.shape != like.shape:
            raise ValueError(f"noise draw {self.used} is {list(out.shape)}, the sampler needs {list(like.shape)}")
        self.used += 1
        return out.to(like)


def checks(folder: Path) -> Iterator[Check]:
    ref = load_fixture(folder, "mbd.pt")
    ckpt = load_mbd_checkpoint(folder / "mbd_checkpoint.th")
    codec = build_codec(load_package(folder / "compression_state_dict.bin"))
    mbd = MultiBandDiffusion.from_checkpoint(ckpt)
    steps = [int(s) for s in json.loads(ref["step_list_json"])]
    eq_bands, strictness = int(ref["re_eq_n_bands"]), float(ref["re_eq_strictness"])
    yield same("checkpoint.sample_rate", ckpt.sample_rate, int(ref["sample_rate"]))
    yield same("checkpoint.n_bands", len(ckpt.bands), int(ref["n_bands"]))
    yield same("codec.sample_rate", codec.sample_rate, ckpt.sample_rate)
    yield same("reference.eval_mode", 1, int(ref["eval_mode"]))  # ours is always eval; a train-mode ref is random

    codes, emb_ref, wav_ref = ref["codes"], ref["emb"], ref["wav_encodec"]
    with torch.no_grad():
        yield close("emb", codec.decode_latent(codes), emb_ref)
        yield close("wav_encodec", codec.decode(codes), wav_ref)

    replay, trace = _CountingReplay(ref["noises"]), MBDTrace()
    out = mbd.decode_latent(emb_ref, wav_ref, noise=replay, steps=steps, re_eq_bands=eq_bands,
                            strictness=strictness, trace=trace)
    yield same("noise_draws", replay.used, int(ref["noises"].shape[0]))
    for i, band in enumerate(trace.band_outputs):
        yield close(f"band_outputs[{i}]", band, ref["band_outputs"][i])
    assert trace.generate_out is not None
    yield close("generate_out", trace.generate_out, ref["generate_out"])
    yield close("re_eq(ref generate_out)", re_eq(ref["generate_out"], wav_ref, ckpt.sample_rate, eq_bands,
                                                 strictness), ref["tokens_to_wav"])
    yield close("tokens_to_wav", out, ref["tokens_to_wav"])

    mbd.bind(codec)  # a rate or channel mismatch fails this setup step, after the lines above
    full = mbd.tokens_to_wav(codes, noise=_CountingReplay(ref["noises"]), steps=steps, re_eq_bands=eq_bands,
                             strictness=strictness)
    yield close("tokens_to_wav(codes)", full, ref["tokens_to_wav"])
