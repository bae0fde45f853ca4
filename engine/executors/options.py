"""Settings of the Ray Serve executor, validated without importing Ray.

>>> opts = RayOptions.from_dict({"replicas": 2, "gpus_per_replica": 0.5})
>>> opts.capacity   # jobs in flight before the engine answers "busy"
10
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from ..errors import EngineError

#: extra tries on another replica when a request says ``retry: true`` and its replica dies
RETRY_ATTEMPTS = 2


@dataclass
class RayOptions:
    """How the generation replicas are laid out.

    address: None starts a Ray instance inside this process's session (one machine); "auto"
    joins the cluster already running on this machine (``ray start --head``); "HOST:PORT" or
    "ray://HOST:10001" joins a remote head. replicas: copies of the model server, each keeping
    its models warm. gpus_per_replica / cpus_per_replica: what Ray reserves for each (0.5 GPU
    lets two replicas share one card). max_ongoing_requests: jobs one replica runs at once.
    max_queued_requests: jobs that may wait in front of the replicas before the engine answers
    ``busy``. models_per_replica: how many models a replica keeps loaded (least recently used
    goes first). threads_per_replica: torch's intra-op threads on a CPU replica (0: one per
    reserved CPU). deploy: False attaches to a deployment another front end started.
    """

    address: str | None = None
    replicas: int = 1
    gpus_per_replica: float = 0.0
    cpus_per_replica: float = 1.0
    max_ongoing_requests: int = 1
    max_queued_requests: int = 8
    models_per_replica: int = 2
    threads_per_replica: int = 0  # torch threads on a CPU replica; 0: one per reserved CPU
    app_name: str = "musicgen-bridge"
    deploy: bool = True

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> RayOptions:
        d = dict(d or {})
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise EngineError("invalid_field", f"unknown ray executor option(s): {', '.join(sorted(unknown))}")
        opts = cls(**d)
        opts.check()
        return opts

    @property
    def capacity(self) -> int:
        """Jobs the deployment holds at once: running on every replica plus waiting in front."""
        return self.replicas * self.max_ongoing_requests + self.max_queued_requests

    def check(self) -> None:
        _count("replicas", self.replicas, 1, 1024)
        _count("max_ongoing_requests", self.max_ongoing_requests, 1, 64)
        _count("max_queued_requests", self.max_queued_requests, 0, 4096)
        _count("models_per_replica", self.models_per_replica, 1, 16)
        _count("threads_per_replica", self.threads_per_replica, 0, 1024)
        for name, lo, hi in (("gpus_per_replica", 0.0, 64.0), ("cpus_per_replica", 0.0, 1024.0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or not lo <= value <= hi:
                raise EngineError("invalid_field", f"{name} must be a number from {lo:g} to {hi:g}, got {value!r}",
                                  field=name)
        if self.address is not None and (not isinstance(self.address, str) or not self.address.strip()):
            raise EngineError("invalid_field", "the Ray address must be 'auto', HOST:PORT or ray://HOST:PORT",
                              field="ray_address")
        if not isinstance(self.app_name, str) or not self.app_name or "#" in self.app_name:
            raise EngineError("invalid_field", "app_name must be a non-empty name without '#'", field="app_name")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _count(name: str, value: Any, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise EngineError("invalid_field", f"{name} must be an integer from {lo} to {hi}, got {value!r}", field=name)


#: ``serve`` flags that only mean something with ``--executor ray`` -> RayOptions field
RAY_FLAGS = {"ray_address": "address", "replicas": "replicas", "gpus_per_replica": "gpus_per_replica",
             "cpus_per_replica": "cpus_per_replica"}


def serve_executor(executor: str | None, flags: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(executor, options) from ``serve``'s ``--executor`` and its Ray flags (``RAY_FLAGS`` names ->
    value, None when not given); Ray flags need ``--executor ray``.

    >>> serve_executor("ray", {"replicas": 2, "ray_address": None})
    ('ray', {'replicas': 2})
    >>> serve_executor(None, {})
    ('local', {})
    """
    executor = executor or "local"
    given = {RAY_FLAGS[flag]: value for flag, value in flags.items() if value is not None}
    if executor != "ray":
        if given:
            names = ", ".join("--" + f.replace("_", "-") for f in RAY_FLAGS if flags.get(f) is not None)
            raise EngineError("invalid_field", f"{names} only apply with --executor ray")
        return executor, {}
    RayOptions.from_dict(given)  # refuse bad values before anything starts
    return executor, given
