"""Continuous batching through the engine: N concurrent 2-bar jobs, one after another vs batched.

    python bench/batching.py --arch tiny --device cpu --jobs 1 2 4 8
    python bench/batching.py --arch small --device cuda --dtype bf16 --jobs 1 2 4 8 --json

Two engines share one model object: batching off (``EngineConfig(batching=False)``: one worker,
each job decodes alone, the way jobs ran before) and on (the decode scheduler,
engine/jobs/batcher.py). For each N, N generate jobs (2 bars at 120 bpm, guidance on, top-k 250,
different prompts and seeds) are submitted at once to each engine; the time until all are
written gives the throughput, and ``ratio_N`` = sequential time / batched time (``ratio_cpu_N``:
the same in process CPU time, steadier on a shared machine). The same is done
for ``--live-sessions`` live sessions (1-bar windows) until each has ``--live-bars`` bars made:
``live_ratio`` and the time to every session's first window. Published sizes have random weights.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from statistics import mean
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from engine_bench import LiveWatch, add_model_args, build, machine, open_engine, request


def run_jobs(engine: Any, n: int, bars: int, bpm: int) -> dict[str, float]:
    """Submit ``n`` jobs at once; seconds until all are done, until the first is, and process CPU time."""
    t0, cpu = time.time(), time.process_time()
    jobs = [engine.submit("generate", request(i, bars, bpm)) for i in range(n)]
    for job in jobs:
        done = engine.wait(job.id, timeout=3600)
        if done is None or done.state != "done":
            raise RuntimeError(f"job {job.id} ended {getattr(done, 'state', None)}: {getattr(done, 'error', None)}")
    ends = [job.finished - t0 for job in jobs]
    return {"total_s": max(ends), "first_s": min(ends), "cpu_s": time.process_time() - cpu}


def run_live(engine: Any, sessions: int, bars: int, bpm: int, timeout: float) -> dict[str, float]:
    """``sessions`` live sessions of 1-bar windows, transport stopped, until each has ``bars`` bars."""
    watch = LiveWatch()
    ids = [engine.live_start({"prompt": f"live {i}", "bpm": bpm, "seed": 50 + i, "window_bars": 1,
                              "ahead_bars": bars, "generator": "fast"}, watch)["session_id"]
           for i in range(sessions)]
    try:
        ok = watch.wait_for(lambda: all(len(watch.windows(s)) >= bars for s in ids), timeout)
        if not ok:
            raise RuntimeError(f"live sessions did not make {bars} windows in {timeout} s: {watch.events[-3:]}")
        firsts = [watch.windows(s)[0][0] for s in ids]
        return {"all_s": max(watch.windows(s)[bars - 1][0] for s in ids), "first_window_s": mean(firsts),
                "first_window_max_s": max(firsts)}
    finally:
        for s in ids:
            engine.live_stop(s)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_model_args(parser)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2, 4, 8], help="concurrent jobs per round")
    parser.add_argument("--bars", type=int, default=2, help="bars per job")
    parser.add_argument("--bpm", type=int, default=120)
    parser.add_argument("--live-sessions", type=int, default=4, help="live sessions in the live round (0: none)")
    parser.add_argument("--live-bars", type=int, default=2, help="bars each live session makes")
    args = parser.parse_args(argv)

    loaded = build(args)
    widest = max(args.jobs)
    engines = {"sequential": open_engine(loaded, args.arch, batching=False),
               "batched": open_engine(loaded, args.arch, batching=True, jobs=widest)}
    info: dict[str, Any] = {"arch": args.arch, "layers": args.layers or "published", "device": machine(loaded),
                            "dtype": str(loaded.dtype).replace("torch.", ""), "bars": args.bars, "bpm": args.bpm}
    try:
        for engine in engines.values():  # warm-up: kernels, allocator, the batcher's row probe
            run_jobs(engine, 1, 1, args.bpm)
        for n in args.jobs:
            runs = {name: run_jobs(engine, n, args.bars, args.bpm) for name, engine in engines.items()}
            info[f"ratio_{n}"] = runs["sequential"]["total_s"] / runs["batched"]["total_s"]
            info[f"ratio_cpu_{n}"] = runs["sequential"]["cpu_s"] / runs["batched"]["cpu_s"]
            for name, run in runs.items():
                info[f"{name}_{n}_s"] = run["total_s"]
                info[f"{name}_{n}_cpu_s"] = run["cpu_s"]
                info[f"{name}_{n}_first_s"] = run["first_s"]
            info[f"batched_{n}_jobs_per_min"] = 60 * n / runs["batched"]["total_s"]
            if not args.json:
                print(f"{n} jobs: sequential {runs['sequential']['total_s']:.2f} s, batched "
                      f"{runs['batched']['total_s']:.2f} s -> {info[f'ratio_{n}']:.2f}x throughput "
                      f"({info[f'ratio_cpu_{n}']:.2f}x in process CPU time); first job done "
                      f"after {runs['sequential']['first_s']:.2f} / {runs['batched']['first_s']:.2f} s", flush=True)
        if args.live_sessions:
            timeout = 3600.0
            live = {name: run_live(engine, args.live_sessions, args.live_bars, args.bpm, timeout)
                    for name, engine in engines.items()}
            info["live_sessions"] = args.live_sessions
            info["live_ratio"] = live["sequential"]["all_s"] / live["batched"]["all_s"]
            for name, run in live.items():
                info[f"live_{name}_s"] = run["all_s"]
                info[f"live_{name}_first_window_s"] = run["first_window_s"]
                info[f"live_{name}_first_window_max_s"] = run["first_window_max_s"]
            if not args.json:
                print(f"{args.live_sessions} live sessions x {args.live_bars} bars: sequential "
                      f"{live['sequential']['all_s']:.2f} s, batched {live['batched']['all_s']:.2f} s -> "
                      f"{info['live_ratio']:.2f}x; first window (mean) {live['sequential']['first_window_s']:.2f}"
                      f" / {live['batched']['first_window_s']:.2f} s")
        batcher = engines["batched"].batcher
        worker = batcher.worker(loaded) if batcher is not None else None
        info["batched_steps"] = worker.steps if worker else 0
        info["widest_batch"] = worker.widest if worker else 0
        info["row_floor"] = worker.floor if worker else 0
    finally:
        for engine in engines.values():
            engine.close()
    if args.json:
        print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in info.items()}))
    else:
        print(f"arch={args.arch} layers={info['layers']} device={info['device']} dtype={info['dtype']} "
              f"widest batch={info['widest_batch']} sequences, row floor={info['row_floor']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
