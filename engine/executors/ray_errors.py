"""What a Ray failure means for a job or a live window (shared by the job and live paths of the Ray
executor, so neither imports the other).

>>> from ray.serve.exceptions import BackPressureError  # needs Ray  # doctest: +SKIP
>>> ray_error(BackPressureError(num_queued_requests=4, max_queued_requests=4), "r1").code  # needs Ray  # doctest: +SKIP
'busy'
"""

from __future__ import annotations

from ray.exceptions import ActorDiedError, ActorUnavailableError, RayActorError
from ray.serve.exceptions import (
    BackPressureError,
    DeploymentUnavailableError,
    ReplicaUnavailableError,
    RequestCancelledError,
)

from ..errors import EngineError

#: the replica (or its node) went away: the work may be sent to another one
LOST = (ActorDiedError, ActorUnavailableError, RayActorError, ReplicaUnavailableError)


class ReplicaLost(Exception):
    """The replica running the work died; ``replica`` is its id where known."""

    def __init__(self, replica: str | None) -> None:
        super().__init__(replica)
        self.replica = replica


def ray_error(exc: BaseException, replica: str | None, cancelled: bool = False) -> Exception:
    """What a Ray failure means for the job: an EngineError, or ReplicaLost (retry elsewhere)."""
    if isinstance(exc, BackPressureError):
        return EngineError("busy", "every replica is busy and the queue in front of them is full; "
                           "try again when one finishes")
    if isinstance(exc, RequestCancelledError) or (cancelled and isinstance(exc, LOST)):
        return EngineError("cancelled", "the job was cancelled")
    if isinstance(exc, LOST):
        return ReplicaLost(replica)
    if isinstance(exc, DeploymentUnavailableError):
        return EngineError("unsupported", f"the generation deployment is not running: {exc.message}")
    cause = getattr(exc, "cause", None) or exc
    return EngineError("internal", f"replica {replica or '?'} failed: {type(cause).__name__}: {cause}")
