"""The scale-out parts that need no Ray: import hygiene, options, flags, session pins, wire format."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from musicgen_bridge.bridge.cli import build_parser
from musicgen_bridge.engine.engine import Engine, EngineConfig
from musicgen_bridge.engine.errors import EngineError
from musicgen_bridge.engine.executors import LocalExecutor, open_executor
from musicgen_bridge.engine.executors.options import RAY_FLAGS, RayOptions, serve_executor
from musicgen_bridge.engine.executors.sessions import SessionTable
from musicgen_bridge.engine.executors.wire import check_produced, pack_job, unpack_request
from musicgen_bridge.engine.jobs.queue import Job
from musicgen_bridge.engine.paths import PathPolicy
from musicgen_bridge.engine.produce.context import Produced, RenderedTake
from musicgen_bridge.engine.request import GenerateRequest

ROOT = Path(__file__).resolve().parents[1]


def test_engine_bridge_and_cli_never_import_ray() -> None:
    code = ("import sys, musicgen_bridge.engine.engine, musicgen_bridge.bridge.cli, "
            "musicgen_bridge.engine.executors, musicgen_bridge.engine.executors.options, "
            "musicgen_bridge.engine.executors.sessions, musicgen_bridge.engine.executors.wire, "
            "musicgen_bridge.bridge.server; "
            "print(sorted(m for m in sys.modules if m == 'ray' or m.startswith('ray.')))")
    out = subprocess.run([sys.executable, "-c", code], check=False, cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_options_capacity_and_validation() -> None:
    opts = RayOptions.from_dict({"replicas": 3, "max_ongoing_requests": 2, "max_queued_requests": 5})
    assert opts.capacity == 3 * 2 + 5
    for bad, field in (({"replicas": 0}, "replicas"), ({"gpus_per_replica": -1}, "gpus_per_replica"),
                       ({"cpus_per_replica": float("nan")}, "cpus_per_replica"), ({"replicas": True}, "replicas"),
                       ({"address": ""}, "ray_address")):
        with pytest.raises(EngineError) as err:
            RayOptions.from_dict(bad)
        assert err.value.code == "invalid_field" and err.value.details["field"] == field
    with pytest.raises(EngineError, match="unknown ray executor option"):
        RayOptions.from_dict({"replica": 2})


def _serve_executor(argv: list[str]) -> tuple[str, dict]:
    args = build_parser().parse_args(["serve", *argv])  # what cmd_serve hands over
    return serve_executor(args.executor, {flag: getattr(args, flag) for flag in RAY_FLAGS})


def test_serve_flags_parse_and_need_the_ray_executor() -> None:
    assert _serve_executor(["--executor", "ray", "--ray-address", "auto", "--replicas", "2",
                            "--gpus-per-replica", "0.5"]) == ("ray", {"address": "auto", "replicas": 2,
                                                                      "gpus_per_replica": 0.5})
    assert _serve_executor([]) == ("local", {})
    assert _serve_executor(["--backend", "ray"]) == ("ray", {})  # the 1.x alias of --executor
    with pytest.raises(EngineError) as err:
        _serve_executor(["--replicas", "2"])
    assert err.value.code == "invalid_field" and "--replicas only apply with --executor ray" in err.value.message
    with pytest.raises(EngineError, match="replicas must be an integer from 1"):
        _serve_executor(["--executor", "ray", "--replicas", "0"])


def test_sessions_pin_to_the_least_pinned_replica_and_stay() -> None:
    table = SessionTable()
    first = [table.pin_fewest("app", f"s{i}", ["r1", "r2"]) for i in range(4)]
    assert sorted(first) == ["r1", "r1", "r2", "r2"]
    # later calls keep their replica, even when another one is emptier
    table.release("app", "s0")
    table.release("app", "s2")
    assert [table.pin_fewest("app", s, ["r1", "r2"]) for s in ("s1", "s3")] == [first[1], first[3]]
    assert table.pin_fewest("other-app", "s1", ["r9"]) == "r9"  # applications do not share pins
    gone = table.pins("app")["s1"]
    assert table.replica_gone("app", gone) == ["s1"] + (["s3"] if first[3] == gone else [])
    assert table.get("app", "s1") is None and table.lost("app", "s1") == gone
    table.release("app", "s1")
    assert table.lost("app", "s1") is None


def test_input_files_travel_inline_and_land_in_the_replica_scratch(tmp_path: Path) -> None:
    session = tmp_path / "session"
    session.mkdir()
    midi = session / "line.mid"
    midi.write_bytes(b"MThd\x00\x00\x00\x06fake-midi-bytes")
    paths = PathPolicy(tmp_path / "out", [session])
    req = GenerateRequest.from_dict({"bars": 1, "melody": {"midi_file": {"path": str(midi), "track": 1}}})
    payload = pack_job(Job(id="j1", kind="generate", request=req), paths)
    assert payload["files"]["melody.midi_file"] == (".mid", midi.read_bytes())
    scratch = tmp_path / "replica"
    scratch.mkdir()
    moved = unpack_request(payload, scratch)
    new_path = Path(moved.melody["midi_file"]["path"])
    assert new_path.parent == scratch and new_path.suffix == ".mid"
    assert new_path.read_bytes() == midi.read_bytes()
    assert moved.melody["midi_file"]["track"] == 1
    assert req.melody["midi_file"]["path"] == str(midi)  # the front end's request is untouched

    outside = GenerateRequest.from_dict({"bars": 1, "melody": {"audio": {"path": str(tmp_path / "x.wav")}}})
    with pytest.raises(EngineError) as err:
        pack_job(Job(id="j2", kind="generate", request=outside), paths)
    assert err.value.code == "path_not_allowed"


def test_malformed_takes_from_a_replica_are_refused() -> None:
    req = GenerateRequest.from_dict({"bars": 1, "channels": 2})
    good = Produced([RenderedTake(1, 0, np.zeros((2, 10), np.float32), {})], "tiny", {})
    assert check_produced(good, req) is good
    for clip in (np.zeros((1, 10), np.float32), np.zeros((2, 10), np.float64), np.zeros((2, 0), np.float32)):
        with pytest.raises(EngineError) as err:
            check_produced(Produced([RenderedTake(1, 0, clip, {})], "tiny", {}), req)
        assert err.value.code == "internal" and "nothing was written" in err.value.message


def test_local_backend_is_the_default_and_checks_retry(tmp_path: Path) -> None:
    import torch

    torch.set_num_threads(1)
    engine = Engine(EngineConfig(default_model="tiny", output_root=tmp_path / "out"))
    try:
        assert isinstance(engine.executor, LocalExecutor) and engine.info()["executor"] == {"name": "local"}
        with pytest.raises(EngineError) as err:
            engine.submit("generate", {"bars": 1, "retryable": "yes"})
        assert err.value.code == "invalid_field" and err.value.details["field"] == "retryable"
        job = engine.wait(engine.submit("generate", {"bars": 1, "retryable": True, "seed": 1}).id, timeout=60)
        assert job.state == "done" and "replica" not in job.result and job.result["frames"] == 96000
    finally:
        engine.close()


def test_unknown_backend_and_missing_ray_are_clear(monkeypatch) -> None:
    with pytest.raises(EngineError) as err:
        open_executor("spark")
    assert err.value.code == "invalid_field"
    monkeypatch.setitem(sys.modules, "musicgen_bridge.engine.executors.ray_serve", None)  # as if Ray were not installed
    with pytest.raises(EngineError) as err:
        open_executor("ray", {"replicas": 1}, config=SimpleNamespace(preload=[]))
    assert err.value.code == "unsupported" and "musicgen-bridge[cluster]" in err.value.message
