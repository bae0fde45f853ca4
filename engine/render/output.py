"""Write clips and sidecars without ever overwriting a file.

Every file is written through a descriptor of its final folder (checked to be the folder the path
policy approved, so a folder swapped for a symbolic link is never written through) to a hidden
temp name, flushed, then published
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

import contextlib
import errno
import json
import os
import secrets
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import soundfile as sf

try:  # F_GETPATH (macOS) tells where an open folder is; absent on Windows
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

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


def _temp_name(final_name: str) -> str:
    return f".{final_name}.{secrets.token_hex(6)}.part"


def _fd_path(fd: int) -> str | None:
    """Where an open folder really is (Linux /proc, macOS F_GETPATH); None where neither exists."""
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        pass
    getpath = getattr(fcntl, "F_GETPATH", None) if fcntl is not None else None
    if getpath is not None:
        try:
            return fcntl.fcntl(fd, getpath, b"\0" * 1024).split(b"\0", 1)[0].decode()
        except OSError:
            return None
    return None


class Folder:
    """An output folder held open as a descriptor; every file operation goes through it.

    The path policy approves a folder by its real path; a local user who swaps that folder (or one
    above it) for a symbolic link afterwards would otherwise redirect the write. Opening the folder
    once, checking that the descriptor is the approved folder, and then creating, linking and
    removing names only relative to the descriptor closes that race: the files land in the
    approved folder or nowhere.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        where = _fd_path(self.fd)
        swapped = (os.path.normpath(where) != os.path.normpath(os.path.abspath(path)) if where is not None
                   else os.path.islink(path))
        if swapped:
            os.close(self.fd)
            raise EngineError("path_not_allowed", f"{path} changed while being written to (it now leads "
                              "elsewhere); nothing was written", path=str(path))

    def close(self) -> None:
        os.close(self.fd)

    def create(self, name: str) -> int:
        """A new file ``name`` (never an existing one, never through a link), open for writing."""
        # O_EXCL: never reuse an existing file; mode 0o666 lets the umask decide permissions.
        return os.open(name, os.O_CREAT | os.O_EXCL | os.O_RDWR | _NOFOLLOW, 0o666, dir_fd=self.fd)

    def unlink(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name, dir_fd=self.fd)

    def link(self, src: str, dst: str) -> None:
        os.link(src, dst, src_dir_fd=self.fd, dst_dir_fd=self.fd, follow_symlinks=False)

    def replace(self, src: str, dst: str) -> None:
        os.replace(src, dst, src_dir_fd=self.fd, dst_dir_fd=self.fd)


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def _write_temp(folder: Folder, final_name: str, write: Callable[[BinaryIO], object]) -> str:
    """Create a fresh temp file in ``folder``, fill it with ``write(file)``, flush it to disk."""
    tmp = _temp_name(final_name)
    fd = folder.create(tmp)
    try:
        with os.fdopen(fd, "w+b") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        folder.unlink(tmp)
        raise
    return tmp


#: what os.link raises where the file system has no hard links (FAT/exFAT, SMB shares, some FUSE mounts)
NO_HARD_LINKS = frozenset({errno.EPERM, errno.EXDEV, errno.ENOTSUP, errno.EOPNOTSUPP})


def _publish(folder: Folder, tmp: str, final: str) -> None:
    """Give ``tmp`` the name ``final``; raises FileExistsError and leaves both untouched if taken."""
    try:
        folder.link(tmp, final)
    except FileExistsError:
        raise
    except OSError as exc:
        if exc.errno not in NO_HARD_LINKS:
            raise
        _publish_without_link(folder, tmp, final)
        return
    folder.unlink(tmp)


def _publish_without_link(folder: Folder, tmp: str, final: str) -> None:
    """Claim ``final`` with O_CREAT | O_EXCL (atomic: FileExistsError when taken, so nothing is ever
    overwritten), then rename the finished temp file, from the same folder, onto our own claim.
    A "rename if the name is free" check would race with another writer; the claim cannot."""
    os.close(folder.create(final))
    try:
        folder.replace(tmp, final)
    except BaseException:
        folder.unlink(final)  # the empty claim is ours
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
    folder = Folder(final.parent)
    try:
        _write_sidecar_in(folder, final.name, data)
    finally:
        folder.close()
    return final


def _write_sidecar_in(folder: Folder, name: str, data: Mapping[str, Any]) -> None:
    payload = _json_bytes(data)
    tmp = _write_temp(folder, name, lambda fh: fh.write(payload))
    try:
        _publish(folder, tmp, name)
    except FileExistsError:
        raise _exists_error(folder.path / name) from None
    finally:
        folder.unlink(tmp)


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

    def write(fh: BinaryIO) -> None:
        sf.write(fh, frames, int(sample_rate), subtype=spec.subtype, format=spec.container)

    folder = Folder(final.parent)
    tmp = _write_temp(folder, final.name, write)
    try:
        for candidate in _candidates(final, auto):
            side: Path | None = None
            if sidecar is not None:
                # The small sidecar claims the name first, so the big temp file is written once.
                try:
                    _write_sidecar_in(folder, sidecar_path(candidate).name, {**sidecar, "file": candidate.name})
                    side = sidecar_path(candidate)
                except EngineError as err:
                    if err.code == "file_exists" and auto:
                        continue
                    raise
            try:
                _publish(folder, tmp, candidate.name)
            except BaseException as exc:
                if side is not None:
                    folder.unlink(side.name)  # ours, published a moment ago
                if isinstance(exc, FileExistsError):
                    continue
                raise
            return ClipFiles(candidate, side)
        raise _exists_error(final)
    finally:
        folder.unlink(tmp)
        folder.close()
