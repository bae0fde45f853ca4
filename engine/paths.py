"""Where the engine may write: its output root and the session folders it was allowed.

A request names a folder (or nothing: the output root). The folder's real path — symlinks
resolved, ``..`` collapsed — must lie inside one of the allowed roots, else ``path_not_allowed``.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import EngineError


def default_output_root() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "musicgen-bridge" / "output"


class PathPolicy:
    """>>> policy = PathPolicy("/tmp/mgb-out", ["/tmp/session"])
    >>> policy.folder(None)
    PosixPath('/tmp/mgb-out')
    """

    def __init__(self, output_root: str | Path | None = None, allowed_dirs: list[str | Path] | None = None) -> None:
        self.output_root = Path(output_root or default_output_root()).expanduser().resolve()
        self.roots = [self.output_root] + [Path(d).expanduser().resolve() for d in (allowed_dirs or [])]
        self.read_roots: list[Path] = []  # extra folders inputs may come from (the bridge's scratch)

    def allow_reading(self, folder: str | Path) -> None:
        self.read_roots.append(Path(folder).resolve())

    def input_file(self, requested: str, field: str = "path") -> Path:
        """The real path of an input file (MIDI, audio) that must lie inside the allowed roots."""
        if not isinstance(requested, str) or not requested or "\x00" in requested:
            raise EngineError("invalid_field", f"{field} must be a file path", field=field)
        real = Path(requested).expanduser().resolve()
        if not any(real == root or root in real.parents for root in self.roots + self.read_roots):
            raise EngineError("path_not_allowed",
                              f"{requested} is outside the engine's allowed folders "
                              f"({', '.join(map(str, self.roots))}); start the engine with --allow-dir to add one",
                              path=requested, field=field)
        return real

    def folder(self, requested: str | None) -> Path:
        """The real folder to write into, checked against the roots (nothing is created here)."""
        if requested is None or requested == "":
            return self.output_root
        if "\x00" in requested:
            raise EngineError("path_not_allowed", "the folder name contains a NUL byte")
        path = Path(requested).expanduser()
        if not path.is_absolute():
            path = self.output_root / path
        real = path.resolve()  # follows symlinks, so a link pointing outside is caught
        for root in self.roots:
            if real == root or root in real.parents:
                return real
        raise EngineError("path_not_allowed",
                          f"{requested} is outside the engine's output root and allowed folders "
                          f"({', '.join(map(str, self.roots))}); start the engine with --allow-dir to add one",
                          path=requested)

    def file_name(self, name: str) -> str:
        """A bare file name: no folders, no hidden or empty names."""
        if not name or name in (".", "..") or "/" in name or "\\" in name or "\x00" in name or name.startswith("."):
            raise EngineError("path_not_allowed", f"output_name must be a plain file name, got {name!r}",
                              field="output_name")
        return name
