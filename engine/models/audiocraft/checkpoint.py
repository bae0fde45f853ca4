"""Reading audiocraft's exported checkpoint files: ``state_dict.bin`` and ``compression_state_dict.bin``.

Each file is ``{'best_state': {name: tensor}, 'xp.cfg': YAML str, 'version': str, 'exported': True}``
(the LM's float tensors are float16 to save space; we compute in float32), or for a codec that
lives elsewhere, ``{'pretrained': 'facebook/encodec_32khz', ...}``. Files are opened with
``torch.load(weights_only=True)``: a checkpoint can never run code here. Every failure is a
``bad_checkpoint`` error that names the file (and the key when there is one).

>>> pkg = load_package(folder / "state_dict.bin")  # needs an exported checkpoint folder  # doctest: +SKIP
>>> pkg.cfg.get("transformer_lm.dim"), pkg.state["emb.0.weight"].dtype  # the package above  # doctest: +SKIP
(32, torch.float32)
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

import torch

from .config import XpConfig, bad_checkpoint

LM_FILE = "state_dict.bin"
CODEC_FILE = "compression_state_dict.bin"


@dataclass
class Package:
    """One loaded checkpoint file: its tensors (float32), its resolved config, or a pointer."""

    file: str
    state: dict[str, torch.Tensor]
    cfg: XpConfig | None
    pretrained: str | None = None  # set when the file only points at another model (e.g. a HF EnCodec)

    @property
    def config(self) -> XpConfig:
        """The resolved ``xp.cfg``; a file that only points at another model has none (``bad_checkpoint``)."""
        if self.cfg is None:
            raise bad_checkpoint(self.file, "xp.cfg", f"only points at {self.pretrained!r}, holds no config")
        return self.cfg


def load_package(path: str | Path) -> Package:
    """Load one exported file safely; upcast float16/bfloat16 tensors to float32."""
    path = Path(path)
    file = str(path)
    if not path.is_file():
        raise bad_checkpoint(file, None, "file not found")
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - truncated zip, pickle refusing a class, bad magic...
        raise bad_checkpoint(file, None, f"cannot be read as a weights-only torch file ({type(exc).__name__}: "
                             f"{str(exc).splitlines()[0][:200] if str(exc) else ''})") from None
    if not isinstance(raw, dict):
        raise bad_checkpoint(file, None, f"expected a dict, got {type(raw).__name__}")
    if "best_state" not in raw:
        pretrained = raw.get("pretrained")
        if isinstance(pretrained, str) and pretrained:
            return Package(file, {}, None, pretrained=pretrained)
        raise bad_checkpoint(file, "best_state", "missing (and no 'pretrained' pointer either)")
    if "xp.cfg" not in raw:
        raise bad_checkpoint(file, "xp.cfg", "missing")
    best = raw["best_state"]
    if isinstance(best, dict) and "model" in best and isinstance(best["model"], dict):
        best = best["model"]  # training-style packages nest the module state one level deeper
    if not isinstance(best, dict):
        raise bad_checkpoint(file, "best_state", f"expected a dict of tensors, got {type(best).__name__}")
    state: dict[str, torch.Tensor] = {}
    for name, value in best.items():
        if not isinstance(value, torch.Tensor):
            raise bad_checkpoint(file, str(name), f"expected a tensor, got {type(value).__name__}")
        state[name] = value.float() if value.is_floating_point() else value
    return Package(file, state, XpConfig.from_yaml(raw["xp.cfg"], file))


def take(pkg: Package, key: str, shape: tuple[int, ...] | None = None) -> torch.Tensor:
    """The tensor ``key`` of a package, checked against ``shape`` (None: any shape)."""
    if key not in pkg.state:
        raise bad_checkpoint(pkg.file, key, "missing tensor")
    value = pkg.state[key]
    if shape is not None and tuple(value.shape) != tuple(shape):
        raise bad_checkpoint(pkg.file, key, f"wrong shape {tuple(value.shape)}, expected {tuple(shape)}")
    return value


def load_into(module: torch.nn.Module, pkg: Package, prefix: str = "", ignore: tuple[str, ...] = ()) -> None:
    """Copy ``pkg``'s tensors under ``prefix`` into ``module``: every parameter/buffer must be there, same shape.

    A tensor under ``prefix`` that the module has no place for is refused too (it means the
    config does not describe these weights, e.g. layer scales or biases it says are off), unless
    its name contains one of ``ignore`` (training statistics such as ``_codebook.embed_avg``, or
    the conditioners' tensors when loading the LM).
    """
    own = module.state_dict()
    loaded = {name: take(pkg, prefix + name, tuple(target.shape)).to(target.dtype) for name, target in own.items()}
    for key in pkg.state:
        if key.startswith(prefix) and key[len(prefix):] not in own and not any(part in key for part in ignore):
            raise bad_checkpoint(pkg.file, key, "unexpected tensor: xp.cfg describes no such weight")
    module.load_state_dict(loaded)


def resolve_folder(source: str | Path, cache_dir: str | Path | None = None) -> Path:
    """A local folder holding the exported files, or a Hugging Face id found in the local cache.

    No download happens here: a missing HF snapshot is ``model_unavailable`` with the command to
    fetch it (as for the transformers models), a missing file in it is ``bad_checkpoint``.
    """
    path = Path(source).expanduser()
    if path.is_dir():
        return path
    if path.exists():
        raise bad_checkpoint(str(path), None, "expected a folder holding state_dict.bin / compression_state_dict.bin")
    from ..hf import cache_dir as default_cache
    from ..hf import unavailable

    hf_id = str(source)
    if hf_id.count("/") != 1:
        raise bad_checkpoint(hf_id, None, "no such folder, and not a Hugging Face id (owner/name)")
    cache = default_cache(cache_dir)
    found = None
    for name in (LM_FILE, CODEC_FILE):
        with contextlib.suppress(Exception):  # any miss (no hub package, no snapshot) means "not cached"
            from huggingface_hub import hf_hub_download

            found = hf_hub_download(hf_id, name, cache_dir=str(cache), local_files_only=True)
    if found is None:
        raise unavailable(hf_id, cache, "audiocraft checkpoints are not downloaded by the engine")
    return Path(found).parent
