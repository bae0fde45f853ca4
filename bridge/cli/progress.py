"""What a job is doing, on stderr: a progress bar with stage and ETA on a terminal (tqdm), one line
per stage and per tenth of progress elsewhere (a log, a DAW script reading a pipe), or one JSON
object a line with ``--json``. Errors printed after it always start on their own line.

>>> import io
>>> out = io.StringIO()
>>> with Progress(stream=out, tty=False) as progress:
...     progress.event("accepted", {"job_id": "j-1"})
...     progress.event("progress", {"job_id": "j-1", "fraction": 0.25})
>>> print(out.getvalue(), end="")
musicgen-bridge: job j-1 queued
musicgen-bridge: generating 20%
"""

from __future__ import annotations

import json
import sys
from typing import IO, Any, Self

#: lines without a terminal: one per this much progress
LINE_STEP = 0.1


class Progress:
    """Follows one job's events (``accepted``, ``progress``, ...) and stages the CLI adds (``fetching``)."""

    def __init__(self, as_json: bool = False, stream: IO[str] | None = None, tty: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.as_json = as_json
        self.tty = (self.stream.isatty() if tty is None else tty) and not as_json
        self._bar: Any = None
        self._stage = ""
        self._last_step = -1

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def event(self, event: str, content: dict[str, Any]) -> None:
        """One event of the job (what the engine sends, or the CLI's own stages)."""
        if self.as_json:
            print(json.dumps({"event": event, **content}), file=self.stream, flush=True)
        elif event == "accepted":
            self.stage("queued", f"job {content['job_id']} queued")
        elif event == "progress":
            self.fraction(float(content["fraction"]))
        elif event == "fetching":
            self.stage("fetching", f"fetching {content['path']}")

    def stage(self, name: str, line: str) -> None:
        self._close_bar()
        self._stage = name
        self._print(line)

    def fraction(self, fraction: float) -> None:
        if self._stage != "generating":
            self._close_bar()
            self._stage = "generating"
            if self.tty:
                from tqdm import tqdm

                self._bar = tqdm(total=100, desc="generating", file=self.stream, leave=True,
                                 bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining}")
        if self._bar is not None:
            self._bar.update(round(fraction * 100) - self._bar.n)
            return
        step = int(fraction / LINE_STEP + 1e-9)
        if step > self._last_step:
            self._last_step = step
            self._print(f"generating {step * LINE_STEP:.0%}")

    def close(self) -> None:
        self._close_bar()

    def _close_bar(self) -> None:
        if self._bar is not None:
            self._bar.close()  # leaves the bar and ends its line: what follows starts a new one
            self._bar = None

    def _print(self, line: str) -> None:
        if self._bar is not None:
            self._bar.write(f"musicgen-bridge: {line}")
        else:
            print(f"musicgen-bridge: {line}", file=self.stream, flush=True)
