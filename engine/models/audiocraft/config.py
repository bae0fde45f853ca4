"""The ``xp.cfg`` YAML inside an audiocraft checkpoint, resolved the way hydra/OmegaConf resolves it.

Exported checkpoints keep hydra interpolations (``${sample_rate}``, ``${transformer_lm.n_q}``);
we resolve them with OmegaConf itself and hand out plain Python containers. Keys we do not read
are ignored; a key we need that is absent, or a value we cannot honour, is a ``bad_checkpoint``
error naming the file and the key.

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
    """A resolved ``xp.cfg``: dotted-key access with errors that name the checkpoint file."""

    def __init__(self, data: dict[str, Any], file: str) -> None:
        self.data = data
        self.file = file

    @classmethod
    def from_yaml(cls, text: Any, file: str) -> XpConfig:
        from omegaconf import OmegaConf
        from omegaconf.errors import OmegaConfBaseException

        if not isinstance(text, str):
            raise bad_checkpoint(file, "xp.cfg", f"expected a YAML string, got {type(text).__name__}")
        try:
            data = OmegaConf.to_container(OmegaConf.create(text), resolve=True)
        except OmegaConfBaseException as exc:  # unresolvable interpolation and the like
            raise bad_checkpoint(file, "xp.cfg", f"cannot resolve the config: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - the YAML parser's errors have no common base we import
            raise bad_checkpoint(file, "xp.cfg", f"not valid YAML: {type(exc).__name__}: {exc}") from None
        if not isinstance(data, dict):
            raise bad_checkpoint(file, "xp.cfg", "the config is not a mapping")
        return cls(data, file)

    def get(self, key: str, default: Any = _MISSING) -> Any:
        """Value at a dotted ``key``; absent -> ``default`` or a ``bad_checkpoint`` error."""
        node: Any = self.data
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                if default is not _MISSING:
                    return default
                raise bad_checkpoint(self.file, key, "missing from xp.cfg")
            node = node[part]
        return node

    def require(self, key: str, kind: type | tuple[type, ...], default: Any = _MISSING) -> Any:
        """Like :meth:`get`, and the value must be of ``kind`` (bool is never accepted as int)."""
        value = self.get(key, default)
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if isinstance(value, bool) and bool not in kinds:
            ok = False
        else:
            ok = isinstance(value, kinds) or (float in kinds and isinstance(value, int) and not isinstance(value, bool))
        if not ok:
            names = "/".join(k.__name__ for k in kinds)
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
