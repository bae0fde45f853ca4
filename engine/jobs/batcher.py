"""The decode scheduler: concurrent generations on one model decode as one batch, step by step.

:meth:`DecodeBatcher.generate` has ``generate_fast``'s signature, so generate jobs, continuation
jobs and live windows use it unchanged through ``EngineContext.generators["fast"]``. Each call
becomes a :class:`~..generation.fast.batch.Sequence` handed to the model's scheduler thread,
which admits waiting sequences at step boundaries (conditioning + prefill on their own), runs
:func:`~..generation.fast.batch.batched_step` over the running ones, and hands each its tokens the
step it finishes; the caller decodes them to audio on its own thread.

Per sequence: cancellation is checked every step (only that sequence leaves), progress comes from
its own ``on_step``, and it has a priority. Admission order is: live windows at risk of an
underrun, other live windows, then jobs in arrival order; while any running live window is at
risk, steps run only the at-risk windows (a smaller step finishes sooner). A live caller states
its priority with :func:`decode_priority` around its generate call.

Precision: one scheduler per model and precision (the request's ``dtype``), so a batch never mixes
precisions; int8 sequences step one at a time (their activation scale is per call, which would
make a row depend on its batch mates); fp32/bf16/fp16 ones batch, padded to
:func:`~..generation.fast.batch.row_floor` rows.

>>> batcher = DecodeBatcher(max_rows=16)
>>> out = batcher.generate(loaded, Conditioning(["pads"]), 8, SamplingParams(), [3])  # needs a loaded model  # doctest: +SKIP
>>> batcher.close()
"""

from __future__ import annotations

import contextlib
import contextvars
import itertools
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch

from ..errors import EngineError
from ..generation.fast.batch import Sequence, batched_step, row_floor
from ..generation.fast.decoder import weights_for
from ..generation.fast.precision import normalize, plan_for
from ..generation.fast.step import DecoderWeights
from ..generation.reference import Conditioning, GenerationOutput, StepCallback, decode_tokens
from ..generation.sampling import SamplingParams
from ..models.registry import LoadedModel

log = logging.getLogger(__name__)

#: a live window is at risk when its time left is under this many times its estimated decode time
RISK_MARGIN = 2.0


@dataclass(frozen=True)
class Priority:
    """``live``: a live window; ``deadline``: ``time.monotonic()`` when its audio must be ready (None: no clock)."""

    live: bool = False
    deadline: float | None = None


_PRIORITY: contextvars.ContextVar[Priority | None] = contextvars.ContextVar("mgb_decode_priority", default=None)


@contextlib.contextmanager
def decode_priority(live: bool = True, deadline: float | None = None) -> Iterator[None]:
    """Generations started inside this block carry this priority (see the module doc).

    >>> with decode_priority(live=True, deadline=time.monotonic() + 2.0):
    ...     pass  # live window's generate call goes here
    """
    token = _PRIORITY.set(Priority(live, deadline))
    try:
        yield
    finally:
        _PRIORITY.reset(token)


@dataclass
class _Ticket:
    seq: Sequence
    priority: Priority
    order: int
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None

    def at_risk(self, step_s: float) -> bool:
        deadline = self.priority.deadline
        if deadline is None or step_s <= 0:
            return False
        return deadline - time.monotonic() < RISK_MARGIN * self.seq.remaining * step_s

    def rank(self, step_s: float) -> tuple[int, int, int]:
        return (0 if self.at_risk(step_s) else 1, 0 if self.priority.live else 1, self.order)


