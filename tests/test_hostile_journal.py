"""A journal that cannot be written (issue 14, finding 11) and temp files left by kill -9 (finding 10):
the engine still starts, says so in one clear line, and cleans what it can."""

from __future__ import annotations

import logging
import os
import sqlite3
import time

import pytest

from musicgen_bridge.engine.engine import Engine, EngineConfig
from musicgen_bridge.engine.jobs.journal import Journal
from musicgen_bridge.engine.jobs.queue import Job


def _engine(tmp_path, journal):
    return Engine(EngineConfig(default_model="tiny", output_root=tmp_path / "out", journal=journal))


def _errors(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.WARNING and r.name.startswith("musicgen_bridge.engine")]


def test_an_unwritable_journal_gives_one_clear_line_and_the_engine_starts(tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    where = tmp_path / "journal-is-a-folder"
    where.mkdir()  # sqlite cannot open a folder as a database: as unwritable as a read-only one
    eng = _engine(tmp_path, where)
    try:
        assert eng.journal is None
        lines = _errors(caplog)
        assert len(lines) == 1 and "journal" in lines[0].getMessage() and lines[0].exc_info is None, lines
    finally:
        eng.close()


def test_a_full_disk_during_recovery_does_not_prevent_a_restart(tmp_path, caplog, monkeypatch):
    path = tmp_path / "journal.sqlite"
    journal = Journal(path)
    journal.record(Job(id="j-0123456789ab", kind="generate", request={"prompt": "x", "bars": 1}, state="running"))
    journal.close()

    def full(*a, **k):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(Journal, "set_state", full)
    monkeypatch.setattr(Journal, "prune", full)
    caplog.set_level(logging.WARNING)
    eng = _engine(tmp_path, path)
    try:
        lines = _errors(caplog)
        assert len(lines) == 1 and "full" in lines[0].getMessage() and lines[0].exc_info is None, lines
        assert eng.status("j-0123456789ab")["job_id"] == "j-0123456789ab"  # earlier jobs still answer
    finally:
        eng.close()


def test_part_files_left_in_live_folders_are_removed_at_restart(tmp_path):
    live = tmp_path / "out" / "live-set"
    live.mkdir(parents=True)
    part = live / ".drums_bar1_take1.wav.0123456789ab.part"
    part.write_bytes(b"half a window")
    keep = live / "drums_bar1_take1.wav"
    keep.write_bytes(b"a finished window")
    old = time.time() - 60
    os.utime(part, (old, old))
    eng = _engine(tmp_path, tmp_path / "journal.sqlite")
    try:
        assert not part.exists() and keep.exists()
    finally:
        eng.close()


def test_failed_journal_writes_are_logged_a_bounded_number_of_times(tmp_path, caplog, monkeypatch):
    eng = _engine(tmp_path, tmp_path / "journal.sqlite")
    try:
        def full(*a, **k):
            raise sqlite3.OperationalError("database or disk is full")

        monkeypatch.setattr(eng.journal, "record", full)
        caplog.set_level(logging.WARNING)
        for i in range(200):
            eng.queue._note(Job(id=f"j-{i:012x}", kind="generate", request={}, state="queued"))
        assert 1 <= len(_errors(caplog)) <= 10
        assert all(r.exc_info is None for r in _errors(caplog))
    finally:
        eng.close()


pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")
