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
import os
import sqlite3
import threading
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from . import limits
from .conditioning.melody_input import check_melody_spec, load_melody
from .conditioning.style_input import check_style_request
from .decoders.choice import check_live as check_live_decoder
from .errors import EngineError
from .executors import Executor, open_executor
from .generation.fast.precision import name_of
from .jobs.journal import check_retryable, open_journal, recover
from .jobs.queue import Job, JobQueue, Listener
from .live.session import LiveManager
from .models.registry import DEFAULT_MODEL, ModelRegistry, get_spec
from .models.specs import check_melody_support
from .paths import PathPolicy
from .produce.codec_job import CODEC_KINDS, CodecRequest, check_request, run_codec
from .produce.context import EngineContext, check_dtype
from .produce.fixed_window import check_live as check_fixed_live
from .produce.fixed_window import check_request as check_fixed_window
from .produce.publish import publish
from .render import RenderSpec, check_file_name
from .request import GenerateRequest
from .timing.timeline import check_bpm, exact

log = logging.getLogger(__name__)


@dataclass
class EngineConfig:
    """How an engine starts: device, models, output root and allowed folders, queue, journal, executor.

    >>> from musicgen_bridge import EngineConfig
    >>> config = EngineConfig(default_model="tiny", output_root="/tmp/mgb-out", executor="local")
    >>> config.executor, config.max_queue > 0
    ('local', True)
    """

    device: str = "auto"  # auto: CUDA, then Apple's MPS, then the CPU
    dtype: str | None = None  # fp32|bf16|fp16|int8; None/auto: per device (models/registry.py resolve_precision)
    cache_dir: str | None = None
    default_model: str = DEFAULT_MODEL
    preload: list[str] = field(default_factory=list)
    output_root: str | Path | None = None
    allowed_dirs: list[str | Path] = field(default_factory=list)
    max_queue: int = limits.MAX_QUEUE
    vst3_dirs: list[str] | None = None  # None: the platform's standard VST3 folders
    journal: str | Path | None = None  # job journal (SQLite); None: none kept. serve: journal.default_path()
    executor: str = "local"  # where generate+render run: "local" (this process) or "ray" (engine/executors)
    executor_options: dict[str, Any] = field(default_factory=dict)  # e.g. RayOptions fields for "ray"
    # continuous batching of the fast generator (engine/jobs/batcher.py); False: each job decodes alone
    batching: bool = True
    batch_rows: int = 16  # decoder rows per batched step (a guided take is 2)
    batch_jobs: int = 8  # jobs the local executor runs at once while batching (their decoding is shared)


