"""One conformance check = one measured error against one tolerance; helpers that build them.

Floats pass when ``max|Δ| <= 1e-4 * max(1, max|ref|)`` (the fixtures README's tolerance); codes
and tokens must be equal element for element.

>>> close("codec.latent", torch.ones(3), torch.ones(3)).passed
True
>>> exact("greedy.tokens", torch.tensor([1, 2]), torch.tensor([1, 3])).line("audiogen")
'audiogen        greedy.tokens                      mismatches 1/2 (bit-exact required)  FAIL'
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

REL_TOL = 1e-4
NAME_WIDTH = 34
FAMILY_WIDTH = 15


@dataclass
class Check:
    name: str
    passed: bool
    measure: str  # what was measured, e.g. "max|Δ| 1.2e-06 <= tol 1.0e-04"

    def line(self, family: str) -> str:
        return f"{family:<{FAMILY_WIDTH}} {self.name:<{NAME_WIDTH}} {self.measure}  {'ok' if self.passed else 'FAIL'}"


def close(name: str, got: torch.Tensor, ref: torch.Tensor, rel: float = REL_TOL) -> Check:
    """Float check; NaNs must sit at the same places in both (and are then ignored)."""
    got, ref = got.detach().float().cpu(), ref.detach().float().cpu()
    if got.shape != ref.shape:
        return Check(name, False, f"shape {tuple(got.shape)} != reference {tuple(ref.shape)}")
    nan_got, nan_ref = torch.isnan(got), torch.isnan(ref)
    if not torch.equal(nan_got, nan_ref):
        return Check(name, False, f"NaN at {int((nan_got != nan_ref).sum())} places where the reference differs")
    finite = ~nan_ref
    ref_max = float(ref[finite].abs().max()) if finite.any() else 0.0
    tol = rel * max(1.0, ref_max)
    err = float((got[finite] - ref[finite]).abs().max()) if finite.any() else 0.0
    ok = err <= tol  # a NaN error compares False
    return Check(name, ok, f"max|Δ| {err:.2e} <= tol {tol:.2e}" if ok else f"max|Δ| {err:.2e} >  tol {tol:.2e}")


def exact(name: str, got: torch.Tensor, ref: torch.Tensor) -> Check:
    """Integer/bool check: every element equal."""
    got, ref = got.detach().cpu(), ref.detach().cpu()
    if got.shape != ref.shape:
        return Check(name, False, f"shape {tuple(got.shape)} != reference {tuple(ref.shape)}")
    wrong = int((got.long() != ref.long()).sum())
    return Check(name, wrong == 0, f"mismatches {wrong}/{ref.numel()} (bit-exact required)")


def same(name: str, got: Any, ref: Any) -> Check:
    """Scalar check (rates, counts): equal values."""
    return Check(name, got == ref, f"{got!r} == {ref!r}" if got == ref else f"{got!r} != reference {ref!r}")


def load_fixture(folder: Path, name: str) -> dict[str, Any]:
    """A ``*.pt`` expected-output file (weights-only load: plain tensors, numbers, strings)."""
    path = folder / name
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing")
    data = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(data, dict):
        raise TypeError(f"{path} does not hold a dict")
    return data


def rng_check(name: str, gen: torch.Generator, seed: int, calls: int, shapes: list[list[int]]) -> Check:
    """The generator consumed exactly ``calls`` multinomial draws of the given shapes (cycled in order).

    On CPU one ``torch.multinomial(p, 1)`` consumes what ``exponential_`` on a tensor of ``p``'s
    shape consumes (the fixtures README verifies it), so replaying those on a fresh generator
    must land on the same state.
    """
    replay = torch.Generator().manual_seed(seed)
    for i in range(calls):
        torch.empty(shapes[i % len(shapes)]).exponential_(1, generator=replay)
    ok = torch.equal(gen.get_state(), replay.get_state())
    return Check(name, ok, f"generator state {'equals' if ok else 'differs from'} {calls} draws of {shapes}")
