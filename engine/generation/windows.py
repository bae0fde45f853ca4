"""Generation longer than the model's window: sliding windows stitched at bar lines.

MusicGen sees at most ``loaded.max_frames`` token frames (30 s). A longer request runs as windows
of whole bars; each window's context is the tokens of the last ``context_bars`` whole bars before
it (re-used as ``audio_prompt_codes``, never re-encoded from decoded audio), so the music goes on
instead of restarting. All windows write into one :class:`TokenStream`, a single token sequence on
the bar grid; decoding that sequence once gives audio with no seam at all between windows.

>>> from musicgen_bridge.engine.timing.timeline import Grid
>>> plan = plan_windows(Grid.constant("4/4", 120), 0, 45, frame_rate=50, max_frames=1500, context_bars=4)
>>> [(w.start_bar, w.bars) for w in plan]
[(0, 12), (12, 11), (23, 11), (34, 11)]

Token frame ``i`` of a stream covers ``[i, i + 1) / frame_rate`` seconds after its origin bar line;
negative indices hold an audio prompt (the last bars of an item being continued). A window's
boundaries are the frames nearest its bar lines, so windows sit within half a frame (10 ms) of
the bar grid while the stitched audio stays exact (it is cut from one continuous decode).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import torch

from ..decoders.choice import TokenDecoder
from ..errors import EngineError
from ..models.registry import LoadedModel
from ..timing.timeline import Grid, seconds_to_frames
from .reference import (
    Conditioning,
    GenerationOutput,
    StepCallback,
    codebook_delays,
    decode_tokens,
    generate_reference,
    steps_for,
)
from .sampling import SamplingParams

#: generate(loaded, cond, frames, params, seeds, on_step, cancel): generate_reference or the fast decoder
Generator = Callable[..., GenerationOutput]


def window_seed(seed: int, index: int) -> int:
    """Seed of window ``index`` of a take: the take's own seed for the first window, then derived
    (deterministic, independent draws per window rather than the same draws with new context)."""
    if index == 0:
        return int(seed)
    return int(np.random.SeedSequence([int(seed) & (2**63 - 1), index]).generate_state(1, np.uint64)[0] >> 1)


@dataclass(frozen=True)
class WindowPlan:
    """One window: new bars [start_bar, start_bar + bars) relative to the stream's origin bar."""

    index: int
    start_bar: int
    bars: int
    first_frame: int  # stream index of the first new frame
    frames: int  # new frames generated
    context_frames: int  # frames of context before first_frame fed as the prompt


def frame_at(grid: Grid, origin_bar: int | Fraction, bar_offset: int | Fraction, frame_rate: int) -> int:
    """Stream frame index nearest the bar line ``origin_bar + bar_offset`` (may be negative)."""
    if bar_offset >= 0:
        return seconds_to_frames(grid.span_seconds(origin_bar, bar_offset), frame_rate)
    return -seconds_to_frames(grid.span_seconds(Fraction(origin_bar) + Fraction(bar_offset), -Fraction(bar_offset)),
                              frame_rate)


def end_frame(grid: Grid, origin_bar: int | Fraction, bars: int, frame_rate: int) -> int:
    """Frames needed so the decoded stream covers ``bars`` bars completely."""
    return math.ceil(grid.span_seconds(origin_bar, bars) * frame_rate)


def _window(grid: Grid, origin: int, index: int, start: int, bars: int, total: int, frame_rate: int,
            context_bars: int, prompt_frames: int) -> WindowPlan:
    first = frame_at(grid, origin, start, frame_rate)
    last = end_frame(grid, origin, total, frame_rate) if start + bars == total else \
        frame_at(grid, origin, start + bars, frame_rate)
    if start == 0:
        context = prompt_frames
    else:
        ctx_start = max(frame_at(grid, origin, start - context_bars, frame_rate), -prompt_frames)
        context = first - ctx_start
    return WindowPlan(index, start, bars, first, last - first, context)


