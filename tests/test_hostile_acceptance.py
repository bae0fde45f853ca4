"""Issue 14's acceptance check: with every hostile client of bench/hostile.py present at once, a
well-behaved client's ping is answered within 100 ms and its 1-bar tiny generate finishes within
10 s, and the engine's threads and memory stay under the ceilings docs/security.md states."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest
from conftest import ZmqPeer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.hostile import HostileCrowd, thread_count

#: docs/security.md, "Ceilings": threads of the engine process, and RSS growth under the crowd
MAX_THREADS = 96
MAX_RSS_GROWTH_MIB = 512


def _rss_mib() -> float:
    for line in Path(f"/proc/{os.getpid()}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc for threads and memory")
def test_a_good_client_is_served_beside_every_hostile_one(server):
    good = ZmqPeer(server.addresses["zmq"], server.addresses["zmq_events"])
    good.request("ping")
    rss_before = _rss_mib()
    crowd = HostileCrowd(server.addresses)
    try:
        crowd.start()
        time.sleep(1.0)  # let the floods reach their limits
        pings = []
        for _ in range(20):
            t0 = time.monotonic()
            reply, _ = good.request("ping")
            pings.append(time.monotonic() - t0)
            assert reply["content"]["pong"] is True
            time.sleep(0.02)
        pings.sort()
        assert pings[len(pings) // 2] < 0.1, f"median ping {pings[len(pings) // 2] * 1000:.0f} ms"
        t0 = time.monotonic()
        reply, _ = good.request("generate", {"prompt": "good", "bars": 1, "bpm": 120,
                                             "output_name": "hostile-acceptance.wav"})
        assert reply["content"]["status"] == "ok", reply["content"]
        end = good.job_end(reply["content"]["job_id"])
        took = time.monotonic() - t0
        assert end["header"]["msg_type"] == "done", end["content"]
        assert took < 10.0, f"the good generate took {took:.1f} s"
        threads = thread_count(os.getpid())
        print(f"median ping {pings[len(pings) // 2] * 1000:.1f} ms, max {pings[-1] * 1000:.1f} ms; generate {took:.2f} s; "
              f"threads {threads}; RSS +{_rss_mib() - rss_before:.0f} MiB")
        assert threads is not None and threads <= MAX_THREADS, threads
        assert _rss_mib() - rss_before < MAX_RSS_GROWTH_MIB
    finally:
        crowd.stop()
        good.close()
