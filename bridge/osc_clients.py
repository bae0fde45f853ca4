"""Who the OSC/UDP server answers: the clients that said ``/mgb/hello``, each at its own port.

A client that names itself (``/mgb/hello i:reply_port s:client_id``) and puts ``client_id`` in its
requests gets the replies and events of those requests at its port, and nobody else's: many
clients (one Max for Live device per track) share a host without stealing each other's answers.
A named client that sends nothing for ``client_ttl`` seconds, or says ``/mgb/bye``, is gone: its
events are dropped (its port may belong to someone else by then) and its live sessions are
stopped. Unnamed hellos (``oscsend`` users) keep the 1.0 rules and expire after ``anon_ttl``
seconds without a message from their host; a named client's hello never answers for others.

>>> clients = OscClients(clock=lambda: 0.0)
>>> clients.hello(("127.0.0.1", 50000), 23456, "m-1")
[]
>>> clients.target(("127.0.0.1", 50000), "m-1"), clients.target(("127.0.0.1", 50001))
(('127.0.0.1', 23456), ('127.0.0.1', 50001))
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..engine import limits
from ..engine.errors import EngineError

Address = tuple[str, int]

#: a named client keeps itself alive with a hello every few seconds (the device: every 5 s)
CLIENT_TTL_S = 30.0
#: an unnamed hello lasts this long after the last message from its host
ANON_TTL_S = 600.0
MAX_CLIENT_ID_CHARS = 64
#: "this client is gone" is remembered for this many ids (so its late events are dropped)
GONE_MEMORY = 4096


@dataclass
class _Client:
    host: str
    port: int
    seen: float
    sessions: set[str] = field(default_factory=set)


def check_client_id(value: object) -> str:
    """A client id as the wire carries it, or ``invalid_field``."""
    if not isinstance(value, str) or not value or len(value) > MAX_CLIENT_ID_CHARS:
        raise EngineError("invalid_field", f"client_id must be a string of 1..{MAX_CLIENT_ID_CHARS} characters",
                          field="client_id")
    return value


class OscClients:
    """Reply ports by client id (named clients) and by sender (unnamed hellos), with expiry."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, client_ttl: float = CLIENT_TTL_S,
                 anon_ttl: float = ANON_TTL_S, max_entries: int | None = None) -> None:
        self.clock, self.client_ttl, self.anon_ttl, self._max = clock, client_ttl, anon_ttl, max_entries
        self._named: dict[str, _Client] = {}
        self._gone: dict[str, None] = {}  # ordered: the oldest are forgotten first
        # unnamed hellos: (host, port) or host -> (reply port, last message from the host)
        self._anon: dict[Address | str, tuple[int, float]] = {}
        self._host_seen: dict[str, float] = {}
        self._lock = threading.Lock()

    @property
    def max_entries(self) -> int:
        """Entries of each kind remembered (``limits.MAX_OSC_PEERS`` unless given)."""
        return self._max if self._max is not None else limits.MAX_OSC_PEERS

    # -- announcements --------------------------------------------------------------------
    def hello(self, sender: Address, port: int, client_id: str | None = None) -> list[str]:
        """Record a hello; returns the live sessions of clients that have expired meanwhile."""
        now = self.clock()
        with self._lock:
            if client_id is None:
                for key in ((sender[0], sender[1]), sender[0]):
                    self._anon.pop(key, None)  # re-insert: the dict's order is then age
                    self._anon[key] = (port, now)
                while len(self._anon) > 2 * self.max_entries:
                    del self._anon[next(iter(self._anon))]
            else:
                old = self._named.pop(client_id, None)
                self._gone.pop(client_id, None)
                self._named[client_id] = _Client(sender[0], port, now, old.sessions if old else set())
                while len(self._named) > self.max_entries:
                    oldest = next(iter(self._named))
                    self._forget(oldest)
            self._host_seen[sender[0]] = now
        return self.expired()

    def bye(self, client_id: str) -> list[str]:
        """The client is leaving: returns its live sessions (to stop)."""
        with self._lock:
            client = self._named.get(client_id)
            sessions = sorted(client.sessions) if client else []
            self._forget(client_id)
        return sessions

    def seen(self, sender: Address, client_id: str | None) -> None:
        """A message arrived: it keeps its client (and its host's unnamed hellos) alive."""
        now = self.clock()
        with self._lock:
            self._host_seen[sender[0]] = now
            if not client_id:
                return
            client = self._named.get(client_id)
            if client is not None and now - client.seen <= self.client_ttl:
                client.seen = now
                self._named[client_id] = self._named.pop(client_id)  # most recent last

    def add_session(self, client_id: str, session_id: str) -> None:
        with self._lock:
            client = self._named.get(client_id)
            if client is not None:
                client.sessions.add(session_id)

    def has_sessions(self) -> bool:
        with self._lock:
            return any(c.sessions for c in self._named.values())

    def drop_session(self, client_id: str, session_id: str) -> None:
        """The client stopped the session itself."""
        with self._lock:
            client = self._named.get(client_id)
            if client is not None:
                client.sessions.discard(session_id)

    def expired(self) -> list[str]:
        """Forget named clients silent for longer than ``client_ttl``; returns their live sessions."""
        now = self.clock()
        stop: list[str] = []
        with self._lock:
            for client_id, client in list(self._named.items()):
                if now - client.seen > self.client_ttl:
                    stop += sorted(client.sessions)
                    self._forget(client_id)
        return stop

    # -- where answers go -----------------------------------------------------------------
    def target(self, sender: Address, client_id: str | None = None) -> Address | None:
        """The address for a reply or event of a request from ``sender``; None: the client is gone."""
        now = self.clock()
        with self._lock:
            if client_id is not None:
                client = self._named.get(client_id)
                if client is not None:
                    return (client.host, client.port) if now - client.seen <= self.client_ttl else None
                if client_id in self._gone:
                    return None
            host_seen = self._host_seen.get(sender[0], 0.0)
            for key in ((sender[0], sender[1]), sender[0]):
                entry = self._anon.get(key)
                if entry is not None and now - max(entry[1], host_seen) <= self.anon_ttl:
                    return (sender[0], entry[0])
        return (sender[0], sender[1])

    def _forget(self, client_id: str) -> None:
        self._named.pop(client_id, None)
        self._gone.pop(client_id, None)
        self._gone[client_id] = None
        while len(self._gone) > GONE_MEMORY:
            del self._gone[next(iter(self._gone))]


__all__ = ["ANON_TTL_S", "CLIENT_TTL_S", "OscClients", "check_client_id"]
