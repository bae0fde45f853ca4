"""Run every known family's checks on a fixture folder laid out like the shared audiocraft set.

One line per check, then a summary; families whose folder exists but that we do not implement
yet are reported ``skipped (not implemented)`` and never count as passed. A family whose setup
fails (missing file, ``bad_checkpoint``...) gives one failed line saying why.

Adding a family: write ``engine/conformance/<family>.py`` with ``checks(folder) -> Iterator[Check]``
and set its entry in :data:`FAMILIES`.

>>> report = run(Path("tests/fixtures/audiocraft"))  # every family: too slow for a doctest  # doctest: +SKIP
>>> report.failed, report.exit_status  # the run above  # doctest: +SKIP
(0, 0)
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from ..errors import EngineError
from .checks import FAMILY_WIDTH, Check

#: fixture sub-folder -> module of this package implementing it (None: not implemented yet)
FAMILIES: dict[str, str | None] = {
    "audiogen": "audiogen",
    "magnet": "magnet",
    "musicgen_style": "musicgen_style",
    "mbd": "mbd",
}


@dataclass
class Report:
    lines: list[str] = field(default_factory=list)
    passed: int = 0
    failed: int = 0
    skipped: int = 0

    @property
    def exit_status(self) -> int:
        """0 only when something was checked and nothing failed."""
        return 0 if self.failed == 0 and self.passed > 0 else 1

    def summary(self) -> str:
        return f"conformance: {self.passed} passed, {self.failed} failed, {self.skipped} skipped"


def run(folder: Path, emit: Callable[[str], None] | None = None) -> Report:
    """Check every family sub-folder of ``folder``; ``emit`` receives each line as it is made."""
    report = Report()

    def out(line: str) -> None:
        report.lines.append(line)
        if emit is not None:
            emit(line)

    if not folder.is_dir():
        raise EngineError("invalid_field", f"{folder} is not a folder", field="dir")
    subfolders = sorted(p.name for p in folder.iterdir() if p.is_dir())
    for family in subfolders:
        module = FAMILIES.get(family, None)
        if module is None:
            why = "not implemented" if family in FAMILIES else "unknown family"
            out(f"{family:<{FAMILY_WIDTH}} skipped ({why})")
            report.skipped += 1
            continue
        found = importlib.import_module(f".{module}", __package__).checks(folder / family)
        while True:
            try:
                check = next(found)
            except StopIteration:
                break
            except Exception as exc:  # noqa: BLE001 - a broken fixture or checkpoint is a failed check, not a crash
                check = Check("setup", False, f"error: {type(exc).__name__}: {exc}")
                found = iter(())
            out(check.line(family))
            report.passed += check.passed
            report.failed += not check.passed
    if report.passed + report.failed == 0:
        out("no family was checked")
    out(report.summary())
    return report


def run_conformance(folder: str | Path, stream: TextIO | None = None) -> int:
    """Run and print each line to ``stream`` (stdout); returns the exit status
    (``musicgen-bridge conformance audiocraft DIR`` calls this)."""
    stream = stream or sys.stdout
    report = run(Path(folder), emit=lambda line: print(line, file=stream, flush=True))
    return report.exit_status
