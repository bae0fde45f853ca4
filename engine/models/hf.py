"""Loading the published MusicGen checkpoints through transformers, failing fast when they are absent.

Weights come from the Hugging Face cache (``--cache-dir``, else ``HF_HUB_CACHE``/``HF_HOME``).
When a model is not cached we ask the hub once with a short timeout; if that fails we stop with
a message that names the model, the cache folder and how to fetch the weights, instead of
letting a download hang or a stack trace reach the producer.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

from ..errors import EngineError

PROBE_TIMEOUT_S = 3.0


def cache_dir(path: str | Path | None) -> Path:
    if path is not None:
        return Path(path).expanduser()
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def is_cached(hf_id: str, cache: Path, filename: str = "config.json") -> bool:
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(hf_id, filename, cache_dir=str(cache))
    return isinstance(found, str)


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes") or \
        os.environ.get("MGB_OFFLINE", "").lower() in ("1", "true", "yes")


def unavailable(hf_id: str, cache: Path, reason: str) -> EngineError:
    return EngineError(
        "model_unavailable",
        f"model {hf_id} is not in the cache at {cache} and cannot be downloaded ({reason}). "
        f"Run `musicgen-bridge models pull {hf_id} --cache-dir {cache}` (with internet; it resumes), or on a "
        f"machine with internet run it and copy that folder here, or pass --cache-dir; "
        f"to try the product without weights use --model tiny.",
        model=hf_id, cache_dir=str(cache))


def ensure_snapshot(hf_id: str, cache: Path) -> str:
    """Return the local snapshot folder of ``hf_id``, downloading it only if the hub answers quickly."""
    from huggingface_hub import HfApi, snapshot_download

    try:
        return snapshot_download(hf_id, cache_dir=str(cache), local_files_only=True)
    except Exception:  # noqa: BLE001, S110 - any miss means "not cached"
        pass
    if _offline():
        raise unavailable(hf_id, cache, "offline mode is on (HF_HUB_OFFLINE or MGB_OFFLINE)")
    try:
        HfApi().model_info(hf_id, timeout=PROBE_TIMEOUT_S)
    except Exception as exc:  # noqa: BLE001 - network failures come in many types
        raise unavailable(hf_id, cache, f"the hub did not answer: {type(exc).__name__}") from None
    return snapshot_download(hf_id, cache_dir=str(cache))


def load_pretrained(hf_id: str, melody: bool, cache_dir: Path, device: torch.device,
                    dtype: torch.dtype) -> tuple[Any, Any, str]:
    """Load model and tokenizer; return (model, tokenizer, revision)."""
    from transformers import AutoTokenizer, MusicgenForConditionalGeneration, MusicgenMelodyForConditionalGeneration

    snapshot = ensure_snapshot(hf_id, cache_dir)
    cls = MusicgenMelodyForConditionalGeneration if melody else MusicgenForConditionalGeneration
    model: Any = cls.from_pretrained(snapshot, dtype=dtype)
    model = model.to(device).eval()
    tokenizer = AutoTokenizer.from_pretrained(snapshot)
    revision = Path(snapshot).name  # the snapshot folder is named by the commit hash
    return model, tokenizer, revision
