"""Live sessions on Ray Serve: every window of a session is made on the one replica it is pinned to.

The front end keeps the session (scheduler, transport, underruns), writes the files and sends the
events; for each window it makes one streaming ``Producer.live_window`` call with the session id,
which :class:`~engine.executors.ray_router.SessionRouter` sends to the session's replica (the first
call pins it to the replica with the fewest sessions). The replica keeps the session's token stream
and last sample between windows, and drops them on ``live_close``.

    >>> windows = executor.live_windows("live-1", request, seed_codes=None)  # needs a Ray cluster  # doctest: +SKIP
    >>> made = windows.make(win, stop_event)       # a MadeWindow; made.replica says where  # doctest: +SKIP
    >>> windows.close()                            # the replica forgets the session        # doctest: +SKIP

Stopping the session (``stop_event``) cancels a window in flight on the replica, as cancelling a
job does. If the replica dies the window fails with ``interrupted`` and the session ends there:
its token stream died with the replica.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import numpy as np
from ray.exceptions import RayActorError, RayTaskError
from ray.serve.exceptions import RayServeException

from ..errors import EngineError
from ..live.schedule import LiveWindow
from ..live.window import MadeWindow
from .options import RETRY_ATTEMPTS
from .ray_errors import ReplicaLost, ray_error
from .sessions import SESSIONS

log = logging.getLogger(__name__)

#: how long ending a session waits for its replica to drop the state (it may be busy with a job)
CLOSE_TIMEOUT_S = 10.0


class RayWindows:
    """A live session's windows, made on its pinned replica (see the module docstring)."""

    def __init__(self, executor: Any, session_id: str, req: Any, seed_codes: Any = None) -> None:
        self.executor = executor
        self.session_id = session_id
        self.req = req
        self.seed_codes = seed_codes
        self.replica: str | None = None  # known once the first window started
        self._opened = False

    def _interrupted(self, replica: str | None) -> EngineError:
        return EngineError("interrupted", f"the replica running live session {self.session_id!r} stopped "
                           f"({replica or '?'}); its later windows were not made; start the session again",
                           session_id=self.session_id)

    def make(self, win: LiveWindow, cancel: threading.Event) -> MadeWindow:
        """Make ``win`` on the session's replica; raises EngineError (cancelled, interrupted, ...).

        Until a first window came back the session holds nothing anywhere, so a replica lost then
        (one that died before the router noticed) is replaced by another one.
        """
        attempt = 0
        while True:
            try:
                return self._make_once(win, cancel)
            except EngineError as exc:
                attempt += 1
                if exc.code != "interrupted" or self._opened or cancel.is_set() or attempt > RETRY_ATTEMPTS:
                    raise
                SESSIONS.release(self.executor.opts.app_name, self.session_id)  # pin it afresh
                self.replica = None

    def _make_once(self, win: LiveWindow, cancel: threading.Event) -> MadeWindow:
        app = self.executor.opts.app_name
        lost = SESSIONS.lost(app, self.session_id)
        if lost is not None:
            raise self._interrupted(lost)
        opening = None if self._opened else {"request": self.req, "seed_codes": self.seed_codes}
        stream = self.executor.handle.options(method_name="live_window", stream=True, session_id=self.session_id) \
            .remote(self.session_id, win, opening)
        key = f"{self.session_id}#{win.index}"
        self.executor.watch(key, cancel, stream)
        replica = self.replica
        try:
            for chunk in stream:
                if "started" in chunk:
                    replica = str(chunk["started"])
                    if self.replica is not None and replica != self.replica:  # never: the router pins
                        raise self._interrupted(self.replica)
                    self.replica = replica
                    # ping's "running" lists the window; actor_name(replica) works
                    self.executor.started(key, replica, str(chunk.get("actor") or ""))
                elif "error" in chunk:
                    err = chunk["error"]
                    raise EngineError(err.get("code", "internal"), err.get("message", "the replica failed"),
                                      **(err.get("details") or {}))
                elif "window" in chunk:
                    made = check_window(chunk["window"], self.req)
                    self._opened = True
                    made.replica = replica
                    made.sidecar["replica"] = replica  # the file's sidecar says where it was made
                    return made
            raise ReplicaLost(replica)  # the stream ended without an answer
        except ReplicaLost:
            raise self._lost(replica) from None
        except (RayServeException, RayTaskError, RayActorError) as exc:
            err = ray_error(exc, replica, cancel.is_set())
            if isinstance(err, ReplicaLost):
                raise self._lost(replica) from None
            raise err from None
        finally:
            self.executor.unwatch(key)
            self.executor.finished(key)

    def _lost(self, replica: str | None) -> EngineError:
        app = self.executor.opts.app_name
        # before a first "started" only the router knows where the call went
        replica = replica or SESSIONS.get(app, self.session_id) or SESSIONS.lost(app, self.session_id)
        if replica is not None:
            SESSIONS.replica_gone(self.executor.opts.app_name, replica)
        log.warning("live session %s: replica %s died", self.session_id, replica)
        return self._interrupted(replica)

    def close(self) -> None:
        """The replica drops the session's state; the pin is released (a dead replica held nothing)."""
        try:
            if self.replica is not None and SESSIONS.lost(self.executor.opts.app_name, self.session_id) is None:
                self.executor.session_call(self.session_id, "live_close", self.session_id, timeout_s=CLOSE_TIMEOUT_S)
        except Exception as exc:  # noqa: BLE001 - the session is over; a replica that stopped holds nothing
            log.warning("live session %s: its replica did not confirm dropping it: %s", self.session_id, exc)
        finally:
            self.executor.end_session(self.session_id)


def check_window(made: Any, req: Any) -> MadeWindow:
    """Refuse a malformed window before anything is written (a replica of another version)."""
    channels = req.render.channels if getattr(req, "render", None) is not None else req.channels
    clip = getattr(made, "clip", None)
    if not (isinstance(made, MadeWindow) and isinstance(clip, np.ndarray) and clip.dtype == np.float32
            and clip.ndim == 2 and clip.shape == (channels, made.frames)):
        raise EngineError("internal", "a replica answered with a live window of the wrong shape; nothing was "
                          "written (are all Ray nodes running the same musicgen-bridge version?)")
    return made
