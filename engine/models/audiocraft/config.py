"""The ``xp.cfg`` YAML inside an audiocraft checkpoint, resolved the way hydra/OmegaConf resolves it.

Exported checkpoints keep hydra interpolations (``${sample_rate}``, ``${transformer_lm.n_q}``);
we resolve them with OmegaConf itself, key by key as they are read (as audiocraft does: an
interpolation in a key nobody reads, say a logging path, never has to resolve), and hand out
plain Python values. Keys we do not read are ignored; a key we need that is absent or does not
resolve, or a value we cannot honour, is a ``bad_checkpoint`` error naming the file and the key.

>>> cfg = XpConfig.from_yaml("sample_rate: 16000\\nencodec:\\n  sample_rate: ${sample_rate}\\n", "x.bin")
>>> cfg.get("encodec.sample_rate")
16000
"""

from __future__ import annotations

from typing import Any

from ...errors import EngineError

_MISSING = object()


def bad_checkpoint(file: str, key: str | None, message: str) -> EngineError:
    """The one error every loading failure becomes: names the file and, when known, the key."""
    where = f"{file}" + (f" [{key}]" if key else "")
    return EngineError("bad_checkpoint", f"{where}: {message}", file=str(file), key=key)


class XpConfig:
    """An ``xp.cfg``: dotted-key access, resolved on read, with errors that name the checkpoint file."""

    def __init__(self, node: Any, file: str) -> None:
        self.node = node  # an omegaconf DictConfig
        self.file = file

    @classmethod
    def from_yaml(cls, text: Any, file: str) -> XpConfig:
        from omegaconf import DictConfig, OmegaConf

        if not isinstance(text, str):
            raise bad_checkpoint(file, "xp.cfg", f"expected a YAML string, got {type(text).__name__}")
        try:
            node = OmegaConf.create(text)
        except Exception as exc:  # noqa: BLE001 - YAML and OmegaConf parse errors share no base class
            raise bad_checkpoint(file, "xp.cfg", f"not valid YAML: {type(exc).__name__}: {exc}") from None
        if not isinstance(node, DictConfig):
            raise bad_checkpoint(file, "xp.cfg", "the config is not a mapping")
        return cls(node, file)

    def get(self, key: str, default: Any = _MISSING) -> Any:
        """Value at a dotted ``key`` (mappings and lists as plain containers); absent -> ``default`` or an error."""
        from omegaconf import Container, OmegaConf
        from omegaconf.errors import OmegaConfBaseException

        try:
            value = OmegaConf.select(self.node, key, default=_MISSING, throw_on_missing=True)
            if isinstance(value, Container):
                value = OmegaConf.to_container(value, resolve=True)
        except OmegaConfBaseException as exc:  # an interpolation that does not resolve, a '???' value
            raise bad_checkpoint(self.file, key, f"cannot resolve: {str(exc).splitlines()[0]}") from None
        if value is _MISSING:
            if default is not _MISSING:
                return default
            raise bad_checkpoint(self.file, key, "missing from xp.cfg")
        return value

    def require(self, key: str, kind: type | tuple[type, ...], default: Any = _MISSING) -> Any:
        """Like :meth:`get`, and the value must be of ``kind`` (bool is never accepted as int)."""
        value = self.get(key, default)
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if float in kinds:
            kinds = kinds + (int,)  # YAML writes 10.0 as 10 just as often
        ok = isinstance(value, kinds) and (bool in kinds or not isinstance(value, bool))
        if not ok:
            names = "/".join(dict.fromkeys(k.__name__ for k in kinds))
            raise bad_checkpoint(self.file, key, f"expected {names}, got {value!r}")
        return value

    def one_of(self, key: str, allowed: tuple, default: Any = _MISSING) -> Any:
        """The value must be one we implement; anything else is refused, not silently ignored."""
        value = self.get(key, default)
        if value not in allowed:
            raise bad_checkpoint(self.file, key, f"unsupported value {value!r} (supported: {list(allowed)})")
        return value

    def section(self, key: str) -> dict[str, Any]:
        value = self.get(key)
        if not isinstance(value, dict):
            raise bad_checkpoint(self.file, key, "expected a mapping")
        return value
