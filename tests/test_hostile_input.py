"""Careless or hostile field values (issue 14): each is refused at submit with a stable code, quickly,
never `internal`, and the next request is served."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from conftest import envelope

ONE_BAR = {"prompt": "x", "bars": 1, "bpm": 120}


def _raw_generate(peer, content_json: str) -> dict:
    msg = envelope("generate", {}, session=peer.session)
    text = json.dumps(msg).replace('"content": {}', '"content": ' + content_json)
    peer.send_frames([b"", text.encode()])
    reply, _ = peer.recv_reply()
    return reply["content"]


# content (as JSON text, so it can hold what json.dumps would write differently) -> accepted codes
CASES = {
    "bpm 1e10000000 as a string": ('{"bars": 1, "bpm": "1e10000000"}', {"invalid_field"}),
    "bpm 1e400 as a string": ('{"bars": 1, "bpm": "1e400"}', {"invalid_field"}),
    "bpm a 400-digit integer": ('{"bars": 1, "bpm": 1' + "0" * 400 + "}", {"invalid_field", "too_large"}),
    "bpm a 400-digit string": ('{"bars": 1, "bpm": "1' + "0" * 400 + '"}', {"invalid_field", "too_large"}),
    "start_bar 1e-310": ('{"bars": 1, "start_bar": 1e-310}', {"invalid_field"}),
    "seconds 1e-310": ('{"seconds": 1e-310}', {"invalid_field"}),
    "seconds a 400-digit integer": ('{"seconds": 1' + "0" * 400 + "}", {"invalid_field", "too_large"}),
    "temperature 1e-310": ('{"bars": 1, "temperature": 1e-310}', {"invalid_field"}),
    "top_p 1e-310": ('{"bars": 1, "top_p": 1e-310}', {"invalid_field"}),
    "cfg 1e-310": ('{"bars": 1, "cfg": 1e-310}', {"invalid_field"}),
    "greedy as the string false": ('{"bars": 1, "greedy": "false"}', {"invalid_field"}),
    "tempo_hint as a number": ('{"bars": 1, "tempo_hint": 0}', {"invalid_field"}),
    "conform as a string": ('{"bars": 1, "conform": "no"}', {"invalid_field"}),
    "name_pattern with a huge width": ('{"bars": 1, "name_pattern": "{take:>1000000000}"}', {"invalid_field"}),
    "name_pattern positional": ('{"bars": 1, "name_pattern": "{0}"}', {"invalid_field"}),
    "name_pattern attribute": ('{"bars": 1, "name_pattern": "{take.real}"}', {"invalid_field"}),
    "output_dir lone surrogate": ('{"bars": 1, "output_dir": "a\\ud800b"}', {"invalid_field"}),
    "output_name lone surrogate": ('{"bars": 1, "output_name": "a\\udc80.wav"}', {"invalid_field"}),
    "output_name over 255 bytes": ('{"bars": 1, "output_name": "' + "\u00e9" * 190 + '.wav"}', {"invalid_field"}),
    "output_name CON with a space": ('{"bars": 1, "output_name": "con .wav"}', {"invalid_field"}),
    "output_name CONIN$": ('{"bars": 1, "output_name": "CONIN$.wav"}', {"invalid_field"}),
    "output_name COM superscript one": ('{"bars": 1, "output_name": "COM\u00b9.wav"}', {"invalid_field"}),
    "output_name LPT9 no extension": ('{"bars": 1, "output_name": "lpt9"}', {"invalid_field"}),
    "output_dir CON": ('{"bars": 1, "output_dir": "CON"}', {"invalid_field"}),
    "output_dir nul. with a trailing dot": ('{"bars": 1, "output_dir": "sub/nul."}', {"invalid_field"}),
    "memory budget: 8 takes x 120 s x 96 kHz x wav32f":
        ('{"seconds": 120, "variations": 8, "sample_rate": 96000, "format": "wav32f"}', {"too_large"}),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_values_are_refused_at_submit_quickly(zmq_peer, case):
    content_json, codes = CASES[case]
    t0 = time.monotonic()
    c = _raw_generate(zmq_peer, content_json)
    elapsed = time.monotonic() - t0
    assert c["status"] == "error" and c["code"] in codes, c
    assert elapsed < 2.0, f"{case} took {elapsed:.1f} s to refuse"
    ping, _ = zmq_peer.request("ping")
    assert ping["content"]["pong"] is True


def test_a_normal_name_pattern_and_names_still_work(zmq_peer):
    reply, _ = zmq_peer.request("generate", {**ONE_BAR, "name_pattern": "{track}_{take:02d}", "track": "drums",
                                             "output_name": "console.wav"})
    assert reply["content"]["status"] == "ok", reply["content"]
    end = zmq_peer.job_end(reply["content"]["job_id"])
    assert end["header"]["msg_type"] == "done", end["content"]


def test_unknown_fields_are_dropped_not_stored(zmq_peer):
    """Finding 9: unknown fields were kept in the journal and every sidecar (3.6 MB sent -> +86.5 MB)."""
    from pathlib import Path

    from musicgen_bridge.engine.request import GenerateRequest

    junk = "j" * 50_000
    assert "junk" not in GenerateRequest.from_dict({**ONE_BAR, "junk": junk, "retryable": True}).to_dict()
    reply, _ = zmq_peer.request("generate", {**ONE_BAR, "junk": junk, "output_name": "hostile-junk.wav"})
    assert reply["content"]["status"] == "ok", reply["content"]
    end = zmq_peer.job_end(reply["content"]["job_id"])
    sidecar = Path(end["content"]["path"] + ".json")
    assert sidecar.exists() and junk not in sidecar.read_text()


BUFFER_CASES = {
    "format that climbs out": ({"audio": {"buffer": 0, "format": "../../x"}}, "invalid_field"),
    "format with a slash": ({"audio": {"buffer": 0, "format": "a/b"}}, "invalid_field"),
    "bad bars beside a buffer": ({"audio": {"buffer": 0, "format": "wav"}, "bars": "many"}, "invalid_field"),
}


@pytest.mark.parametrize("case", sorted(BUFFER_CASES))
def test_refused_buffers_leave_nothing_in_scratch(server, zmq_peer, case):
    """Finding 9: input buffers were written to scratch before validation and kept 24 h."""
    content, code = BUFFER_CASES[case]
    scratch = server.handler.scratch
    before = set(scratch.iterdir())
    reply, _ = zmq_peer.request("continue", {"prompt": "x", "bars": 1, **content}, buffers=[b"\0" * 100_000])
    c = reply["content"]
    assert c["status"] == "error" and c["code"] == code, c
    assert str(scratch) not in c["message"]  # the internal scratch path is not echoed
    assert set(scratch.iterdir()) == before


def _midi_notes(n_notes: int, tracks: int = 1) -> bytes:
    import io

    import mido

    out_tracks = []
    for _ in range(tracks):
        track = mido.MidiTrack()
        for i in range(n_notes):
            track.append(mido.Message("note_on", note=60 + i % 12, velocity=90, time=0 if i == 0 else 1))
            track.append(mido.Message("note_off", note=60 + i % 12, velocity=0, time=1))
        out_tracks.append(track)
    out = io.BytesIO()
    mido.MidiFile(tracks=out_tracks, ticks_per_beat=480).save(file=out)
    return out.getvalue()


def test_a_huge_midi_file_is_refused_before_a_full_parse(zmq_peer, monkeypatch):
    """Finding 6: a 15 MB MIDI file was parsed whole (59 s, 3.9 GiB) before the note limit applied."""
    import mido

    from musicgen_bridge.engine.conditioning.midi_file import MAX_FILE_NOTES, MAX_MIDI_BYTES
    from musicgen_bridge.engine.conditioning.midi_scan import count_note_ons

    data = _midi_notes(MAX_FILE_NOTES // 4 + 1, tracks=4)
    assert len(data) <= MAX_MIDI_BYTES and count_note_ons(data) > MAX_FILE_NOTES

    def no_full_parse(*a, **k):
        raise AssertionError("the whole file was parsed")

    monkeypatch.setattr(mido, "MidiFile", no_full_parse)
    reply, _ = zmq_peer.request("generate", {"model": "tiny-melody", "bars": 1,
                                             "melody": {"midi_file": {"buffer": 0, "format": "mid"}}}, [data])
    assert reply["content"]["code"] == "too_large", reply["content"]
    big = b"MThd" + b"\0" * (MAX_MIDI_BYTES + 1)
    reply, _ = zmq_peer.request("generate", {"model": "tiny-melody", "bars": 1,
                                             "melody": {"midi_file": {"buffer": 0, "format": "mid"}}}, [big])
    assert reply["content"]["code"] == "too_large", reply["content"]


def test_the_scan_counts_what_mido_reads():
    from musicgen_bridge.engine.conditioning.midi_scan import count_note_ons

    assert count_note_ons(_midi_notes(123, tracks=3)) == 369
    assert count_note_ons(Path("examples/melody/c_major_line.mid").read_bytes()) > 0


def _refusal(peer, fx) -> dict:
    reply, _ = peer.request("generate", {**ONE_BAR, "fx": fx})
    assert reply["content"]["status"] == "error", reply["content"]
    return reply["content"]


def test_fx_chain_files_outside_the_roots_are_refused_alike_and_unread(zmq_peer, tmp_path):
    """Finding 12: a chain file was read from any path; errors told whether it existed and quoted it."""
    secret = tmp_path / "secret.json"
    secret.write_text(json.dumps({"chain": [{"plugin": "SECRET-API-TOKEN-abc123"}]}))
    binary = tmp_path / "blob.json"
    binary.write_bytes(b"\xff\xfe" * 600_000)
    answers = [_refusal(zmq_peer, str(p)) for p in (secret, binary, tmp_path / "missing.json", "/etc/passwd")]
    assert {a["code"] for a in answers} == {"path_not_allowed"}
    shapes = {a["message"].replace(a.get("details", {}).get("path", ""), "<p>") for a in answers}
    assert len(shapes) == 1, shapes  # one message whatever the file is (or is not)
    assert not any("SECRET" in a["message"] or "larger" in a["message"] for a in answers)


def test_vst3_paths_outside_the_vst3_folders_are_refused_alike(zmq_peer, tmp_path):
    real = tmp_path / "Real.vst3"
    real.mkdir()
    answers = [_refusal(zmq_peer, [{"vst3": str(p)}]) for p in (real, tmp_path / "Missing.vst3")]
    assert {a["code"] for a in answers} == {"bad_fx"}
    shapes = {a["message"].replace(str(tmp_path), "<dir>").replace("Real", "X").replace("Missing", "X")
              for a in answers}
    assert len(shapes) == 1, shapes
    preset = [_refusal(zmq_peer, [{"plugin": "Gain", "params": {}}, {"vst3": "x.vst3", "preset": str(p)}])
              for p in ("/etc/passwd", "/nonexistent")]
    assert len({a["message"].replace("/etc/passwd", "<p>").replace("/nonexistent", "<p>") for a in preset}) == 1


def test_a_job_error_about_a_sent_buffer_does_not_name_the_scratch_folder(server, zmq_peer):
    reply, _ = zmq_peer.request("continue", {"prompt": "x", "bars": 1, "bpm": 120,
                                             "audio": {"buffer": 0, "format": "wav"}}, buffers=[b"not audio at all"])
    c = reply["content"]
    if c["status"] == "ok":  # refused when the job runs: the error event
        c = zmq_peer.job_end(c["job_id"])["content"]
    assert c["code"] == "bad_audio", c
    assert str(server.handler.scratch) not in c["message"] and "mgb-scratch" not in c["message"], c["message"]
