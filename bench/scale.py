"""Scale-out: throughput of tiny jobs on 1, 2, 4 Ray Serve replicas, and the front end's overhead.

    python bench/scale.py                          # 16 two-bar jobs per layout, all CPUs of this machine
    python bench/scale.py --jobs 32 --replicas 1 2 4 8 --cpus 8 --json

For every layout, one local Ray instance (``--cpus`` CPUs) runs ``N`` replicas of ``tiny`` that
split the CPUs evenly; a warm-up job per replica loads the model, then ``--jobs`` jobs are
submitted at once through the engine (the same path the bridge uses) and timed until the last
file is written. The in-process executor runs the same jobs as the reference.

Front-end overhead: jobs one at a time on the in-process executor and on one replica. Each job's
wall time minus the work its producer reports (load + generate + render) is the time around the
work; the difference of the medians is what the round trip adds (routing, shipping the request
and the rendered arrays, streamed progress). Generation speed, which varies a lot on a shared
machine, cancels out of that number. Throughput is printed as ratios against the in-process
executor.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from musicgen_bridge.engine.engine import Engine, EngineConfig
from musicgen_bridge.engine.executors import loopback_ray


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def job(i: int, bars: int) -> dict[str, Any]:
    return {"prompt": f"bench take {i}", "bars": bars, "bpm": 120, "seed": i, "model": "tiny"}


def run_batch(engine: Engine, jobs: int, bars: int, offset: int = 0) -> tuple[float, list[dict]]:
    """Submit ``jobs`` at once; (wall seconds until the last is written, results)."""
    start = time.perf_counter()
    submitted = [engine.submit("generate", job(offset + i, bars)) for i in range(jobs)]
    results = []
    for j in submitted:
        done = engine.wait(j.id, timeout=600)
        if done.state != "done":
            raise RuntimeError(f"job {j.id} ended {done.state}: {done.error}")
        results.append(done.result)
    return time.perf_counter() - start, results


def one_at_a_time(engine: Engine, count: int, bars: int, offset: int) -> list[tuple[float, float]]:
    """(wall, work) seconds per job; work is what the producer reports (load + generate + render)."""
    out = []
    for i in range(count):
        wall, (result,) = run_batch(engine, 1, bars, offset + i)
        timing = result["timing"]
        out.append((wall, timing["load_s"] + timing["generate_s"] + timing["render_s"]))
    return out


def ray_engine(out: Path, replicas: int, cpus: float, capacity: int, threads: int) -> Engine:
    options = {"app_name": f"bench-{replicas}", "replicas": replicas, "cpus_per_replica": cpus / replicas,
               "max_ongoing_requests": 1, "max_queued_requests": capacity, "threads_per_replica": threads}
    return Engine(EngineConfig(default_model="tiny", preload=["tiny"], output_root=out, executor="ray",
                               executor_options=options, max_queue=capacity + replicas))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=16, help="jobs per layout, submitted at once")
    parser.add_argument("--bars", type=int, default=2, help="bars per job (4/4 at 120 bpm)")
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--cpus", type=float, default=float(os.cpu_count() or 1), help="CPUs Ray may use")
    parser.add_argument("--serial", type=int, default=8, help="jobs timed one at a time for the overhead")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads per replica and in-process (tiny gains nothing from more)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)

    loopback_ray()
    import ray
    from ray import serve

    ray.init(address="local", num_cpus=args.cpus, object_store_memory=256 * 1024**2, include_dashboard=False,
             log_to_driver=False, logging_level=logging.ERROR,
             runtime_env={"env_vars": {"PYTHONPATH": str(Path(__file__).resolve().parents[1])}})
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="mgb-bench-") as tmp:
        local = Engine(EngineConfig(default_model="tiny", preload=["tiny"], output_root=Path(tmp) / "local",
                                    max_queue=args.jobs))
        run_batch(local, 1, args.bars)  # warm-up
        wall, _ = run_batch(local, args.jobs, args.bars)
        local_serial = one_at_a_time(local, args.serial, args.bars, 1000)
        local.close()
        rows.append({"executor": "in-process", "replicas": 0, "wall_s": wall, "jobs_per_s": args.jobs / wall})
        serial: dict[str, list[tuple[float, float]]] = {"in-process": local_serial}
        for n in args.replicas:
            eng = ray_engine(Path(tmp) / f"ray{n}", n, args.cpus, args.jobs, args.threads)
            try:
                run_batch(eng, 2 * n, args.bars, 500)  # every replica has served once
                wall, results = run_batch(eng, args.jobs, args.bars, 2000)
                used = sorted({r["replica"] for r in results})
                rows.append({"executor": "ray", "replicas": n, "wall_s": wall, "jobs_per_s": args.jobs / wall,
                             "replicas_used": len(used)})
                if n == 1:
                    serial["ray, 1 replica"] = one_at_a_time(eng, args.serial, args.bars, 3000)
            finally:
                eng.close()  # removes the bench-N application
    serve.shutdown()
    ray.shutdown()

    base = rows[0]["jobs_per_s"]
    # around the work: queueing, shipping request and arrays, progress, writing (generation noise cancels out)
    around = {name: 1000 * statistics.median(w - k for w, k in pairs) for name, pairs in serial.items()}
    report = {"machine": f"{cpu_name()}, {os.cpu_count()} cores", "ray_cpus": args.cpus, "jobs": args.jobs,
              "torch_threads": args.threads,
              "bars": args.bars, "throughput": [{**r, "vs_in_process": r["jobs_per_s"] / base} for r in rows],
              "serial_ms_per_job": {k: 1000 * statistics.median(w for w, _ in v) for k, v in serial.items()},
              "serial_ms_around_work": around}
    if "ray, 1 replica" in around:
        report["front_end_overhead_ms"] = around["ray, 1 replica"] - around["in-process"]
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"{report['machine']}; Ray given {args.cpus:g} CPUs; {args.jobs} jobs of {args.bars} bars (tiny); "
          f"{args.threads} torch thread(s) per process")
    print(f"{'executor':12} {'replicas':>8} {'wall s':>8} {'jobs/s':>8} {'vs in-process':>14}")
    for r in report["throughput"]:
        print(f"{r['executor']:12} {r['replicas']:>8} {r['wall_s']:>8.2f} {r['jobs_per_s']:>8.2f} "
              f"{r['vs_in_process']:>13.2f}x")
    for name, ms in report["serial_ms_per_job"].items():
        print(f"one job at a time, {name}: median {ms:.0f} ms per job, of which "
              f"{report['serial_ms_around_work'][name]:.0f} ms outside load+generate+render")
    if "front_end_overhead_ms" in report:
        ratio = report["serial_ms_per_job"]["ray, 1 replica"] / report["serial_ms_per_job"]["in-process"]
        print(f"front-end overhead of the ray executor: {report['front_end_overhead_ms']:+.0f} ms per job "
              f"(wall time {ratio:.2f}x the in-process executor's)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
