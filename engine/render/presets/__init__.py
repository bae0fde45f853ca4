"""Named fx presets and chain references: a name, a JSON file, or an inline list.

    >>> chain = resolve_chain("master-lite")                  # this package's master-lite.json
    >>> chain = resolve_chain("/home/me/chains/dub.json")      # any chain file  # a chain file of the user's  # doctest: +SKIP
    >>> chain = resolve_chain([{"plugin": "Gain", "gain_db": -3}])

A preset file holds either a bare chain list or an object ``{"description": ..., "chain": [...]}``.
Names are looked up in the user's preset folder first (``<config dir>/fx``), then in the
presets shipped inside this package (the ``*.json`` files beside this module, read with
:mod:`importlib.resources`, so an installed wheel has them too).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

from ...errors import EngineError
from ...paths import user_config_dir
from ..fx import FxChain, parse_chain

# wheels install to disk, so the package's folder is a real path (a zipped install is unsupported)
SHIPPED_PRESETS = Path(str(resources.files(__name__)))
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
MAX_CHAIN_FILE_BYTES = 1 << 20


def default_preset_dirs() -> list[Path]:
    """Where preset names are looked up, first match wins."""
    return [user_config_dir() / "fx", SHIPPED_PRESETS]


def list_presets(preset_dirs: Iterable[str | os.PathLike[str]] | None = None) -> dict[str, Path]:
    """Preset name -> file, over all preset folders (earlier folders win).

        >>> sorted(list_presets())
        ['lofi', 'master-lite', 'wide-verb']
    """
    found: dict[str, Path] = {}
    dirs = [Path(d) for d in preset_dirs] if preset_dirs is not None else default_preset_dirs()
    for folder in dirs:
        if folder.is_dir():
            for file in sorted(folder.glob("*.json")):
                if _NAME.match(file.stem):
                    found.setdefault(file.stem, file)
    return found


def _chain_data(doc: Any, source: str) -> Any:
    if isinstance(doc, dict):
        if "chain" not in doc:
            raise EngineError("bad_fx", f"{source}: a preset object needs a \"chain\" list")
        return doc["chain"]
    return doc


def load_chain_file(path: str | os.PathLike[str], **kwargs: Any) -> FxChain:
    """Read and validate a chain file; relative preset paths inside it are taken from its folder."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise EngineError("bad_fx", f"fx chain file not found: {file}", path=str(file))
    if file.stat().st_size > MAX_CHAIN_FILE_BYTES:
        raise EngineError("bad_fx", f"fx chain file {file} is larger than 1 MiB")
    try:
        doc = json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EngineError("bad_fx", f"fx chain file {file} is not valid JSON: {exc}") from None
    kwargs.setdefault("base_dir", file.parent)
    return parse_chain(_chain_data(doc, str(file)), **kwargs)


def resolve_chain(
    ref: str | os.PathLike[str] | list[Any] | dict[str, Any] | FxChain | None,
    *,
    sample_rate: int | None = None,
    preset_dirs: Iterable[str | os.PathLike[str]] | None = None,
    vst3_dirs: Iterable[str | os.PathLike[str]] | None = None,
) -> FxChain:
    """Turn a chain reference into a validated :class:`FxChain`.

    ``None`` gives the empty chain; a string without a path separator or ``.json`` suffix
    is a preset name; other strings and paths are chain files; lists and ``{"chain": ...}``
    objects are inline chains.
    """
    opts: dict[str, Any] = {"sample_rate": sample_rate, "vst3_dirs": vst3_dirs}
    if ref is None:
        return FxChain()
    if isinstance(ref, FxChain):
        return parse_chain(ref, sample_rate=sample_rate)
    if isinstance(ref, (list, dict)):
        return parse_chain(_chain_data(ref, "inline fx chain"), **opts)
    if isinstance(ref, os.PathLike) or (
        isinstance(ref, str) and ("/" in ref or os.sep in ref or ref.lower().endswith(".json"))
    ):
        return load_chain_file(ref, **opts)
    if isinstance(ref, str):
        presets = list_presets(preset_dirs)
        if ref not in presets:
            names = ", ".join(sorted(presets)) or "none installed"
            raise EngineError("bad_fx", f"unknown fx preset {ref!r}; presets: {names}", preset=ref)
        return load_chain_file(presets[ref], **opts)
    raise EngineError("bad_fx", f"an fx chain must be a preset name, a file path or a list, not {type(ref).__name__}")