def plan_windows(grid: Grid, origin_bar: int, bars: int, *, frame_rate: int, max_frames: int, context_bars: int,
                 prompt_frames: int = 0, window_bars: int | None = None) -> list[WindowPlan]:
    """Split ``bars`` bars into windows of whole bars that each fit the model window with their context.

    The fewest windows are used, with bar counts as even as possible (no 1-bar tail window).
    ``window_bars`` fixes the size instead. ``prompt_frames`` is the length of an audio prompt before
    bar 0 (continuation), which is the first window's context.
    """
    if bars < 1:
        raise EngineError("invalid_field", f"bars must be at least 1, got {bars}", field="bars")
    if context_bars < 0:
        raise EngineError("invalid_field", f"context_bars must be >= 0, got {context_bars}", field="context_bars")

    def fits(index: int, start: int, size: int) -> bool:
        w = _window(grid, origin_bar, index, start, size, bars, frame_rate, context_bars, prompt_frames)
        return w.context_frames + w.frames <= max_frames

    def make(sizes: list[int]) -> list[WindowPlan]:
        out, start = [], 0
        for i, size in enumerate(sizes):
            out.append(_window(grid, origin_bar, i, start, size, bars, frame_rate, context_bars, prompt_frames))
            start += size
        return out

    if window_bars is not None:
        sizes = [window_bars] * (bars // window_bars) + ([bars % window_bars] if bars % window_bars else [])
    else:
        sizes, start = [], 0  # greedy: the largest window that fits at each position
        while start < bars:
            size = 0
            while start + size < bars and fits(len(sizes), start, size + 1):
                size += 1
            if size == 0:
                break
            sizes.append(size)
            start += size
        if start == bars and len(sizes) > 1:  # same count, even sizes (first windows one bar longer)
            even = [bars // len(sizes) + (1 if i < bars % len(sizes) else 0) for i in range(len(sizes))]
            plan = make(even)
            if all(w.context_frames + w.frames <= max_frames for w in plan):
                return plan
    plan = make(sizes) if sizes else []
    if not plan or sum(sizes) != bars or any(w.context_frames + w.frames > max_frames for w in plan):
        raise EngineError("invalid_field", f"a window of whole bars with {context_bars} bars of context does not fit "
                          f"the model's {max_frames / frame_rate:g} s window at this tempo; use fewer context bars "
                          f"or a smaller window_bars", field="context_bars")
    return plan


class TokenStream:
    """One token sequence per take on the bar grid, grown window by window.

    ``origin_bar`` is the bar line at frame 0; an audio prompt occupies frames ``-prompt_frames..-1``.
    Live mode uses it directly: :meth:`generate` one window after another, :meth:`decode` each.
    """

    def __init__(self, loaded: LoadedModel, grid: Grid, origin_bar: int, takes: int,
                 prompt_codes: torch.Tensor | None = None, decoder: TokenDecoder | None = None) -> None:
        self.loaded = loaded
        self.decoder: TokenDecoder = decoder or decode_tokens  # the request's decoder (decoders/choice.py)
        self.grid = grid  # may be replaced by one with a longer tempo map (live tempo changes)
        self.origin_bar = origin_bar
        k = loaded.num_codebooks
        if prompt_codes is None:
            prompt_codes = torch.zeros((takes, k, 0), dtype=torch.long)
        if prompt_codes.shape[:2] != (takes, k):
            raise ValueError(f"prompt_codes must be (takes={takes}, codebooks={k}, frames)")
        self.prompt_frames = int(prompt_codes.shape[2])
        self.tokens = prompt_codes.to("cpu", torch.long)  # stream frames [-prompt_frames, generated)

    @property
    def takes(self) -> int:
        return int(self.tokens.shape[0])

    @property
    def generated_frames(self) -> int:
        return int(self.tokens.shape[2]) - self.prompt_frames

    def frame_at(self, bar_offset: int | Fraction) -> int:
        return frame_at(self.grid, self.origin_bar, bar_offset, self.loaded.frame_rate)

    def window(self, index: int, start_bar: int, bars: int, context_bars: int, last: bool = False) -> WindowPlan:
        """Plan of one window at ``start_bar`` (relative to the origin).

        ``last=True`` generates through the end of the final bar (ceil) so the window can be decoded
        on its own; live mode asks for every window that way (the next window cuts the extra frame).
        """
        return _window(self.grid, self.origin_bar, index, start_bar, bars, start_bar + bars if last else -1,
                       self.loaded.frame_rate, context_bars, self.prompt_frames)

    def generate(self, plan: WindowPlan, prompts: list[str], params: SamplingParams, seeds: list[int],
                 on_step: StepCallback | None = None, cancel: threading.Event | None = None,
                 generate: Generator = generate_reference) -> torch.Tensor:
        """Generate ``plan``'s new frames with its context as the audio prompt; returns them (takes, K, frames).

        Frames the stream already holds at and after ``plan.first_frame`` are replaced (a window that
        ran past its bar line is cut back to it).
        """
        if plan.first_frame > self.generated_frames:
            raise ValueError(f"window starts at frame {plan.first_frame} "
                             f"but the stream ends at {self.generated_frames}")
        at = self.prompt_frames + plan.first_frame
        context = self.tokens[:, :, at - plan.context_frames:at] if plan.context_frames else None
        cond = Conditioning(prompts=prompts, audio_prompt_codes=context)
        out = generate(self.loaded, cond, plan.frames, params, [window_seed(s, plan.index) for s in seeds],
                       on_step, cancel)
        self.tokens = torch.cat([self.tokens[:, :, :at], out.tokens.to("cpu", torch.long)], dim=2)
        return out.tokens

    def decode(self, first_frame: int | None = None, last_frame: int | None = None) -> np.ndarray:
        """Decode stream frames [first_frame, last_frame) (default: prompt start to end) with the stream's decoder."""
        lo = self.prompt_frames + (-self.prompt_frames if first_frame is None else first_frame)
        hi = self.tokens.shape[2] if last_frame is None else self.prompt_frames + last_frame
        return self.decoder(self.loaded, self.tokens[:, :, lo:hi])

    def span_audio(self, bars: int | Fraction, start_bar: int | Fraction = 0, pre_frames: int = 0) -> np.ndarray:
        """Audio of bars [start_bar, start_bar + bars) at the model rate, exact length, from one decode.

        ``pre_frames`` > 0 also returns that many frames' samples before ``start_bar`` (for joins).
        The decode starts at the prompt (the codec's LSTM state then matches a decode of everything).
        """
        rate = self.loaded.sample_rate
        audio = self.decode()
        origin = self.prompt_frames * (rate // self.loaded.frame_rate)  # sample of the origin bar line
        lo = origin + self.grid.bar_frame(Fraction(self.origin_bar) + Fraction(start_bar), rate) \
            - self.grid.bar_frame(self.origin_bar, rate)
        n = self.grid.span_frames(Fraction(self.origin_bar) + Fraction(start_bar), bars, rate)
        pre = pre_frames * (rate // self.loaded.frame_rate)
        if lo - pre < 0 or lo + n > audio.shape[-1]:
            raise ValueError("the stream does not cover the requested span")
        return np.ascontiguousarray(audio[..., lo - pre:lo + n])

    def window_audio(self, plan: WindowPlan, pre_frames: int = 1) -> np.ndarray:
        """Audio of one window's bars at the model rate, exact length, decoded with its context only
        (live mode: cost stays flat as the stream grows). The first ``pre_frames`` frames' samples
        before the window's bar line come too, the model's own audio there, for
        :func:`engine.generation.continuation.smooth_join` against the previous window's last sample."""
        rate, hop = self.loaded.sample_rate, self.loaded.sample_rate // self.loaded.frame_rate
        first = plan.first_frame - plan.context_frames
        audio = self.decode(first, plan.first_frame + plan.frames)
        bar0 = Fraction(self.origin_bar)
        lo = self.grid.bar_frame(bar0 + plan.start_bar, rate) - self.grid.bar_frame(bar0, rate) - first * hop
        n = self.grid.span_frames(bar0 + plan.start_bar, plan.bars, rate)
        pre = pre_frames * hop
        if lo - pre < 0 or lo + n > audio.shape[-1]:
            raise ValueError("the window's tokens do not cover its bars; was it generated with last=True?")
        return np.ascontiguousarray(audio[..., lo - pre:lo + n])


def generate_long(loaded: LoadedModel, prompts: list[str], grid: Grid, start_bar: int, bars: int,
                  params: SamplingParams, seeds: list[int], *, context_bars: int = 4,
                  prompt_codes: torch.Tensor | None = None, window_bars: int | None = None,
                  on_step: StepCallback | None = None, cancel: threading.Event | None = None,
                  generate: Generator = generate_reference,
                  decoder: TokenDecoder | None = None) -> tuple[TokenStream, list[WindowPlan]]:
    """Generate ``bars`` bars from ``start_bar`` in as many windows as the model needs.

    ``on_step(done, total)`` covers the whole request: ``done / total`` is its fraction. Returns the
    stream (``stream.span_audio(bars)`` is the exact-length audio) and the windows used::

        stream, windows = generate_long(loaded, ["warm pads, 120 bpm"], grid, 0, 45, params, [7])
        audio = stream.span_audio(45)       # (takes, channels, exactly 90 s at 32 kHz)
    """
    if len(seeds) != len(prompts):
        raise ValueError("one seed per take")
    stream = TokenStream(loaded, grid, start_bar, len(prompts), prompt_codes, decoder)
    plan = plan_windows(grid, start_bar, bars, frame_rate=loaded.frame_rate, max_frames=loaded.max_frames,
                        context_bars=context_bars, prompt_frames=stream.prompt_frames, window_bars=window_bars)
    delays = codebook_delays(loaded.num_codebooks, loaded.audio_channels)
    total = sum(steps_for(w.frames, delays) for w in plan)
    done = 0
    for w in plan:
        def step(n: int, _total: int, base: int = done) -> None:
            if on_step is not None:
                on_step(base + n, total)
        stream.generate(w, prompts, params, seeds, step, cancel, generate)
        done += steps_for(w.frames, delays)
    return stream, plan
