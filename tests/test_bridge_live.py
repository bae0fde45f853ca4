"""Issue 5 over the wire: continuation and live mode on both transports."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from musicgen_bridge.engine.errors import ERROR_CODES

BAR_48K_120 = 96000  # one 4/4 bar at 120 bpm at 48 kHz


def item_wav(path: Path, seconds: float = 4.0, rate: int = 44100) -> Path:
    t = np.arange(int(seconds * rate)) / rate
    tone = (0.3 * np.sin(2 * np.pi * 220 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 2 * t))).astype(np.float32)
    sf.write(path, np.stack([tone, tone], 1), rate)
    return path


def test_continue_over_zmq_with_the_item_as_a_buffer(zmq_peer, tmp_path):
    item = item_wav(tmp_path / "item.wav")  # 4 s at 120 bpm = 2 bars, placed at bar 3: ends at bar 5
    reply, _ = zmq_peer.request("continue", {"audio": {"buffer": 0, "format": "wav"}, "bpm": 120, "bars": 2,
                                             "context_bars": 1, "item_start_bar": 3, "model": "tiny"},
                                buffers=[item.read_bytes()])
    assert reply["content"]["status"] == "ok", reply
    done = zmq_peer.job_end(reply["content"]["job_id"])
    assert done["header"]["msg_type"] == "done", done
    c = done["content"]
    assert c["start_bar"] == 5 and c["frames"] == 2 * BAR_48K_120
    assert sf.info(c["path"]).frames == 2 * BAR_48K_120


def test_continue_over_osc_with_a_path_inside_the_allowed_folders(osc_udp, engine):
    engine.paths.output_root.mkdir(parents=True, exist_ok=True)
    item = item_wav(engine.paths.output_root / "osc-item.wav", seconds=2.0, rate=48000)
    osc_udp.send("/mgb/continue", json.dumps({"audio": {"path": str(item)}, "bpm": 120, "bars": 1,
                                              "context_bars": 1, "model": "tiny"}))
    addr, args = osc_udp.expect(lambda a, p: a in ("/mgb/done", "/mgb/error"))
    assert addr == "/mgb/done", args
    _job_id, path, start_bar, frames = args
    assert start_bar == 2.0 and frames == BAR_48K_120 and sf.info(path).frames == BAR_48K_120


def test_continue_refuses_an_item_outside_the_allowed_folders(zmq_peer, tmp_path):
    item = item_wav(tmp_path / "elsewhere.wav")
    reply, _ = zmq_peer.request("continue", {"audio": {"path": str(item)}, "bpm": 120, "bars": 1})
    assert reply["content"]["status"] == "error" and reply["content"]["code"] == "path_not_allowed"


def _windows(peer, session_id, n):
    found = []
    for _ in range(n):
        ev = peer.wait_event(lambda e: e["header"]["msg_type"] == "window"
                             and e["content"]["session_id"] == session_id
                             and e["content"]["index"] == len(found))
        found.append(ev["content"])
    return found


def test_live_windows_tile_the_timeline_and_underruns_are_reported(zmq_peer):
    reply, _ = zmq_peer.request("live_start", {"prompt": "x", "model": "tiny", "bpm": 120, "time_signature": "4/4",
                                               "window_bars": 1, "context_bars": 1, "ahead_bars": 3,
                                               "start_bar": 1, "sample_rate": 48000})
    assert reply["content"]["status"] == "ok", reply
    sid = reply["content"]["session_id"]
    windows = _windows(zmq_peer, sid, 3)  # before playback, ahead_bars are prepared
    for beat in range(0, 12, 2):  # the playhead moves half a bar per tick, never past what exists
        windows = _windows(zmq_peer, sid, beat // 4 + 3)
        zmq_peer.request("transport", {"beat": beat, "bpm": 120, "playing": True})
        time.sleep(0.05)
    windows = _windows(zmq_peer, sid, 6)
    starts = [w["start_bar"] for w in windows]
    assert starts == list(range(1, 7))  # no gap, no overlap
    for w in windows:
        assert w["bars"] == 1 and w["frames"] == BAR_48K_120 and sf.info(w["path"]).frames == BAR_48K_120
        assert w["rtf"] > 0
    # the playhead jumps far beyond what exists: an underrun, then generation resumes ahead of it
    zmq_peer.request("transport", {"beat": 400, "bpm": 120, "playing": True})
    under = zmq_peer.wait_event(lambda e: e["header"]["msg_type"] == "underrun"
                                and e["content"]["beat"] == 400.0)["content"]
    assert under["session_id"] == sid and under["beat"] == 400.0
    assert under["playhead_bar"] == 101.0  # beat 400 in 4/4 is the start of bar 101
    later = zmq_peer.wait_event(lambda e: e["header"]["msg_type"] == "window"
                                and e["content"]["start_bar"] > 101)
    assert later["content"]["session_id"] == sid
    stop, _ = zmq_peer.request("live_stop", {"session_id": sid})
    assert stop["content"]["status"] == "ok" and stop["content"]["underruns"] >= 1
    again, _ = zmq_peer.request("live_stop", {"session_id": sid})
    assert again["content"]["code"] == "unknown_session"


def test_tempo_change_applies_from_the_next_window(zmq_peer):
    reply, _ = zmq_peer.request("live_start", {"prompt": "x", "model": "tiny", "bpm": 120, "window_bars": 1,
                                               "context_bars": 1, "ahead_bars": 1, "start_bar": 1})
    sid = reply["content"]["session_id"]
    first = _windows(zmq_peer, sid, 1)[0]
    zmq_peer.request("transport", {"beat": 0.5, "bpm": 100, "playing": True, "session_id": sid})
    second = zmq_peer.wait_event(lambda e: e["header"]["msg_type"] == "window"
                                 and e["content"]["session_id"] == sid and e["content"]["index"] == 1)["content"]
    zmq_peer.request("live_stop", {"session_id": sid})
    assert first["bpm"] == 120 and first["frames"] == BAR_48K_120
    assert second["bpm"] == 100 and second["frames"] == 4 * 60 * 48000 // 100
    assert second["start_bar"] == 2


def test_live_over_osc_typed_addresses(osc_udp):
    osc_udp.send("/mgb/live/start", json.dumps({"prompt": "x", "model": "tiny", "bpm": 120, "window_bars": 1,
                                                "context_bars": 1, "ahead_bars": 2, "start_bar": 5}))
    addr, args = osc_udp.reply("live_start")
    assert addr == "/mgb/reply", args
    sid = json.loads(args[1])["session_id"]
    osc_udp.send("/mgb/transport", 16.0, 120.0, 1)  # bar 5, playing
    seen = []
    while len(seen) < 2:
        _, w = osc_udp.expect(lambda a, p: a == "/mgb/window" and p[0] == sid)
        seen.append(w)
    assert [(w[1], w[2], w[3]) for w in seen] == [(0, 5.0, 1), (1, 6.0, 1)]  # index, start_bar, bars
    assert all(sf.info(w[4]).frames == BAR_48K_120 for w in seen)
    osc_udp.send("/mgb/live/stop", sid)
    addr, args = osc_udp.reply("live_stop")
    assert addr == "/mgb/reply" and json.loads(args[1])["session_id"] == sid
    osc_udp.send("/mgb/live/stop", sid)
    addr, args = osc_udp.reply("live_stop")
    assert addr == "/mgb/error" and args[1] == "unknown_session" and args[1] in ERROR_CODES


def test_transport_without_sessions_and_bad_transport(zmq_peer, osc_udp):
    reply, _ = zmq_peer.request("transport", {"beat": 0, "bpm": 120, "playing": False})
    assert reply["content"]["status"] == "ok" and isinstance(reply["content"]["sessions"], list)
    reply, _ = zmq_peer.request("transport", {"bpm": 120})
    assert reply["content"]["code"] == "missing_field"
    osc_udp.send("/mgb/transport", 0.0, -5.0, 1)
    _addr, args = osc_udp.expect(lambda a, p: a == "/mgb/error")
    assert args[1] == "invalid_field"
