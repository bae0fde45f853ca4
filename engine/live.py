"""Live mode: keep ``ahead_bars`` bars generated ahead of the DAW's playhead, window after window.

One :class:`LiveSession` per track, each on its own thread; the model lock serialises their
decoding. The scheduling decisions (which bars next, tempo changes, underruns) live in
:mod:`engine.live_schedule`; this module runs them: it generates each window on one token stream
(so windows continue each other), renders it to the session format, writes it, and emits
``window`` events (``underrun`` when the playhead outruns generation). Bars are 1-based on the
wire and 0-based inside.

A window is made by :func:`make_window` (generate, decode, join, render; no files) on a
:class:`WindowState` that holds the session's token stream. With the local backend that state
lives here (:class:`LocalWindows`); a backend with ``live_windows`` (Ray) keeps it on the one
replica the session is pinned to. Scheduling, file writing and events stay in this process.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from . import limits
from .continuation import smooth_join
from .errors import EngineError
from .jobs import Listener
from .live_schedule import LiveScheduler, LiveWindow
from .longform import TokenStream
from .conform import tempo_hint
from .pipeline import EngineContext, choose_backend, render_takes, versions
from .render import RenderSpec, clip_name, write_clip
from .request import GenerateRequest
from .timeline import Grid, exact, span_frames

log = logging.getLogger(__name__)
JOIN_FADE_S = 0.010


class _Control:
    """The bits of a Job the render stage uses (cancellation)."""

    def __init__(self, stop: threading.Event) -> None:
        self.cancel_event = stop


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

    >>> state = WindowState(registry.load("tiny"), req, "live-1", generate)   # doctest: +SKIP
    >>> made = make_window(state, win, req, cancel)                           # doctest: +SKIP
    """

    def __init__(self, loaded: Any, req: GenerateRequest, session_id: str, generate: Any,
                 seed_codes: Any = None) -> None:
        self.loaded = loaded
        self.session_id = session_id
        self.generate = generate  # the decoder (choose_backend) of whoever holds the state
        self.seed_codes = seed_codes  # (1, K, frames): seed audio the first window continues
        self.stream: TokenStream | None = None
        self.stream_bpm: Fraction | None = None
        self.last_sample: np.ndarray | None = None  # (channels,) at the model rate, for the next join


def open_state(ctx: EngineContext, req: GenerateRequest, session_id: str, seed_codes: Any = None) -> WindowState:
    """A session's window state with its model loaded from ``ctx`` (here, or on a replica)."""
    return WindowState(ctx.registry.load(req.model or ctx.default_model), req, session_id,
                       choose_backend(ctx, req), seed_codes)


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
                cancel: threading.Event | None = None) -> MadeWindow:
    """Generate, decode, join and render ``win`` on the session's token stream; writes nothing.

    Runs where the state lives: in the engine (local backend) or on the session's replica.
    """
    cancel = cancel or threading.Event()
    started = time.perf_counter()
    loaded = state.loaded
    stream = _stream_for(state, win, req)
    context = win.context_bars if win.start_bar > stream.origin_bar else \
        (req.context_bars if stream.prompt_frames else 0)
    plan = stream.window(win.index, win.start_bar - stream.origin_bar, win.bars, context, last=True)
    prompt = tempo_hint(req.prompt, win.bpm, req.tempo_hint)  # the window's own tempo
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
    meta = {"model": loaded.name, "model_revision": loaded.revision, "versions": versions(),
            "request": req.to_dict(), "live": {"session_id": state.session_id, "index": win.index,
                                               "start_bar": win.start_bar + 1, "bpm": float(win.bpm)}}
    take = render_takes(req, body[None], loaded.sample_rate, meta, _Control(cancel), frames)[0]
    return MadeWindow(take.clip, take.sidecar, frames, gen_s)


