"""The CLI's settings: built-in defaults, a ``config.toml`` in the platform's config folder, and
``MUSICGEN_BRIDGE_*`` environment variables. The command line beats the environment, which beats
the file, which beats the built-in value.

>>> import os, tempfile
>>> folder = tempfile.mkdtemp()
>>> _ = open(os.path.join(folder, "config.toml"), "w").write('server = "tcp://studio:5555"\\nsample_rate = 44100\\n')
>>> settings = load_settings(environ={"MUSICGEN_BRIDGE_CONFIG": os.path.join(folder, "config.toml"),
...                                   "MUSICGEN_BRIDGE_SAMPLE_RATE": "96000"})
>>> settings.value("server"), settings.source("server"), settings.value("sample_rate"), settings.source("sample_rate")
('tcp://studio:5555', 'file', 96000, 'env MUSICGEN_BRIDGE_SAMPLE_RATE')
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...engine.errors import EngineError

ENV_PREFIX = "MUSICGEN_BRIDGE_"
CONFIG_ENV = ENV_PREFIX + "CONFIG"


def _positive_int(value: Any) -> int:
    if isinstance(value, bool) or int(value) != float(value) or int(value) <= 0:
        raise ValueError("must be a positive whole number")
    return int(value)


def _positive_float(value: Any) -> float:
    if isinstance(value, bool) or not float(value) > 0:
        raise ValueError("must be a positive number")
    return float(value)


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError("must be a non-empty string")
    return value


def _channels(value: Any) -> int:
    if _positive_int(value) not in (1, 2):
        raise ValueError("must be 1 or 2")
    return int(value)


@dataclass(frozen=True)
class Key:
    """One setting: its built-in default, how a value is checked, and what it means."""

    default: Any
    parse: Callable[[Any], Any]
    help: str


#: every setting a config file or the environment may give (docs/cli.md lists them)
KEYS: dict[str, Key] = {
    "server": Key("tcp://127.0.0.1:5555", _text, "engine address the client commands talk to"),
    "model": Key(None, _text, "model for generate/continue/live and serve's default model"),
    "sample_rate": Key(48000, _positive_int, "session sample rate in Hz"),
    "channels": Key(2, _channels, "1 (mono) or 2 (stereo)"),
    "format": Key(None, _text, "wav16|wav24|wav32f|flac|aiff (unset: from --out's extension, else wav24)"),
    "bpm": Key(120.0, _positive_float, "session tempo in quarter notes per minute"),
    "output_dir": Key(None, _text, "where the engine writes clips (inside its allowed folders)"),
    "timeout": Key(600.0, _positive_float, "seconds the client commands wait for a result"),
    "device": Key("auto", _text, "auto|cpu|cuda|cuda:N|mps for --local and serve"),
    "cache_dir": Key(None, _text, "Hugging Face cache folder (unset: HF_HUB_CACHE or its default)"),
    "output_root": Key(None, _text, "serve: the engine's output root (unset: <user data dir>/output)"),
}


def config_path(environ: Mapping[str, str] | None = None) -> Path:
    """``$MUSICGEN_BRIDGE_CONFIG``, else ``config.toml`` in the platform's config folder."""
    env = os.environ if environ is None else environ
    if env.get(CONFIG_ENV):
        return Path(env[CONFIG_ENV]).expanduser()
    from ...engine.paths import user_config_dir

    return user_config_dir() / "config.toml"


@dataclass
class Settings:
    """Each key's value and where it came from (``built-in``, ``file``, ``env NAME``)."""

    path: Path
    values: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)

    def value(self, key: str) -> Any:
        return self.values[key]

    def source(self, key: str) -> str:
        return self.sources[key]


def _checked(key: str, raw: Any, where: str) -> Any:
    try:
        return KEYS[key].parse(raw)
    except (TypeError, ValueError) as exc:
        raise EngineError("invalid_field", f"{where}: {key} = {raw!r} {exc}" if "must" in str(exc)
                          else f"{where}: {key} = {raw!r} is not valid ({exc})", field=key) from None


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Built-in defaults, overridden by the config file, overridden by the environment."""
    env = os.environ if environ is None else environ
    path = config_path(env)
    settings = Settings(path, {k: key.default for k, key in KEYS.items()}, dict.fromkeys(KEYS, "built-in"))
    if path.is_file():
        try:
            data = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise EngineError("invalid_field", f"cannot read the config file {path}: {exc}") from None
        for key, raw in data.items():
            if key not in KEYS:
                raise EngineError("invalid_field", f"{path}: unknown setting {key!r}; known: {', '.join(KEYS)}",
                                  field=key)
            settings.values[key] = _checked(key, raw, str(path))
            settings.sources[key] = "file"
    for key in KEYS:
        name = ENV_PREFIX + key.upper()
        if env.get(name):
            settings.values[key] = _checked(key, env[name], f"environment variable {name}")
            settings.sources[key] = f"env {name}"
    return settings
