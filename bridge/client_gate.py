"""The ZeroMQ client limit: at most ``max_clients`` connections are served, the rest answered ``busy``.

``ZmqServer`` feeds the ROUTER's monitor events to :meth:`ClientGate.on_event` and asks
:meth:`ClientGate.admit` with each request's first frame (its connection's descriptor):

>>> gate = ClientGate(max_clients=2)
>>> gate.refusal().code
'busy'

docs/security.md (client limit) says why.
"""

from __future__ import annotations

import time

import zmq
from zmq.utils.monitor import recv_monitor_message

from ..engine.errors import EngineError

#: a ZeroMQ client silent this long gives its place to a new client when all places are taken
IDLE_CLIENT_S = 30.0


class ClientGate:
    """At most ``max_clients`` ZeroMQ connections get requests served; others are answered ``busy``.

    The ROUTER's monitor reports connections (accepted, disconnected) by file descriptor and each
    request carries its connection's descriptor, so a client keeps its place for as long as it
    stays connected and frees it when it goes. Only the server thread calls these methods.
    """

    EVENTS = zmq.EVENT_ACCEPTED | zmq.EVENT_DISCONNECTED

    def __init__(self, max_clients: int, idle_s: float = IDLE_CLIENT_S) -> None:
        self.max_clients = max_clients
        self.idle_s = idle_s
        self.admitted: dict[int, float] = {}  # descriptor -> when it last sent a request (monotonic)
        self.refused = 0
        self.evicted = 0

    def on_event(self, monitor: zmq.Socket) -> None:
        event = recv_monitor_message(monitor)
        self.admitted.pop(int(event["value"]), None)  # a new connection, or the end of one, on this descriptor

    def admit(self, frame: zmq.Frame) -> bool:
        try:
            fd = int(frame.get(zmq.SRCFD))
        except (zmq.ZMQError, ValueError, TypeError):
            return True  # a transport without descriptors (inproc): nothing to count
        if fd < 0:
            return True
        now = time.monotonic()
        if fd not in self.admitted and len(self.admitted) >= self.max_clients:
            # full: the longest-idle client, if idle for idle_s, gives its place (it is admitted again,
            # room permitting, when it next sends)
            oldest = min(self.admitted, key=self.admitted.__getitem__)
            if now - self.admitted[oldest] < self.idle_s:
                self.refused += 1
                return False
            del self.admitted[oldest]
            self.evicted += 1
        self.admitted[fd] = now
        return True

    def refusal(self) -> EngineError:
        return EngineError("busy", f"the engine already serves {self.max_clients} connected clients (serve "
                           "--max-clients); close an idle client or try again later")


__all__ = ["IDLE_CLIENT_S", "ClientGate"]
