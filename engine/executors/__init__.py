"""Where a job's produce step (generate + render) runs: in this process, or on Ray Serve replicas.

The engine's worker calls ``executor.produce(ctx, job)`` and then writes the takes itself with
``pipeline.publish``, so files always land under the front end's roots with its safety rules,
whichever machine made the audio.

>>> executor = open_executor("local", {}, registry=registry)  # needs an engine's registry and a job  # doctest: +SKIP
>>> produced = executor.produce(engine.context, job)  # needs an engine's registry and a job  # doctest: +SKIP

Importing this package never imports Ray; ``open_executor("ray", ...)`` does.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from typing import Any, Protocol

from ..errors import EngineError
from ..jobs.journal import check_retryable
from ..jobs.queue import Job
from ..produce.context import EngineContext, Produced

EXECUTORS = ("local", "ray")
#: job kind -> the function that makes its takes without writing them (module, name)
#: (module names relative to the engine package)
PRODUCERS = {"generate": (".produce.generate_job", "produce"),
             "continue": (".produce.continue_job", "produce_continuation")}


class Executor(Protocol):
    """Where a job's produce step runs (``local``: this process; ``ray``: Ray Serve replicas)."""

    @property
    def name(self) -> str: ...

    @property
    def workers(self) -> int:
        """Jobs the engine runs at once (its worker threads)."""

    @property
    def capacity(self) -> int | None:
        """Jobs the executor holds at once, or None for no limit of its own."""

    def check(self, request: Any) -> None:
        """Refuse, at submit time, request fields this executor cannot honour."""

    def produce(self, ctx: EngineContext, job: Job) -> Produced:
        """Generate and render every take; raises EngineError (cancelled, busy, interrupted, ...)."""

    def info(self) -> dict[str, Any]:
        """What ``ping`` reports about the executor."""

    def close(self) -> None:
        """Release what the executor holds (never stops a cluster it joined)."""


class LocalExecutor:
    """Generation on this process's worker thread (the default)."""

    name = "local"
    workers = 1
    capacity = None

    def __init__(self, registry: Any = None, preload: list[str] | tuple[str, ...] = ()) -> None:
        for model in preload:
            registry.load(model)

    def check(self, request: Any) -> None:
        check_retry(request)

    def produce(self, ctx: EngineContext, job: Job) -> Produced:
        return producer_for(job.kind)(ctx, job)

    def info(self) -> dict[str, Any]:
        return {"name": self.name}

    def close(self) -> None:
        pass


def producer_for(kind: str) -> Callable[[EngineContext, Job], Produced]:
    """``produce(ctx, job) -> Produced`` for a job kind (imported on first use)."""
    if kind not in PRODUCERS:
        raise EngineError("unknown_msg_type", f"unknown job kind {kind!r}")
    module, name = PRODUCERS[kind]
    try:
        return getattr(importlib.import_module(module, __package__.rpartition(".")[0]), name)
    except (ImportError, AttributeError):
        raise EngineError("unsupported", f"{kind} jobs are not available in this build") from None


def loopback_ray() -> None:
    """Make a Ray instance started by this process listen on 127.0.0.1 only (not every interface).

    Ray keeps a single-machine instance on loopback where clusters are unsupported; this asks for
    that mode. It must happen before Ray is imported, and a process that imported Ray already
    keeps whatever it chose.
    """
    if "ray" not in sys.modules:
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")


def check_retry(request: Any) -> bool:
    """The request's ``retryable`` policy: run it again if whatever runs it dies (another replica
    here; after a restart, the journal). One field for both, checked by journal.check_retryable."""
    value = getattr(request, "extra", {}).get("retryable", False)
    check_retryable({"retryable": value})
    return value


def open_executor(name: str, options: dict[str, Any] | None = None, *, registry: Any = None,
                 config: Any = None) -> Executor:
    """The executor called ``name`` ("local" or "ray"); ``config`` is the EngineConfig."""
    preload = list(getattr(config, "preload", []) or [])
    if name == "local":
        return LocalExecutor(registry, preload)
    if name == "ray":
        from .options import RayOptions

        opts = RayOptions.from_dict(options)
        if opts.address is None:
            loopback_ray()
        try:
            from .ray_serve import RayExecutor
        except ImportError as exc:
            raise EngineError("unsupported", f"the ray executor needs Ray Serve ({exc.name or exc} is missing); "
                              "install it with: pip install 'musicgen-bridge[cluster]'") from None
        return RayExecutor(opts, config)
    raise EngineError("invalid_field", f"executor must be one of {', '.join(EXECUTORS)}, got {name!r}",
                      field="executor")
