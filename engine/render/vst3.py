"""VST3 plugins for the render worker: loaded once, cached, lent to one render at a time.

    >>> cache = PluginCache()
    >>> with cache.lease(Vst3Fx(Path("/usr/lib/vst3/Verb.vst3"), {"mix": 0.3}), index=0) as verb:  # needs a VST3 plugin installed  # doctest: +SKIP
    ...     out = verb.process(audio, 48000, reset=False)

Reset policy: a plugin is loaded (``pedalboard.load_plugin``) and its ``.vstpreset``
applied once per key ``(path, preset, plugin_name)``; its state right after that is kept.
Every lease then (1) restores that state, so values set by an earlier render never leak,
(2) calls ``reset()`` to clear buffers (an earlier clip's reverb tail), and (3) applies
the request's parameters, each checked by pedalboard (name, type, range) and reported as
``bad_fx``. A key is held by one render at a time (its own lock); loading another key
does not wait on it. Load in the render worker thread: some plugins expect the thread
that created them to run them.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pedalboard

from ..errors import EngineError
from .fx import Vst3Fx

CacheKey = tuple[str, str | None, str | None]


@dataclass
class _Entry:
    lock: threading.Lock = field(default_factory=threading.Lock)
    plugin: Any = None
    state: bytes | None = None


def _key(fx: Vst3Fx) -> CacheKey:
    return (str(fx.path), str(fx.preset) if fx.preset else None, fx.plugin_name)


class PluginCache:
    """Cache of loaded VST3 plugins (at most ``max_plugins``, least recently used dropped).

    ``loader`` defaults to ``pedalboard.load_plugin``; tests pass a stand-in.
    """

    def __init__(self, max_plugins: int = 16, loader: Callable[..., Any] | None = None) -> None:
        self.max_plugins = max_plugins
        self._loader = loader or pedalboard.load_plugin
        self._lock = threading.Lock()  # guards the dict only, never held while loading
        self._entries: OrderedDict[CacheKey, _Entry] = OrderedDict()
        self.loads = 0  # how many times a plugin file was actually loaded

    def __len__(self) -> int:
        return len(self._entries)

    def _entry(self, key: CacheKey) -> _Entry:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                entry = self._entries[key] = _Entry()
                self._evict()
            self._entries.move_to_end(key)
            return entry

    def _evict(self) -> None:
        for old_key in list(self._entries):
            if len(self._entries) <= self.max_plugins:
                return
            old = self._entries[old_key]
            if old.lock.acquire(blocking=False):  # skip plugins in use
                try:
                    del self._entries[old_key]
                finally:
                    old.lock.release()

    def _load(self, fx: Vst3Fx, index: int, entry: _Entry) -> None:
        where = f"fx[{index}] {fx.path.name}"
        plugin: Any
        try:
            if fx.plugin_name is not None:
                plugin = self._loader(str(fx.path), plugin_name=fx.plugin_name)
            else:
                plugin = self._loader(str(fx.path))
        except Exception as exc:  # noqa: BLE001 - pedalboard raises ImportError/ValueError/RuntimeError here
            raise EngineError("bad_fx", f"{where} could not be loaded: {_one_line(exc)}", index=index) from None
        if fx.preset is not None:
            try:
                plugin.load_preset(str(fx.preset))
            except Exception as exc:  # noqa: BLE001 - any failure to apply a preset is the user's bad_fx
                raise EngineError("bad_fx", f"{where}: preset {fx.preset} could not be applied: {_one_line(exc)}",
                                  index=index) from None
        entry.plugin = plugin
        entry.state = getattr(plugin, "raw_state", None)
        self.loads += 1

    @contextmanager
    def lease(self, fx: Vst3Fx, *, index: int = 0) -> Iterator[Any]:
        """Lend the plugin for ``fx``, reset and with ``fx.params`` applied (see module doc)."""
        entry = self._entry(_key(fx))
        with entry.lock:
            if entry.plugin is None:
                self._load(fx, index, entry)
            plugin = entry.plugin
            if entry.state is not None:
                plugin.raw_state = entry.state
            plugin.reset()
            apply_params(plugin, fx, index)
            yield plugin

    def clear(self) -> None:
        """Forget every plugin not in use (they unload when garbage-collected)."""
        with self._lock:
            for key in list(self._entries):
                entry = self._entries[key]
                if entry.lock.acquire(blocking=False):
                    try:
                        del self._entries[key]
                    finally:
                        entry.lock.release()


def apply_params(plugin: Any, fx: Vst3Fx, index: int) -> None:
    """Set ``fx.params`` on a loaded plugin; unknown names and bad values raise ``bad_fx``."""
    known = plugin.parameters
    for name, value in fx.params.items():
        if name not in known:
            names = ", ".join(sorted(known)[:20]) or "none"
            raise EngineError("bad_fx", f"fx[{index}] {fx.path.name} has no parameter {name!r}; "
                              f"its parameters include: {names}", index=index, parameter=name)
        try:
            setattr(plugin, name, value)  # pedalboard checks type and range against the plugin
        except (ValueError, TypeError) as exc:
            raise EngineError("bad_fx", f"fx[{index}] {fx.path.name}.{name}={value!r}: {_one_line(exc)}",
                              index=index, parameter=name) from None


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())
