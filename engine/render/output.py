"""Write clips and sidecars without ever overwriting a file.

Every file is written to a hidden temp name in its final folder, flushed, then published
under the final name with a hard link (``os.link`` fails if the name exists) and the temp
name removed. Where the file system has no hard links (``os.link`` fails with EPERM, EXDEV,
ENOTSUP or EOPNOTSUPP: FAT32/exFAT drives, network shares), the name is first claimed with
``O_CREAT | O_EXCL`` and the temp file renamed onto the claim. A failed write leaves
no temp file behind.

    >>> files = write_clip(audio, 48000, Path("/music/out/take1.wav"), fmt="wav24",  # writes under /music  # doctest: +SKIP
    ...                    sidecar={"prompt": "dusty drums"})
    >>> files.audio, files.sidecar  # files: from the line above  # doctest: +SKIP
    (PosixPath('/music/out/take1.wav'), PosixPath('/music/out/take1.wav.json'))

Explicit names raise ``EngineError("file_exists")``; with ``auto=True`` (names made from a
pattern) the next free name is used: ``take1-2.wav``, ``take1-3.wav``, ...
"""

from __future__ import annotations

import errno
import json
import os
import secrets
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from ..errors import EngineError

MAX_AUTO_SUFFIX = 9999


@dataclass(frozen=True)
class AudioFormat:
    """A file format the renderer writes: container and sample subtype for libsndfile."""

    key: str
    ext: str
    container: str
    subtype: str

    @property
    def is_float(self) -> bool:
        return self.subtype in ("FLOAT", "DOUBLE")


FORMATS: dict[str, AudioFormat] = {
    "wav16": AudioFormat("wav16", ".wav", "WAV", "PCM_16"),
    "wav24": AudioFormat("wav24", ".wav", "WAV", "PCM_24"),
    "wav32f": AudioFormat("wav32f", ".wav", "WAV", "FLOAT"),
    "flac": AudioFormat("flac", ".flac", "FLAC", "PCM_24"),
    "aiff": AudioFormat("aiff", ".aiff", "AIFF", "PCM_24"),
}
DEFAULT_FORMAT = "wav24"


def get_format(key: str) -> AudioFormat:
    """The :class:`AudioFormat` for ``key`` (``wav16``, ``wav24``, ``wav32f``, ``flac``, ``aiff``)."""
    try:
        return FORMATS[key]
    except (KeyError, TypeError):
        raise EngineError(
            "invalid_field", f"format {key!r} is unknown; use one of {', '.join(FORMATS)}", field="format"
        ) from None


def sidecar_path(audio_path: Path) -> Path:
    """The sidecar of ``take1.wav`` is ``take1.wav.json``."""
    return audio_path.with_name(audio_path.name + ".json")


@dataclass(frozen=True)
class ClipFiles:
    """What :func:`write_clip` published."""

    audio: Path
    sidecar: Path | None


def _temp_name(folder: Path, final_name: str) -> Path:
    return folder / f".{final_name}.{secrets.token_hex(6)}.part"