class LocalWindows:
    """A session's windows made in this process (the local backend)."""

    replica: str | None = None

    def __init__(self, ctx: EngineContext, session_id: str, req: GenerateRequest, seed_codes: Any = None) -> None:
        self.req = req
        self.state = open_state(ctx, req, session_id, seed_codes)

    def make(self, win: LiveWindow, cancel: threading.Event) -> MadeWindow:
        return make_window(self.state, win, self.req, cancel)

    def close(self) -> None:
        self.state.stream = None


class LiveSession:
    def __init__(self, ctx: EngineContext, req: GenerateRequest, ahead_bars: int, listener: Listener | None,
                 seed_codes: Any = None, backend: Any = None) -> None:
        self.id = f"live-{uuid.uuid4().hex[:10]}"
        self.ctx = ctx
        self.req = req
        self.listener = listener
        self.sched = LiveScheduler(window_bars=req.bars or 4, context_bars=req.context_bars, ahead_bars=ahead_bars,
                                   start_bar=int(req.start_bar) - 1, ts=req.time_signature, bpm=req.bpm)
        # where windows are made: a backend that offers ``live_windows`` (Ray) pins the session to
        # one replica; otherwise here, as always
        remote = getattr(backend, "live_windows", None)
        self.windows = remote(self.id, req, seed_codes) if remote is not None else \
            LocalWindows(ctx, self.id, req, seed_codes)
        self.folder = ctx.paths.folder(req.output_dir)
        self._lock = threading.Condition()
        self._stop = threading.Event()
        self._reported_underruns = 0
        self.last_heard = time.monotonic()  # the last transport: a session nobody drives expires
        self.windows_done = 0
        self.error: dict[str, Any] | None = None
        self._thread = threading.Thread(target=self._run, name=f"mgb-{self.id}", daemon=True)

    # -- control, from any thread ---------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        with self._lock:
            self._lock.notify_all()
        self._thread.join(timeout)

    def transport(self, beat: Any, bpm: Any, playing: bool) -> None:
        with self._lock:
            self.last_heard = time.monotonic()
            self.sched.transport(beat, bpm, playing)
            self._report_underruns()
            self._lock.notify_all()

    def status(self) -> dict[str, Any]:
        with self._lock:
            return {"session_id": self.id, "running": self._thread.is_alive() and not self._stop.is_set(),
                    "windows": self.windows_done, "generated_until_bar": self.sched.generated_until + 1,
                    "playhead_bar": float(self.sched.playhead_bar + 1), "ahead_bars": float(self.sched.ahead),
                    "underruns": len(self.sched.underruns), **({"error": self.error} if self.error else {}),
                    **({"replica": self.windows.replica} if self.windows.replica else {})}

    # -- the session thread ---------------------------------------------------------------
    def _emit(self, event: str, content: dict[str, Any]) -> None:
        if self.listener is not None:
            try:
                self.listener(event, {"session_id": self.id, **content})
            except Exception:  # noqa: BLE001 - a broken client must not end the session
                log.exception("live listener failed")

    def _report_underruns(self) -> None:
        for u in self.sched.underruns[self._reported_underruns:]:
            beat = u.playhead_bar * self.req.time_signature.quarters_per_bar
            self._emit("underrun", {"beat": float(beat), "playhead_bar": float(u.playhead_bar + 1),
                                    "generated_until_bar": u.generated_until + 1, "resume_bar": u.resume_bar + 1})
        self._reported_underruns = len(self.sched.underruns)

    def _run(self) -> None:
        try:
            self._loop()
        finally:
            try:
                self.windows.close()  # the replica drops the session's state
            except Exception:  # noqa: BLE001 - the session is over either way
                log.exception("live session %s: closing its windows failed", self.id)

    def _loop(self) -> None:
        while not self._stop.is_set():
            if time.monotonic() - self.last_heard > limits.LIVE_IDLE_S:
                # its client vanished (or forgot to send transport): free the slot for others
                self.error = EngineError("cancelled", f"live session {self.id} expired: no transport for "
                                         f"{limits.LIVE_IDLE_S:g} s").to_dict()
                log.info("live session %s expired (no transport for %g s)", self.id, limits.LIVE_IDLE_S)
                self._emit("error", self.error)
                return
            with self._lock:
                win = self.sched.next_window()
                if win is None:
                    self._lock.wait(0.05)
                    continue
            try:
                self._window(win)
            except EngineError as exc:
                with self._lock:
                    self.sched.window_failed(win)
                if exc.code == "cancelled" or self._stop.is_set():
                    return
                self.error = exc.to_dict()
                self._emit("error", exc.to_dict())
                return
            except Exception as exc:  # noqa: BLE001 - report, end this session, keep the engine
                log.exception("live session %s failed", self.id)
                self.error = EngineError("internal", f"{type(exc).__name__}: {exc}").to_dict()
                self._emit("error", self.error)
                return
            with self._lock:
                self.sched.window_done(win)
                self.windows_done += 1
                self._report_underruns()

    def _window(self, win: LiveWindow) -> None:
        made = self.windows.make(win, self._stop)
        spec = self.req.render or RenderSpec(sample_rate=self.req.sample_rate, channels=self.req.channels,
                                             format=self.req.format)
        name = clip_name(self.req.name_pattern, track=self.req.track or "live", prompt=self.req.prompt,
                         bar=win.start_bar + 1, take=win.index + 1)
        # checked again for every window: a folder swapped for a link (or moved) since the start is refused
        if self.ctx.paths.folder(self.req.output_dir) != self.folder:
            raise EngineError("path_not_allowed", "the live session's folder was replaced since the session "
                              "started; it is no longer written", path=str(self.req.output_dir))
        files = write_clip(made.clip, spec.sample_rate, self.folder / name, fmt=spec.format, auto=True,
                           sidecar=made.sidecar)
        seconds = float(exact(win.bars) * self.req.time_signature.quarters_per_bar * 60 / win.bpm)
        self._emit("window", {"index": win.index, "start_bar": win.start_bar + 1, "bars": win.bars,
                              "path": str(files.audio), "frames": made.frames, "sample_rate": spec.sample_rate,
                              "bpm": float(win.bpm), "rtf": round(seconds / max(made.gen_s, 1e-9), 3),
                              **({"replica": made.replica} if made.replica else {})})


