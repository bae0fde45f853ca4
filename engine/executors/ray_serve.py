"""Generation on Ray Serve replicas; this process stays the bridge's one front end.

The front end keeps the protocol, the job queue, the events and the files. For each job it
sends the request (input files inline) to the ``Producer`` deployment as a streaming call,
routed by model (multiplexing) and, for live sessions, by session id; progress chunks feed
``job.report_progress``; the rendered takes come back as arrays and the engine writes them with
its own path rules. A cancelled job cancels its Ray response, which stops decoding on the
replica at the next step.

    >>> executor = RayExecutor(RayOptions(replicas=2), EngineConfig(default_model="tiny"))  # needs a Ray cluster  # doctest: +SKIP
    >>> produced = executor.produce(engine.context, job)   # what the engine's worker calls  # doctest: +SKIP
    >>> produced.replica  # needs a Ray cluster  # doctest: +SKIP
    'k3v9x2ab'

Failures: a full deployment is ``busy``; a replica that dies mid-job gives ``interrupted``
(nothing was written), or, when the request says ``retryable: true``, the job is sent again to
another replica (same seeds, so the same audio).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, fields
from typing import Any

import ray
from ray import serve
from ray.exceptions import RayActorError, RayTaskError
from ray.serve.config import RequestRouterConfig
from ray.serve.exceptions import RayServeException

from ..errors import EngineError
from ..jobs.queue import Job
from ..models.registry import get_spec
from ..produce.context import EngineContext, Produced
from . import check_retry
from .options import RETRY_ATTEMPTS, RayOptions
from .ray_errors import LOST, ReplicaLost, ray_error
from .ray_replica import Producer
from .ray_router import SessionRouter
from .sessions import SESSIONS
from .wire import check_produced, pack_job

log = logging.getLogger(__name__)

DEPLOYMENT = "Producer"
#: how often the cancel watcher looks at the running jobs' cancel events
CANCEL_POLL_S = 0.05
#: Requests waiting for a busy replica poll it with exponential backoff; Serve's default ceiling
#: (0.5 s) leaves a replica idle for a quarter second on average between queued jobs of ours.
ROUTER_BACKOFF = {"initial_backoff_s": 0.005, "backoff_multiplier": 2, "max_backoff_s": 0.05}


@dataclass
class RemoteProduced(Produced):
    """What a replica made, with the replica's id (the engine copies it into the result)."""

    replica: str = ""


def build_app(opts: RayOptions, settings: dict[str, Any]) -> Any:
    """The Serve application: ``replicas`` copies of :class:`Producer` behind :class:`SessionRouter`."""
    actor_options: dict[str, Any] = {"num_cpus": opts.cpus_per_replica}
    if opts.gpus_per_replica:
        actor_options["num_gpus"] = opts.gpus_per_replica
    deployment = serve.deployment(Producer, name=DEPLOYMENT).options(  # type: ignore[attr-defined]
        num_replicas=opts.replicas, max_ongoing_requests=opts.max_ongoing_requests,
        # Serve counts a request as queued until a replica takes it, so a burst that the replicas
        # would absorb at once must fit too: the front end enforces the real bound at submit time.
        max_queued_requests=opts.capacity, ray_actor_options=actor_options,
        request_router_config=RequestRouterConfig(request_router_class=SessionRouter,  # type: ignore[arg-type]
                                                  **ROUTER_BACKOFF),  # type: ignore[arg-type]
        max_constructor_retry_count=3)  # a replica that cannot start fails the deploy in seconds, not minutes
    return deployment.bind(settings)


def check_resources(opts: RayOptions, total: dict[str, float]) -> None:
    """Refuse a layout the cluster cannot place (Serve would otherwise wait for it forever)."""
    cpus, gpus = opts.replicas * opts.cpus_per_replica, opts.replicas * opts.gpus_per_replica
    have_cpus, have_gpus = total.get("CPU", 0.0), total.get("GPU", 0.0)
    if cpus > have_cpus + 1e-9 or gpus > have_gpus + 1e-9:
        raise EngineError("unsupported", f"{opts.replicas} replicas need {cpus:g} CPUs and {gpus:g} GPUs; the Ray "
                          f"cluster has {have_cpus:g} CPUs and {have_gpus:g} GPUs; lower --replicas, "
                          "--cpus-per-replica or --gpus-per-replica, or add nodes")