class Engine:
    """The resident engine: validates requests, queues jobs, runs them on its executor, writes the files.

    >>> from musicgen_bridge import Engine, EngineConfig
    >>> engine = Engine(EngineConfig(default_model="tiny", output_root="/tmp/mgb-out"))  # loads a model and writes files  # doctest: +SKIP
    >>> job = engine.submit("generate", {"prompt": "lofi drums", "bars": 2, "bpm": 90})  # loads a model and writes files  # doctest: +SKIP
    >>> engine.wait(job.id, timeout=60).result["path"]  # loads a model and writes files  # doctest: +SKIP
    '/tmp/mgb-out/lofi-drums-bar1.wav'
    >>> engine.close()  # loads a model and writes files  # doctest: +SKIP
    """

    def __init__(self, config: EngineConfig | None = None) -> None:
        self.config = config or EngineConfig()
        get_spec(self.config.default_model)
        self.registry = ModelRegistry(self.config.device, self.config.dtype, self.config.cache_dir)
        self.paths = PathPolicy(_absolute(self.config.output_root), [Path(d).expanduser().resolve() for d in self.config.allowed_dirs])
        self.batcher = _batcher(self.config)
        self.context = EngineContext(self.registry, self.paths, self.config.default_model, _generators(self.batcher))
        self.executor: Executor = open_executor(self.config.executor, self.config.executor_options,
                                             registry=self.registry, config=self.config)
        # a remote executor keeps every job it can hold in flight; the queue answers busy beyond that
        max_queue = min(self.config.max_queue, self.executor.capacity or self.config.max_queue)
        self.journal = open_journal(self.config.journal)  # None when off or held by another engine
        workers = self.executor.workers
        if self.batcher is not None and self.executor.name == "local":
            workers = max(workers, self.config.batch_jobs)  # concurrent jobs decode as one batch
        self.queue = JobQueue(self._run, max_queue=max_queue, workers=min(workers, max_queue),
                              journal=self.journal)
        self.live = LiveManager(self.context, self.executor)  # Ray: windows on a pinned replica
        if self.journal is not None:
            try:
                recover(self.journal, self.submit, self.paths)
            except (OSError, sqlite3.Error) as exc:  # a full disk must not stop a restart
                log.error("journal %s: recovering the last run's jobs failed (%s); serving anyway: unfinished jobs "
                          "of the last run keep their old state until the journal can be written", self.journal.path,
                          exc)

    # -- requests -------------------------------------------------------------------------
    def submit(self, kind: str, content: dict[str, Any], listener: Listener | None = None,
               job_id: str | None = None) -> Job:
        """Validate and queue a job; raises EngineError before anything is queued."""
        check_retryable(content)
        if kind in ("generate", "continue"):
            request = GenerateRequest.from_dict(content)
            if kind == "continue":
                if request.audio is None:
                    raise EngineError("missing_field", "continue needs the audio item: \"audio\": {\"path\": ...}",
                                      field="audio")
                if request.bars is None:
                    raise EngineError("invalid_field", "continue counts its new material in bars", field="bars")
                from .produce.continue_job import check_item  # here, as below: continue_job imports the pipeline

                item = self.paths.input_file(request.audio["path"], "audio")
                check_item(str(item), request.audio.get("start_seconds"), request.audio.get("end_seconds"))
            spec = get_spec(request.model or self.config.default_model)
            if request.style is not None:  # before melody: a style with a melody is a style question
                check_style_request(spec, request, self.paths)
            check_fixed_window(spec, request, kind)  # MAGNeT: one window, no continuation
            if request.melody is not None:
                check_melody_spec(request.melody)
                check_melody_support(spec.name, spec.melody)
                if "audio" not in request.melody:  # notes and MIDI are cheap: fail before queueing
                    request.melody_source = load_melody(request.melody, self.paths)
            self.paths.folder(request.output_dir)
            if request.output_name is not None:
                check_file_name(request.output_name)
            # the whole render chain is validated before any work (bad_fx, invalid_field)
            request.render = self._render_spec(request)
            check_dtype(self.context, request)  # unsupported before queueing (int8 on a GPU, reference + bf16)
            self.executor.check(request)
        elif kind in CODEC_KINDS:  # standalone EnCodec: runs here, whatever the executor
            codec_request = CodecRequest.from_dict(kind, content)
            check_request(self.context, codec_request)
            return self.queue.submit(kind, codec_request, listener, job_id=job_id)
        else:
            raise EngineError("unknown_msg_type", f"unknown job kind {kind!r}")
        return self.queue.submit(kind, request, listener, job_id=job_id)

    def status(self, job_id: str) -> dict[str, Any]:
        try:
            return self.queue.get(job_id).status()
        except EngineError:
            if self.journal is None or (earlier := self.journal.status(job_id)) is None:
                raise
            return earlier  # a job of an earlier run of the engine

    def cancel(self, job_id: str) -> dict[str, Any]:
        return self.queue.cancel(job_id).status()

    def wait(self, job_id: str, timeout: float | None = None) -> Job | None:
        try:
            return self.queue.wait(job_id, timeout)
        except EngineError:
            if self.journal is None or self.journal.status(job_id) is None:
                raise
            return None  # a job of an earlier run: it ended then

    def jobs(self, limit: int = 20) -> list[dict[str, Any]]:
        """The newest ``limit`` jobs of this run, newest first: each one's status plus ``created``."""
        recent = sorted(self.queue.jobs(), key=lambda job: job.created, reverse=True)[:limit]
        return [{**job.status(), "created": round(job.created, 3)} for job in recent]

    def live_sessions(self) -> list[dict[str, Any]]:
        return self.live.list()

    def models(self) -> list[dict[str, Any]]:
        return self.registry.describe()

    def _render_spec(self, request: GenerateRequest) -> RenderSpec:
        """The request's render stage, validated before any work (bad_fx, invalid_field)."""
        fields = dict(request.render_fields)
        fx = fields.get("fx")
        if isinstance(fx, str) and ("/" in fx or os.sep in fx or fx.lower().endswith(".json")):
            # a chain file named by a client: inside the roots, checked before the file is touched
            fields["fx"] = str(self.paths.input_file(fx, "fx"))
        return RenderSpec.from_dict({**fields, "sample_rate": request.sample_rate,
                                     "channels": request.channels, "format": request.format},
                                    vst3_dirs=self.config.vst3_dirs)

    def warm_up(self) -> None:
        """Pay one-off costs now, not in the first request: the beat tracker's compilation and one
        short generation per loaded model. Runs in the background; requests may arrive meanwhile."""
        from .generation.reference import Conditioning
        from .generation.sampling import SamplingParams
        from .timing.conform import warm_up as warm_conform

        def work() -> None:
            try:
                warm_conform()
                for name in self.registry.loaded_names():
                    loaded = self.registry.load(name)
                    generate = self.context.generators.get("fast")
                    if generate is not None and loaded.spec.family == "musicgen":  # the fast loop is MusicGen's
                        generate(loaded, Conditioning(["warm up"]), 4, SamplingParams(), [0])
            except Exception:
                log.exception("warm-up failed")

        threading.Thread(target=work, name="mgb-warm-up", daemon=True).start()

    def live_start(self, content: dict[str, Any], listener: Listener | None = None) -> dict[str, Any]:
        """Start a live session; windows arrive as ``window`` events through ``listener``."""
        if not isinstance(content, dict):
            raise EngineError("invalid_field", "live_start content must be an object")
        window_bars = content.get("window_bars", 4)
        request = GenerateRequest.from_dict({**content, "bars": window_bars})
        check_live_decoder(request)
        ahead = content.get("ahead_bars", 8)
        if isinstance(ahead, bool) or not isinstance(ahead, int) or not 1 <= ahead <= limits.MAX_AHEAD_BARS:
            raise EngineError("invalid_field", f"ahead_bars must be an integer 1..{limits.MAX_AHEAD_BARS}",
                              field="ahead_bars")
        if request.start_bar.denominator != 1:
            raise EngineError("invalid_field", "live start_bar must be a whole bar", field="start_bar")
        spec = get_spec(request.model or self.config.default_model)
        if request.style is not None:
            check_style_request(spec, request, self.paths)
        check_fixed_live(spec, request, content.get("seed_audio") is not None)
        self.paths.folder(request.output_dir)
        request.render = self._render_spec(request)
        seed_codes = None
        if content.get("seed_audio") is not None:
            seed_codes = self._seed_codes(content["seed_audio"], request)
        session = self.live.start(request, ahead, listener, seed_codes)
        return {"session_id": session.id, "window_bars": request.bars, "ahead_bars": ahead,
                "start_bar": int(request.start_bar)}

    def _seed_codes(self, ref: Any, request: GenerateRequest) -> Any:
        from .generation.continuation import prompt_context
        from .produce.continue_job import read_item
        from .request import _audio_ref
        from .timing.timeline import Grid

        ref = _audio_ref(ref)
        path = self.paths.input_file(ref["path"], "seed_audio")
        item, rate, _ = read_item(str(path), ref.get("start_seconds"), ref.get("end_seconds"))
        grid = Grid.constant(request.time_signature, request.bpm)
        end_bar = Fraction(item.shape[1], rate) / grid.span_seconds(0, 1)
        loaded = self.registry.load(request.model or self.config.default_model)
        return prompt_context(loaded, item, rate, grid, end_bar, request.context_bars).codes

    def live_stop(self, session_id: str) -> dict[str, Any]:
        return self.live.stop(session_id)

    def transport(self, content: dict[str, Any]) -> dict[str, Any]:
        """The DAW's transport: song position in quarter-note beats, tempo, playing. Without a
        ``session_id`` it reaches every live session (one transport per DAW)."""
        for key in ("beat", "bpm"):
            if key not in content:
                raise EngineError("missing_field", f"transport needs {key}", field=key)
        check_bpm(content["bpm"])
        if exact(content["beat"], "beat") < 0:
            raise EngineError("invalid_field", "beat must not be negative", field="beat")
        session_id = content.get("session_id")
        if session_id is not None and not isinstance(session_id, str):
            raise EngineError("invalid_field", "session_id must be a string", field="session_id")
        playing = content.get("playing", True)
        if not isinstance(playing, bool):
            raise EngineError("invalid_field", "playing must be true or false", field="playing")
        sessions = self.live.transport(content["beat"], content["bpm"], playing,
                                       session_id)
        return {"sessions": sessions}

    def info(self) -> dict[str, Any]:
        return {"default_model": self.config.default_model, "device": str(self.registry.device),
                "dtype": self.registry.decode_dtype or name_of(self.registry.dtype),
                "loaded": self.registry.loaded_names(), "queue": self.queue.pending,
                "output_root": str(self.paths.output_root), "executor": self.executor.info(),
                # the same object under its pre-1.0 name, kept through 1.x (docs/protocol.md, ping)
                "backend": self.executor.info()}

    def close(self) -> None:
        self.live.stop_all()
        self.queue.shutdown()
        if self.batcher is not None:
            self.batcher.close()
        self.executor.close()
        if self.journal is not None:
            self.journal.close()

    # -- worker ---------------------------------------------------------------------------
    def _run(self, job: Job) -> dict[str, Any]:
        if job.kind in ("generate", "continue"):
            produced = self.executor.produce(self.context, job)
            result = publish(self.context, job, produced)
            replica = getattr(produced, "replica", None)  # which remote replica made it
            return result if replica is None else {**result, "replica": replica}
        if job.kind in CODEC_KINDS:
            return run_codec(self.context, job)
        raise EngineError("unknown_msg_type", f"unknown job kind {job.kind!r}")


def _absolute(path: str | Path | None) -> Path | None:
    return None if path is None else Path(path).expanduser().resolve()


def _batcher(config: EngineConfig) -> Any:
    """The decode scheduler the fast generator runs through, or None when batching is off."""
    if not config.batching:
        return None
    if isinstance(config.batch_rows, bool) or not isinstance(config.batch_rows, int) or config.batch_rows < 2:
        raise EngineError("invalid_field", "batch_rows must be an integer >= 2", field="batch_rows")
    if isinstance(config.batch_jobs, bool) or not isinstance(config.batch_jobs, int) or config.batch_jobs < 1:
        raise EngineError("invalid_field", "batch_jobs must be an integer >= 1", field="batch_jobs")
    try:
        from .jobs.batcher import DecodeBatcher
    except ImportError:
        return None
    return DecodeBatcher(max_rows=config.batch_rows)


def _generators(batcher: Any = None) -> dict[str, Any]:
    """The fast generator: through the decode scheduler when batching, else ``generate_fast`` alone."""
    try:
        from .generation.fast.decoder import generate_fast
    except ImportError:
        return {}
    return {"fast": batcher.generate if batcher is not None else generate_fast}
