"""musicgen-bridge: a resident MusicGen engine for DAWs, and the client that talks to it.

The public API, importable from here:

>>> from musicgen_bridge import Engine, EngineConfig, GenerateRequest, Client, EngineError
>>> GenerateRequest.from_dict({"prompt": "lofi drums", "bars": 4, "bpm": 90}).frames
512000

Everything else lives in ``musicgen_bridge.engine`` (models, jobs, generation, render, executors)
and ``musicgen_bridge.bridge`` (protocol, transports, client, CLI); docs/architecture.md maps them.
The names are imported on first use, so ``import musicgen_bridge`` (and the CLI's light commands)
never pull in torch.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import TYPE_CHECKING, Any

if sys.platform == "darwin":  # read when torch loads: an op Apple's MPS lacks then runs on the CPU, not an error
    os.environ.setdefault("PYTORCH_ENABLE_MPS_FALLBACK", "1")

# the one version source: pyproject.toml reads it, the sidecars and ``ping`` report it
__version__ = "0.1.0"

if TYPE_CHECKING:
    from .bridge.client import Client
    from .engine.engine import Engine, EngineConfig
    from .engine.errors import EngineError
    from .engine.request import GenerateRequest

_EXPORTS = {"Client": ".bridge.client", "Engine": ".engine.engine", "EngineConfig": ".engine.engine",
            "EngineError": ".engine.errors", "GenerateRequest": ".engine.request"}
__all__ = ["Client", "Engine", "EngineConfig", "EngineError", "GenerateRequest", "__version__"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
