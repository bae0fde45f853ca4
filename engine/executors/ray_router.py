"""Routing for the generation deployment: warm models for jobs, one replica for a session's life.

Jobs (no session id) go to a replica that already holds their model (Serve's model
multiplexing), the less loaded of two; when those are busy, to one holding the fewest models.

Requests sent with ``handle.options(session_id=...)`` are pinned: the first one goes to the
replica with the fewest pinned sessions, every later one to that same replica, waiting for it
when it is busy rather than moving. If that replica goes away the pin is dropped and the
session is marked lost, so its owner can tell the client instead of silently continuing
somewhere without the session's state.

The router runs in the front end's process (inside its deployment handles), so the pins live
in the process-wide :data:`engine.executors.sessions.SESSIONS` table that the executor also reads.
"""

from __future__ import annotations

import random

from ray.serve.request_router import MultiplexMixin, PendingRequest, ReplicaID, RequestRouter, RunningReplica

# Serve pickles this module by value into each handle's process; the table must be looked up
# through its module (pickled by name) so the router and the executor share one live object.
from . import sessions as _sessions


class SessionRouter(MultiplexMixin, RequestRouter):
    """Multiplex-aware power-of-two choices for jobs; strict pinning for sessions."""

    @property
    def _app(self) -> str:
        return self._deployment_id.app_name

    async def choose_replicas(self, candidate_replicas: list[RunningReplica],
                              pending_request: PendingRequest | None = None) -> list[list[RunningReplica]]:
        if not candidate_replicas:
            return []
        if pending_request is None:
            return [candidate_replicas]
        pending_request.routing_context.should_backoff = True
        session = pending_request.metadata.session_id
        if session:
            by_id = {r.replica_id.unique_id: r for r in candidate_replicas}
            return [[by_id[_sessions.SESSIONS.pin_fewest(self._app, session, sorted(by_id))]]]
        if pending_request.metadata.multiplexed_model_id:
            ids = [i for i in self.apply_multiplex_routing(pending_request) if i in self._replicas]
        else:
            ids = list(self._replica_id_set)
        if not ids:
            return []
        return [[self._replicas[i] for i in random.sample(ids, min(2, len(ids)))]]

    def update_replicas(self, replicas: list[RunningReplica]) -> None:
        before = set(self._replica_id_set)
        super().update_replicas(replicas)
        for replica_id in before - self._replica_id_set:
            _sessions.SESSIONS.replica_gone(self._app, replica_id.unique_id)

    def on_replica_actor_died(self, replica_id: ReplicaID) -> None:
        super().on_replica_actor_died(replica_id)
        _sessions.SESSIONS.replica_gone(self._app, replica_id.unique_id)
