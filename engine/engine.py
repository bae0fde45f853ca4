"""The engine: one object that owns the models, the job queue and the output policy.

Every transport (CLI --local, ZeroMQ, OSC) calls these methods; none of them blocks on
generation.

>>> engine = Engine(EngineConfig(default_model="tiny", output_root="/tmp/mgb-doc"))
>>> job = engine.submit("generate", {"prompt": "lofi", "bars": 1, "bpm": 120})
>>> engine.wait(job.id, timeout=30).state
'done'
>>> engine.close()
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import limits
from .backends import Backend, open_backend
from .errors import EngineError
from .jobs import Job, JobQueue, Listener
from .melody_input import check_melody_spec, load_melody
from .models.registry import DEFAULT_MODEL, MELODY_MODELS, ModelRegistry, get_spec
from .paths import PathPolicy
from .render import RenderSpec, check_file_name
from .pipeline import EngineContext, publish
from .request import GenerateRequest

log = logging.getLogger(__name__)


@dataclass
class EngineConfig:
    device: str = "auto"
    dtype: str | None = None
    cache_dir: str | None = None
    default_model: str = DEFAULT_MODEL
    preload: list[str] = field(default_factory=list)
    output_root: str | Path | None = None
    allowed_dirs: list[str | Path] = field(default_factory=list)
    max_queue: int = limits.MAX_QUEUE
    vst3_dirs: list[str] | None = None  # None: the platform's standard VST3 folders
    backend: str = "local"  # where generate+render run: "local" (this process) or "ray" (engine/backends)
    backend_options: dict[str, Any] = field(default_factory=dict)  # e.g. RayOptions fields for "ray"


class Engine:
    def __init__(self, config: EngineConfig | None = None) -> None:
        self.config = config or EngineConfig()
        get_spec(self.config.default_model)
        self.registry = ModelRegistry(self.config.device, self.config.dtype, self.config.cache_dir)
        self.paths = PathPolicy(_absolute(self.config.output_root), [_absolute(d) for d in self.config.allowed_dirs])
        self.context = EngineContext(self.registry, self.paths, self.config.default_model, _backends())
        self.backend: Backend = open_backend(self.config.backend, self.config.backend_options,
                                             registry=self.registry, config=self.config)
        # a remote backend keeps every job it can hold in flight; the queue answers busy beyond that
        max_queue = min(self.config.max_queue, self.backend.capacity or self.config.max_queue)
        self.queue = JobQueue(self._run, max_queue=max_queue, workers=min(self.backend.workers, max_queue))

    # -- requests -------------------------------------------------------------------------
    def submit(self, kind: str, content: dict[str, Any], listener: Listener | None = None) -> Job:
        """Validate and queue a job; raises EngineError before anything is queued."""
        if kind == "generate":
            request = GenerateRequest.from_dict(content)
            spec = get_spec(request.model or self.config.default_model)
            if request.melody is not None:
                check_melody_spec(request.melody)
                if not spec.melody:
                    raise EngineError("no_melody_support", f"model {spec.name} has no melody conditioning; use "
                                      f"one of: {', '.join(MELODY_MODELS)}")
                if "audio" not in request.melody:  # notes and MIDI are cheap: fail before queueing
                    load_melody(request.melody, self.paths)
            self.paths.folder(request.output_dir)
            if request.output_name is not None:
                check_file_name(request.output_name)
            # the whole render chain is validated before any work (bad_fx, invalid_field)
            request.render = RenderSpec.from_dict(
                {**request.render_fields, "sample_rate": request.sample_rate, "channels": request.channels,
                 "format": request.format}, vst3_dirs=self.config.vst3_dirs)
            self.backend.check(request)
        else:
            raise EngineError("unknown_msg_type", f"unknown job kind {kind!r}")
        return self.queue.submit(kind, request, listener)

    def status(self, job_id: str) -> dict[str, Any]:
        return self.queue.get(job_id).status()

    def cancel(self, job_id: str) -> dict[str, Any]:
        return self.queue.cancel(job_id).status()

    def wait(self, job_id: str, timeout: float | None = None) -> Job:
        return self.queue.wait(job_id, timeout)

    def models(self) -> list[dict[str, Any]]:
        return self.registry.describe()

    def live_start(self, content: dict[str, Any], listener: Listener | None = None) -> dict[str, Any]:
        raise EngineError("unsupported", "live mode is not available in this build yet")

    def live_stop(self, session_id: str) -> dict[str, Any]:
        raise EngineError("unknown_session", f"no live session {session_id!r}")

    def transport(self, content: dict[str, Any]) -> dict[str, Any]:
        raise EngineError("unsupported", "live mode is not available in this build yet")

    def info(self) -> dict[str, Any]:
        return {"default_model": self.config.default_model, "device": str(self.registry.device),
                "loaded": self.registry.loaded_names(), "queue": self.queue.pending,
                "output_root": str(self.paths.output_root), "backend": self.backend.info()}

    def close(self) -> None:
        self.queue.shutdown()
        self.backend.close()

    # -- worker ---------------------------------------------------------------------------
    def _run(self, job: Job) -> dict[str, Any]:
        if job.kind == "generate":
            produced = self.backend.produce(self.context, job)
            result = publish(self.context, job, produced)
            replica = getattr(produced, "replica", None)  # which remote replica made it
            return result if replica is None else {**result, "replica": replica}
        raise EngineError("unknown_msg_type", f"unknown job kind {job.kind!r}")


def _absolute(path: str | Path | None) -> Path | None:
    return None if path is None else Path(path).expanduser().resolve()


def _backends() -> dict[str, Any]:
    try:
        from .models.fast_decoder import generate_fast
    except ImportError:
        return {}
    return {"fast": generate_fast}