def replica_settings(opts: RayOptions, config: Any) -> dict[str, Any]:
    device = getattr(config, "device", "auto")
    if device == "auto" and not opts.gpus_per_replica:
        device = "cpu"  # a replica without a reserved GPU must not grab one
    return {"device": device, "dtype": getattr(config, "dtype", None), "cache_dir": getattr(config, "cache_dir", None),
            "default_model": get_spec(getattr(config, "default_model", "tiny")).name,
            "preload": [get_spec(m).name for m in getattr(config, "preload", []) or []],
            "models_per_replica": opts.models_per_replica,
            "threads": opts.threads_per_replica or max(1, int(opts.cpus_per_replica))}


class RayExecutor:
    """The ``ray`` executor: see the module docstring."""

    name = "ray"

    def __init__(self, opts: RayOptions, config: Any = None) -> None:
        self.opts = opts
        self.default_model = get_spec(getattr(config, "default_model", "tiny")).name
        self.workers = self.capacity = opts.capacity
        self._started_ray = self._connected = self._deployed = False
        try:
            if not ray.is_initialized():
                # "local": a private instance even when a cluster runs on this machine
                ray.init(address=opts.address or "local", include_dashboard=False, logging_level=logging.WARNING)
                self._connected, self._started_ray = True, opts.address is None
            if opts.deploy:
                check_resources(opts, ray.cluster_resources())
                serve.start(proxy_location="Disabled")  # the bridge is the only way in
                self._deployed = True
                serve.run(build_app(opts, replica_settings(opts, config)), name=opts.app_name, route_prefix=None)
            self.handle = serve.get_app_handle(opts.app_name)
        except EngineError:
            self.close()
            raise
        except (ConnectionError, RuntimeError, RayServeException, ray.exceptions.RaySystemError) as exc:
            self.close()
            last = (str(exc).strip().splitlines() or [type(exc).__name__])[-1]  # deploy errors carry a traceback
            raise EngineError("unsupported", f"cannot reach or start the generation replicas on "
                              f"{opts.address or 'a local Ray'}: {last}; check --ray-address (a cluster starts "
                              "with `ray start --head`) and that every node has musicgen-bridge installed") from None
        self._watcher = _CancelWatcher()
        self._running: dict[str, str] = {}
        self._actors: dict[str, str] = {}  # replica id -> Ray actor name (for operators and tests)
        self._lock = threading.Lock()

    # -- Executor --------------------------------------------------------------------------
    def check(self, request: Any) -> None:
        check_retry(request)

    def produce(self, ctx: EngineContext, job: Job) -> RemoteProduced:
        retry = check_retry(job.request)
        payload = pack_job(job, ctx.paths)
        model = get_spec(job.request.model or self.default_model).name
        tried: list[str] = []
        for attempt in range(1 + (RETRY_ATTEMPTS if retry else 0)):
            try:
                return self._produce_once(job, payload, model)
            except ReplicaLost as lost:
                tried.append(lost.replica or "?")
                log.warning("job %s: replica %s died (attempt %d)", job.id, lost.replica, attempt + 1)
        job.check_cancelled()
        where = ", ".join(tried)
        hint = "send it again" if retry else "send it again, or set retryable: true to resend automatically"
        raise EngineError("interrupted", f"the replica running this job stopped ({where}); nothing was written; {hint}",
                          replicas=tried)

    def info(self) -> dict[str, Any]:
        return {"name": self.name, "app": self.opts.app_name, "replicas": self.opts.replicas,
                "gpus_per_replica": self.opts.gpus_per_replica, "capacity": self.capacity,
                "running": self.running()}

    def close(self) -> None:
        watcher = getattr(self, "_watcher", None)
        if watcher is not None:
            watcher.stop()
        if self._deployed and not self._started_ray and ray.is_initialized():
            try:  # on a shared cluster our replicas free their GPUs; other applications stay
                serve.delete(self.opts.app_name)
            except Exception as exc:  # noqa: BLE001 - closing must not fail the engine's shutdown
                log.warning("could not remove the Serve application %s: %s", self.opts.app_name, exc)
        self._deployed = False
        if self._started_ray:  # a private Ray goes with us; a cluster we joined keeps running
            self._started_ray = False
            try:
                serve.shutdown()
            except Exception as exc:  # noqa: BLE001 - the Ray instance is stopped below anyway
                log.warning("Serve did not shut down cleanly: %s", exc)
        if self._connected:
            ray.shutdown()
            self._connected = False

    # -- extras for operators, tests and live mode ----------------------------------------
    def running(self) -> dict[str, str]:
        """Job id (or ``SESSION#INDEX`` for a live window) -> the replica working on it now."""
        with self._lock:
            return dict(self._running)

    def actor_name(self, replica: str) -> str | None:
        """The Ray actor name of a replica this front end has used (``ray.get_actor(name, "serve")``)."""
        with self._lock:
            return self._actors.get(replica)

    def watch(self, key: str, cancel: threading.Event, stream: Any) -> None:
        """Cancel ``stream`` (a streaming Serve response) once ``cancel`` is set, until ``unwatch(key)``."""
        self._watcher.watch(key, cancel, stream)

    def unwatch(self, key: str) -> None:
        self._watcher.unwatch(key)

    def started(self, key: str, replica: str, actor: str) -> None:
        """``key`` (a job id, or ``SESSION#INDEX``) runs on ``replica`` now (``running``, ``actor_name``)."""
        with self._lock:
            self._running[key] = replica
            self._actors[replica] = actor

    def finished(self, key: str) -> None:
        with self._lock:
            self._running.pop(key, None)

    def whoami(self, timeout_s: float = 30.0) -> dict[str, Any]:
        """One replica's identity (see ``Producer.whoami``)."""
        return self.handle.options(method_name="whoami").remote().result(timeout_s=timeout_s)

    def session_call(self, session_id: str, method: str, *args: Any, timeout_s: float = 60.0, **kwargs: Any) -> Any:
        """Call ``Producer.<method>`` on the replica that holds ``session_id`` (the first call pins it).

        Raises ``unknown_session`` once the session's replica has gone away: the session's state
        went with it, so its owner must start it again (``end_session`` first).
        """
        lost = SESSIONS.lost(self.opts.app_name, session_id)
        if lost is not None:
            raise EngineError("unknown_session", f"live session {session_id!r} ran on replica {lost}, which stopped; "
                              "start the session again", session_id=session_id)
        try:
            return self.handle.options(method_name=method, session_id=session_id).remote(*args, **kwargs) \
                .result(timeout_s=timeout_s)
        except LOST:
            replica = SESSIONS.get(self.opts.app_name, session_id)
            if replica is not None:
                SESSIONS.replica_gone(self.opts.app_name, replica)
            raise EngineError("unknown_session", f"the replica holding live session {session_id!r} stopped; "
                              "start the session again", session_id=session_id) from None

    def session_replica(self, session_id: str) -> str | None:
        """The replica a session is pinned to (None before its first call or after it ended)."""
        return SESSIONS.get(self.opts.app_name, session_id)

    def end_session(self, session_id: str) -> None:
        """Forget a session's pin (and that it was lost)."""
        SESSIONS.release(self.opts.app_name, session_id)

    def live_windows(self, session_id: str, req: Any, seed_codes: Any = None) -> Any:
        """Where a live session's windows are made: its pinned replica (engine.executors.ray_live)."""
        from .ray_live import RayWindows

        return RayWindows(self, session_id, req, seed_codes)

    # -- one try on one replica -----------------------------------------------------------
    def _produce_once(self, job: Job, payload: dict[str, Any], model: str) -> RemoteProduced:
        stream: Any = self.handle.options(method_name="produce", stream=True, multiplexed_model_id=model) \
            .remote(payload)
        self.watch(job.id, job.cancel_event, stream)
        replica: str | None = None
        try:
            for chunk in stream:
                if "progress" in chunk:
                    job.report_progress(float(chunk["progress"]))
                elif "started" in chunk:
                    replica = str(chunk["started"])
                    self.started(job.id, replica, str(chunk.get("actor") or ""))
                elif "error" in chunk:
                    err = chunk["error"]
                    raise EngineError(err.get("code", "internal"), err.get("message", "the replica failed"),
                                      **(err.get("details") or {}))
                elif "produced" in chunk:
                    produced = check_produced(chunk["produced"], job.request)
                    for take in produced.takes:  # the file's sidecar says where it was made
                        take.sidecar["replica"] = replica
                    return RemoteProduced(**{f.name: getattr(produced, f.name) for f in fields(produced)},
                                          replica=replica or "")
            raise ReplicaLost(replica)  # the stream ended without an answer
        except (RayServeException, RayTaskError, RayActorError) as exc:
            raise ray_error(exc, replica, job.cancel_event.is_set()) from None
        finally:
            self.unwatch(job.id)
            self.finished(job.id)


class _CancelWatcher:
    """One thread that turns a job's cancel event into cancelling its Ray response."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._streams: dict[str, tuple[threading.Event, Any]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mgb-ray-cancel", daemon=True)
        self._thread.start()

    def watch(self, key: str, cancel: threading.Event, stream: Any) -> None:
        with self._lock:
            self._streams[key] = (cancel, stream)

    def unwatch(self, key: str) -> None:
        with self._lock:
            self._streams.pop(key, None)

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(CANCEL_POLL_S):
            with self._lock:
                hits = [(key, s) for key, (cancel, s) in self._streams.items() if cancel.is_set()]
                for key, _ in hits:
                    del self._streams[key]
            for _, stream in hits:
                stream.cancel()
