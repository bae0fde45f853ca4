"""A live session through the engine: time to the first window and the lead kept over the playhead.

    python bench/live.py --arch tiny --device cpu --windows 10 --bpm 120 --window-bars 1
    python bench/live.py --arch small --device cuda --dtype bf16 --windows 10 --bpm 120 --window-bars 1 --json

``--sessions`` live sessions start at bar 1 with the transport stopped. When every session has
its first window (what a producer waits for before pressing play) the transport starts at bar 1
and the playhead moves in real time at ``--bpm`` (the script sends the DAW's transport every
20 ms). Each window event records the lead: bars generated ahead of the playhead at that moment.
Printed: time to first window, the lead per window, the smallest lead seen while playing (sampled
every 20 ms) and the underruns. Published sizes have random weights (nothing is downloaded).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path
from statistics import mean
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from engine_bench import LiveWatch, add_model_args, build, machine, open_engine

TICK_S = 0.02


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_model_args(parser)
    parser.add_argument("--windows", type=int, default=10, help="windows per session")
    parser.add_argument("--window-bars", type=int, default=1)
    parser.add_argument("--ahead-bars", type=int, default=4, help="the session's target lead")
    parser.add_argument("--bpm", type=int, default=120)
    parser.add_argument("--sessions", type=int, default=1)
    parser.add_argument("--no-batching", action="store_true", help="each window decodes alone (model lock)")
    parser.add_argument("--timeout", type=float, default=3600.0)
    args = parser.parse_args(argv)

    loaded = build(args)
    engine = open_engine(loaded, args.arch, batching=not args.no_batching, jobs=args.sessions)
    watch = LiveWatch()
    bar_s = 4 * 60 / args.bpm  # 4/4
    clock: dict[str, float] = {}
    stop = threading.Event()
    min_lead: list[float] = []

    def made_until(sid: str) -> float:
        wins = watch.windows(sid)
        return float(wins[-1][1]["start_bar"] - 1 + wins[-1][1]["bars"]) if wins else 0.0

    try:
        ids = [engine.live_start({"prompt": f"live track {i}", "bpm": args.bpm, "seed": 70 + i,
                                  "window_bars": args.window_bars, "ahead_bars": args.ahead_bars,
                                  "generator": "fast"}, watch)["session_id"] for i in range(args.sessions)]
        if not watch.wait_for(lambda: all(watch.windows(s) for s in ids), args.timeout):
            raise RuntimeError(f"no first window: {watch.events[-3:]}")
        first = [watch.windows(s)[0][0] for s in ids]
        clock["play"] = time.perf_counter() - watch.t0

        def transport() -> None:  # the DAW: song position in quarter notes, in real time
            while not stop.is_set():
                bars = (time.perf_counter() - watch.t0 - clock["play"]) / bar_s
                engine.transport({"beat": bars * 4, "bpm": args.bpm, "playing": True})
                min_lead.append(min(made_until(s) for s in ids) - bars)
                time.sleep(TICK_S)

        player = threading.Thread(target=transport, daemon=True)
        player.start()
        ok = watch.wait_for(lambda: all(len(watch.windows(s)) >= args.windows for s in ids), args.timeout)
        stop.set()
        player.join(5)
        if not ok:
            raise RuntimeError(f"sessions stopped before {args.windows} windows: {watch.events[-3:]}")
    finally:
        stop.set()
        engine.close()

    leads: list[list[float]] = []
    for s in ids:
        row = []
        for t, c in watch.windows(s)[:args.windows]:
            playhead = max(0.0, (t - clock["play"]) / bar_s)
            row.append(round(c["start_bar"] - 1 + c["bars"] - playhead, 3))
        leads.append(row)
    playing_leads = [x for row in leads for x in row[1:]]
    info: dict[str, Any] = {
        "arch": args.arch, "layers": args.layers or "published", "device": machine(loaded),
        "dtype": str(loaded.dtype).replace("torch.", ""), "bpm": args.bpm, "window_bars": args.window_bars,
        "ahead_bars": args.ahead_bars, "sessions": args.sessions, "batching": not args.no_batching,
        "windows": args.windows, "first_window_s": round(mean(first), 3), "first_window_max_s": round(max(first), 3),
        "min_lead_bars": round(min(min_lead), 3) if min_lead else 0.0,
        "mean_lead_bars": round(mean(playing_leads), 3) if playing_leads else 0.0,
        "underruns": watch.count("underrun"), "lead_bars": leads[0], "lead_bars_per_session": leads}
    if args.json:
        print(json.dumps(info))
        return 0
    print(f"arch={args.arch} layers={info['layers']} device={info['device']} dtype={info['dtype']} "
          f"sessions={args.sessions} batching={info['batching']} bpm={args.bpm} window={args.window_bars} bar(s)")
    print(f"time to first window: {info['first_window_s']:.3f} s (slowest session {info['first_window_max_s']:.3f} s)")
    for i, row in enumerate(leads):
        print(f"session {i}: lead over the playhead per window (bars): {' '.join(f'{x:.2f}' for x in row)}")
    print(f"smallest lead while playing: {info['min_lead_bars']:.2f} bars; underruns: {info['underruns']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
