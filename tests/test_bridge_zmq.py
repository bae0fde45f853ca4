"""Every request type over ZeroMQ on loopback, spoken by hand (DEALER + SUB) and through Client."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import soundfile as sf
from conftest import WAIT_S, ZmqPeer

from musicgen_bridge.bridge.client import Client
from musicgen_bridge.engine.errors import EngineError

ONE_BAR = {"prompt": "x", "bars": 1, "bpm": 120}
FRAMES_1BAR = 2 * 48000  # 4 quarter notes at 120 bpm last 2 s; 48 kHz is the default session rate


def _generate(peer: ZmqPeer, **extra) -> tuple[dict, str]:
    reply, _ = peer.request("generate", {**ONE_BAR, **extra})
    assert reply["header"]["msg_type"] == "generate_reply" and reply["content"]["status"] == "ok", reply
    return reply, reply["content"]["job_id"]


def test_subscription_is_welcomed_on_its_own_topic(zmq_peer):
    welcome = zmq_peer.events[0]
    assert welcome["header"]["msg_type"] == "welcome"
    assert welcome["content"]["session"] == zmq_peer.session
    assert zmq_peer.topics[0] == zmq_peer.session.encode()


def test_ping(zmq_peer):
    reply, buffers = zmq_peer.request("ping")
    assert reply["header"]["msg_type"] == "ping_reply"
    assert reply["header"]["version"] == "1.0" and reply["header"]["session"] == zmq_peer.session
    c = reply["content"]
    assert (c["status"], c["pong"], c["protocol_version"], c["default_model"]) == ("ok", True, "1.0", "tiny")
    assert buffers == []


def test_models_lists_the_tiny_models(zmq_peer):
    reply, _ = zmq_peer.request("models")
    rows = {r["name"]: r for r in reply["content"]["models"]}
    assert rows["tiny"]["builtin"] and rows["tiny"]["cached"] and not rows["tiny"]["melody"]
    assert rows["tiny-melody"]["melody"]


def test_generate_events_and_file(zmq_peer, engine):
    reply, job_id = _generate(zmq_peer, output_name="zmq-generate.wav", seed=7)
    done = zmq_peer.job_end(job_id)
    assert done["header"]["msg_type"] == "done", done
    mine = [e for e in zmq_peer.events if e["content"].get("job_id") == job_id]
    kinds = [e["header"]["msg_type"] for e in mine]
    assert kinds[0] == "accepted" and kinds[-1] == "done" and set(kinds[1:-1]) == {"progress"}
    assert mine[0]["content"]["kind"] == "generate"
    fractions = [e["content"]["fraction"] for e in mine if e["header"]["msg_type"] == "progress"]
    assert fractions == sorted(fractions) and 0 < fractions[0] and fractions[-1] == 1.0
    # every event answers our request, on our session's topic
    assert all(e["parent_header"]["msg_id"] == reply["parent_header"]["msg_id"] for e in mine)
    assert set(zmq_peer.topics) == {zmq_peer.session.encode()}
    c = done["content"]
    path = Path(c["path"])
    assert path == engine.paths.output_root / "zmq-generate.wav"
    assert (c["frames"], c["sample_rate"], c["channels"], c["start_bar"], c["bars"], c["seed"]) == \
        (FRAMES_1BAR, 48000, 2, 1, 1, 7)
    info = sf.info(str(path))
    assert (info.frames, info.samplerate, info.channels) == (FRAMES_1BAR, 48000, 2)
    assert json.loads(path.with_name(path.name + ".json").read_text())["request"]["prompt"] == "x"


def test_status_reports_the_result_and_unknown_jobs(zmq_peer):
    _, job_id = _generate(zmq_peer)
    reply, _ = zmq_peer.request("status", {"job_id": job_id, "wait": WAIT_S})
    c = reply["content"]
    assert (c["status"], c["job_id"], c["kind"], c["state"], c["progress"]) == ("ok", job_id, "generate", "done", 1.0)
    assert sf.info(c["result"]["path"]).frames == FRAMES_1BAR
    reply, _ = zmq_peer.request("status", {"job_id": "j-nope"})
    assert reply["header"]["msg_type"] == "status_reply"
    assert (reply["content"]["status"], reply["content"]["code"]) == ("error", "unknown_job")


def test_fetch_in_chunks_matches_the_file(zmq_peer, tmp_path):
    _, job_id = _generate(zmq_peer)
    path = Path(zmq_peer.job_end(job_id)["content"]["path"])
    on_disk = path.read_bytes()
    got, offset = b"", 0
    while True:
        reply, buffers = zmq_peer.request("fetch", {"job_id": job_id, "offset": offset, "length": 200_000})
        c = reply["content"]
        assert len(buffers) == 1 and c["length"] == len(buffers[0]) and c["offset"] == offset
        got += buffers[0]
        offset += len(buffers[0])
        if c["eof"]:
            break
    assert got == on_disk and c["size"] == len(on_disk) and c["sha256"] == hashlib.sha256(on_disk).hexdigest()
    # the sidecar, and the same file by path
    reply, buffers = zmq_peer.request("fetch", {"job_id": job_id, "sidecar": True, "length": 4_000_000})
    assert buffers[0] == path.with_name(path.name + ".json").read_bytes()
    reply, buffers = zmq_peer.request("fetch", {"path": str(path), "offset": 44, "length": 100})
    assert buffers[0] == on_disk[44:144]
    reply, _ = zmq_peer.request("fetch", {"path": "/etc/passwd"})
    assert reply["content"]["code"] == "path_not_allowed"
    secret = tmp_path / "outside.txt"
    secret.write_text("not yours")
    link = path.with_name("link-to-outside.txt")
    link.symlink_to(secret)  # a link inside the output root must not lead out of it
    try:
        reply, buffers = zmq_peer.request("fetch", {"path": str(link)})
        assert reply["content"]["code"] == "path_not_allowed" and buffers == []
    finally:
        link.unlink()


def test_client_generate_and_fetch(client, tmp_path):
    progress: list[float] = []
    result = client.generate(prompt="client", bars=1, bpm=120, on_progress=progress.append, timeout=WAIT_S)
    assert result["frames"] == FRAMES_1BAR and progress[-1] == 1.0
    dest = client.fetch(result["job_id"], tmp_path / "copy.wav")
    assert dest.read_bytes() == Path(result["path"]).read_bytes()
    with pytest.raises(EngineError) as err:
        client.fetch(result["job_id"], dest)
    assert err.value.code == "file_exists"


def test_cancel_stops_the_job_and_writes_nothing(zmq_peer, engine):
    before = set(engine.paths.output_root.iterdir())
    _, job_id = _generate(zmq_peer, bars=8, output_name="zmq-cancelled.wav")
    zmq_peer.wait_event(lambda e: e["header"]["msg_type"] == "progress" and e["content"]["job_id"] == job_id)
    reply, _ = zmq_peer.request("cancel", {"job_id": job_id})
    assert reply["header"]["msg_type"] == "cancel_reply" and reply["content"]["job_id"] == job_id
    end = zmq_peer.job_end(job_id)
    assert (end["header"]["msg_type"], end["content"]["code"]) == ("error", "cancelled")
    reply, _ = zmq_peer.request("status", {"job_id": job_id})
    assert reply["content"]["state"] == "cancelled" and reply["content"]["error"]["code"] == "cancelled"
    assert set(engine.paths.output_root.iterdir()) == before  # no file, no sidecar, no leftover .part


def test_a_late_joiner_learns_the_outcome_with_status_wait(server):
    first = ZmqPeer(server.addresses["zmq"], server.addresses["zmq_events"])
    _, job_id = _generate(first, output_name="late-joiner.wav")
    first.close()  # gone before the job ends: its events reach nobody
    with Client(server.addresses["zmq"], server.addresses["zmq_events"], timeout=10.0) as late:
        status = late.status(job_id, wait=WAIT_S)
    assert status["state"] == "done"
    assert sf.info(status["result"]["path"]).frames == FRAMES_1BAR



def test_received_input_files_are_pruned_and_removed_on_stop(engine, tmp_path):
    import os
    import time

    from musicgen_bridge.bridge import handlers as handlers_mod
    from musicgen_bridge.bridge.handlers import RequestHandler
    from musicgen_bridge.bridge.protocol import new_message

    handler = RequestHandler(engine)
    msg = new_message("generate", {"model": "tiny-melody", "bars": 1,
                                   "melody": {"midi_file": {"buffer": 0, "format": "mid"}}},
                      buffers=[b"MThd not really midi"])
    first = handler._materialise_buffers(msg)[0]["melody"]["midi_file"]["path"]
    old = time.time() - handlers_mod.SCRATCH_KEEP_S - 60
    os.utime(first, (old, old))  # a day-old upload
    second = handler._materialise_buffers(msg)[0]["melody"]["midi_file"]["path"]
    assert not os.path.exists(first) and os.path.exists(second)
    handler.close()
    assert not handler.scratch.exists()
