"""Issue 21, listing: ``jobs`` (and ``status`` with no id), ``live list`` and ``models`` with a
loaded column, against a running tiny engine; ``models`` without one falls back with a note."""

from __future__ import annotations

import json

from serve_process import free_port

from musicgen_bridge.bridge.cli import main


def test_jobs_lists_recent_jobs_and_takes_and_status_without_id_is_the_same(server, engine, capsys) -> None:
    addr = server.addresses["zmq"]
    done = engine.submit("generate", {"prompt": "x", "bars": 1, "bpm": 120, "sample_rate": 32000})
    engine.wait(done.id, timeout=30)
    bad = engine.submit("generate", {"prompt": "x", "bars": 30, "bpm": 120})
    engine.cancel(bad.id)
    engine.wait(bad.id, timeout=30)
    assert main(["jobs", "--json", "--server", addr]) == 0
    jobs = json.loads(capsys.readouterr().out)["jobs"]
    assert [j["job_id"] for j in jobs][:2] == [bad.id, done.id]  # newest first
    assert jobs[1]["state"] == "done" and jobs[1]["result"]["frames"] == 64000 and jobs[0]["state"] == "cancelled"
    assert jobs[0]["created"] >= jobs[1]["created"]
    assert main(["jobs", "--server", addr]) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[0].split() == ["job", "kind", "state", "progress", "created", "takes"]
    row = next(line for line in text.splitlines() if line.startswith(done.id))
    assert "done" in row and done.result["path"] in row
    assert f"{bad.id}  generate  cancelled (cancelled)" in text
    assert main(["status", "--server", addr]) == 0
    assert capsys.readouterr().out == text


def test_live_list_shows_the_running_sessions(server, engine, capsys) -> None:
    started = engine.live_start({"prompt": "x", "bpm": 120, "window_bars": 1, "ahead_bars": 1, "model": "tiny"})
    try:
        assert main(["live", "list", "--json", "--server", server.addresses["zmq"]]) == 0
        sessions = json.loads(capsys.readouterr().out)["sessions"]
        mine = [s for s in sessions if s["session_id"] == started["session_id"]]
        assert len(mine) == 1 and mine[0]["running"] is True
        assert main(["live", "list", "--server", server.addresses["zmq"]]) == 0
        assert started["session_id"] in capsys.readouterr().out
    finally:
        engine.live_stop(started["session_id"])
    assert main(["live", "list", "--json", "--server", server.addresses["zmq"]]) == 0
    assert started["session_id"] not in capsys.readouterr().out


def test_models_asks_the_engine_for_the_loaded_column(server, engine, capsys) -> None:
    job = engine.submit("generate", {"prompt": "x", "bars": 1, "bpm": 120})
    engine.wait(job.id, timeout=30)
    assert main(["models", "--json", "--server", server.addresses["zmq"]]) == 0
    captured = capsys.readouterr()
    rows = {r["name"]: r for r in json.loads(captured.out)}
    assert rows["tiny"]["loaded"] is True and rows["tiny-melody"]["loaded"] is False
    assert "note" not in captured.err
    assert main(["models", "--server", server.addresses["zmq"]]) == 0
    text = capsys.readouterr().out.splitlines()
    assert text[0].split()[-1] == "loaded"
    assert text[1].split()[0] == "tiny" and text[1].split()[-1] == "yes"


def test_models_without_an_engine_answers_from_the_cache_with_a_note(tmp_path, capsys) -> None:
    port = free_port(pair=True)
    assert main(["models", "--json", "--cache-dir", str(tmp_path), "--server", f"tcp://127.0.0.1:{port}"]) == 0
    captured = capsys.readouterr()
    rows = {r["name"]: r for r in json.loads(captured.out)}
    assert rows["tiny"]["loaded"] is None and rows["facebook/musicgen-small"]["cached"] is False
    assert captured.err.startswith("musicgen-bridge: note: no engine answered")
