"""Which file format ``--out`` and ``--format`` mean together, and the name the file gets.

>>> output_target("x.flac", None)
(PosixPath('x.flac'), 'flac')
>>> output_target("x", "aiff")
(PosixPath('x.aiff'), 'aiff')
>>> output_target("x.wav", "flac")
Traceback (most recent call last):
...
musicgen_bridge.engine.errors.EngineError: invalid_field: --format flac writes .flac files but --out x.wav ends in .wav; give one of them or make them agree
"""

from __future__ import annotations

from pathlib import Path

from ...engine.errors import EngineError

#: format key -> file extension; the engine's render.output.FORMATS (kept apart so the CLI starts
#: without importing the renderer; tests/test_cli_fixes.py checks they agree)
EXTENSIONS = {"wav16": ".wav", "wav24": ".wav", "wav32f": ".wav", "flac": ".flac", "aiff": ".aiff"}
DEFAULT_FORMAT = "wav24"
#: extension -> the format it implies when --format is not given
FORMAT_OF_EXT = {".wav": "wav24", ".flac": "flac", ".aiff": "aiff", ".aif": "aiff"}


def output_target(out: str | None, fmt: str | None) -> tuple[Path | None, str]:
    """(the output path with the format's extension, the format) from ``--out`` and ``--format``."""
    if fmt is not None and fmt not in EXTENSIONS:
        raise EngineError("invalid_field", f"--format {fmt!r} is unknown; use one of {', '.join(EXTENSIONS)}",
                          field="format")
    if out is None:
        return None, fmt or DEFAULT_FORMAT
    path = Path(out)
    ext = path.suffix.lower()
    implied = FORMAT_OF_EXT.get(ext)
    if implied is None:  # no audio extension: the format's is added
        fmt = fmt or DEFAULT_FORMAT
        return path.with_name(path.name + EXTENSIONS[fmt]), fmt
    if fmt is None:
        return path, implied
    if EXTENSIONS[fmt] != EXTENSIONS[implied]:
        raise EngineError("invalid_field", f"--format {fmt} writes {EXTENSIONS[fmt]} files but --out {out} ends in "
                          f"{path.suffix}; give one of them or make them agree", field="format")
    return path, fmt
