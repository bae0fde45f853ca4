"""Safe reading of a Multi-Band Diffusion checkpoint (``mbd_checkpoint.th``, ``mbd_comp_4.pt``, ...).

audiocraft writes these with plain ``torch.save``: ``{'sample_rate', 'n_bands', 0: band, 1: band, ...}``
where each band is ``{'cfg': omegaconf.DictConfig, 'model_state': ..., 'processor_state': ...}``.
The DictConfig makes ``torch.load(weights_only=True)`` refuse the file, and audiocraft's answer
(``weights_only=False``) would run whatever a downloaded file pickles. We unpickle with
``weights_only=True`` and an explicit allowlist of the OmegaConf container classes; any other
class in the file is refused with ``bad_checkpoint`` before it is imported or called.

>>> ckpt = load_mbd_checkpoint("tests/fixtures/audiocraft/mbd/mbd_checkpoint.th")
>>> ckpt.sample_rate, len(ckpt.bands), ckpt.bands[0].cfg["schedule"]["num_steps"]
(24000, 2, 1000)
>>> unet = build_unet(ckpt.bands[0], ckpt.path)
"""

from __future__ import annotations

import collections
import pickle
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ...errors import EngineError
from .config import bad_checkpoint
from .diffusion_unet import DiffusionUnet, UnetConfig


def _omegaconf_allowlist() -> list[Any]:
    """The classes an audiocraft cfg pickles: containers, their metadata, plain value nodes and the
    builtin types a ListConfig records as its element type.

    EnumNode is left out on purpose: unpickling it would resolve an arbitrary enum class.
    """
    from omegaconf import DictConfig, ListConfig
    from omegaconf.base import ContainerMetadata, Metadata
    from omegaconf.nodes import AnyNode, BooleanNode, BytesNode, FloatNode, IntegerNode, PathNode, StringNode

    return [DictConfig, ListConfig, ContainerMetadata, Metadata, AnyNode, StringNode, IntegerNode,
            FloatNode, BooleanNode, BytesNode, PathNode, typing.Any, dict, list, int, float, str, bool,
            collections.defaultdict]


@dataclass
class BandCheckpoint:
    """One band's network: its cfg as plain containers, U-Net weights and band-processor state."""

    index: int
    cfg: dict[str, Any]
    model_state: dict[str, torch.Tensor]
    processor_state: dict[str, torch.Tensor]


@dataclass
class MBDCheckpoint:
    path: Path
    sample_rate: int
    bands: list[BandCheckpoint]


def _bad(path: Path, message: str, key: str | None = None, **extra: Any) -> EngineError:
    err = bad_checkpoint(str(path), key, message)
    err.details.update(extra)
    return err


def safe_unpickle(path: Path) -> Any:
    """``torch.load(path, weights_only=True)`` with the OmegaConf allowlist; refusals are ``bad_checkpoint``."""
    if not path.is_file():
        raise _bad(path, "file not found")
    try:
        with torch.serialization.safe_globals(_omegaconf_allowlist()):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        refused = re.search(r"GLOBAL (\S+) was not an allowed global", str(exc))
        if refused:
            name = refused.group(1)
            raise _bad(path, f"it pickles {name}, which is not an allowed checkpoint class; refusing to load it",
                       refused=name) from None
        raise _bad(path, f"not a loadable checkpoint ({_first_line(exc)})") from None
    except Exception as exc:  # noqa: BLE001 - truncated zip, bad magic, a crafted state an allowed class rejects
        raise _bad(path, f"cannot be read ({type(exc).__name__}: {_first_line(exc)})") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def _plain_cfg(path: Path, cfg: Any, band: int) -> dict[str, Any]:
    """DictConfig (or dict) -> plain dict with ``${...}`` interpolations resolved."""
    from omegaconf import DictConfig, OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    if isinstance(cfg, DictConfig):
        try:
            out = OmegaConf.to_container(cfg, resolve=True)
        except OmegaConfBaseException as exc:
            raise _bad(path, f"band {band} cfg does not resolve ({_first_line(exc)})", key=f"{band}.cfg") from None
    elif isinstance(cfg, dict):
        out = cfg
    else:
        raise _bad(path, f"band {band} cfg is a {type(cfg).__name__}, not a config mapping", key=f"{band}.cfg")
    return dict(out)  # type: ignore[arg-type]


