"""``status`` with ``wait``, answered without holding a thread per waiter.

A waiting request is parked: one thread watches every parked job's done event and each deadline, and
calls the request's answer function when the job ends or the wait runs out. Handler threads are
freed at once, so 32 (or 1,000) clients waiting on jobs cannot keep a ping from being answered.

>>> import threading
>>> parker = StatusParker(limit=4)
>>> done = threading.Event(); answers = []
>>> parker.park(done, 5.0, lambda: answers.append("answered"))
>>> done.set(); parker.flush(); answers
['answered']
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from ..engine.errors import EngineError

log = logging.getLogger(__name__)

#: status requests waiting at once, all transports together; beyond this `busy`
MAX_PARKED = 1024
#: how often the parked waits are checked (seconds): the extra latency of a waited status
TICK_S = 0.02


class StatusParker:
    def __init__(self, limit: int = MAX_PARKED) -> None:
        self.limit = limit
        self._parked: list[tuple[threading.Event, float, Callable[[], None]]] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def park(self, done: threading.Event, timeout: float, answer: Callable[[], None]) -> None:
        """Call ``answer()`` (on the parker's thread) once ``done`` is set or ``timeout`` seconds pass.
        Raises ``EngineError("busy")`` when ``limit`` requests are parked already."""
        with self._lock:
            if len(self._parked) >= self.limit:
                raise EngineError("busy", f"{self.limit} status requests are waiting already; "
                                  "wait less or try again shortly", field="wait")
            self._parked.append((done, time.monotonic() + timeout, answer))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="mgb-status-wait", daemon=True)
                self._thread.start()
        self._wake.set()

    @property
    def parked(self) -> int:
        return len(self._parked)

    def flush(self) -> None:
        """Answer every parked request whose job ended or whose wait ran out (the thread does this)."""
        now = time.monotonic()
        with self._lock:
            ready = [p for p in self._parked if p[0].is_set() or p[1] <= now]
            self._parked = [p for p in self._parked if not (p[0].is_set() or p[1] <= now)]
        for _, _, answer in ready:
            try:
                answer()
            except Exception:
                log.exception("answering a waited status failed")

    def close(self) -> None:
        self._stop.set()
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(TICK_S if self._parked else None)  # asleep while nothing waits
            self._wake.clear()
            self.flush()
