"""The diffusion noise schedule of Multi-Band Diffusion and its sub-sampled reverse process.

Arithmetic mirrors audiocraft step for step, in float32 (the output depends on it at ulp level):
the starting alpha-bar is a ``prod`` over the betas while the sub-sampled betas come from a
``cumprod``, and the previous alpha-bar of each step is again a ``prod``.

>>> sched = NoiseSchedule.from_cfg({"beta_t0": 1e-5, "beta_t1": 2.9e-2, "beta_exp": 7.5, "num_steps": 1000})
>>> sched.default_steps()[:3], len(sched.default_steps())
([999, 949, 899], 21)
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch

#: draw(like) -> a standard-normal tensor shaped like ``like``; called once per noise draw, in order.
NoiseDraw = Callable[[torch.Tensor], torch.Tensor]
#: eps = model(x, step, condition)
Denoiser = Callable[[torch.Tensor, int, "torch.Tensor | None"], torch.Tensor]

DEFAULT_STRIDE = 50  # audiocraft's generate_subsampled: every 50th step from the top, then step 0


@dataclass(frozen=True)
class NoiseSchedule:
    """A power schedule ``betas = linspace(t0**(1/e), t1**(1/e), n)**e`` plus the sampler's settings."""

    beta_t0: float
    beta_t1: float
    beta_exp: float
    num_steps: int
    clip: float = 5.0
    rescale: float = 1.0
    noise_scale: float = 1.0

    @classmethod
    def from_cfg(cls, cfg: Mapping[str, Any]) -> NoiseSchedule:
        """Read a ``schedule`` mapping. Raises KeyError for a missing key, ValueError for an unsupported one."""
        if cfg.get("repartition", "power") != "power":
            raise ValueError(f"schedule.repartition {cfg.get('repartition')!r} (only 'power' exists)")
        if cfg.get("n_bands") is not None:
            raise ValueError("schedule.n_bands must be null (per-band schedules are not supported by audiocraft)")
        missing = [k for k in ("beta_t0", "beta_t1", "num_steps") if k not in cfg]
        if missing:
            raise KeyError(f"schedule.{missing[0]}")
        return cls(beta_t0=float(cfg["beta_t0"]), beta_t1=float(cfg["beta_t1"]),
                   beta_exp=float(cfg.get("beta_exp", 1.0)), num_steps=int(cfg["num_steps"]),
                   clip=float(cfg.get("clip") or 0.0), rescale=float(cfg.get("rescale", 1.0)),
                   noise_scale=float(cfg.get("noise_scale", 1.0)))

    def betas(self) -> torch.Tensor:
        lo, hi = self.beta_t0 ** (1 / self.beta_exp), self.beta_t1 ** (1 / self.beta_exp)
        return torch.linspace(lo, hi, self.num_steps, dtype=torch.float32) ** self.beta_exp

    def default_steps(self) -> list[int]:
        """audiocraft's default chain: every 50th step from the top down, then 0 (21 states, 20 calls)."""
        return list(range(self.num_steps))[::-DEFAULT_STRIDE] + [0]

    def check_steps(self, steps: list[int]) -> list[int]:
        steps = [int(s) for s in steps]
        if len(steps) < 2 or any(a <= b for a, b in itertools.pairwise(steps)) or steps[-1] < 0 \
                or steps[0] >= self.num_steps:
            raise ValueError(f"step list must decrease strictly within [0, {self.num_steps}), "
                             f"with at least 2 states; got {steps}")
        return steps

    def generate(self, model: Denoiser, initial: torch.Tensor, draw: NoiseDraw, condition: torch.Tensor | None,
                 steps: list[int] | None = None) -> torch.Tensor:
        """Reverse process through the states of ``steps`` (len(steps)-1 model calls), starting at ``initial``.

        Draws ``len(steps)-2`` noises (none on the last call). Returns the clamped sample before the
        band processor.
        """
        steps = self.check_steps(self.default_steps() if steps is None else steps)
        betas = self.betas()
        alpha_bar = (1 - betas[:self.num_steps]).prod()
        sub_bars = (1 - betas).cumprod(dim=0)[list(reversed(steps))]
        sub_betas = 1 - torch.cat([sub_bars[:1], sub_bars[1:] / sub_bars[:-1]])
        current = initial * self.noise_scale
        previous = current
        for idx, step in enumerate(steps[:-1]):
            eps = model(current, step, condition) * self.noise_scale
            alpha = 1 - sub_betas[-1 - idx]
            previous = (current - (1 - alpha) / (1 - alpha_bar).sqrt() * eps) / alpha.sqrt()
            if step == steps[-2]:
                prev_bar = torch.tensor(1.0)
                sigma2: torch.Tensor | float = 0.0
            else:
                prev_bar = (1 - betas[:steps[idx + 1] + 1]).prod()
                sigma2 = (1 - prev_bar) / (1 - alpha_bar) * (1 - alpha)
            if sigma2 > 0:
                previous += sigma2 ** 0.5 * draw(previous) * self.noise_scale
            if self.clip:
                previous = previous.clamp(-self.clip, self.clip)
            current, alpha_bar = previous, prev_bar
        # audiocraft multiplies by `rescale` after a model call at step 0, which a strictly
        # decreasing chain ending at a state >= 0 never makes: `rescale` has no effect.
        return previous
