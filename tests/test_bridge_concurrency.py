"""Ten clients at once: each gets exactly its own replies, events and files."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import soundfile as sf
from conftest import WAIT_S

from musicgen_bridge.bridge.client import Client

# a tempo per client so that every client's clip has its own length: 4 beats at bpm -> 240/bpm s
TEMPI = [72, 75, 80, 90, 96, 100, 120, 125, 144, 160]


def _frames(bpm: int) -> int:
    seconds_x_rate = 240 * 48000
    assert seconds_x_rate % bpm == 0  # these tempi give whole frames, so no rounding question
    return seconds_x_rate // bpm


def test_ten_clients_at_once_each_get_their_own_results(server):
    results: dict[int, Any] = {}
    seen: dict[int, list] = {}
    barrier = threading.Barrier(len(TEMPI))

    def run(i: int, bpm: int) -> None:
        try:
            with Client(server.addresses["zmq"], server.addresses["zmq_events"], timeout=WAIT_S) as c:
                seen[i] = []
                original = c._recv_event
                c._recv_event = lambda: seen[i].append(original()) or seen[i][-1]  # record every event
                barrier.wait(WAIT_S)  # all ten submit together
                results[i] = (c.session, c.generate(prompt=f"client {i}", bars=1, bpm=bpm, timeout=60))
                # Under load the client may learn the result from its status poll before the `done`
                # event arrives: keep reading (bounded) until that event is in, so it is checked too.
                deadline = time.monotonic() + 20
                while not any(e.msg_type == "done" for e in seen[i]) and time.monotonic() < deadline:
                    if c._sub is not None and c._sub.poll(500):
                        c._recv_event()
        except Exception as exc:  # noqa: BLE001 - reported by the main thread
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i, bpm)) for i, bpm in enumerate(TEMPI)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    assert len(results) == len(TEMPI)
    errors = {i: r for i, r in results.items() if isinstance(r, Exception)}
    assert not errors, errors
    job_ids = {results[i][1]["job_id"] for i in results}
    paths = {results[i][1]["path"] for i in results}
    assert len(job_ids) == len(paths) == len(TEMPI)
    for i, bpm in enumerate(TEMPI):
        session, result = results[i]
        events = [e for e in seen[i] if e.msg_type != "welcome"]
        assert events, f"client {i} saw no events"
        # only its own job, only its own session
        assert {e.content["job_id"] for e in events} == {result["job_id"]}
        assert {e.session for e in seen[i]} == {session}
        assert [e.msg_type for e in events][-1] == "done"
        path = Path(result["path"])
        info = sf.info(str(path))
        assert (result["frames"], info.frames, info.samplerate) == (_frames(bpm), _frames(bpm), 48000)
        sidecar = json.loads(path.with_name(path.name + ".json").read_text())
        assert sidecar["request"]["prompt"] == f"client {i}" and sidecar["request"]["bpm"] == bpm
