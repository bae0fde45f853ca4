"""A client that starts live sessions and vanishes (issue 14, finding 8): its sessions expire when no
transport reaches them, so they stop holding every live slot."""

from __future__ import annotations

import contextlib
import time

from musicgen_bridge.engine import limits
from musicgen_bridge.engine.errors import EngineError

LIVE = {"prompt": "x", "model": "tiny", "bpm": 120, "time_signature": "4/4", "window_bars": 1, "ahead_bars": 1}


def test_sessions_without_transport_expire_and_free_their_slots(engine, monkeypatch):
    monkeypatch.setattr(limits, "LIVE_IDLE_S", 1.0)
    events: list[tuple[str, dict]] = []
    ids = [engine.live_start(dict(LIVE), lambda e, c: events.append((e, c)))["session_id"]
           for _ in range(limits.MAX_LIVE_SESSIONS)]
    try:
        try:
            engine.live_start(dict(LIVE), None)
            raise AssertionError("a session beyond the limit was started")
        except Exception as exc:  # noqa: BLE001
            assert getattr(exc, "code", "") == "too_many_sessions"
        deadline = time.monotonic() + 15
        while any(engine.live.get(i).status()["running"] for i in ids):
            assert time.monotonic() < deadline, "sessions without transport did not expire"
            time.sleep(0.1)
        expired = [c for e, c in events if e == "error" and c.get("code") == "cancelled"]
        assert {c["session_id"] for c in expired} == set(ids)
        fresh = engine.live_start(dict(LIVE), None)["session_id"]  # a slot is free again
        engine.live_stop(fresh)
    finally:
        for i in ids:
            with contextlib.suppress(EngineError):  # already expired
                engine.live_stop(i)


def test_transport_keeps_a_session_alive(engine, monkeypatch):
    monkeypatch.setattr(limits, "LIVE_IDLE_S", 1.0)
    sid = engine.live_start(dict(LIVE), None)["session_id"]
    try:
        for _ in range(12):  # 2.4 s of heartbeats, longer than the idle limit
            engine.transport({"beat": 0.0, "bpm": 120, "playing": False, "session_id": sid})
            time.sleep(0.2)
        assert engine.live.get(sid).status()["running"] is True
    finally:
        engine.live_stop(sid)


def test_a_live_folder_swapped_for_a_symlink_is_not_written_through(engine, tmp_path):
    """Finding 13: a live session resolved its folder once, so after a swap every window landed outside."""
    import shutil

    outside = tmp_path / "outside"
    outside.mkdir()
    folder = engine.paths.output_root / "hostile-live-swap"
    folder.mkdir()
    events: list[tuple[str, dict]] = []
    sid = engine.live_start({**LIVE, "output_dir": str(folder)}, lambda e, c: events.append((e, c)))["session_id"]
    try:
        deadline = time.monotonic() + 30
        while not any(e == "window" for e, _ in events):
            assert time.monotonic() < deadline, events
            time.sleep(0.05)
        shutil.rmtree(folder)
        folder.symlink_to(outside, target_is_directory=True)
        for beat in range(0, 24, 2):  # move the playhead on: more windows are due
            engine.transport({"beat": float(beat), "bpm": 120, "playing": True, "session_id": sid})
            time.sleep(0.2)
            if any(e == "error" for e, _ in events):
                break
        deadline = time.monotonic() + 30
        while not any(e == "error" for e, _ in events):
            assert time.monotonic() < deadline, [e for e, _ in events]
            time.sleep(0.05)
        assert [c["code"] for e, c in events if e == "error"] == ["path_not_allowed"]
        assert list(outside.iterdir()) == []
    finally:
        with contextlib.suppress(EngineError):  # it ended with the error
            engine.live_stop(sid)
        folder.unlink()
