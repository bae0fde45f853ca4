"""The job journal: rows and transitions on disk, status after a restart, recovery after a crash."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import time

import pytest
import soundfile as sf

from musicgen_bridge.engine.engine import Engine, EngineConfig
from musicgen_bridge.engine.errors import EngineError
from musicgen_bridge.engine.jobs.journal import Journal, JournalInUse, open_journal
from musicgen_bridge.engine.jobs.queue import Job
from musicgen_bridge.engine.request import GenerateRequest

ONE_BAR = {"prompt": "journal", "bars": 1, "bpm": 120, "model": "tiny", "conform": False}  # conform: slow first call


@pytest.fixture(autouse=True)
def one_thread():
    import torch

    torch.set_num_threads(1)


def _engine(tmp_path, journal: bool = True) -> Engine:
    return Engine(EngineConfig(default_model="tiny", output_root=tmp_path / "out",
                               journal=tmp_path / "journal.sqlite" if journal else None))


def _rows(path) -> list[tuple]:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT id, state, retryable, attempts FROM jobs ORDER BY created").fetchall()


def _crashed_job(journal: Journal, job_id: str, state: str, content: dict) -> None:
    """What a killed engine leaves: a row whose last state is queued or running."""
    job = Job(id=job_id, kind="generate", request=GenerateRequest.from_dict(content))
    journal.record(job)
    if state == "running":
        job.state = "running"
        journal.record(job)


def test_rows_transitions_and_wal_mode(tmp_path):
    journal = Journal(tmp_path / "j.sqlite")
    job = Job(id="j-1", kind="generate", request=GenerateRequest.from_dict({**ONE_BAR, "seed": 5}))
    journal.record(job)
    job.state = "running"
    journal.record(job)
    job.state, job.result = "done", {"path": "/x.wav", "frames": 96000}
    journal.record(job)
    assert journal.status("j-1") == {"job_id": "j-1", "kind": "generate", "state": "done", "progress": 1.0,
                                     "result": {"path": "/x.wav", "frames": 96000}}
    assert journal.transitions("j-1") == ["queued", "running", "done"]
    assert journal.status("j-unknown") is None
    with sqlite3.connect(tmp_path / "j.sqlite") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        request = json.loads(db.execute("SELECT request FROM jobs WHERE id = 'j-1'").fetchone()[0])
    assert request == GenerateRequest.from_dict({**ONE_BAR, "seed": 5}).to_dict()
    journal.close()


def test_one_engine_owns_a_journal(tmp_path, caplog):
    first = Journal(tmp_path / "j.sqlite")
    with pytest.raises(JournalInUse):
        Journal(tmp_path / "j.sqlite")
    caplog.set_level(logging.WARNING, logger="musicgen_bridge.engine.jobs.journal")
    assert open_journal(tmp_path / "j.sqlite") is None
    assert "keeps no journal" in caplog.text
    first.close()
    Journal(tmp_path / "j.sqlite").close()  # free again once the owner is gone


def test_a_corrupt_journal_is_moved_aside_not_deleted(tmp_path):
    (tmp_path / "j.sqlite").write_bytes(b"this is not a database" * 100)
    journal = Journal(tmp_path / "j.sqlite")
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("j.sqlite.corrupt-")]
    assert len(aside) == 1 and aside[0].read_bytes() == b"this is not a database" * 100
    assert journal.status("x") is None
    journal.close()


def test_done_results_stay_answerable_after_a_restart(tmp_path):
    engine = _engine(tmp_path)
    job = engine.submit("generate", ONE_BAR)
    assert engine.wait(job.id, timeout=60).state == "done"
    result = engine.status(job.id)["result"]
    engine.close()

    engine = _engine(tmp_path)
    try:
        again = engine.status(job.id)
        assert again["state"] == "done" and again["result"] == json.loads(json.dumps(result))
        assert sf.info(again["result"]["path"]).frames == 96000
        assert engine.wait(job.id, timeout=1) is None  # an earlier run's job has ended: no waiting
        assert engine.journal.transitions(job.id) == ["queued", "running", "done"]
        with pytest.raises(EngineError) as err:
            engine.status("j-never")
        assert err.value.code == "unknown_job"
    finally:
        engine.close()


def test_recovery_marks_interrupted_requeues_retryable_and_removes_temp_files(tmp_path):
    journal = Journal(tmp_path / "journal.sqlite")
    _crashed_job(journal, "j-running", "running", {**ONE_BAR, "bars": 16})
    _crashed_job(journal, "j-queued", "queued", ONE_BAR)
    _crashed_job(journal, "j-retry", "queued", {**ONE_BAR, "retryable": True, "seed": 77})
    journal.close()  # the process died: its lock went with it
    out = tmp_path / "out"
    out.mkdir()
    stale = [out / ".groove.wav.0123456789ab.part", out / ".groove.wav.json.fedcba987654.part", out / ".mgb-x1.part"]
    kept = [out / "groove.wav", out / ".notes.part", out / "take.part"]  # not temp names of ours
    for path in stale + kept:
        path.write_bytes(b"half")
        os.utime(path, (time.time() - 60, time.time() - 60))

    engine = _engine(tmp_path)
    try:
        for job_id in ("j-running", "j-queued"):
            status = engine.status(job_id)
            assert status["state"] == "interrupted" and status["error"]["code"] == "interrupted"
        assert engine.journal.transitions("j-running") == ["queued", "running", "interrupted"]
        assert [p.exists() for p in stale] == [False, False, False]
        assert [p.read_bytes() for p in kept] == [b"half"] * 3
        retried = engine.wait("j-retry", timeout=60)
        assert retried.state == "done" and retried.result["seed"] == 77
        assert engine.journal.transitions("j-retry") == ["queued", "interrupted", "queued", "running", "done"]
        assert ("j-retry", "done", 1, 2) in _rows(tmp_path / "journal.sqlite")
    finally:
        engine.close()


def test_a_retryable_job_is_not_run_forever(tmp_path):
    journal = Journal(tmp_path / "journal.sqlite")
    _crashed_job(journal, "j-crashy", "running", {**ONE_BAR, "retryable": True})
    with journal._db:
        journal._db.execute("UPDATE jobs SET attempts = 3 WHERE id = 'j-crashy'")
    _crashed_job(journal, "j-gone", "queued", {**ONE_BAR, "retryable": True, "output_dir": str(tmp_path / "other")})
    journal.close()
    engine = _engine(tmp_path)
    try:
        crashy, gone = engine.status("j-crashy"), engine.status("j-gone")
        assert crashy["state"] == "interrupted" and "3 runs" in crashy["error"]["message"]
        assert gone["state"] == "interrupted" and "could not be queued again" in gone["error"]["message"]
        assert engine.queue.jobs() == []
    finally:
        engine.close()


def test_stopping_the_engine_interrupts_its_jobs_rather_than_cancelling_them(tmp_path):
    engine = _engine(tmp_path)
    job = engine.submit("generate", {**ONE_BAR, "bars": 16, "bpm": 40})
    deadline = time.monotonic() + 30
    while engine.status(job.id)["state"] != "running":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    engine.close()
    journal = Journal(tmp_path / "journal.sqlite")
    try:
        status = journal.status(job.id)
        assert status["state"] == "interrupted" and status["error"]["code"] == "interrupted"
    finally:
        journal.close()


def test_no_journal_configured_means_none_written(tmp_path):
    engine = _engine(tmp_path, journal=False)
    try:
        assert engine.journal is None
        with pytest.raises(EngineError):
            engine.status("j-x")
    finally:
        engine.close()
    assert not (tmp_path / "journal.sqlite").exists()
