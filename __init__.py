"""musicgen-bridge: a resident MusicGen engine for DAWs, and the client that talks to it.

The public API, importable from here:

>>> from musicgen_bridge import Engine, EngineConfig, GenerateRequest, Client, EngineError
>>> GenerateRequest.from_dict({"prompt": "lofi drums", "bars": 4, "bpm": 90}).frames
352800

Everything else lives in ``musicgen_bridge.engine`` (models, jobs, generation, render, executors)
and ``musicgen_bridge.bridge`` (protocol, transports, client, CLI); docs/architecture.md maps them.
"""

# the one version source: pyproject.toml reads it, the sidecars and ``ping`` report it
__version__ = "0.1.0"

from .bridge.client import Client  # noqa: E402 - __version__ first: these modules read it
from .engine.engine import Engine, EngineConfig  # noqa: E402
from .engine.errors import EngineError  # noqa: E402
from .engine.request import GenerateRequest  # noqa: E402

__all__ = ["Client", "Engine", "EngineConfig", "EngineError", "GenerateRequest", "__version__"]
