"""Bounded outgoing queues: a client that stops reading costs a fixed amount of memory, then is dropped.

Nothing that serves several clients may block on one of them. Senders therefore never wait: what a
peer cannot take now waits in its own small queue, and a peer whose queue overflows is dropped (its
further messages are discarded) and logged once.

>>> sent = []
>>> backlog = PeerBacklog(limit=2)
>>> backlog.offer(b"peer", "m1", lambda item: False)   # the peer is full: queued
True
>>> backlog.flush(lambda peer, item: sent.append(item) or True); sent
['m1']
"""

from __future__ import annotations

import logging
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)

#: messages queued for one peer that is not reading before it is dropped
PEER_BACKLOG = 64
#: dropped peers remembered (so their later requests are ignored); the oldest are forgotten beyond this
DROPPED_PEERS = 4096

Peer = TypeVar("Peer", bound=Hashable)  # a ZeroMQ identity (bytes) in the server


class PeerBacklog(Generic[Peer]):
    """Per-peer queues of messages that could not be sent yet, for one socket shared by all peers.

    ``offer(peer, item, try_send)`` sends at once when the peer has nothing queued and ``try_send``
    succeeds; otherwise it queues. ``flush(try_send)`` retries queued items in order. Both return
    or stop at the first refusal, so the calling thread never waits."""

    def __init__(self, limit: int = PEER_BACKLOG) -> None:
        self.limit = limit
        self._queues: dict[Peer, deque[Any]] = {}
        self._dropped: OrderedDict[Peer, None] = OrderedDict()
        self.dropped_count = 0

    def is_dropped(self, peer: Peer) -> bool:
        return peer in self._dropped

    def pending(self) -> bool:
        return bool(self._queues)

    def offer(self, peer: Peer, item: Any, try_send: Callable[[Any], bool]) -> bool:
        """Send or queue ``item``; False when the peer is (now) dropped and the item discarded."""
        if peer in self._dropped:
            return False
        queue = self._queues.get(peer)
        if queue is None:
            if try_send(item):
                return True
            queue = self._queues[peer] = deque()
        if len(queue) >= self.limit:
            self.drop(peer)
            return False
        queue.append(item)
        return True

    def drop(self, peer: Peer) -> None:
        self._queues.pop(peer, None)
        if peer in self._dropped:
            return
        self._dropped[peer] = None
        self.dropped_count += 1
        while len(self._dropped) > DROPPED_PEERS:
            self._dropped.popitem(last=False)
        log.warning("a client stopped reading its replies (over %d waiting); it is dropped: its replies and "
                    "further requests are discarded (%d such clients so far)", self.limit, self.dropped_count)

    def forget(self, peer: Peer) -> None:
        """The peer is gone for good (its connection closed): its queue goes."""
        self._queues.pop(peer, None)

    def flush(self, try_send: Callable[[Peer, Any], bool]) -> None:
        for peer in list(self._queues):
            queue = self._queues[peer]
            while queue and try_send(peer, queue[0]):
                queue.popleft()
            if not queue:
                del self._queues[peer]
