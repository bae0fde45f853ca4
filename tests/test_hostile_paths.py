"""Files only inside the roots, by construction (issue 14, finding 13): fetch opens every component
without following symlinks, so a file or folder swapped for a link after the job is not read through."""

from __future__ import annotations

import os

import pytest

from musicgen_bridge.engine.errors import EngineError
from musicgen_bridge.engine.paths import PathPolicy

ONE_BAR = {"prompt": "x", "bars": 1, "bpm": 120}


def test_fetch_by_job_id_does_not_follow_a_swapped_in_symlink(zmq_peer, tmp_path):
    secret = tmp_path / "outside.txt"
    secret.write_bytes(b"SECRET BYTES OUTSIDE THE ROOT")
    reply, _ = zmq_peer.request("generate", {**ONE_BAR, "output_name": "hostile-swapped.wav"})
    job_id = reply["content"]["job_id"]
    done = zmq_peer.job_end(job_id)
    path = done["content"]["path"]
    ok, chunks = zmq_peer.request("fetch", {"job_id": job_id})
    assert ok["content"]["status"] == "ok" and chunks[0][:4] == b"RIFF"
    os.unlink(path)
    os.symlink(secret, path)  # the finished file replaced by a link to elsewhere
    reply, chunks = zmq_peer.request("fetch", {"job_id": job_id})
    assert reply["content"]["status"] == "error" and reply["content"]["code"] == "invalid_field", reply["content"]
    assert not any(b"SECRET" in c for c in chunks)
    os.unlink(path + ".json")
    os.symlink(secret, path + ".json")
    reply, chunks = zmq_peer.request("fetch", {"job_id": job_id, "sidecar": True})
    assert reply["content"]["status"] == "error" and not any(b"SECRET" in c for c in chunks)


def test_open_input_refuses_links_at_any_depth_and_non_files(tmp_path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "a").mkdir(parents=True)
    outside.mkdir()
    (outside / "f.wav").write_bytes(b"x")
    (root / "a" / "f.wav").write_bytes(b"inside")
    policy = PathPolicy(root)
    fd = policy.open_input(root / "a" / "f.wav")
    assert os.read(fd, 10) == b"inside"
    os.close(fd)
    (root / "link").symlink_to(outside, target_is_directory=True)
    os.mkfifo(root / "a" / "fifo.wav")
    for bad in (root / "link" / "f.wav", root / "a" / "fifo.wav", root / "a" / "missing.wav"):
        with pytest.raises(EngineError) as err:
            policy.open_input(bad)
        assert err.value.code == "invalid_field"
    with pytest.raises(EngineError) as err:
        policy.open_input(outside / "f.wav")
    assert err.value.code == "path_not_allowed"
