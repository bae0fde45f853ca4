"""A stand-in for the ``musicgen-bridge`` CLI in DAW-script tests that need no engine.

It accepts the generate/continue flags the ReaScripts send, records its argv (and the melody
file's content) to ``$MGB_FAKE_LOG``, and answers like the real CLI with ``--json``: an
``accepted`` line on stderr, then one JSON line on stdout, or ``musicgen-bridge: <code>: <message>``
on stderr with exit status 1. A continuation starts on the item's last bar line, as the engine's does.
``$MGB_FAKE_MODE``: ``ok`` (default), ``unreachable`` or ``slow`` (waits for SIGTERM, which it
answers as the real CLI does: a ``cancelled`` error line, exit status 1, and ``$MGB_FAKE_LOG.term``).
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

import numpy as np
import soundfile as sf


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="fake-musicgen-bridge")
    p.add_argument("kind", choices=("generate", "continue"))
    for flag in ("--prompt", "--model", "--time-signature", "--format", "--server", "--out", "--melody", "--audio"):
        p.add_argument(flag)
    for flag in ("--bars", "--context-bars", "--sample-rate", "--seed", "--variations"):
        p.add_argument(flag, type=int)
    for flag in ("--bpm", "--start-bar", "--item-start-bar", "--temperature", "--audio-start", "--audio-end",
                 "--seconds"):
        p.add_argument(flag, type=float)
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
    args = parse(argv)
    log = os.environ.get("MGB_FAKE_LOG")
    if log:
        record = {"argv": argv, "melody": json.loads(Path(args.melody).read_text()) if args.melody else None}
        Path(log).write_text(json.dumps(record))
    mode = os.environ.get("MGB_FAKE_MODE", "ok")
    if mode == "unreachable":
        print("musicgen-bridge: unreachable: no reply from the engine at tcp://127.0.0.1:5555 within 10 s "
              "(is it running? start it with `musicgen-bridge serve`)", file=sys.stderr)
        return 1
    print(json.dumps({"event": "accepted", "job_id": "j-fake"}), file=sys.stderr, flush=True)
    if mode == "slow":
        on_term(log)
        for i in range(600):
            print(json.dumps({"event": "progress", "job_id": "j-fake", "fraction": i / 600}), file=sys.stderr,
                  flush=True)
            time.sleep(0.05)
    num, den = (int(x) for x in args.time_signature.split("/"))
    bar_s = Fraction(num * 4, den) * 60 / Fraction(str(args.bpm))
    start_bar = args.start_bar
    if args.kind == "continue":  # the item's last bar line (1-based)
        item_s = Fraction(str(args.audio_end)) - Fraction(str(args.audio_start))
        start_bar = math.floor(Fraction(str(args.item_start_bar)) - 1 + item_s / bar_s) + 1
    frames = round(args.bars * bar_s * args.sample_rate) if args.bars is not None else \
        round(Fraction(str(args.seconds)) * args.sample_rate)
    out = Path(args.out)
    n = args.variations or 1
    takes = []
    for i in range(1, n + 1):
        dest = out if n == 1 else out.with_name(f"{out.stem}-take{i}{out.suffix}")
        sf.write(dest, np.zeros((frames, 2), dtype=np.float32), args.sample_rate, subtype="PCM_24")
        takes.append({"take": i, "path": str(dest), "frames": frames, "seed": i})
    print(json.dumps({"event": "finished", "job_id": "j-fake"}), file=sys.stderr, flush=True)
    print(json.dumps({"job_id": "j-fake", "path": takes[0]["path"], "takes": takes, "frames": frames,
                      "sample_rate": args.sample_rate, "bars": args.bars, "start_bar": start_bar}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
