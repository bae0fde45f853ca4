"""A stand-in for the ``musicgen-bridge`` CLI in DAW-script tests that need no engine.

It accepts the generate/continue flags the ReaScripts send, records its argv (and the melody
file's content) to ``$MGB_FAKE_LOG``, and answers like the real CLI: one JSON line on stdout,
or ``musicgen-bridge: <code>: <message>`` on stderr with exit status 1.
``$MGB_FAKE_MODE``: ``ok`` (default), ``unreachable`` or ``slow`` (sleeps, for cancel tests).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import soundfile as sf


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="fake-musicgen-bridge")
    p.add_argument("kind", choices=("generate", "continue"))
    for flag in ("--prompt", "--model", "--time-signature", "--format", "--server", "--out", "--melody", "--audio"):
        p.add_argument(flag)
    for flag in ("--bars", "--context-bars", "--sample-rate", "--seed", "--variations"):
        p.add_argument(flag, type=int)
    for flag in ("--bpm", "--start-bar", "--temperature"):
        p.add_argument(flag, type=float)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    log = os.environ.get("MGB_FAKE_LOG")
    if log:
        record = {"argv": argv, "melody": json.loads(Path(args.melody).read_text()) if args.melody else None}
        Path(log).write_text(json.dumps(record))
    mode = os.environ.get("MGB_FAKE_MODE", "ok")
    if mode == "unreachable":
        print("musicgen-bridge: unreachable: no reply from the engine at tcp://127.0.0.1:5555 within 10 s "
              "(is it running? start it with `musicgen-bridge serve`)", file=sys.stderr)
        return 1
    if mode == "slow":
        time.sleep(30)
    num, den = (int(x) for x in args.time_signature.split("/"))
    seconds = Fraction(args.bars) * Fraction(num * 4, den) * 60 / Fraction(str(args.bpm))
    frames = round(seconds * args.sample_rate)
    out = Path(args.out)
    n = args.variations or 1
    takes = []
    for i in range(1, n + 1):
        dest = out if n == 1 else out.with_name(f"{out.stem}-take{i}{out.suffix}")
        sf.write(dest, np.zeros((frames, 2), dtype=np.float32), args.sample_rate, subtype="PCM_24")
        takes.append({"take": i, "path": str(dest), "frames": frames, "seed": i})
    print(json.dumps({"job_id": "j-fake", "path": takes[0]["path"], "takes": takes, "frames": frames,
                      "sample_rate": args.sample_rate, "bars": args.bars}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