class LiveManager:
    """The engine's live sessions: start, transport to all, stop."""

    def __init__(self, ctx: EngineContext, backend: Any = None) -> None:
        self.ctx = ctx
        self.backend = backend  # the engine's backend: where windows are made (see LiveSession)
        self._sessions: dict[str, LiveSession] = {}
        self._lock = threading.Lock()

    def start(self, req: GenerateRequest, ahead_bars: int, listener: Listener | None,
              seed_codes: Any = None) -> LiveSession:
        with self._lock:
            running = [s for s in self._sessions.values() if s._thread.is_alive()]
            if len(running) >= limits.MAX_LIVE_SESSIONS:
                raise EngineError("too_many_sessions", f"{len(running)} live sessions are running "
                                  f"(limit {limits.MAX_LIVE_SESSIONS}); stop one first")
            session = LiveSession(self.ctx, req, ahead_bars, listener, seed_codes, self.backend)
            self._sessions[session.id] = session
        session.start()
        return session

    def get(self, session_id: str) -> LiveSession:
        with self._lock:
            session = self._sessions.get(session_id)
        if session is None:
            raise EngineError("unknown_session", f"no live session {session_id!r}", session_id=session_id)
        return session

    def transport(self, beat: Any, bpm: Any, playing: bool, session_id: str | None = None) -> list[str]:
        with self._lock:
            targets = [self._sessions[session_id]] if session_id else list(self._sessions.values())
        for s in targets:
            s.transport(beat, bpm, playing)
        return [s.id for s in targets]

    def stop(self, session_id: str) -> dict[str, Any]:
        session = self.get(session_id)
        session.stop()
        status = session.status()
        with self._lock:
            self._sessions.pop(session_id, None)
        return status

    def stop_all(self) -> None:
        with self._lock:
            sessions = list(self._sessions.values())
            self._sessions.clear()
        for s in sessions:
            s.stop(5)
