"""Session id -> replica pins for live sessions (no Ray import; the router and the executor share it).

>>> table = SessionTable()
>>> table.pin_fewest("app", "s1", ["r1", "r2"]) in ("r1", "r2")
True
>>> table.replica_gone("app", table.get("app", "s1")); table.lost("app", "s1") is not None
['s1']
True
"""

from __future__ import annotations

import random
import threading
from collections import Counter


class SessionTable:
    """Session id -> replica id, per Serve application; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pins: dict[tuple[str, str], str] = {}
        self._lost: dict[tuple[str, str], str] = {}

    def get(self, app: str, session: str) -> str | None:
        with self._lock:
            return self._pins.get((app, session))

    def pin_fewest(self, app: str, session: str, replicas: list[str]) -> str:
        """The session's replica: its pin if that replica is listed, else the least pinned one."""
        with self._lock:
            pinned = self._pins.get((app, session))
            if pinned in replicas:
                return pinned
            counts = Counter(r for (a, _), r in self._pins.items() if a == app)
            fewest = min(counts[r] for r in replicas)
            choice = random.choice([r for r in replicas if counts[r] == fewest])
            self._pins[(app, session)] = choice
            return choice

    def release(self, app: str, session: str) -> None:
        with self._lock:
            self._pins.pop((app, session), None)
            self._lost.pop((app, session), None)

    def replica_gone(self, app: str, replica: str) -> list[str]:
        """Drop the pins of a replica that died or was removed; returns the sessions now lost."""
        with self._lock:
            gone = [s for (a, s), r in self._pins.items() if a == app and r == replica]
            for session in gone:
                del self._pins[(app, session)]
                self._lost[(app, session)] = replica
            return gone

    def lost(self, app: str, session: str) -> str | None:
        """The replica a session was on, if that replica went away during the session."""
        with self._lock:
            return self._lost.get((app, session))

    def pins(self, app: str) -> dict[str, str]:
        with self._lock:
            return {s: r for (a, s), r in self._pins.items() if a == app}


SESSIONS = SessionTable()
