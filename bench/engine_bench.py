"""Shared by bench/batching.py and bench/live.py: an engine whose model is built in code.

The engine resolves requests by model name as always; for the published architectures the
random-weight model of bench/decode.py's ``load`` stands in for the checkpoint under its name
(nothing is downloaded). Both engines of a comparison share the one model object.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import torch
from decode import load  # bench/decode.py: tiny, or a published architecture with random weights

from musicgen_bridge.engine.engine import Engine, EngineConfig

#: bench arch -> the model name requests use
MODEL_NAMES = {"tiny": "tiny", "small": "facebook/musicgen-small", "medium": "facebook/musicgen-medium",
               "large": "facebook/musicgen-large"}
PROMPT = "lo-fi hip hop beat with warm rhodes chords"


def add_model_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--arch", choices=list(MODEL_NAMES), default="tiny")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--dtype", default=None, help="auto (fp32 on CPU, bf16/fp16 on CUDA), fp32, bf16, fp16")
    parser.add_argument("--layers", type=int, default=None, help="cut the decoder to N layers (not the published depth)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1: steadier on a shared CPU)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")


def build(args: argparse.Namespace) -> Any:
    if args.threads:
        torch.set_num_threads(args.threads)
    return load(args.arch, args.device, args.dtype, args.layers)


def open_engine(loaded: Any, arch: str, batching: bool, jobs: int = 8) -> Engine:
    """An engine on ``loaded`` writing under a temporary folder; ``batching`` on or off."""
    root = Path(tempfile.mkdtemp(prefix="mgb-bench-"))
    engine = Engine(EngineConfig(default_model=MODEL_NAMES[arch], device=loaded.device.type, output_root=root,
                                 batching=batching, batch_jobs=max(jobs, 1), max_queue=64))
    with engine.registry._lock:  # the random-weight model stands in for the checkpoint of that name
        engine.registry._loaded[MODEL_NAMES[arch]] = loaded
    return engine


def request(i: int, bars: int, bpm: int) -> dict[str, Any]:
    return {"prompt": f"{PROMPT} {i}", "bars": bars, "bpm": bpm, "seed": 1000 + i, "conform": False,
            "generator": "fast"}


def machine(loaded: Any) -> str:
    if loaded.device.type == "cuda":
        return torch.cuda.get_device_name(loaded.device)
    return f"cpu ({torch.get_num_threads()} torch thread(s))"


class LiveWatch:
    """Collects live-session events with their times (``window``, ``underrun``, ``error``)."""

    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.events: list[tuple[float, str, dict[str, Any]]] = []
        self.changed = threading.Condition()

    def __call__(self, event: str, content: dict[str, Any]) -> None:
        with self.changed:
            self.events.append((time.perf_counter() - self.t0, event, content))
            self.changed.notify_all()

    def windows(self, session_id: str) -> list[tuple[float, dict[str, Any]]]:
        with self.changed:
            return [(t, c) for t, e, c in self.events if e == "window" and c["session_id"] == session_id]

    def count(self, event: str) -> int:
        with self.changed:
            return sum(1 for _, e, _ in self.events if e == event)

    def wait_for(self, check: Any, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self.changed:
            while not check():
                left = deadline - time.monotonic()
                if left <= 0 or self.count_unlocked("error"):
                    return bool(check())
                self.changed.wait(min(left, 0.5))
        return True

    def count_unlocked(self, event: str) -> int:
        return sum(1 for _, e, _ in self.events if e == event)
