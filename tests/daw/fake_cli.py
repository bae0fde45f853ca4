"""A stand-in for the ``musicgen-bridge`` CLI in DAW-script tests that need no engine.

It accepts what the ReaScripts send (``generate|continue --request FILE.json [--server S] --json
--out OUT``), records its argv, working folder and the request file's content to ``$MGB_FAKE_LOG``, and answers like the real CLI with ``--json``: an
``accepted`` line on stderr, then one JSON line on stdout, or ``musicgen-bridge: <code>: <message>``
on stderr with exit status 1. A continuation starts on the item's last bar line, as the engine's does.
``$MGB_FAKE_MODE``: ``ok`` (default), ``unreachable``, ``slow`` (waits for SIGTERM, which it
answers as the real CLI does: a ``cancelled`` error line, exit status 1, and ``$MGB_FAKE_LOG.term``)
or ``mute`` (prints a line that is not an event, then hangs without ever getting a job accepted).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import time
from fractions import Fraction
from pathlib import Path


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="fake-musicgen-bridge")
    p.add_argument("kind", choices=("generate", "continue"))
    p.add_argument("--request", required=True)
    p.add_argument("--server")
    p.add_argument("--out", required=True)
    p.add_argument("--json", action="store_true")
    return p.parse_args(argv)


def on_term(log: str | None) -> None:
    def handler(*_: object) -> None:
        if log:
            Path(log + ".term").write_text("cancelled")
        print("musicgen-bridge: cancelled: job j-fake was cancelled", file=sys.stderr, flush=True)
        sys.exit(1)
    signal.signal(signal.SIGTERM, handler)


def main(argv: list[str]) -> int:
    mode = os.environ.get("MGB_FAKE_MODE", "ok")
    log = os.environ.get("MGB_FAKE_LOG")
    if mode in ("slow", "mute"):
        on_term(log)  # before the slow imports below, so an early SIGTERM is answered too
    import numpy as np
    import soundfile as sf

    args = parse(argv)
    req = json.loads(Path(args.request).read_text(encoding="utf-8"))
    if log:
        Path(log).write_text(json.dumps({"argv": argv, "cwd": os.getcwd(), "request": req}))
    if mode == "unreachable":
        print("musicgen-bridge: unreachable: no reply from the engine at tcp://127.0.0.1:5555 within 10 s "
              "(is it running? start it with `musicgen-bridge serve`)", file=sys.stderr)
        return 1
    if mode == "mute":
        print("loading the tokenizer... (stuck)", file=sys.stderr, flush=True)
        time.sleep(60)
        return 1
    print(json.dumps({"event": "accepted", "job_id": "j-fake"}), file=sys.stderr, flush=True)
    if mode == "slow":
        for i in range(600):
            print(json.dumps({"event": "progress", "job_id": "j-fake", "fraction": i / 600}), file=sys.stderr,
                  flush=True)
            time.sleep(0.05)
    num, den = (int(x) for x in req["time_signature"].split("/"))
    bar_s = Fraction(num * 4, den) * 60 / Fraction(str(req["bpm"]))
    start_bar = req.get("start_bar")
    if args.kind == "continue":  # the item's last bar line (1-based)
        audio = req["audio"]
        item_s = Fraction(str(audio["end_seconds"])) - Fraction(str(audio["start_seconds"]))
        start_bar = math.floor(Fraction(str(req["item_start_bar"])) - 1 + item_s / bar_s) + 1
    rate = req["sample_rate"]
    # bars, or seconds (the sound-effect action may time its sound in seconds)
    frames = round(req["bars"] * bar_s * rate) if req.get("bars") is not None else \
        round(Fraction(str(req["seconds"])) * rate)
    out = Path(args.out).resolve()
    n = req.get("variations") or 1
    fmt = {"flac": ("FLAC", "PCM_24"), "aiff": ("AIFF", "PCM_24")}.get(req.get("format", ""), ("WAV", "PCM_24"))
    takes = []
    for i in range(1, n + 1):
        dest = out if n == 1 else out.with_name(f"{out.stem}-take{i}{out.suffix}")
        sf.write(dest, np.zeros((frames, 2), dtype=np.float32), rate, format=fmt[0], subtype=fmt[1])
        takes.append({"take": i, "path": str(dest), "frames": frames, "seed": i})
    print(json.dumps({"event": "finished", "job_id": "j-fake"}), file=sys.stderr, flush=True)
    print(json.dumps({"job_id": "j-fake", "path": takes[0]["path"], "takes": takes, "frames": frames,
                      "sample_rate": rate, "bars": req.get("bars"), "start_bar": start_bar}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
