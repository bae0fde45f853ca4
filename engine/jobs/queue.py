"""The job queue: bounded, one worker per device, progress events, cancellation between steps.

A job's listener receives ``(event, content)`` pairs in order: ``accepted``, ``progress`` (0..1,
throttled), then exactly one of ``done`` or ``error``. Finished jobs stay queryable by id.

>>> q = JobQueue(lambda job: {"answer": 42}, max_queue=4)
>>> job = q.submit("generate", {}, listener=None)
>>> q.wait(job.id, timeout=5).result
{'answer': 42}
>>> q.shutdown()
"""

from __future__ import annotations

import collections
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import EngineError, from_os_error
from .cancel import CancelToken

log = logging.getLogger(__name__)

Listener = Callable[[str, dict[str, Any]], None]
FINISHED = ("done", "error", "cancelled", "interrupted")
PROGRESS_STEP = 0.02  # report progress at most every 2 %
KEEP_FINISHED = 2000


@dataclass
class Job:
    id: str
    kind: str
    request: Any
    listener: Listener | None = None
    state: str = "queued"  # queued | running | done | error | cancelled | interrupted
    progress: float = 0.0
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    cancel_event: CancelToken = field(default_factory=CancelToken, repr=False)
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    done_event: threading.Event = field(default_factory=threading.Event, repr=False)
    _last_progress: float = field(default=-1.0, repr=False)

    def emit(self, event: str, content: dict[str, Any]) -> None:
        if self.listener is None:
            return
        try:
            self.listener(event, {"job_id": self.id, **content})
        except Exception:  # a broken client must never take the worker down
            log.exception("listener of job %s failed", self.id)

    def report_progress(self, fraction: float) -> None:
        """Called by the pipeline; sends a throttled ``progress`` event."""
        self.progress = max(self.progress, min(1.0, fraction))
        if self.progress >= 1.0 or self.progress - self._last_progress >= PROGRESS_STEP:
            self._last_progress = self.progress
            self.emit("progress", {"fraction": round(self.progress, 4)})

    def check_cancelled(self) -> None:
        self.cancel_event.check()

    def status(self) -> dict[str, Any]:
        out: dict[str, Any] = {"job_id": self.id, "kind": self.kind, "state": self.state,
                               "progress": round(self.progress, 4)}
        if self.result is not None:
            out["result"] = self.result
        if self.error is not None:
            out["error"] = self.error
        return out


class JobQueue:
    """A bounded FIFO served by ``workers`` threads that call ``runner(job) -> result dict``."""

    def __init__(self, runner: Callable[[Job], dict[str, Any]], max_queue: int = 32, workers: int = 1,
                 journal: Any = None) -> None:
        self._runner = runner
        self._journal = journal  # engine.jobs.journal.Journal: every state change is written there
        self._journal_failures = 0
        self._closing = False
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._max_queue = max_queue
        self._jobs: collections.OrderedDict[str, Job] = collections.OrderedDict()
        self._lock = threading.Lock()
        self._pending = 0
        self._threads = [threading.Thread(target=self._work, name=f"mgb-worker-{i}", daemon=True)
                         for i in range(workers)]
        for t in self._threads:
            t.start()

    def submit(self, kind: str, request: Any, listener: Listener | None, job_id: str | None = None) -> Job:
        with self._lock:
            if self._pending >= self._max_queue:
                raise EngineError("busy", f"the queue holds {self._pending} jobs (limit {self._max_queue}); "
                                  "try again when one finishes")
            job = Job(id=job_id or f"j-{uuid.uuid4().hex[:12]}", kind=kind, request=request, listener=listener)
            self._jobs[job.id] = job
            self._pending += 1
            while len(self._jobs) > KEEP_FINISHED + self._max_queue:
                oldest = next(iter(self._jobs.values()))
                if oldest.state not in FINISHED:
                    break
                self._jobs.popitem(last=False)
        self._note(job)  # on disk before the client learns the id
        job.emit("accepted", {"kind": kind, "queue_position": self._pending})
        self._queue.put(job)
        return job

    def get(self, job_id: str) -> Job:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise EngineError("unknown_job", f"no job with id {job_id!r}", job_id=job_id)
        return job

    def cancel(self, job_id: str) -> Job:
        job = self.get(job_id)
        job.cancel_event.set()
        return job

    def wait(self, job_id: str, timeout: float | None = None) -> Job:
        job = self.get(job_id)
        job.done_event.wait(timeout)
        return job

    def jobs(self) -> list[Job]:
        with self._lock:
            return list(self._jobs.values())

    @property
    def pending(self) -> int:
        return self._pending

    def shutdown(self, timeout: float = 5.0) -> None:
        self._closing = True
        for job in self.jobs():
            job.cancel_event.set()
        for _ in self._threads:
            self._queue.put(None)
        for t in self._threads:
            t.join(timeout)

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            try:
                if job.cancel_event.is_set():
                    raise EngineError("cancelled", "the job was cancelled before it started")
                job.state, job.started = "running", time.time()
                self._note(job)
                job.result = self._runner(job)
                job.state = "done"
                self._note(job)  # the journal knows before the client does
                job.report_progress(1.0)
                job.emit("done", job.result)
            except (EngineError, OSError) as exc:
                if isinstance(exc, OSError):
                    mapped = from_os_error(exc)
                    if mapped is None:
                        log.error("job %s failed: %s", job.id, exc)
                        mapped = EngineError("internal", f"{type(exc).__name__}: {exc}")
                    exc = mapped
                if exc.code == "cancelled" and self._closing:  # stopped by shutdown, not by the client
                    exc = EngineError("interrupted", "the engine stopped before this job finished; submit it again")
                job.state = exc.code if exc.code in ("cancelled", "interrupted") else "error"
                job.error = exc.to_dict()
                self._note(job)
                job.emit("error", job.error)
            except Exception as exc:
                log.exception("job %s failed", job.id)
                job.state = "error"
                job.error = EngineError("internal", f"{type(exc).__name__}: {exc}").to_dict()
                self._note(job)
                job.emit("error", job.error)
            finally:
                job.finished = time.time()
                with self._lock:
                    self._pending -= 1
                job.done_event.set()

    def _note(self, job: Job) -> None:
        if self._journal is not None:
            try:
                self._journal.record(job)
            except Exception as exc:  # noqa: BLE001 - a full disk must not stop the engine serving
                self._journal_failures += 1
                n = self._journal_failures
                if n & (n - 1) == 0:  # 1, 2, 4, 8...: a full disk gives a few lines, not one per job
                    log.error("journal write for job %s failed (%s: %s); %d failed so far", job.id, type(exc).__name__, exc, n)