class _ModelWorker:
    """One model's scheduler thread, in one precision, and its waiting and running sequences.

    A batch only mixes sequences of the same precision (they share ``self.w``'s projections).
    """

    def __init__(self, loaded: LoadedModel, max_rows: int, dtype: str | None = None) -> None:
        self.loaded = loaded
        self.max_rows = max_rows
        with loaded.lock:
            self.w: DecoderWeights = weights_for(loaded, dtype)
        self.floor: int | None = None
        self.step_s = 0.0  # running estimate of one batched step's seconds
        self.steps = 0  # batched steps run (for tests and the bench)
        self.widest = 0  # most sequences in one step so far
        self._cond = threading.Condition()
        self._waiting: list[_Ticket] = []
        self._running: list[_Ticket] = []
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name=f"mgb-batch-{loaded.name}-{self.w.plan.name}",
                                        daemon=True)
        self._thread.start()

    def submit(self, ticket: _Ticket) -> None:
        with self._cond:
            if self._closed:
                raise EngineError("interrupted", "the engine stopped before this generation started")
            self._waiting.append(ticket)
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(10)

    # -- the scheduler thread -------------------------------------------------------------
    def _loop(self) -> None:
        with self.loaded.lock, torch.inference_mode():
            self.floor = row_floor(self.w, self.max_rows)
        if self.floor is None:
            level = logging.INFO if self.w.plan.kind == "int8" else logging.WARNING  # int8: by design
            log.log(level, "%s (%s): no row count gives row-independent products; sequences step alone",
                    self.loaded.name, self.w.plan.name)
        while True:
            with self._cond:
                while not self._waiting and not self._running and not self._closed:
                    self._cond.wait()
                if self._closed:
                    self._fail_all(EngineError("interrupted", "the engine stopped before this generation finished"))
                    return
                admitted = self._admit()
            for ticket in admitted:
                self._run(ticket, ticket.seq.prefill)
            self._drop_cancelled()
            group = self._group()
            if group:
                self._step(group)

    def _admit(self) -> list[_Ticket]:
        """Waiting sequences that fit, best rank first (at least one when nothing runs)."""
        rows = sum(t.seq.takes * (2 if t.seq.guided else 1) for t in self._running)
        admitted: list[_Ticket] = []
        for ticket in sorted(self._waiting, key=lambda t: t.rank(self.step_s)):
            need = ticket.seq.takes * (2 if ticket.seq.guided else 1)
            if rows + need > self.max_rows and (rows or admitted):
                continue
            rows += need
            admitted.append(ticket)
        for ticket in admitted:
            self._waiting.remove(ticket)
            self._running.append(ticket)
        return admitted

    def _run(self, ticket: _Ticket, work: Any) -> None:
        try:
            with self.loaded.lock, torch.inference_mode():
                work()
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting caller, who raises it
            self._finish(ticket, exc)
        else:
            if ticket.seq.finished:
                self._finish(ticket, None)

    def _drop_cancelled(self) -> None:
        with self._cond:
            waiting = [t for t in self._waiting if t.seq.cancel is not None and t.seq.cancel.is_set()]
            for ticket in waiting:
                self._waiting.remove(ticket)
        for ticket in waiting:
            self._finish(ticket, EngineError("cancelled", "the job was cancelled"))
        for ticket in list(self._running):
            cancel = ticket.seq.cancel
            if cancel is not None and cancel.is_set():
                self._finish(ticket, EngineError("cancelled", "the job was cancelled"))

    def _group(self) -> list[_Ticket]:
        """The sequences the next step runs: the at-risk live windows alone when there are any."""
        urgent = [t for t in self._running if t.priority.live and t.at_risk(self.step_s)]
        return urgent or list(self._running)

    def _step(self, group: list[_Ticket]) -> None:
        seqs = [t.seq for t in group]
        started = time.perf_counter()
        try:
            with self.loaded.lock, torch.inference_mode():
                if self.floor is None:  # no safe padding: each sequence steps alone
                    for seq in seqs:
                        batched_step(self.w, [seq], 1)
                else:
                    batched_step(self.w, seqs, self.floor)
        except BaseException as exc:  # noqa: BLE001 - every sequence of the step shares the failure
            for ticket in group:
                self._finish(ticket, exc)
            return
        took = time.perf_counter() - started
        self.step_s = took if self.steps == 0 else 0.8 * self.step_s + 0.2 * took
        self.steps += 1
        self.widest = max(self.widest, len(group))
        for ticket in group:
            if ticket.seq.error is not None:
                self._finish(ticket, ticket.seq.error)
            elif ticket.seq.finished:
                self._finish(ticket, None)

    def _finish(self, ticket: _Ticket, error: BaseException | None) -> None:
        with self._cond:
            if ticket in self._running:
                self._running.remove(ticket)
        ticket.error = error
        ticket.done.set()

    def _fail_all(self, error: EngineError) -> None:
        for ticket in self._waiting + self._running:
            ticket.error = error
            ticket.done.set()
        self._waiting.clear()
        self._running.clear()


class DecodeBatcher:
    """Continuous batching for the fast generator, one scheduler thread per loaded model.

    ``max_rows``: decoder rows per step (a guided take is two rows).
    """

    def __init__(self, max_rows: int = 16) -> None:
        if max_rows < 2:
            raise ValueError("max_rows must be at least 2 (one guided take)")
        self.max_rows = max_rows
        self._workers: dict[tuple[int, str], _ModelWorker] = {}
        self._lock = threading.Lock()
        self._order = itertools.count()

    def worker(self, loaded: LoadedModel, dtype: str | None = None) -> _ModelWorker:
        """The scheduler for ``loaded`` in precision ``dtype`` (None: the engine's default)."""
        embed_weight = loaded.model.decoder.model.decoder.embed_tokens[0].weight
        precision = plan_for(normalize(dtype) or loaded.decode_dtype, loaded.device, embed_weight.dtype).name
        key = (id(loaded), precision)
        with self._lock:
            worker = self._workers.get(key)
            if worker is None or worker.loaded is not loaded:
                worker = self._workers[key] = _ModelWorker(loaded, self.max_rows, precision)
            return worker

    def generate(self, loaded: LoadedModel, cond: Conditioning, frames: int, params: SamplingParams,
                 seeds: list[int], on_step: StepCallback | None = None,
                 cancel: threading.Event | None = None, *, dtype: str | None = None) -> GenerationOutput:
        """``generate_fast``'s contract, decoded in a batch with whatever else runs on ``loaded``
        in the same precision ``dtype`` (None: ``loaded.decode_dtype``; int8 sequences step alone)."""
        worker = self.worker(loaded, dtype)
        seq = Sequence(loaded, worker.w, cond, frames, params, seeds, on_step, cancel)
        if seq.takes * (2 if seq.guided else 1) > self.max_rows:
            raise EngineError("too_large", f"{seq.takes} takes need more than the batch's {self.max_rows} rows")
        ticket = _Ticket(seq, _PRIORITY.get() or Priority(), next(self._order))
        worker.submit(ticket)
        ticket.done.wait()
        if ticket.error is not None:
            raise ticket.error
        tokens = seq.tokens()
        if seq.prompt is None:
            return GenerationOutput(tokens=tokens, audio=decode_tokens(loaded, tokens))
        hop = loaded.sample_rate // loaded.frame_rate  # decode with the prompt as context, keep the new frames
        audio = decode_tokens(loaded, torch.cat([seq.prompt.cpu(), tokens], dim=-1))[..., seq.n_prompt * hop:]
        return GenerationOutput(tokens=tokens, audio=audio)

    def close(self) -> None:
        with self._lock:
            workers = list(self._workers.values())
            self._workers.clear()
        for worker in workers:
            worker.close()
