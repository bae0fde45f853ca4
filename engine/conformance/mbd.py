"""Conformance of our Multi-Band Diffusion against audiocraft's reference outputs (fixture ``mbd/``).

Every setting comes from the files: the bands, schedules and processors from ``mbd_checkpoint.th``,
the step list, re-EQ band count and strictness from ``mbd.pt``. audiocraft's noise draws are
replayed in order, so each band output, their sum and the final audio must match within the
waveform tolerance ``1e-4 * max(1, max|ref|)``.

>>> for line in run_mbd(Path("tests/fixtures/audiocraft/mbd")): print(line.render())  # doctest: +SKIP
mbd/band_outputs[0]  pass  max|d|=2.3e-05 tol=5.0e-04
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from ..decoders.mbd import MBDTrace, MultiBandDiffusion, re_eq
from ..errors import EngineError
from ..models.audiocraft.mbd_checkpoint import load_mbd_checkpoint

FAMILY = "mbd"
REL_TOL = 1e-4


@dataclass
class Check:
    """One line of the report: ``status`` is pass, fail or skipped."""

    name: str
    status: str
    error: float | None = None
    tol: float | None = None
    note: str = ""

    @property
    def passed(self) -> bool:
        return self.status == "pass"

    def render(self) -> str:
        parts = [f"{FAMILY}/{self.name}", self.status]
        if self.error is not None:
            parts.append(f"max|d|={self.error:.1e} tol={self.tol:.1e}")
        if self.note:
            parts.append(f"({self.note})")
        return "  ".join(parts)


def compare(name: str, got: torch.Tensor, ref: torch.Tensor) -> Check:
    """Float check with the README's tolerance; a shape mismatch is a failure, not an exception."""
    if tuple(got.shape) != tuple(ref.shape):
        return Check(name, "fail", note=f"shape {list(got.shape)} != {list(ref.shape)}")
    tol = REL_TOL * max(1.0, ref.abs().max().item())
    err = (got.float() - ref.float()).abs().max().item() if ref.numel() else 0.0
    return Check(name, "pass" if err <= tol else "fail", err, tol)


class _CountingReplay:
    """Replays saved noise draws in order and counts them (the count is itself checked)."""

    def __init__(self, noises: torch.Tensor) -> None:
        self.noises, self.used = noises, 0

    def __call__(self, like: torch.Tensor) -> torch.Tensor:
        if self.used >= self.noises.shape[0]:
            raise ValueError(f"needed more than the {self.noises.shape[0]} saved noise draws")
        out = self.noises[self.used]
        if tuple(out.shape) != tuple(like.shape):
            raise ValueError(f"noise draw {self.used} is {list(out.shape)}, the sampler needs {list(like.shape)}")
        self.used += 1
        return out.to(like)


CodecFactory = Callable[[Path], Any]


def run_mbd(folder: Path, codec_factory: CodecFactory | None = None) -> list[Check]:
    """All mbd checks of one fixture folder. ``codec_factory(folder)`` builds the codec from
    ``compression_state_dict.bin``; without it the codec checks are reported skipped."""
    folder = Path(folder)
    ref: dict[str, Any] = torch.load(folder / "mbd.pt", map_location="cpu", weights_only=True)
    checks: list[Check] = []
    try:
        ckpt = load_mbd_checkpoint(folder / "mbd_checkpoint.th")
        mbd = MultiBandDiffusion.from_checkpoint(ckpt)
    except EngineError as exc:
        return [Check("checkpoint", "fail", note=str(exc))]
    checks.append(Check("checkpoint", "pass", note=f"{len(ckpt.bands)} bands at {ckpt.sample_rate} Hz, "
                                                   "weights_only with the OmegaConf allowlist"))
    steps = [int(s) for s in json.loads(ref["step_list_json"])]
    eq_bands, strictness = int(ref["re_eq_n_bands"]), float(ref["re_eq_strictness"])
    for key, ours in (("sample_rate", ckpt.sample_rate), ("n_bands", len(ckpt.bands))):
        if key in ref and int(ref[key]) != ours:
            checks.append(Check(key, "fail", note=f"mbd.pt says {int(ref[key])}, the checkpoint {ours}"))
    if int(ref.get("eval_mode", 1)) != 1:
        return checks + [Check("band_outputs", "skipped", note="reference made in train mode (random dropout)")]

    codes, emb_ref, wav_ref = ref["codes"], ref["emb"], ref["wav_encodec"]
    codec = codec_factory(folder) if codec_factory is not None else None
    if codec is None:
        checks += [Check(n, "skipped", note="no codec") for n in ("emb", "wav_encodec", "tokens_to_wav(codes)")]
    else:
        with torch.no_grad():
            checks.append(compare("emb", codec.decode_latent(codes), emb_ref))
            checks.append(compare("wav_encodec", codec.decode(codes), wav_ref))

    # The diffusion path on the reference latent, so a codec difference cannot hide or cause a miss.
    replay, trace = _CountingReplay(ref["noises"]), MBDTrace()
    with torch.no_grad():
        out = mbd.decode_latent(emb_ref, wav_ref, noise=replay, steps=steps, re_eq_bands=eq_bands,
                                strictness=strictness, trace=trace)
    n_ref = ref["noises"].shape[0]
    checks.append(Check("noise_draws", "pass" if replay.used == n_ref else "fail",
                        note=f"{replay.used} draws used of {n_ref} saved, {len(steps) - 1} model calls per band"))
    for i, band in enumerate(trace.band_outputs):
        checks.append(compare(f"band_outputs[{i}]", band, ref["band_outputs"][i]))
    assert trace.generate_out is not None
    checks.append(compare("generate_out", trace.generate_out, ref["generate_out"]))
    checks.append(compare("re_eq(generate_out)", re_eq(ref["generate_out"], wav_ref, ckpt.sample_rate, eq_bands,
                                                       strictness), ref["tokens_to_wav"]))
    checks.append(compare("tokens_to_wav", out, ref["tokens_to_wav"]))

    if codec is not None:  # end to end: codes -> our codec -> our MBD
        mbd.codec = codec
        with torch.no_grad():
            full = mbd.tokens_to_wav(codes, noise=_CountingReplay(ref["noises"]), steps=steps,
                                     re_eq_bands=eq_bands, strictness=strictness)
        checks.append(compare("tokens_to_wav(codes)", full, ref["tokens_to_wav"]))
    return checks