def _need(path: Path, mapping: Any, key: Any, label: str, kind: type | tuple[type, ...]) -> Any:
    if not isinstance(mapping, dict) or key not in mapping:
        raise _bad(path, f"missing key {label}", key=label)
    value = mapping[key]
    if not isinstance(value, kind) or isinstance(value, bool) and kind is int:
        raise _bad(path, f"{label} has type {type(value).__name__}", key=label)
    return value


def load_mbd_checkpoint(path: str | Path) -> MBDCheckpoint:
    """Read and validate the file's layout (not yet the weights' shapes; see :func:`build_unet`)."""
    path = Path(path)
    return parse_mbd_package(safe_unpickle(path), path)


def parse_mbd_package(pkg: Any, path: Path) -> MBDCheckpoint:
    """Validate an unpickled package; ``path`` only names the source in errors."""
    sample_rate = _need(path, pkg, "sample_rate", "sample_rate", int)
    n_bands = _need(path, pkg, "n_bands", "n_bands", int)
    if sample_rate <= 0 or n_bands <= 0:
        raise _bad(path, f"sample_rate {sample_rate} / n_bands {n_bands} must be positive", key="n_bands")
    bands = []
    for i in range(n_bands):
        entry = _need(path, pkg, i, f"{i}", dict)
        cfg = _plain_cfg(path, _need(path, entry, "cfg", f"{i}.cfg", object), i)
        for key in ("schedule", "diffusion_unet", "channels"):
            if key not in cfg:
                raise _bad(path, f"missing key {i}.cfg.{key}", key=f"{i}.cfg.{key}")
        model_state = _need(path, entry, "model_state", f"{i}.model_state", dict)
        processor_state = entry.get("processor_state") or {}
        for label, state in (("model_state", model_state), ("processor_state", processor_state)):
            if not isinstance(state, dict) or any(not isinstance(v, torch.Tensor) for v in state.values()):
                raise _bad(path, f"{i}.{label} is not a mapping of tensors", key=f"{i}.{label}")
        bands.append(BandCheckpoint(i, cfg, {k: v.float() for k, v in model_state.items()},
                                    dict(processor_state)))
    return MBDCheckpoint(path, sample_rate, bands)


def load_state_strict(module: torch.nn.Module, state: dict[str, torch.Tensor], path: Path, where: str,
                      rename: Callable[[str], str] = lambda k: k) -> None:
    """``load_state_dict`` whose missing / unexpected / mis-shaped keys become ``bad_checkpoint``."""
    state = {rename(k): v for k, v in state.items()}
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    extra = [k for k in state if k not in own]
    if missing or extra:
        key = (missing or extra)[0]
        what = "missing" if missing else "unexpected"
        raise _bad(path, f"{where}: {what} weight {key} ({len(missing)} missing, {len(extra)} unexpected)",
                   key=f"{where}.{key}")
    for k, v in state.items():
        if tuple(v.shape) != tuple(own[k].shape):
            raise _bad(path, f"{where}: {k} has shape {list(v.shape)}, the cfg implies {list(own[k].shape)}",
                       key=f"{where}.{k}")
    module.load_state_dict(state, strict=True)


def _mha_name(key: str) -> str:
    """Checkpoints saved with audiocraft's custom attention omit the ``.mha`` level; add it."""
    return re.sub(r"\.(self_attn|cross_attention)\.(in_proj_weight|in_proj_bias|out_proj\.)",
                  r".\1.mha.\2", key)


def build_unet(band: BandCheckpoint, path: Path) -> DiffusionUnet:
    """The band's U-Net with its weights loaded, in eval mode."""
    cfg = band.cfg
    where = f"band {band.index}"
    try:
        ucfg = UnetConfig.from_cfg(cfg["diffusion_unet"], channels=int(cfg["channels"]),
                                   num_steps=int(cfg["schedule"]["num_steps"]))
        net = DiffusionUnet(ucfg)
    except KeyError as exc:
        raise _bad(path, f"{where}: missing key {exc.args[0]}", key=f"{band.index}.cfg.{exc.args[0]}") from None
    except (TypeError, ValueError) as exc:
        raise _bad(path, f"{where}: unusable diffusion_unet cfg ({_first_line(exc)})",
                   key=f"{band.index}.cfg.diffusion_unet") from None
    load_state_strict(net, band.model_state, path, where, rename=_mha_name)
    return net.eval()
