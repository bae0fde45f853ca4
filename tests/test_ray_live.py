"""Live mode on the Ray executor: each session's windows are made on one replica for its whole life.

Marked slow (Ray start-up): ``pytest -m "not slow"`` leaves them out. One module-wide Ray instance
(2 CPUs, 256 MB object store, no dashboard) runs two CPU replicas of ``tiny``; the engine behind
the wire attaches to it. The replica-killing test comes last.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path

import pytest
import soundfile as sf

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # Ray on 127.0.0.1 only (see loopback_ray)
ray = pytest.importorskip("ray", reason="the ray executor needs Ray Serve: pip install 'musicgen-bridge[cluster]'")
pytest.importorskip("ray.serve", reason="the ray executor needs Ray Serve: pip install 'musicgen-bridge[cluster]'")

from musicgen_bridge.engine.engine import Engine, EngineConfig

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
LAYOUT = {"app_name": "mgb-live-test", "replicas": 2, "cpus_per_replica": 0.5, "max_ongoing_requests": 1,
          "max_queued_requests": 2}
BAR = 96000  # one 4/4 bar at 120 bpm, 48 kHz
WAIT_S = 60.0
LIVE = {"prompt": "x", "model": "tiny", "bpm": 120, "time_signature": "4/4", "window_bars": 1, "context_bars": 1,
        "start_bar": 1, "sample_rate": 48000, "seed": 5}


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory):
    """Overrides conftest's engine: the ``server`` and ``zmq_peer`` fixtures run on this one."""
    import torch
    from ray import serve

    from musicgen_bridge.engine.executors.options import RayOptions
    from musicgen_bridge.engine.executors.ray_serve import RayExecutor

    torch.set_num_threads(1)
    ray.init(address="local", num_cpus=2, object_store_memory=256 * 1024**2, include_dashboard=False,
             log_to_driver=False, logging_level=logging.WARNING,
             runtime_env={"env_vars": {"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}})
    assert ray.get_runtime_context().gcs_address.startswith("127.0.0.1:"), "Ray must stay on loopback"
    deployer = RayExecutor(RayOptions(**LAYOUT), EngineConfig(default_model="tiny", preload=["tiny"]))
    eng = Engine(EngineConfig(default_model="tiny", output_root=tmp_path_factory.mktemp("ray-live-out"),
                              executor="ray", executor_options={**LAYOUT, "deploy": False}))
    try:
        yield eng
    finally:
        try:
            eng.close()
            deployer.close()
            serve.shutdown()
        finally:
            ray.shutdown()


def start(peer, **fields) -> str:
    reply, _ = peer.request("live_start", {**LIVE, **fields})
    assert reply["content"]["status"] == "ok", reply
    return reply["content"]["session_id"]


def windows(peer, sid: str, n: int) -> list[dict]:
    return [peer.wait_event(lambda e, i=i: e["header"]["msg_type"] == "window" and e["content"]["session_id"] == sid
                            and e["content"]["index"] == i, timeout=WAIT_S)["content"] for i in range(n)]


def probe_replicas(eng: Engine) -> dict[str, dict]:
    """``whoami`` of both replicas: probe sessions stay pinned until both answered (each new one
    goes to the replica with the fewest sessions, so three reach both even beside a live one)."""
    probes: dict[str, dict] = {}
    try:
        for i in range(3):
            p = eng.executor.session_call(f"probe-{i}", "whoami")
            probes[p["replica"]] = p
            if len(probes) == 2:
                return probes
    finally:
        for i in range(3):
            eng.executor.end_session(f"probe-{i}")
    raise AssertionError(f"probe sessions reached only {sorted(probes)}")


@pytest.fixture(autouse=True)
def no_sessions_left(engine: Engine):
    """A failed test must not leave a session pinned (pins steer the next sessions)."""
    yield
    engine.live.stop_all()


def local_windows(tmp_path: Path, n: int) -> list[bytes]:
    """The same session made in-process (the local executor): the reference audio."""
    eng = Engine(EngineConfig(default_model="tiny", output_root=tmp_path / "local"))
    got: dict[int, str] = {}
    enough = threading.Event()

    def listener(event: str, content: dict) -> None:
        if event == "window":
            got[content["index"]] = content["path"]
            if len(got) >= n:
                enough.set()

    try:
        sid = eng.live_start({**LIVE, "ahead_bars": n}, listener)["session_id"]
        assert enough.wait(WAIT_S)
        eng.live_stop(sid)
        return [sf.read(got[i], dtype="int32")[0].tobytes() for i in range(n)]
    finally:
        eng.close()


def test_windows_tile_the_timeline_on_one_replica_and_match_the_local_audio(engine: Engine, zmq_peer,
                                                                          tmp_path: Path) -> None:
    sid = start(zmq_peer, ahead_bars=3)
    first = windows(zmq_peer, sid, 3)  # before playback, ahead_bars are prepared
    replica = first[0]["replica"]
    assert replica and engine.executor.session_replica(sid) == replica
    zmq_peer.request("transport", {"beat": 4, "bpm": 120, "playing": True, "session_id": sid})  # bar 2: one more
    made = windows(zmq_peer, sid, 4)
    assert [w["start_bar"] for w in made] == [1, 2, 3, 4]  # no gap, no overlap
    assert {w["replica"] for w in made} == {replica}  # every window on the session's replica
    for w in made:
        path = Path(w["path"])
        assert path.parent == engine.paths.output_root  # written by the front end, under its root
        assert w["frames"] == BAR and sf.info(path).frames == BAR and w["rtf"] > 0
        assert json.loads(path.with_name(path.name + ".json").read_text())["replica"] == replica
    # the windows continue each other on the replica exactly as they do in-process
    ray_audio = [sf.read(w["path"], dtype="int32")[0].tobytes() for w in made[:3]]
    assert ray_audio == local_windows(tmp_path, 3)
    assert sid in probe_replicas(engine)[replica]["live_sessions"]
    stop, _ = zmq_peer.request("live_stop", {"session_id": sid})
    assert stop["content"]["status"] == "ok" and stop["content"]["windows"] == 4
    assert stop["content"]["replica"] == replica
    assert engine.executor.session_replica(sid) is None  # unpinned, and the replica dropped its state
    assert all(sid not in p["live_sessions"] for p in probe_replicas(engine).values())
    again, _ = zmq_peer.request("live_stop", {"session_id": sid})
    assert again["content"]["code"] == "unknown_session"


def test_two_sessions_land_on_different_replicas(engine: Engine, zmq_peer) -> None:
    sids = [start(zmq_peer, ahead_bars=2, seed=i) for i in range(2)]
    made = {sid: windows(zmq_peer, sid, 2) for sid in sids}
    replicas = [{w["replica"] for w in made[sid]} for sid in sids]
    assert all(len(r) == 1 for r in replicas) and replicas[0] != replicas[1]
    for sid in sids:
        assert [w["start_bar"] for w in made[sid]] == [1, 2]
        zmq_peer.request("live_stop", {"session_id": sid})
    assert engine.executor.running() == {}


def test_live_stop_cancels_the_window_in_flight_on_the_replica(engine: Engine, zmq_peer) -> None:
    before = sorted(engine.paths.output_root.rglob("*.wav"))
    sid = start(zmq_peer, window_bars=48, ahead_bars=48)  # one long window: seconds of decoding
    deadline = time.monotonic() + WAIT_S
    while f"{sid}#0" not in engine.executor.running() and time.monotonic() < deadline:
        time.sleep(0.02)  # until the replica has started it
    assert f"{sid}#0" in engine.executor.running()
    stop, _ = zmq_peer.request("live_stop", {"session_id": sid})
    assert stop["content"]["status"] == "ok" and stop["content"]["windows"] == 0
    assert sorted(engine.paths.output_root.rglob("*.wav")) == before  # nothing written
    probes = probe_replicas(engine)  # the replica stopped decoding and forgot the session
    assert [p["active_jobs"] for p in probes.values()] == [0, 0]
    assert all(sid not in p["live_sessions"] for p in probes.values())
    assert not any(e["header"]["msg_type"] == "window" and e["content"]["session_id"] == sid
                   for e in zmq_peer.events)


# -- last: Serve needs a few seconds to replace a killed replica ----------------------------------
def test_a_replica_killed_mid_session_ends_it_with_interrupted(engine: Engine, zmq_peer) -> None:
    sid = start(zmq_peer, ahead_bars=2)
    replica = windows(zmq_peer, sid, 2)[0]["replica"]
    ray.kill(ray.get_actor(engine.executor.actor_name(replica), namespace="serve"), no_restart=True)
    zmq_peer.request("transport", {"beat": 4, "bpm": 120, "playing": True, "session_id": sid})  # asks for bar 3
    error = zmq_peer.wait_event(lambda e: e["header"]["msg_type"] == "error"
                                and e["content"].get("session_id") == sid, timeout=WAIT_S)["content"]
    assert error["code"] == "interrupted" and replica in error["message"] and "start the session again" \
        in error["message"]
    stop, _ = zmq_peer.request("live_stop", {"session_id": sid})
    assert stop["content"]["windows"] == 2 and stop["content"]["error"]["code"] == "interrupted"
    # the engine keeps serving: a new session runs on a live replica
    sid2 = start(zmq_peer, ahead_bars=1)
    assert windows(zmq_peer, sid2, 1)[0]["replica"] != replica
    zmq_peer.request("live_stop", {"session_id": sid2})
