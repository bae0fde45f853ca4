"""Load on the bridge: N ZeroMQ clients and N OSC clients, M requests each, all at once, on `tiny`.

    python bench/load.py --clients 50 --requests 20
    python bench/load.py --clients 10 --requests 50 --generate-fraction 0.2 --rounds 3
    python bench/load.py --inprocess --tracemalloc          # engine in this process: Python allocations too
    python bench/load.py --hostile --clients 8 --requests 30  # well-behaved clients with and without
                                                              # the hostile crowd of bench/hostile.py

Most requests are cheap (ping, status, models); a fraction are 1-bar generations. What is timed is
the bridge, not generation: request -> reply for ping/status/models, and request -> reply (the job
is accepted and has an id) for generate. Printed: answered, lost (no answer within --timeout),
errors by code, latency p50/p95/p99 per transport and request type, and the engine's resident
memory before, after each round and once its queue has drained.

The engine is `musicgen-bridge serve --model tiny` in a subprocess (its own journal and output root
in a temporary folder), unless --inprocess.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pythonosc.osc_message_builder import build_msg
from pythonosc.osc_packet import OscPacket

from bench.hostile import HostileCrowd, thread_count
from musicgen_bridge.bridge.client import Client
from musicgen_bridge.engine.errors import EngineError

GENERATE = {"prompt": "load test", "bars": 1, "bpm": 120, "model": "tiny", "conform": False}


class Tally:
    """Latencies by (transport, request type), error codes, lost requests; shared by all client threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latency: dict[tuple[str, str], list[float]] = defaultdict(list)
        self.errors: Counter[str] = Counter()
        self.sent = self.answered = self.lost = 0

    def add(self, transport: str, kind: str, seconds: float | None, code: str | None = None) -> None:
        with self.lock:
            self.sent += 1
            if seconds is None:
                self.lost += 1
                return
            self.answered += 1
            self.latency[(transport, kind)].append(seconds)
            if code:
                self.errors[code] += 1


def choose(rng: random.Random, generate_fraction: float) -> str:
    if rng.random() < generate_fraction:
        return "generate"
    return rng.choices(["ping", "status", "models"], weights=[4, 3, 2])[0]


def content_for(kind: str, status_job: str) -> dict[str, Any]:
    return {"generate": GENERATE, "status": {"job_id": status_job}}.get(kind, {})


def zmq_client(address: str, events: str, n: int, seed: int, args: argparse.Namespace, tally: Tally,
               status_job: str, start: threading.Barrier) -> None:
    rng = random.Random(seed)
    with Client(address, events, timeout=args.timeout) as client:
        start.wait()
        for _ in range(n):
            kind = choose(rng, args.generate_fraction)
            t0 = time.perf_counter()
            try:
                client.request(kind, content_for(kind, status_job), retries=0)
                tally.add("zmq", kind, time.perf_counter() - t0)
            except EngineError as exc:
                lost = exc.code == "unreachable"
                tally.add("zmq", kind, None if lost else time.perf_counter() - t0, None if lost else exc.code)


def osc_client(server: tuple[str, int], n: int, seed: int, args: argparse.Namespace, tally: Tally,
               status_job: str, start: threading.Barrier) -> None:
    rng = random.Random(seed)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.sendto(build_msg("/mgb/hello", [sock.getsockname()[1]]).dgram, server)
    _osc_answer(sock, "hello", "", args.timeout)
    start.wait()
    for _ in range(n):
        kind = choose(rng, args.generate_fraction)
        t0 = time.perf_counter()
        sock.sendto(build_msg(f"/mgb/{kind}", [json.dumps(content_for(kind, status_job))]).dgram, server)
        answer = _osc_answer(sock, kind, status_job if kind == "status" else "", args.timeout)
        if answer is None:
            tally.add("osc", kind, None)
        else:
            tally.add("osc", kind, time.perf_counter() - t0, answer)
    sock.close()


def _osc_answer(sock: socket.socket, kind: str, job_id: str, timeout: float) -> str | None:
    """Wait for the reply to ``kind``: "" for ok, the code for an error, None when nothing came."""
    deadline = time.monotonic() + timeout
    while (remaining := deadline - time.monotonic()) > 0:
        sock.settimeout(remaining)
        try:
            packet = sock.recv(65536)
        except TimeoutError:
            return None
        for m in OscPacket(packet).messages:
            addr, params = m.message.address, list(m.message.params)
            if addr == "/mgb/reply" and params[0] == kind:
                return ""
            if addr == "/mgb/error" and params[0] in ("", job_id):
                return str(params[1])
            # events of our own jobs (accepted, progress, done) are not answers
    return None


