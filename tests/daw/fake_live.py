"""A stand-in for the engine's live mode (being built elsewhere) with the agreed message shapes.

live_start {prompt, model, bpm, time_signature, window_bars, context_bars, ahead_bars, start_bar}
-> {session_id}; transport {beat, bpm, playing}; live_stop {session_id}. A window is written (a
bar-exact sine file) as soon as the reported beat comes within ``ahead_bars`` of its start, and
announced as the ``window`` event {session_id, index, start_bar, bars, path, rtf}.
"""

from __future__ import annotations

import threading
from fractions import Fraction
from pathlib import Path
from typing import Any

from engine.engine import Engine, EngineConfig
from engine.errors import EngineError

from .harness import write_wav


class FakeLiveEngine(Engine):
    def __init__(self, output_root: Path, max_windows: int = 50) -> None:
        super().__init__(EngineConfig(default_model="tiny", output_root=output_root))
        self.sessions: dict[str, dict[str, Any]] = {}
        self.transports: list[dict[str, Any]] = []
        self.stopped: list[str] = []
        self.max_windows = max_windows
        self._lock = threading.Lock()

    def live_start(self, content: dict[str, Any], listener: Any = None) -> dict[str, Any]:
        for key in ("prompt", "bpm", "time_signature", "window_bars", "context_bars", "ahead_bars", "start_bar"):
            if key not in content:
                raise EngineError("missing_field", f"{key} is required", field=key)
        num, den = (int(x) for x in str(content["time_signature"]).split("/"))
        sid = f"s-{len(self.sessions) + 1}"
        self.sessions[sid] = {"content": content, "listener": listener, "next": 0,
                              "qpb": Fraction(num * 4, den), "sample_rate": int(content.get("sample_rate", 48000))}
        return {"session_id": sid}

    def live_stop(self, session_id: str) -> dict[str, Any]:
        if session_id not in self.sessions:
            raise EngineError("unknown_session", f"no live session {session_id!r}")
        self.stopped.append(session_id)
        return {"session_id": session_id, "state": "stopped"}

    def transport(self, content: dict[str, Any]) -> dict[str, Any]:
        self.transports.append(dict(content))
        with self._lock:
            for sid, s in self.sessions.items():
                if sid not in self.stopped and content.get("playing"):
                    self._windows_due(sid, s, Fraction(str(content["beat"])))
        return {"ok": True}

    def _windows_due(self, sid: str, s: dict[str, Any], beat: Fraction) -> None:
        c = s["content"]
        bars = int(c["window_bars"])
        while s["next"] < self.max_windows:
            start_bar = Fraction(str(c["start_bar"])) + s["next"] * bars
            start_beat = (start_bar - 1) * s["qpb"]
            if beat < start_beat - int(c["ahead_bars"]) * s["qpb"]:
                return
            seconds = bars * s["qpb"] * 60 / Fraction(str(c["bpm"]))
            self.paths.output_root.mkdir(parents=True, exist_ok=True)
            path = self.paths.output_root / f"{sid}-w{s['next']}.wav"
            write_wav(path, seconds, s["sample_rate"])
            s["listener"]("window", {"session_id": sid, "index": s["next"], "start_bar": float(start_bar),
                                     "bars": bars, "path": str(path), "rtf": 3.5})
            s["next"] += 1
