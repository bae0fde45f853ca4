"""Making one live window: generate on the session's token stream, decode, join, render; no files.

A window is made by :func:`make_window` on a :class:`WindowState` that holds the session's token
stream and last sample. With the local executor that state lives in this process
(:class:`LocalWindows`); the Ray executor keeps it on the replica the session is pinned to
(:mod:`..executors.ray_live`). Scheduling, file writing and events stay in :mod:`.session`.

>>> state = open_state(ctx, req, "live-1")  # needs a loaded model and a live window  # doctest: +SKIP
>>> made = make_window(state, win, req, CancelToken())  # needs a loaded model and a live window  # doctest: +SKIP
>>> made.clip.shape, made.frames  # needs a loaded model and a live window  # doctest: +SKIP
((2, 192000), 192000)
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from ..generation.continuation import smooth_join
from ..generation.windows import TokenStream
from ..jobs.cancel import CancelToken
from ..produce.context import EngineContext, choose_generator
from ..produce.takes import render_takes, sidecar_meta
from ..request import GenerateRequest
from ..timing.conform import tempo_hint
from ..timing.timeline import Grid, span_frames
from .schedule import LiveWindow

JOIN_FADE_S = 0.010


@dataclass
class MadeWindow:
    """One live window rendered to the session format, not yet written (files are the front end's)."""

    clip: np.ndarray  # (channels, frames) float32 at the session rate
    sidecar: dict[str, Any]
    frames: int
    gen_s: float  # seconds spent generating, decoding and joining (for ``rtf``)
    replica: str | None = None  # the Ray replica that made it; None in this process


class WindowState:
    """What a session's windows carry from one to the next: its token stream and last sample.

    >>> state = WindowState(registry.load("tiny"), req, "live-1", generate)  # needs a loaded model and a live window  # doctest: +SKIP
    >>> made = make_window(state, win, req, cancel)  # needs a loaded model and a live window  # doctest: +SKIP
    """

    def __init__(self, loaded: Any, req: GenerateRequest, session_id: str, generate: Any,
                 seed_codes: Any = None) -> None:
        self.loaded = loaded
        self.session_id = session_id
        self.generate = generate  # the token loop (choose_generator) of whoever holds the state
        self.seed_codes = seed_codes  # (1, K, frames): seed audio the first window continues
        self.stream: TokenStream | None = None
        self.stream_bpm: Fraction | None = None
        self.last_sample: np.ndarray | None = None  # (channels,) at the model rate, for the next join


def open_state(ctx: EngineContext, req: GenerateRequest, session_id: str, seed_codes: Any = None) -> WindowState:
    """A session's window state with its model loaded from ``ctx`` (here, or on a replica)."""
    loaded = ctx.registry.load(req.model or ctx.default_model)
    return WindowState(loaded, req, session_id, choose_generator(ctx, req, loaded), seed_codes)


def _stream_for(state: WindowState, win: LiveWindow, req: GenerateRequest) -> TokenStream:
    """The token stream that continues into ``win``: a new one after a gap or a tempo change,
    whose prompt is the last bars generated (frames are time, so they carry over)."""
    if state.stream is not None and not win.after_gap and win.bpm == state.stream_bpm:
        return state.stream
    prompt = state.seed_codes if state.stream is None else None
    if state.stream is not None and win.context_bars:
        old = state.stream
        frames = min(old.tokens.shape[2], old.frame_at(win.context_bars) - old.frame_at(0))
        prompt = old.tokens[:, :, old.tokens.shape[2] - frames:]
    state.stream = TokenStream(state.loaded, Grid.constant(req.time_signature, win.bpm), win.start_bar, 1,
                               prompt_codes=prompt)
    state.stream_bpm = win.bpm
    return state.stream


def make_window(state: WindowState, win: LiveWindow, req: GenerateRequest,
                cancel: CancelToken | None = None) -> MadeWindow:
    """Generate, decode, join and render ``win`` on the session's token stream; writes nothing.

    Runs where the state lives: in the engine (local executor) or on the session's replica.
    """
    if getattr(state.loaded.spec, "window_s", None) is not None:  # MAGNeT: no token stream to continue
        from .fixed_window import make_fresh_window

        return make_fresh_window(state, win, req, cancel)
    cancel = cancel or CancelToken()
    started = time.perf_counter()
    loaded = state.loaded
    stream = _stream_for(state, win, req)
    context = win.context_bars if win.start_bar > stream.origin_bar else \
        (req.context_bars if stream.prompt_frames else 0)
    plan = stream.window(win.index, win.start_bar - stream.origin_bar, win.bars, context, last=True)
    prompt = tempo_hint(req.prompt, win.bpm, req.tempo_hint and loaded.spec.musical)  # the window's own tempo
    stream.generate(plan, [prompt], req.sampling, [req.seed], cancel=cancel, generate=state.generate)
    # one frame before the bar line comes too when there is context: the model's own audio
    # there, to remove the step against the previous window's last sample
    pre = 1 if plan.context_frames else 0
    audio = stream.window_audio(plan, pre_frames=pre)  # (1, channels, pre * hop + samples)
    hop = loaded.sample_rate // loaded.frame_rate
    body = audio[0, :, pre * hop:]
    if pre and state.last_sample is not None and not win.after_gap:
        body = smooth_join(state.last_sample, audio[0, :, hop - 1], body, round(JOIN_FADE_S * loaded.sample_rate))
    state.last_sample = body[:, -1].copy()
    gen_s = time.perf_counter() - started
    frames = span_frames(win.bars, req.time_signature, win.bpm, req.sample_rate, start_bar=win.start_bar)
    meta = sidecar_meta(loaded, req, live={"session_id": state.session_id, "index": win.index,
                                           "start_bar": win.start_bar + 1, "bpm": float(win.bpm)})
    take = render_takes(req, body[None], loaded.sample_rate, meta, cancel, frames)[0]
    return MadeWindow(take.clip, take.sidecar, frames, gen_s)


class LocalWindows:
    """A session's windows made in this process (the local executor)."""

    replica: str | None = None

    def __init__(self, ctx: EngineContext, session_id: str, req: GenerateRequest, seed_codes: Any = None) -> None:
        self.req = req
        self.state = open_state(ctx, req, session_id, seed_codes)

    def make(self, win: LiveWindow, cancel: CancelToken) -> MadeWindow:
        return make_window(self.state, win, self.req, cancel)

    def close(self) -> None:
        self.state.stream = None
