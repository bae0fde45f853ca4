"""The job queue and the engine API: progress, cancellation, busy, status, variations."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from musicgen_bridge.engine.engine import Engine, EngineConfig
from musicgen_bridge.engine.errors import EngineError
from musicgen_bridge.engine.generation.reference import Conditioning, generate_reference
from musicgen_bridge.engine.generation.sampling import SamplingParams
from musicgen_bridge.engine.jobs.queue import JobQueue


@pytest.fixture
def engine(tmp_path: Path):
    eng = Engine(EngineConfig(default_model="tiny", output_root=tmp_path / "out"))
    yield eng
    eng.close()


def test_events_arrive_in_order_with_monotonic_progress(engine: Engine) -> None:
    events: list[tuple[str, dict]] = []
    job = engine.submit("generate", {"prompt": "x", "bars": 2, "bpm": 120}, listener=lambda e, c: events.append((e, c)))
    job = engine.wait(job.id, timeout=60)
    names = [e for e, _ in events]
    assert names[0] == "accepted" and names[-1] == "done"
    assert set(names[1:-1]) == {"progress"}
    fractions = [c["fraction"] for e, c in events if e == "progress"]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert len(fractions) >= 10  # decoding steps are reported, not just start and end
    assert all(c["job_id"] == job.id for _, c in events)
    assert events[-1][1]["frames"] == 192000 and Path(events[-1][1]["path"]).is_file()


def test_cancel_takes_effect_between_steps_and_writes_nothing(engine: Engine) -> None:
    seen = threading.Event()
    events: list[str] = []

    def listener(event: str, content: dict) -> None:
        events.append(event)
        if event == "progress" and not seen.is_set():
            seen.set()
            engine.cancel(content["job_id"])

    job = engine.submit("generate", {"prompt": "x", "bars": 8, "bpm": 120}, listener=listener)
    job = engine.wait(job.id, timeout=60)
    assert job.state == "cancelled"
    assert job.error["code"] == "cancelled"
    assert events[-1] == "error"
    assert 0 < job.progress < 0.5  # stopped early, not at the end
    assert not (engine.paths.output_root).exists() or list(engine.paths.output_root.iterdir()) == []
    assert engine.status(job.id)["state"] == "cancelled"


def test_full_queue_answers_busy() -> None:
    gate = threading.Event()
    q = JobQueue(lambda job: (gate.wait(10), {"ok": True})[1], max_queue=2)
    try:
        q.submit("generate", {}, None)
        q.submit("generate", {}, None)
        with pytest.raises(EngineError) as err:
            q.submit("generate", {}, None)
        assert err.value.code == "busy"
        gate.set()
    finally:
        gate.set()
        q.shutdown()


def test_status_lookup_and_unknown_job(engine: Engine) -> None:
    job = engine.submit("generate", {"prompt": "x", "bars": 1, "bpm": 120, "seed": 3})
    engine.wait(job.id, timeout=60)
    status = engine.status(job.id)
    assert status["state"] == "done" and status["progress"] == 1.0
    assert status["result"]["seed"] == 3
    with pytest.raises(EngineError) as err:
        engine.status("j-nope")
    assert err.value.code == "unknown_job"


def test_worker_survives_a_failing_job(engine: Engine) -> None:
    bad = engine.submit("generate", {"prompt": "x", "bars": 1, "bpm": 120, "model": "facebook/musicgen-small",
                                     "cache_dir": "/nonexistent"})
    engine.wait(bad.id, timeout=60)
    good = engine.submit("generate", {"prompt": "x", "bars": 1, "bpm": 120})
    assert engine.wait(good.id, timeout=60).state == "done"


def test_variations_are_separate_takes_with_their_own_seeds(engine: Engine) -> None:
    job = engine.submit("generate", {"prompt": "x", "bars": 1, "bpm": 120, "seed": 11, "variations": 3})
    result = engine.wait(job.id, timeout=60).result
    takes = result["takes"]
    assert [t["take"] for t in takes] == [1, 2, 3]
    assert len({t["seed"] for t in takes}) == 3 and takes[0]["seed"] == 11
    audio = [sf.read(t["path"], dtype="int32")[0] for t in takes]
    assert all(a.shape == (96000, 2) for a in audio)
    assert not np.array_equal(audio[0], audio[1]) and not np.array_equal(audio[1], audio[2])


def test_a_take_does_not_depend_on_its_batch(engine: Engine) -> None:
    loaded = engine.registry.load("tiny")
    params = SamplingParams()
    batch = generate_reference(loaded, Conditioning(["x", "x", "x"]), 40, params, [5, 6, 7])
    alone = generate_reference(loaded, Conditioning(["x"]), 40, params, [6])
    assert torch.equal(batch.tokens[1], alone.tokens[0])
    assert batch.tokens.shape == (3, 4, 40)


def test_fast_and_reference_generators_write_identical_files(engine: Engine) -> None:
    audio = {}
    for generator in ("fast", "reference"):
        job = engine.submit("generate", {"prompt": "x", "bars": 1, "bpm": 120, "seed": 9, "generator": generator,
                                         "track": generator})
        result = engine.wait(job.id, timeout=60).result
        audio[generator] = sf.read(result["path"], dtype="int32")[0]
    assert np.array_equal(audio["fast"], audio["reference"])
    assert engine.context.generators["fast"] is not None  # "auto" picks the fast decoder when present


def test_conform_runs_when_asked_and_is_recorded(engine: Engine) -> None:
    import json

    job = engine.submit("generate", {"prompt": "x", "bars": 2, "bpm": 120, "conform": True})
    result = engine.wait(job.id, timeout=120).result
    side = json.loads(Path(result["path"] + ".json").read_text())
    # tiny's noise has no steady beat: conform finds none and only fits the clip to the bars
    assert side["conform"] == [{"stretch_factor": 1.0, "shift_s": 0.0, "beats_found": False}]
    assert sf.info(result["path"]).frames == 192000
    plain = engine.wait(engine.submit("generate", {"prompt": "x", "bars": 1, "bpm": 120}).id, 60).result
    assert json.loads(Path(plain["path"] + ".json").read_text())["conform"] == []  # auto: off for tiny
