"""The Ray Serve deployment that makes takes: models stay warm, progress streams back.

Each replica is one process holding up to ``models_per_replica`` models, loaded through Serve's
model multiplexing, so requests for a model are routed to replicas that already hold it.
``produce`` is a streaming method: it yields ``{"started": replica}``, then ``{"progress": f}``
after decoding steps, then one final ``{"produced": Produced}`` or ``{"error": {...}}``. When
the caller cancels the response, the job's cancel event is set and decoding stops at the next
step; the replica waits for that before it takes the next request.

Live sessions (``live_window``, ``live_close``; see :mod:`engine.executors.ray_live`) are
routed here by session id and keep their token stream in this replica's memory between windows.

Nothing here writes under the front end's roots: takes travel back as arrays.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import tempfile
import threading
import weakref
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import ray
from ray import serve

from ..errors import EngineError
from ..jobs.cancel import CancelToken
from ..jobs.queue import Job
from ..live.window import WindowState, make_window, open_state
from ..models.registry import ModelRegistry, get_spec
from ..paths import PathPolicy
from ..produce.context import EngineContext, Produced
from . import producer_for
from .wire import unpack_request

log = logging.getLogger(__name__)

#: how long a cancelled job may take to reach its next decoding step before the replica moves on
CANCEL_GRACE_S = 30.0


class WarmModel:
    """One model kept loaded by a replica; the multiplexer calls ``__del__`` when it evicts it."""

    def __init__(self, registry: ModelRegistry, name: str) -> None:
        self.name = name
        self.registry: ModelRegistry | None = registry
        registry.load(name)

    def __del__(self) -> None:
        registry = getattr(self, "registry", None)
        if registry is None:
            return
        cuda = registry.device.type == "cuda"
        self.registry = None  # drop the weights; a later request loads them again
        if cuda:
            import torch

            torch.cuda.empty_cache()  # hand the memory back to the card, not just to torch's cache


class Producer:
    """Replica body; ``settings`` come from the front end's EngineConfig (device, dtype, ...)."""

    async def __init__(self, settings: dict[str, Any]) -> None:  # type: ignore[misc]  # Serve awaits it
        import torch

        threads = int(settings.get("threads") or 0)
        if threads > 0:
            torch.set_num_threads(threads)
        self.settings = settings
        self.scratch = Path(tempfile.mkdtemp(prefix="mgb-replica-"))
        self.paths = PathPolicy(self.scratch / "out")
        self.paths.allow_reading(self.scratch)
        context = serve.get_replica_context()
        self.replica = context.replica_id.unique_id
        runtime = ray.get_runtime_context()
        self.actor = runtime.get_actor_name()
        self.node = runtime.get_node_id()
        self.generators = _generators()
        self._warm: weakref.WeakValueDictionary[str, WarmModel] = weakref.WeakValueDictionary()
        self._active = 0  # jobs whose decoding thread has not returned yet
        self._active_lock = threading.Lock()
        # live session id -> (its token stream and last sample, its request: sent once, with the opening)
        self._live: dict[str, tuple[WindowState, Any]] = {}

        async def load(name: str) -> WarmModel:  # a plain function: Serve keeps its LRU state on it
            return await self._load(name)

        # wrapped here, not on the class, so the LRU size is a deploy-time setting
        self.model = serve.multiplexed(max_num_models_per_replica=int(settings.get("models_per_replica", 2)))(load)
        for name in settings.get("preload") or ():  # warm before Serve reports the replica ready
            await self.model(get_spec(name).name)

    async def _load(self, name: str) -> WarmModel:
        registry = ModelRegistry(self.settings.get("device", "auto"), self.settings.get("dtype"),
                                 self.settings.get("cache_dir"))
        warm = await asyncio.to_thread(WarmModel, registry, name)
        self._warm[name] = warm
        return warm

    def whoami(self) -> dict[str, Any]:
        """Which replica answered: id, actor name, node, pid and the models it holds warm."""
        with self._active_lock:
            active = self._active
        return {"replica": self.replica, "actor": self.actor, "node": self.node, "pid": os.getpid(),
                "models": sorted(name for name, warm in self._warm.items() if warm.registry is not None),
                "active_jobs": active, "live_sessions": sorted(self._live)}

    async def preload(self, name: str) -> dict[str, Any]:
        """Load ``name`` now (reported to the router, so later requests for it come here)."""
        await self.model(get_spec(name).name)
        return self.whoami()

    async def produce(self, payload: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """Stream one job: started, progress..., then produced or error."""
        yield {"started": self.replica, "actor": self.actor}
        name = serve.get_multiplexed_model_id() or get_spec(payload["request"].model
                                                             or self.settings["default_model"]).name
        job_dir = Path(tempfile.mkdtemp(prefix="job-", dir=self.scratch))
        loop = asyncio.get_running_loop()
        fractions: asyncio.Queue[float] = asyncio.Queue()
        job: Job | None = None
        task: asyncio.Future | None = None
        try:
            warm = await self.model(name)
            registry = warm.registry
            if registry is None:  # evicted between load and use; load it again
                registry = (await self._load(name)).registry

            def progress(event: str, content: dict[str, Any]) -> None:
                if event == "progress":
                    loop.call_soon_threadsafe(fractions.put_nowait, content["fraction"])

            job = Job(id=payload["job_id"], kind=payload["kind"], request=unpack_request(payload, job_dir),
                      listener=progress)
            assert registry is not None
            ctx = EngineContext(registry, self.paths, name, self.generators)
            task = loop.run_in_executor(None, self._work, ctx, job)
            while not task.done():
                getter = asyncio.ensure_future(fractions.get())
                await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
                if getter.done():
                    yield {"progress": getter.result()}
                else:
                    getter.cancel()
            while not fractions.empty():
                yield {"progress": fractions.get_nowait()}
            yield task.result()
        except EngineError as exc:  # the model could not be loaded
            yield {"error": exc.to_dict()}
        except asyncio.CancelledError:
            if job is not None:
                job.cancel_event.set()
            if task is not None:  # let decoding reach its next step before this slot is reused
                await asyncio.wait({task}, timeout=CANCEL_GRACE_S)
            raise
        finally:
            if job is not None:
                job.cancel_event.set()  # a caller that stopped listening stops the work too
            shutil.rmtree(job_dir, ignore_errors=True)

    async def live_window(self, session_id: str, win: Any, opening: dict[str, Any] | None = None
                          ) -> AsyncIterator[dict[str, Any]]:
        """Stream one live window: started, then ``{"window": MadeWindow}`` or error.

        ``opening`` (the request and seed codes) comes with a session's first window and creates
        its state here; a later window whose state is missing (this replica replaced the one
        that held it) is refused rather than made without its context.
        """
        yield {"started": self.replica, "actor": self.actor}
        loop = asyncio.get_running_loop()
        cancel = CancelToken()
        task: asyncio.Future | None = None
        try:
            held = self._live.get(session_id)
            if held is None and opening is None:
                yield {"error": {"code": "interrupted", "message": f"live session {session_id!r} has no state on "
                                 f"replica {self.replica} (its replica stopped); start the session again"}}
                return
            if held is None:
                assert opening is not None
                req = opening["request"]
                name = get_spec(req.model or self.settings["default_model"]).name
                warm = await self.model(name)
                registry = warm.registry or (await self._load(name)).registry
                assert registry is not None
                ctx = EngineContext(registry, self.paths, name, self.generators)
                # the state holds the loaded model itself, so evicting it from the LRU cannot
                # take it from under a running session
                state = await asyncio.to_thread(open_state, ctx, req, session_id, opening.get("seed_codes"))
                held = self._live[session_id] = (state, req)
            state, req = held
            task = loop.run_in_executor(None, self._live_work, state, win, req, cancel)
            await asyncio.wait({task})  # not ``await task``: a cancel must not orphan the thread
            yield task.result()
        except EngineError as exc:
            yield {"error": exc.to_dict()}
        except asyncio.CancelledError:
            cancel.set()
            if task is not None:  # let decoding reach its next step before this slot is reused
                await asyncio.wait({task}, timeout=CANCEL_GRACE_S)
            raise
        finally:
            cancel.set()

    def live_close(self, session_id: str) -> bool:
        """Drop a live session's state; True if this replica held it."""
        return self._live.pop(session_id, None) is not None

    def _live_work(self, state: WindowState, win: Any, req: Any, cancel: CancelToken) -> dict[str, Any]:
        return self._answer("window", lambda: make_window(state, win, req, cancel),
                            f"live session {state.session_id}")

    def _work(self, ctx: EngineContext, job: Job) -> dict[str, Produced | dict[str, Any]]:
        """The decoding thread: produce, and turn every failure into an answer for the front end."""
        return self._answer("produced", lambda: producer_for(job.kind)(ctx, job), f"job {job.id}")

    def _answer(self, key: str, work: Any, what: str) -> dict[str, Any]:
        """Run ``work`` counted as active decoding; ``{key: result}`` or ``{"error": ...}``, never a raise."""
        with self._active_lock:
            self._active += 1
        try:
            return {key: work()}
        except EngineError as exc:
            return {"error": exc.to_dict()}
        except Exception as exc:
            log.exception("%s failed on this replica", what)
            return {"error": {"code": "internal", "message": f"{type(exc).__name__}: {exc}"}}
        finally:
            with self._active_lock:
                self._active -= 1

def _generators() -> dict[str, Any]:
    try:
        from ..generation.fast.decoder import generate_fast
    except ImportError:
        return {}
    return {"fast": generate_fast}
