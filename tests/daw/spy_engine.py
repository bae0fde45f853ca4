"""The real engine with a record of what the DAW side asked of it, for the DAW-script tests.

Nothing is faked: every call goes to :class:`engine.engine.Engine`; the spy only keeps the
requests (job ids, live_start content, transports, stops) and the ``window`` events it sent.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from musicgen_bridge.engine.engine import Engine, EngineConfig


class SpyEngine(Engine):
    def __init__(self, output_root: Path) -> None:
        super().__init__(EngineConfig(default_model="tiny", output_root=output_root))
        self.reset()

    def reset(self) -> None:
        self.jobs: list[str] = []
        self.live_starts: list[dict[str, Any]] = []
        self.transports: list[dict[str, Any]] = []
        self.stops: list[str] = []
        self.windows: list[dict[str, Any]] = []

    def submit(self, kind: str, content: dict[str, Any], listener: Any = None) -> Any:
        job = super().submit(kind, content, listener)
        self.jobs.append(job.id)
        return job

    def live_start(self, content: dict[str, Any], listener: Any = None) -> dict[str, Any]:
        self.live_starts.append(dict(content))

        def spy(event: str, payload: dict[str, Any]) -> None:
            if event == "window":
                self.windows.append(dict(payload))
            if listener is not None:
                listener(event, payload)
        return super().live_start(content, spy)

    def transport(self, content: dict[str, Any]) -> dict[str, Any]:
        self.transports.append(dict(content))
        return super().transport(content)

    def live_stop(self, session_id: str) -> dict[str, Any]:
        self.stops.append(session_id)
        return super().live_stop(session_id)