def _write_temp(folder: Path, final_name: str, write: Callable[[Path], object]) -> Path:
    """Create a fresh temp file in ``folder``, fill it with ``write(path)``, flush it to disk."""
    tmp = _temp_name(folder, final_name)
    # O_EXCL: never reuse an existing file; mode 0o666 lets the umask decide permissions.
    os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    try:
        write(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


#: what os.link raises where the file system has no hard links (FAT/exFAT, SMB shares, some FUSE mounts)
NO_HARD_LINKS = frozenset({errno.EPERM, errno.EXDEV, errno.ENOTSUP, errno.EOPNOTSUPP})


def _publish(tmp: Path, final: Path) -> None:
    """Give ``tmp`` the name ``final``; raises FileExistsError and leaves both untouched if taken."""
    try:
        os.link(tmp, final)
    except FileExistsError:
        raise
    except OSError as exc:
        if exc.errno not in NO_HARD_LINKS:
            raise
        _publish_without_link(tmp, final)
        return
    tmp.unlink()


def _publish_without_link(tmp: Path, final: Path) -> None:
    """Claim ``final`` with O_CREAT | O_EXCL (atomic: FileExistsError when taken, so nothing is ever
    overwritten), then rename the finished temp file, from the same folder, onto our own claim.
    A "rename if the name is free" check would race with another writer; the claim cannot."""
    os.close(os.open(final, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    try:
        os.replace(tmp, final)
    except BaseException:
        final.unlink(missing_ok=True)  # the empty claim is ours
        raise


def _candidates(final: Path, auto: bool) -> Iterator[Path]:
    yield final
    if auto:
        for i in range(2, MAX_AUTO_SUFFIX + 1):
            yield final.with_name(f"{final.stem}-{i}{final.suffix}")


def _exists_error(path: Path) -> EngineError:
    return EngineError(
        "file_exists", f"{path} already exists; choose another name (files are never overwritten)", path=str(path)
    )


def _json_bytes(data: Mapping[str, Any]) -> bytes:
    return (json.dumps(dict(data), indent=2, sort_keys=True, allow_nan=False) + "\n").encode("utf-8")


def write_sidecar(path: str | os.PathLike[str], data: Mapping[str, Any]) -> Path:
    """Write ``data`` as JSON to ``path`` the safe way; ``file_exists`` if the name is taken.

        >>> write_sidecar("/music/out/take1.wav.json", {"seed": 7, "bpm": 92})  # writes under /music  # doctest: +SKIP
    """
    final = Path(path)
    payload = _json_bytes(data)
    tmp = _write_temp(final.parent, final.name, lambda p: p.write_bytes(payload))
    try:
        _publish(tmp, final)
    except FileExistsError:
        raise _exists_error(final) from None
    finally:
        tmp.unlink(missing_ok=True)
    return final


def _prepare_samples(audio: np.ndarray, fmt: AudioFormat) -> np.ndarray:
    data = np.asarray(audio, dtype=np.float32)
    if data.ndim != 2 or data.shape[0] not in (1, 2):
        raise ValueError(f"audio must be shaped (channels, frames) with 1 or 2 channels, got {data.shape}")
    if not fmt.is_float:
        # Integer formats cannot hold |x| > 1; libsndfile would wrap instead of clip.
        data = np.clip(data, -1.0, 1.0)
    return np.ascontiguousarray(data.T)


def write_clip(
    audio: np.ndarray,
    sample_rate: int,
    path: str | os.PathLike[str],
    *,
    fmt: str = DEFAULT_FORMAT,
    auto: bool = False,
    sidecar: Mapping[str, Any] | None = None,
) -> ClipFiles:
    """Write ``audio`` (float32, (channels, frames)) to ``path`` and its sidecar next to it.

    ``path`` should come from :meth:`PathPolicy.resolve`; the format's extension is added
    when ``path`` lacks it. With ``auto`` the first free name among ``path``, ``path-2``, ...
    whose sidecar name is free too is used; otherwise a taken name raises ``file_exists``.
    The sidecar receives ``"file": <final audio name>``.
    """
    spec = get_format(fmt)
    final = Path(path)
    if final.suffix.lower() != spec.ext:
        final = final.with_name(final.name + spec.ext)
    final.parent.mkdir(parents=True, exist_ok=True)
    frames = _prepare_samples(audio, spec)

    def write(tmp: Path) -> None:
        sf.write(tmp, frames, int(sample_rate), subtype=spec.subtype, format=spec.container)

    tmp = _write_temp(final.parent, final.name, write)
    try:
        for candidate in _candidates(final, auto):
            side: Path | None = None
            if sidecar is not None:
                # The small sidecar claims the name first, so the big temp file is written once.
                try:
                    side = write_sidecar(sidecar_path(candidate), {**sidecar, "file": candidate.name})
                except EngineError as err:
                    if err.code == "file_exists" and auto:
                        continue
                    raise
            try:
                _publish(tmp, candidate)
            except BaseException as exc:
                if side is not None:
                    side.unlink()  # ours, published a moment ago
                if isinstance(exc, FileExistsError):
                    continue
                raise
            return ClipFiles(candidate, side)
        raise _exists_error(final)
    finally:
        tmp.unlink(missing_ok=True)
