"""Live mode: keep ``ahead_bars`` bars generated ahead of the DAW's playhead, window after window.

One :class:`LiveSession` per track, each on its own thread; with the fast generator their
windows decode together in the engine's batch (:mod:`..jobs.batcher`), a window that is due soon
first. The scheduling decisions (which bars next, tempo changes, underruns) live in
:mod:`engine.live.schedule`; this module runs them: it generates each window on one token stream
(so windows continue each other), renders it to the session format, writes it, and emits
``window`` events (``underrun`` when the playhead outruns generation). Bars are 1-based on the
wire and 0-based inside.

Windows are made by :mod:`.window` (generate, decode, join, render; no files): here with the
local executor, or, with an executor that offers ``live_windows`` (Ray), on the one replica the
session is pinned to. Scheduling, file writing and events stay in this process.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from typing import Any

from .. import limits
from ..errors import EngineError
from ..jobs.batcher import decode_priority
from ..jobs.cancel import CancelToken
from ..jobs.queue import Listener
from ..produce.context import EngineContext
from ..produce.takes import render_spec
from ..render import clip_name, write_clip
from ..render.naming import DEFAULT_PATTERN
from ..request import GenerateRequest
from ..timing.timeline import exact
from .schedule import LiveScheduler, LiveWindow
from .window import LocalWindows

#: live windows' file names: the bar each lands on, zero-padded so they sort in timeline order
LIVE_PATTERN = "{track}_{prompt}_bar{bar:04d}"

log = logging.getLogger(__name__)


class LiveSession:
    def __init__(self, ctx: EngineContext, req: GenerateRequest, ahead_bars: int, listener: Listener | None,
                 seed_codes: Any = None, executor: Any = None) -> None:
        self.id = f"live-{uuid.uuid4().hex[:10]}"
        self.ctx = ctx
        self.req = req
        self.listener = listener
        self.sched = LiveScheduler(window_bars=req.bars or 4, context_bars=req.context_bars, ahead_bars=ahead_bars,
                                   start_bar=int(req.start_bar) - 1, ts=req.time_signature, bpm=req.bpm)
        # where windows are made: a executor that offers ``live_windows`` (Ray) pins the session to
        # one replica; otherwise here, as always
        remote = getattr(executor, "live_windows", None)
        self.windows = remote(self.id, req, seed_codes) if remote is not None else \
            LocalWindows(ctx, self.id, req, seed_codes)
        self.folder = ctx.paths.folder(req.output_dir)
        self._lock = threading.Condition()
        self._stop = CancelToken()
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
            except Exception:
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
            except Exception:
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
            except Exception as exc:
                log.exception("live session %s failed", self.id)
                self.error = EngineError("internal", f"{type(exc).__name__}: {exc}").to_dict()
                self._emit("error", self.error)
                return
            with self._lock:
                self.sched.window_done(win)
                self.windows_done += 1
                self._report_underruns()

    def _window(self, win: LiveWindow) -> None:
        with self._lock:  # the playhead reaches the window's first bar then: its audio is due
            due = time.monotonic() + float(self.sched.seconds_until(win.start_bar)) if self.sched.playing else None
        with decode_priority(live=True, deadline=due):  # the decode scheduler serves it first
            made = self.windows.make(win, self._stop)
        spec = render_spec(self.req)
        # windows are named by where they land (bar0005), not by their order: a gap skips numbers
        pattern = LIVE_PATTERN if self.req.name_pattern == DEFAULT_PATTERN else self.req.name_pattern
        name = clip_name(pattern, track=self.req.track or "live", prompt=self.req.prompt,
                         bar=win.start_bar + 1, take=None)
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

    def __init__(self, ctx: EngineContext, executor: Any = None) -> None:
        self.ctx = ctx
        self.executor = executor  # the engine's executor: where windows are made (see LiveSession)
        self._sessions: dict[str, LiveSession] = {}
        self._lock = threading.Lock()

    def start(self, req: GenerateRequest, ahead_bars: int, listener: Listener | None,
              seed_codes: Any = None) -> LiveSession:
        with self._lock:
            running = [s for s in self._sessions.values() if s._thread.is_alive()]
            if len(running) >= limits.MAX_LIVE_SESSIONS:
                raise EngineError("too_many_sessions", f"{len(running)} live sessions are running "
                                  f"(limit {limits.MAX_LIVE_SESSIONS}); stop one first")
            session = LiveSession(self.ctx, req, ahead_bars, listener, seed_codes, self.executor)
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
        # a named session that has ended is unknown_session, as live_stop says (not a KeyError)
        targets = [self.get(session_id)] if session_id else None
        if targets is None:
            with self._lock:
                targets = list(self._sessions.values())
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

    def list(self) -> list[dict[str, Any]]:
        """The status of every session, oldest first."""
        with self._lock:
            sessions = list(self._sessions.values())
        return [s.status() for s in sessions]

    def stop_all(self) -> None:
        with self._lock:
            sessions = list(self._sessions.values())
            self._sessions.clear()
        for s in sessions:
            s.stop(5)
