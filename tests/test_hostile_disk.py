"""Disk trouble gets stable codes, and scratch left by a killed engine is cleaned (issue 14, finding 9)."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ONE_BAR = {"prompt": "x", "bars": 1, "bpm": 120}


@pytest.mark.parametrize("err, code", [(errno.ENOSPC, "no_space"), (errno.EDQUOT, "no_space"),
                                       (errno.ENAMETOOLONG, "invalid_field"), (errno.EROFS, "path_not_allowed"),
                                       (errno.EACCES, "path_not_allowed")])
def test_os_errors_while_writing_get_stable_codes(zmq_peer, monkeypatch, err, code):
    from musicgen_bridge.engine.produce import publish  # write_clip is looked up there

    def failing(*a, **k):
        raise OSError(err, os.strerror(err))

    monkeypatch.setattr(publish, "write_clip", failing)
    reply, _ = zmq_peer.request("generate", dict(ONE_BAR))
    end = zmq_peer.job_end(reply["content"]["job_id"])
    assert end["header"]["msg_type"] == "error" and end["content"]["code"] == code, end["content"]


def test_scratch_left_by_a_killed_engine_is_removed_at_start(engine):
    from musicgen_bridge.bridge.handlers import RequestHandler

    # a scratch folder whose owner is gone (a process that has exited)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    stale = Path(tempfile.mkdtemp(prefix="mgb-scratch-"))
    (stale / "owner.pid").write_text(dead.stdout.strip())
    (stale / "in-abc.wav").write_bytes(b"\0" * 1000)
    alive = Path(tempfile.mkdtemp(prefix="mgb-scratch-"))
    (alive / "owner.pid").write_text(str(os.getpid()))  # a running engine's: kept
    handler = RequestHandler(engine)
    try:
        assert not stale.exists() and alive.exists()
        assert (handler.scratch / "owner.pid").read_text() == str(os.getpid())
    finally:
        handler.close()
        for p in alive.iterdir():
            p.unlink()
        alive.rmdir()


def test_an_item_too_large_to_decode_is_refused_from_its_header_at_submit(zmq_peer, engine, monkeypatch):
    """Finding 7: a 448 KB FLAC of constant signal decoded to 921 MB; the header says so before decoding."""
    import numpy as np
    import soundfile as sf

    from musicgen_bridge.engine import limits

    item = engine.paths.output_root / "hostile-item.wav"
    sf.write(item, np.zeros((48000, 2), np.float32), 48000)
    monkeypatch.setattr(limits, "MAX_DECODED_AUDIO_BYTES", 48000 * 2 * 4 - 1)  # one byte short of the file
    reply, _ = zmq_peer.request("continue", {"prompt": "x", "bars": 1, "bpm": 120, "audio": {"path": str(item)}})
    assert reply["content"]["status"] == "error" and reply["content"]["code"] == "too_large", reply["content"]
    monkeypatch.setattr(limits, "MAX_DECODED_AUDIO_BYTES", 48000 * 2 * 4)
    reply, _ = zmq_peer.request("continue", {"prompt": "x", "bars": 1, "bpm": 120, "audio": {"path": str(item)}})
    assert reply["content"]["status"] == "ok", reply["content"]
    zmq_peer.job_end(reply["content"]["job_id"])
