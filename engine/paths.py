"""Where rendered files may go: one output root plus explicitly allowed folders.

    >>> policy = PathPolicy("/tmp/mgb-out", allowed_dirs=["/tmp/session"])
    >>> policy.resolve("drums", "loop.wav")          # relative folders live under the root
    PosixPath('/tmp/mgb-out/drums/loop.wav')
    >>> policy.resolve("/tmp/session", "loop.wav")   # absolute folders must be allowed
    PosixPath('/tmp/session/loop.wav')

Anything that lands outside every root once symlinks and ``..`` are resolved raises
``EngineError("path_not_allowed")``; resolving never creates or writes anything.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path

import platformdirs

from .errors import EngineError

APP_DIR = "musicgen-bridge"


def user_data_dir() -> Path:
    """The per-user data folder (platformdirs: $XDG_DATA_HOME or ~/.local/share on Linux,
    ~/Library/Application Support on macOS, %LOCALAPPDATA% on Windows).

    >>> user_data_dir().name
    'musicgen-bridge'
    """
    return platformdirs.user_data_path(APP_DIR, appauthor=False)


def user_config_dir() -> Path:
    """The per-user config folder (platformdirs: $XDG_CONFIG_HOME or ~/.config on Linux,
    ~/Library/Application Support on macOS, %APPDATA% on Windows): config.toml, keys, fx presets.

    >>> user_config_dir().name
    'musicgen-bridge'
    """
    return platformdirs.user_config_path(APP_DIR, appauthor=False, roaming=True)


def default_output_root() -> Path:
    """Default folder for rendered clips: ``<user data dir>/output``."""
    return user_data_dir() / "output"


def _check_components(requested: str) -> None:
    """Every folder a client names must be a usable name everywhere: valid Unicode, at most 255 bytes,
    not a Windows device name (``CON``, ``nul.``, ``COM¹``), no trailing dot or space."""
    from .render.naming import check_component, is_windows_reserved  # naming imports nothing from here

    for part in Path(requested).parts:
        if part in ("/", "\\", "~") or part.startswith("~"):
            continue
        check_component(part, "folder name")
        if is_windows_reserved(part) or (part not in (".", "..") and part.endswith((" ", "."))):
            raise EngineError("invalid_field", f"folder name {part[:40]!r} is reserved or unusable on Windows",
                              field="output_dir")


def _real(path: Path) -> Path:
    # resolve() follows every symlink of the existing part of the path and folds "..".
    return Path(os.path.abspath(path.expanduser())).resolve(strict=False)


class PathPolicy:
    """Decides where a request may write.

    ``output_root`` (default: :func:`default_output_root`) receives relative folders and
    requests with no folder; ``allowed_dirs`` are extra absolute folders (e.g. a DAW project
    folder) that requests may name. Real paths are compared, so a symlink inside the root
    that points elsewhere is refused too.

        >>> policy = PathPolicy()
        >>> path = policy.resolve(None, "take1.wav")  # <root>/take1.wav
    """

    def __init__(
        self,
        output_root: str | os.PathLike[str] | None = None,
        allowed_dirs: Iterable[str | os.PathLike[str]] = (),
    ) -> None:
        self.output_root = Path(output_root) if output_root is not None else default_output_root()
        self.allowed_dirs = tuple(Path(d) for d in allowed_dirs)
        self.read_dirs: tuple[Path, ...] = ()
        for d in (self.output_root, *self.allowed_dirs):
            if not d.expanduser().is_absolute():
                raise ValueError(f"policy folders must be absolute: {d}")

    def roots(self) -> list[Path]:
        """The real paths of the output root and the allowed folders (resolved now)."""
        return [_real(d) for d in (self.output_root, *self.allowed_dirs)]

    def resolve(self, directory: str | os.PathLike[str] | None, name: str) -> Path:
        """The real path of file ``name`` in ``directory`` (None: the output root).

        A relative ``directory`` is taken under the output root. Raises
        ``EngineError("path_not_allowed")`` when the file would lie outside the root and the
        allowed folders, and ``EngineError("invalid_field")`` for an empty name.
        """
        if not name or name in (".", "..") or "\x00" in name:
            raise EngineError("invalid_field", f"file name {name!r} is not usable; give a plain file name")
        if directory is None or str(directory) == "":
            base = self.output_root
        else:
            if "\x00" in str(directory):
                raise EngineError("invalid_field", "the folder name contains a NUL character")
            d = Path(directory).expanduser()
            base = d if d.is_absolute() else self.output_root / d
        target = _real(base / name)
        for root in self.roots():
            if target != root and target.is_relative_to(root):
                return target
        raise EngineError(
            "path_not_allowed",
            f"{base / name} lies outside the output root and the allowed folders; "
            "write under the output root or add the folder to the allowed folders",
            path=str(base / name),
        )

    # -- engine-facing helpers: folders for outputs, files for inputs ----------------------
    def folder(self, requested: str | os.PathLike[str] | None) -> Path:
        """The real folder a request's ``output_dir`` names (None: the output root), checked now."""
        base = self.output_root if requested in (None, "") else Path(str(requested)).expanduser()
        if "\x00" in str(base):
            raise EngineError("invalid_field", "the folder name contains a NUL character")
        if requested not in (None, ""):
            _check_components(str(requested))
        if not base.is_absolute():
            base = self.output_root / base
        real = _real(base)
        if any(real == root or real.is_relative_to(root) for root in self.roots()):
            return real
        raise EngineError("path_not_allowed", f"{requested} lies outside the output root and the allowed folders "
                          f"({', '.join(map(str, self.roots()))}); start the engine with --allow-dir to add one",
                          path=str(requested))

    def allow_reading(self, folder: str | os.PathLike[str]) -> None:
        """Let inputs come from ``folder`` too (the bridge's scratch folder for received buffers)."""
        self.read_dirs = (*self.read_dirs, Path(folder))

    def input_file(self, requested: str, field: str = "path") -> Path:
        """The real path of an input file (MIDI, audio) that must lie inside the allowed folders."""
        if not isinstance(requested, str) or not requested or "\x00" in requested:
            raise EngineError("invalid_field", f"{field} must be a file path", field=field)
        real = _real(Path(requested))
        roots = self.roots() + [_real(d) for d in self.read_dirs]
        if any(real.is_relative_to(root) and real != root for root in roots):
            return real
        raise EngineError("path_not_allowed", f"{requested} lies outside the engine's allowed folders "
                          f"({', '.join(map(str, self.roots()))}); start the engine with --allow-dir to add one",
                          path=requested, field=field)

    def open_input(self, path: str | os.PathLike[str], field: str = "path") -> int:
        """A read-only descriptor for a regular file inside the roots (read folders included), opened
        one component at a time from the root with O_NOFOLLOW: a symlink swapped in after any check
        fails the open instead of leading outside. The caller closes the descriptor.

        Raises ``path_not_allowed`` outside the roots and ``invalid_field`` ("no file") for anything
        missing, not a regular file, or reached through a symlink below the root."""
        target = Path(os.path.abspath(Path(path).expanduser()))
        for root in self.roots() + [_real(d) for d in self.read_dirs]:
            if target != root and target.is_relative_to(root):
                parts = target.relative_to(root).parts
                break
        else:
            raise EngineError("path_not_allowed", f"{path} lies outside the engine's allowed folders",
                              path=str(path), field=field)
        nofollow = getattr(os, "O_NOFOLLOW", 0)
        try:
            fd = os.open(root, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        except OSError:
            raise _no_file(path, field) from None
        try:
            for part in parts[:-1]:
                sub = os.open(part, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | nofollow, dir_fd=fd)
                os.close(fd)
                fd = sub
            # O_NONBLOCK: opening a FIFO planted there must not wait for a writer
            file_fd = os.open(parts[-1], os.O_RDONLY | nofollow | getattr(os, "O_NONBLOCK", 0), dir_fd=fd)
        except (OSError, ValueError):
            raise _no_file(path, field) from None
        finally:
            os.close(fd)
        if not stat.S_ISREG(os.fstat(file_fd).st_mode):
            os.close(file_fd)
            raise _no_file(path, field)
        return file_fd


def _no_file(path: str | os.PathLike[str], field: str) -> EngineError:
    return EngineError("invalid_field", f"no readable file at {path} (missing, not a plain file, or reached "
                       "through a symbolic link)", field=field)