def rss_mib(pid: int) -> float | None:
    """Resident memory of a process in MiB (Linux /proc; None elsewhere)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    rank = q / 100 * (len(ordered) - 1)
    lo, hi = int(rank), min(int(rank) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (rank - lo)


def start_engine(args: argparse.Namespace, tmp: Path) -> tuple[dict[str, Any], Any]:
    """The engine under test: a serve subprocess (default) or a BridgeServer in this process."""
    if args.inprocess:
        from musicgen_bridge.bridge.server import BridgeServer
        from musicgen_bridge.engine.engine import Engine, EngineConfig

        engine = Engine(EngineConfig(default_model="tiny", preload=["tiny"], output_root=tmp / "out",
                                     journal=tmp / "journal.sqlite", max_queue=args.max_queue))
        server = BridgeServer(engine, zmq_addr="tcp://127.0.0.1:*", pub_addr="tcp://127.0.0.1:*",
                              osc_udp=("127.0.0.1", 0), osc_tcp=("127.0.0.1", 0) if args.hostile else None)
        server.start()
        return {"pid": os.getpid(), **server.addresses}, server
    ready = tmp / "ready.json"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "musicgen_bridge.bridge.cli", "serve", "--model", "tiny",
                             "--zmq", "tcp://127.0.0.1:*", "--zmq-events", "tcp://127.0.0.1:*",
                             "--osc", "127.0.0.1:0", "--output-root", str(tmp / "out"),
                             *(["--osc-tcp", "127.0.0.1:0"] if args.hostile else []),
                             "--journal", str(tmp / "journal.sqlite"), "--max-queue", str(args.max_queue),
                             "--ready-file", str(ready)], env=env, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("the engine did not start")
        time.sleep(0.1)
    return json.loads(ready.read_text()), proc


def run_round(info: dict[str, Any], args: argparse.Namespace, status_job: str, round_no: int) -> Tally:
    tally = Tally()
    host, _, port = info["osc_udp"].rpartition(":")
    start = threading.Barrier(args.clients + args.osc_clients)
    threads = [threading.Thread(target=zmq_client, args=(info["zmq"], info["zmq_events"], args.requests,
                                                         1000 * round_no + i, args, tally, status_job, start))
               for i in range(args.clients)]
    threads += [threading.Thread(target=osc_client, args=((host, int(port)), args.requests,
                                                          5000 + 1000 * round_no + i, args, tally, status_job, start))
                for i in range(args.osc_clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return tally


def report(tally: Tally, wall: float) -> dict[str, Any]:
    rows = {}
    for (transport, kind), values in sorted(tally.latency.items()):
        rows[f"{transport} {kind}"] = {"n": len(values), **{f"p{q}": round(percentile(values, q) * 1000, 2)
                                                            for q in (50, 95, 99)}}
    every = [v for values in tally.latency.values() for v in values]
    if every:
        rows["all"] = {"n": len(every), **{f"p{q}": round(percentile(every, q) * 1000, 2) for q in (50, 95, 99)}}
    return {"sent": tally.sent, "answered": tally.answered, "lost": tally.lost, "errors": dict(tally.errors),
            "wall_s": round(wall, 2), "requests_per_s": round(tally.sent / wall, 1), "latency_ms": rows}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clients", type=int, default=50, help="ZeroMQ clients")
    p.add_argument("--osc-clients", type=int, default=None, help="OSC clients (default: --clients)")
    p.add_argument("--requests", type=int, default=20, help="requests per client per round")
    p.add_argument("--generate-fraction", type=float, default=0.1, help="share of requests that are generations")
    p.add_argument("--rounds", type=int, default=2, help="rounds (memory is read after each)")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds before a request counts as lost")
    p.add_argument("--max-queue", type=int, default=512, help="the engine's queue limit")
    p.add_argument("--inprocess", action="store_true", help="run the engine in this process")
    p.add_argument("--tracemalloc", action="store_true", help="with --inprocess: Python allocation growth")
    p.add_argument("--hostile", action="store_true",
                   help="one round without, one with the hostile clients of bench/hostile.py; compare latency")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    if args.hostile:
        args.rounds = 2
    args.osc_clients = args.clients if args.osc_clients is None else args.osc_clients
    if args.tracemalloc:
        import tracemalloc

        tracemalloc.start()

    tmp = Path(tempfile.mkdtemp(prefix="mgb-load-"))
    info, handle = start_engine(args, tmp)
    pid = info["pid"]
    try:
        with Client(info["zmq"], info["zmq_events"], timeout=30) as warm:  # model, caches, first job: warm
            status_job = warm.generate(**GENERATE, timeout=120)["job_id"]
        snapshot = tracemalloc.take_snapshot() if args.tracemalloc else None
        out: dict[str, Any] = {"clients": {"zmq": args.clients, "osc": args.osc_clients}, "requests": args.requests,
                               "generate_fraction": args.generate_fraction, "rss_mib": {"before": rss_mib(pid)},
                               "rounds": []}
        crowd = None
        for r in range(args.rounds):
            if args.hostile and r == 1:
                crowd = HostileCrowd(info)
                crowd.start()
                time.sleep(1.0)  # the floods reach their limits
            t0 = time.perf_counter()
            tally = run_round(info, args, status_job, r)
            out["rounds"].append(report(tally, time.perf_counter() - t0))
            out["rss_mib"][f"after round {r + 1}"] = rss_mib(pid)
            out.setdefault("threads", {})[f"after round {r + 1}"] = thread_count(pid)
        if crowd is not None:
            crowd.stop()
            out["hostile"] = True
        with Client(info["zmq"], info["zmq_events"], timeout=30) as c:
            deadline = time.monotonic() + 600
            while c.ping()["queue"] and time.monotonic() < deadline:
                time.sleep(0.5)
        out["rss_mib"]["queue drained"] = rss_mib(pid)
        if snapshot is not None:
            import tracemalloc

            top = tracemalloc.take_snapshot().compare_to(snapshot, "lineno")[:5]
            out["tracemalloc_top"] = [str(stat) for stat in top]
    finally:
        if args.inprocess:
            handle.stop()
        else:
            handle.terminate()
            handle.wait(30)
    print_report(out, args)
    return 0 if all(r["lost"] == 0 for r in out["rounds"]) else 1


def print_report(out: dict[str, Any], args: argparse.Namespace) -> None:
    if args.json:
        print(json.dumps(out, indent=2))
        return
    print(f"{out['clients']['zmq']} ZeroMQ + {out['clients']['osc']} OSC clients x {out['requests']} requests, "
          f"{out['generate_fraction']:.0%} 1-bar generations on tiny")
    for i, r in enumerate(out["rounds"], start=1):
        print(f"\nround {i}: sent {r['sent']}, answered {r['answered']}, lost {r['lost']}, errors {r['errors'] or 0}, "
              f"{r['wall_s']} s ({r['requests_per_s']} requests/s)")
        print(f"  {'latency ms':16} {'n':>5} {'p50':>8} {'p95':>8} {'p99':>8}")
        for name, row in r["latency_ms"].items():
            print(f"  {name:16} {row['n']:5d} {row['p50']:8.2f} {row['p95']:8.2f} {row['p99']:8.2f}")
    if out.get("hostile"):
        calm, hostile = (r["latency_ms"].get("all", {}) for r in out["rounds"][:2])
        print("\nwell-behaved clients, all requests (ms):   p50      p99")
        print(f"  without hostile clients          {calm.get('p50', float('nan')):8.2f} {calm.get('p99', float('nan')):8.2f}")
        print(f"  beside hostile clients           {hostile.get('p50', float('nan')):8.2f} "
              f"{hostile.get('p99', float('nan')):8.2f}")
        if calm.get("p50") and hostile.get("p50"):
            print(f"  ratio (beside / without)         {hostile['p50'] / calm['p50']:8.2f} {hostile['p99'] / calm['p99']:8.2f}")
    if out.get("threads"):
        print("engine threads: " + ", ".join(f"{k} {v}" for k, v in out["threads"].items()))
    print("\nengine RSS MiB: " + ", ".join(f"{k} {v:.1f}" if v is not None else f"{k} n/a"
                                          for k, v in out["rss_mib"].items()))
    for line in out.get("tracemalloc_top", []):
        print("  " + line)


if __name__ == "__main__":
    sys.exit(main())
