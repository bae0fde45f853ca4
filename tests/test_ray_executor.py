"""Acceptance tests for the Ray Serve executor on a local two-replica cluster (loopback only).

Marked slow (about a minute): ``pytest -m "not slow"`` leaves them out.

One module-wide Ray instance (2 CPUs, no dashboard) runs one deployment of two CPU replicas of
``tiny``; every engine here attaches to it. The protocol tests run against both executors.
Replica-killing tests come last: Serve replaces a killed replica, which takes a few seconds.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # Ray on 127.0.0.1 only (see loopback_ray)
ray = pytest.importorskip("ray", reason="the ray executor needs Ray Serve: pip install 'musicgen-bridge[cluster]'")
pytest.importorskip("ray.serve", reason="the ray executor needs Ray Serve: pip install 'musicgen-bridge[cluster]'")

from musicgen_bridge.bridge.client import Client
from musicgen_bridge.bridge.server import BridgeServer
from musicgen_bridge.engine.engine import Engine, EngineConfig
from musicgen_bridge.engine.errors import EngineError

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
APP = "mgb-test"
#: the deployment every engine in this module attaches to: capacity 2 running + 2 waiting
LAYOUT = {"app_name": APP, "replicas": 2, "cpus_per_replica": 0.5, "max_ongoing_requests": 1,
          "max_queued_requests": 2}
FRAMES_PER_BAR = 96000  # 4/4 at 120 bpm, 48 kHz
WAIT_S = 120.0


@pytest.fixture(scope="module")
def cluster():
    from ray import serve

    from musicgen_bridge.engine.executors.options import RayOptions
    from musicgen_bridge.engine.executors.ray_serve import RayExecutor

    ray.init(address="local", num_cpus=2, object_store_memory=256 * 1024**2, include_dashboard=False,
             log_to_driver=False, logging_level=logging.WARNING,
             runtime_env={"env_vars": {"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}})
    assert ray.get_runtime_context().gcs_address.startswith("127.0.0.1:"), "Ray must stay on loopback"
    deployer = RayExecutor(RayOptions(**LAYOUT), EngineConfig(default_model="tiny", preload=["tiny"]))
    try:
        yield deployer
    finally:
        try:
            deployer.close()
            serve.shutdown()
        finally:
            ray.shutdown()


def make_engine(kind: str, out: Path, request: pytest.FixtureRequest, allowed: tuple[Path, ...] = ()) -> Engine:
    import torch

    torch.set_num_threads(1)
    config = EngineConfig(default_model="tiny", output_root=out, allowed_dirs=list(allowed))
    if kind == "ray":
        request.getfixturevalue("cluster")
        config.executor, config.executor_options = "ray", {**LAYOUT, "deploy": False}
    return Engine(config)


@pytest.fixture
def ray_engine(tmp_path: Path, request: pytest.FixtureRequest):
    eng = make_engine("ray", tmp_path / "out", request)
    yield eng
    eng.close()


@pytest.fixture(params=["local", "ray"])
def server(tmp_path: Path, request: pytest.FixtureRequest):
    eng = make_engine(request.param, tmp_path / "out", request)
    srv = BridgeServer(eng, zmq_addr="tcp://127.0.0.1:*", pub_addr="tcp://127.0.0.1:*", osc_udp=None)
    srv.start()
    yield srv
    srv.stop()


def connect(server: BridgeServer) -> Client:
    return Client(server.addresses["zmq"], server.addresses["zmq_events"], timeout=30.0)


def both_replicas(eng: Engine) -> list[dict]:
    """``whoami`` of each replica: two fresh sessions are pinned to the two replicas."""
    probes = [eng.executor.session_call(f"probe-{i}", "whoami") for i in range(2)]
    for i in range(2):
        eng.executor.end_session(f"probe-{i}")
    assert len({p["replica"] for p in probes}) == 2
    return probes


def audio_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.wav")) if root.exists() else []


# -- the protocol, against both executors -------------------------------------------------------
def test_generate_over_zmq_with_progress_status_and_fetch(server: BridgeServer, tmp_path: Path) -> None:
    with connect(server) as client:
        fractions: list[float] = []
        result = client.generate(prompt="dusty drums", bars=2, bpm=120, seed=7, on_progress=fractions.append,
                                 timeout=WAIT_S)
        assert result["frames"] == 2 * FRAMES_PER_BAR and result["sample_rate"] == 48000
        assert fractions == sorted(fractions) and len(fractions) >= 5 and fractions[-1] == 1.0
        path = Path(result["path"])
        assert path.parent == server.engine.paths.output_root and sf.info(path).frames == 2 * FRAMES_PER_BAR
        status = client.status(result["job_id"])
        assert status["state"] == "done" and status["result"]["path"] == str(path)
        copy = client.fetch(result["job_id"], tmp_path / "copy.wav")
        assert copy.read_bytes() == path.read_bytes()
        sidecar = json.loads(path.with_name(path.name + ".json").read_text())
        if server.engine.executor.name == "ray":  # the result and the file both say which replica made it
            assert result["replica"] and sidecar["replica"] == result["replica"]
        else:
            assert "replica" not in result and "replica" not in sidecar


def test_cancel_over_zmq_stops_the_job_and_writes_nothing(server: BridgeServer) -> None:
    with connect(server) as client:
        job_id = client.submit("generate", {"prompt": "x", "bars": 12, "bpm": 120})
        cancelled = []

        def on_progress(fraction: float) -> None:
            if not cancelled:
                cancelled.append(client.cancel(job_id))

        with pytest.raises(EngineError) as err:
            client.wait(job_id, on_progress, timeout=WAIT_S)
        assert err.value.code == "cancelled"
        status = client.status(job_id, wait=10)
        assert status["state"] == "cancelled" and status["progress"] < 0.5
        assert audio_files(server.engine.paths.output_root) == []
        # the replica (or worker) is free again at once
        assert client.generate(prompt="x", bars=1, bpm=120, timeout=WAIT_S)["frames"] == FRAMES_PER_BAR


def test_bad_fields_are_refused_before_queueing(server: BridgeServer) -> None:
    with connect(server) as client:
        for content, field in (({"bars": 1, "retryable": "yes"}, "retryable"), ({"bars": 0}, "bars")):
            with pytest.raises(EngineError) as err:
                client.submit("generate", content)
            assert err.value.code == "invalid_field" and err.value.details.get("field") == field
        assert client.ping()["executor"]["name"] == server.engine.executor.name


def test_ray_failures_map_to_protocol_codes() -> None:
    from ray.exceptions import ActorDiedError, RayTaskError
    from ray.serve.exceptions import BackPressureError, RequestCancelledError

    from musicgen_bridge.engine.executors.ray_errors import ReplicaLost, ray_error

    busy = ray_error(BackPressureError(num_queued_requests=4, max_queued_requests=4), "r1")
    assert isinstance(busy, EngineError) and busy.code == "busy" and "try again" in busy.message
    assert ray_error(RequestCancelledError("x"), "r1").code == "cancelled"
    lost = ray_error(ActorDiedError(), "r1")
    assert isinstance(lost, ReplicaLost) and lost.replica == "r1"
    assert ray_error(ActorDiedError(), "r1", cancelled=True).code == "cancelled"  # killed while cancelling
    crash = ray_error(RayTaskError("produce", "tb", ValueError("boom")), "r2")
    assert crash.code == "internal" and "r2" in crash.message and "boom" in crash.message


# -- the Ray deployment ------------------------------------------------------------------------
def test_jobs_from_several_clients_spread_over_both_replicas(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    eng = make_engine("ray", tmp_path / "out", request)
    srv = BridgeServer(eng, zmq_addr="tcp://127.0.0.1:*", pub_addr="tcp://127.0.0.1:*", osc_udp=None)
    srv.start()
    clients = [connect(srv) for _ in range(2)]
    try:
        jobs = [(c, c.submit("generate", {"prompt": f"take {i}", "bars": 4, "bpm": 120, "seed": i}))
                for i in range(2) for c in clients]
        results = [c.wait(job_id, timeout=WAIT_S) for c, job_id in jobs]
        assert len({r["replica"] for r in results}) == 2  # both replicas worked
        for r in results:
            assert sf.info(r["path"]).frames == 4 * FRAMES_PER_BAR
        assert len(audio_files(eng.paths.output_root)) == 4
    finally:
        for c in clients:
            c.close()
        srv.stop()


def test_busy_when_every_replica_and_the_queue_are_full(ray_engine: Engine) -> None:
    started: set[str] = set()
    both_running = threading.Event()

    def listener(event: str, content: dict) -> None:
        if event == "progress":
            started.add(content["job_id"])
            if len(started) >= 2:
                both_running.set()

    jobs = [ray_engine.submit("generate", {"prompt": "x", "bars": 12, "bpm": 120}, listener=listener)
            for _ in range(4)]
    assert both_running.wait(WAIT_S)  # two decode; the other two were sent and wait in front of them
    with pytest.raises(EngineError) as err:  # 2 running + 2 waiting: the front end says busy at once
        ray_engine.submit("generate", {"prompt": "x", "bars": 1, "bpm": 120})
    assert err.value.code == "busy"
    for job in jobs:
        ray_engine.cancel(job.id)
    states = [ray_engine.wait(job.id, timeout=WAIT_S).state for job in jobs]
    assert states == ["cancelled"] * 4  # queued ones too: their Ray requests were withdrawn
    assert audio_files(ray_engine.paths.output_root) == []
    # the cancel reached the replicas: no decoding thread is left running on either
    assert [probe["active_jobs"] for probe in both_replicas(ray_engine)] == [0, 0]


def test_a_model_stays_with_the_replica_that_loaded_it(ray_engine: Engine, tmp_path: Path) -> None:
    melody = {"notes": [{"pitch": 60 + 2 * i, "start_beats": i, "duration_beats": 1, "velocity": 100}
                        for i in range(8)]}
    replicas = []
    for seed in range(3):  # one at a time: the warm replica is free, so it gets every job
        job = ray_engine.wait(ray_engine.submit("generate", {"bars": 1, "model": "tiny-melody", "seed": seed,
                                                            "melody": melody}).id, timeout=WAIT_S)
        assert job.state == "done", job.error
        replicas.append(job.result["replica"])
    assert len(set(replicas)) == 1
    probes = both_replicas(ray_engine)  # only the replica that made the takes holds the model
    holds = {p["replica"]: "tiny-melody" in p["models"] for p in probes}
    assert holds == {replicas[0]: True, next(r for r in holds if r != replicas[0]): False}
    assert all("tiny" in p["models"] for p in probes)  # preloaded everywhere


def test_melody_file_travels_to_the_replica_and_gives_the_local_audio(request: pytest.FixtureRequest,
                                                                       tmp_path: Path) -> None:
    import mido

    session = tmp_path / "session"
    session.mkdir()
    midi = mido.MidiFile()
    track = mido.MidiTrack()
    midi.tracks.append(track)
    for i, pitch in enumerate((60, 64, 67, 72)):
        track.append(mido.Message("note_on", note=pitch, velocity=90, time=0))
        track.append(mido.Message("note_off", note=pitch, velocity=0, time=midi.ticks_per_beat))
    midi.save(session / "line.mid")
    content = {"bars": 1, "model": "tiny-melody", "seed": 3, "melody": {"midi_file": str(session / "line.mid")},
               "output_name": "take.wav"}
    audio = {}
    for kind in ("local", "ray"):
        eng = make_engine(kind, tmp_path / kind, request, allowed=(session,))
        try:
            job = eng.wait(eng.submit("generate", content).id, timeout=WAIT_S)
            assert job.state == "done", job.error
            audio[kind], _ = sf.read(job.result["path"], dtype="int32")
        finally:
            eng.close()
    assert audio["ray"].shape == (FRAMES_PER_BAR, 2) and np.array_equal(audio["ray"], audio["local"])


def test_sessions_stick_to_one_replica_for_their_life(ray_engine: Engine) -> None:
    executor = ray_engine.executor
    seen = {f"live-{i}": {executor.session_call(f"live-{i}", "whoami")["replica"] for _ in range(3)} for i in range(4)}
    assert all(len(replicas) == 1 for replicas in seen.values())
    per_replica = Counter(next(iter(replicas)) for replicas in seen.values())
    assert sorted(per_replica.values()) == [2, 2]  # new sessions go to the replica with the fewest
    assert executor.session_replica("live-0") == next(iter(seen["live-0"]))
    for session in seen:
        executor.end_session(session)
    assert executor.session_replica("live-0") is None


def test_serve_cli_joins_a_cluster_and_leaves_it_running(cluster, tmp_path: Path) -> None:
    """``serve --executor ray --ray-address ADDR``: a second front end deploys its own replica on
    the running cluster, answers a real client, and on SIGTERM removes only its application."""
    from ray import serve

    ready = tmp_path / "ready.json"
    address = ray.get_runtime_context().gcs_address
    cmd = [sys.executable, "-m", "musicgen_bridge.bridge.cli", "serve", "--executor", "ray", "--ray-address", address,
           "--replicas", "1", "--cpus-per-replica", "0.5", "--model", "tiny", "--zmq", "tcp://127.0.0.1:0",
           "--zmq-events", "tcp://127.0.0.1:0", "--osc", "off", "--output-root", str(tmp_path / "out"),
           "--ready-file", str(ready)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = WAIT_S
        while not ready.exists() and proc.poll() is None and deadline > 0:
            threading.Event().wait(0.25)
            deadline -= 0.25
        assert ready.exists(), proc.stderr.read() if proc.poll() is not None else "not ready in time"
        info = json.loads(ready.read_text())
        assert info["executor"] == "ray"
        with Client(info["zmq"], info["zmq_events"], timeout=30.0) as client:
            result = client.generate(prompt="x", bars=1, bpm=120, timeout=WAIT_S)
        assert result["frames"] == FRAMES_PER_BAR and result["replica"]
        assert set(serve.status().applications) >= {"musicgen-bridge", APP}
    finally:
        proc.terminate()
        proc.wait(60)
    assert proc.returncode == 0
    apps = serve.status().applications
    assert "musicgen-bridge" not in apps and apps[APP].status == "RUNNING"


# -- faults (last: Serve needs a few seconds to replace a killed replica) -----------------------
def kill_on_first_progress(eng: Engine, killed: list[str]):
    fired = threading.Event()

    def listener(event: str, content: dict) -> None:
        if event == "progress" and not fired.is_set():
            fired.set()
            replica = eng.executor.running()[content["job_id"]]
            killed.append(replica)
            ray.kill(ray.get_actor(eng.executor.actor_name(replica), namespace="serve"), no_restart=True)

    return listener


def test_a_replica_killed_mid_job_fails_it_cleanly_and_the_next_job_succeeds(ray_engine: Engine) -> None:
    executor = ray_engine.executor
    sessions = {f"s{i}": executor.session_call(f"s{i}", "whoami")["replica"] for i in range(2)}
    killed: list[str] = []
    job = ray_engine.submit("generate", {"prompt": "x", "bars": 12, "bpm": 120},
                            listener=kill_on_first_progress(ray_engine, killed))
    job = ray_engine.wait(job.id, timeout=WAIT_S)
    assert job.state == "interrupted" and job.error["code"] == "interrupted"
    assert killed[0] in job.error["message"] and "retryable: true" in job.error["message"]
    assert audio_files(ray_engine.paths.output_root) == []
    after = ray_engine.wait(ray_engine.submit("generate", {"prompt": "x", "bars": 1, "bpm": 120}).id,
                            timeout=WAIT_S)
    assert after.state == "done" and after.result["replica"] != killed[0]
    # the session on the dead replica is over; the other one carries on where it was
    for session, replica in sessions.items():
        if replica == killed[0]:
            with pytest.raises(EngineError) as err:
                executor.session_call(session, "whoami")
            assert err.value.code == "unknown_session"
        else:
            assert executor.session_call(session, "whoami")["replica"] == replica
        executor.end_session(session)


def test_retryable_resends_to_another_replica_with_the_same_audio(ray_engine: Engine, tmp_path: Path,
                                                                     request: pytest.FixtureRequest) -> None:
    content = {"prompt": "x", "bars": 12, "bpm": 120, "seed": 11, "retryable": True, "output_name": "take.wav"}
    killed: list[str] = []
    job = ray_engine.wait(ray_engine.submit("generate", content,
                                            listener=kill_on_first_progress(ray_engine, killed)).id, timeout=WAIT_S)
    assert job.state == "done", job.error
    assert job.result["replica"] != killed[0] and job.result["frames"] == 12 * FRAMES_PER_BAR
    local = make_engine("local", tmp_path / "local", request)
    try:
        reference = local.wait(local.submit("generate", content).id, timeout=WAIT_S)
        assert sf.read(job.result["path"], dtype="int32")[0].tobytes() == \
            sf.read(reference.result["path"], dtype="int32")[0].tobytes()
    finally:
        local.close()


def test_audiogen_runs_on_a_replica_exactly_as_here(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """tiny-audiogen (an audiocraft family) loads on a Ray replica through the same registry and gives
    the same take as the local executor for the same seed."""
    content = {"prompt": "door slam", "model": "tiny-audiogen", "seconds": 1, "seed": 7}
    results = {}
    for kind in ("local", "ray"):
        eng = make_engine(kind, tmp_path / kind, request)
        try:
            job = eng.wait(eng.submit("generate", content).id, timeout=WAIT_S)
            assert job.state == "done", job.error
            results[kind] = job.result
        finally:
            eng.close()
    assert "replica" in results["ray"] and results["ray"]["frames"] == results["local"]["frames"] == 48000
    local, remote = (sf.read(results[k]["path"], dtype="int32")[0] for k in ("local", "ray"))
    assert np.array_equal(local, remote)
