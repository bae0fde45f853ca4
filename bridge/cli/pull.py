"""``musicgen-bridge models pull NAME``: a model's weights into the Hugging Face cache, with
huggingface_hub's progress bars. A dropped connection resumes where it stopped (an HTTP range
request); a pull run again keeps the files it already has.

>>> pull("tiny", None)                     # built in: prints that there is nothing to fetch  # doctest: +SKIP
0
"""

from __future__ import annotations

import sys

from ...engine.errors import EngineError

#: what a MusicGen snapshot needs (transformers' layout); the rest of a repository (e.g. audiocraft's
#: own checkpoints, sample audio) is left on the hub
PATTERNS = ["*.json", "*.safetensors", "*.model", "*.txt"]


def pull(name: str, cache_dir: str | None, revision: str | None = None) -> int:
    """Download ``name`` (a registry model) into the cache; print where it is."""
    from huggingface_hub import snapshot_download

    from ...engine.models import hf
    from ...engine.models.specs import get_spec

    spec = get_spec(name)  # unknown_model names the known ones
    if spec.hf_id is None:
        print(f"{name} is built into musicgen-bridge (made in code): nothing to download")
        return 0
    cache = hf.cache_dir(cache_dir)
    if hf._offline():
        raise EngineError("model_unavailable", f"cannot download {spec.hf_id}: offline mode is on (HF_HUB_OFFLINE or "
                          "MGB_OFFLINE); unset it, or copy the model's cache folder from a machine that has it",
                          model=spec.hf_id, cache_dir=str(cache))
    print(f"musicgen-bridge: pulling {spec.hf_id} into {cache} (a dropped connection resumes)", file=sys.stderr,
          flush=True)
    try:
        folder = snapshot_download(spec.hf_id, cache_dir=str(cache), revision=revision, allow_patterns=PATTERNS,
                                   etag_timeout=10)
    except Exception as exc:  # noqa: BLE001 - network, HTTP and disk failures come in many types
        detail = str(exc).splitlines()[0][:300] if str(exc) else ""
        raise EngineError("model_unavailable", f"could not download {spec.hf_id} into {cache}: "
                          f"{type(exc).__name__}: {detail}. Check the network (and HF_ENDPOINT, HF_TOKEN), then run "
                          "the same command again: the files already downloaded are kept",
                          model=spec.hf_id, cache_dir=str(cache)) from None
    print(f"{spec.hf_id}  {folder}")
    return 0
