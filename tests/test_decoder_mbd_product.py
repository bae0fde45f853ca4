"""Issue 18 acceptance: ``--decoder mbd`` through the CLI, ZeroMQ and OSC; refused live."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from musicgen_bridge.bridge.cli import main
from musicgen_bridge.engine.errors import EngineError

TWO_BARS_120_48K = 192000  # 2 bars * 4 beats * 0.5 s * 48 kHz
ONE_BAR_240_48K = 48000  # 4 beats * 0.25 s * 48 kHz


def generate(out: Path, *extra: str) -> dict:
    assert main(["generate", "--local", "--model", "tiny", "--prompt", "lofi drums", "--bars", "2", "--bpm", "120",
                 "--out", str(out), *extra]) == 0
    return json.loads(Path(str(out) + ".json").read_text())


def test_generate_mbd_writes_exactly_two_bars_and_seed_7_twice_is_identical(tmp_path: Path) -> None:
    a = generate(tmp_path / "a.wav", "--decoder", "mbd", "--seed", "7")
    generate(tmp_path / "b.wav", "--decoder", "mbd", "--seed", "7")
    generate(tmp_path / "e.wav", "--seed", "7")  # the same tokens through EnCodec
    info = sf.info(tmp_path / "a.wav")
    assert (info.frames, info.samplerate, info.channels) == (TWO_BARS_120_48K, 48000, 2)
    first, second, encodec = (sf.read(tmp_path / n, dtype="int32")[0] for n in ("a.wav", "b.wav", "e.wav"))
    assert np.array_equal(first, second) and np.abs(first).max() > 0
    assert not np.array_equal(first, encodec)
    assert a["decoder"] == {"name": "mbd", "weights": "tiny-mbd", "revision": "builtin-seed18"}
    assert a["request"]["decoder"] == "mbd"
    assert json.loads((tmp_path / "e.wav.json").read_text())["decoder"] == {"name": "encodec"}


def test_an_unknown_decoder_is_a_bad_request(tmp_path: Path, capsys) -> None:
    assert main(["generate", "--local", "--model", "tiny", "--bars", "1", "--decoder", "vocos",
                 "--out", str(tmp_path / "x.wav")]) == 2
    assert "invalid_field" in capsys.readouterr().err
    assert not (tmp_path / "x.wav").exists()


def test_continue_with_mbd_writes_exactly_the_new_bars(tmp_path: Path) -> None:
    src = tmp_path / "item.wav"
    rng = np.random.default_rng(0)
    sf.write(src, (0.2 * rng.standard_normal((96000, 2))).astype(np.float32), 48000)  # 2 bars at 240 bpm
    out = tmp_path / "next.wav"
    assert main(["continue", "--local", "--model", "tiny", "--audio", str(src), "--bpm", "240", "--bars", "1",
                 "--context-bars", "1", "--decoder", "mbd", "--seed", "7", "--out", str(out)]) == 0
    assert sf.info(out).frames == ONE_BAR_240_48K
    sidecar = json.loads(Path(str(out) + ".json").read_text())
    assert sidecar["decoder"]["name"] == "mbd" and sidecar["request"]["decoder"] == "mbd"


def test_live_start_refuses_mbd_in_the_engine(engine) -> None:
    before = len(engine.live._sessions)
    with pytest.raises(EngineError) as err:
        engine.live_start({"prompt": "x", "model": "tiny", "decoder": "mbd"})
    assert err.value.code == "unsupported_decoder" and "live" in err.value.message
    assert len(engine.live._sessions) == before  # nothing was started


def test_mbd_over_zeromq_and_refused_live(zmq_peer, engine) -> None:
    reply, _ = zmq_peer.request("generate", {"prompt": "x", "model": "tiny", "bars": 1, "bpm": 240, "seed": 7,
                                             "decoder": "mbd", "output_name": "zmq-mbd.wav"})
    assert reply["content"]["status"] == "ok", reply
    end = zmq_peer.job_end(reply["content"]["job_id"])
    assert end["header"]["msg_type"] == "done", end
    assert end["content"]["frames"] == ONE_BAR_240_48K
    path = engine.paths.output_root / "zmq-mbd.wav"
    assert sf.info(str(path)).frames == ONE_BAR_240_48K
    assert json.loads(Path(str(path) + ".json").read_text())["decoder"]["weights"] == "tiny-mbd"
    reply, _ = zmq_peer.request("live_start", {"prompt": "x", "model": "tiny", "decoder": "mbd"})
    assert (reply["content"]["status"], reply["content"]["code"]) == ("error", "unsupported_decoder")


def test_mbd_over_osc_and_refused_live(osc_udp, engine) -> None:
    osc_udp.send("/mgb/generate", json.dumps({"prompt": "x", "model": "tiny", "bars": 1, "bpm": 240, "seed": 7,
                                              "decoder": "mbd", "output_name": "osc-mbd.wav"}))
    addr, args = osc_udp.reply("generate")
    assert addr == "/mgb/reply", args
    job_id = json.loads(args[1])["job_id"]
    addr, args = osc_udp.expect(lambda a, p: a in ("/mgb/done", "/mgb/error") and p[0] == job_id)
    assert addr == "/mgb/done", args
    assert args[3] == ONE_BAR_240_48K
    path = engine.paths.output_root / "osc-mbd.wav"
    assert json.loads(Path(str(path) + ".json").read_text())["decoder"]["name"] == "mbd"
    osc_udp.send("/mgb/live/start", json.dumps({"prompt": "x", "model": "tiny", "decoder": "mbd"}))
    addr, args = osc_udp.reply("live_start")
    assert addr == "/mgb/error" and args[1] == "unsupported_decoder", args


def test_decoder_mbd_with_an_audiogen_model_is_refused_with_a_clear_code(tmp_path: Path, capsys) -> None:
    out = tmp_path / "slam.wav"
    assert main(["generate", "--local", "--model", "tiny-audiogen", "--prompt", "door slam", "--seconds", "1",
                 "--decoder", "mbd", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "unsupported_decoder" in err and "the codec runs at 16000 Hz, this MBD at 32000 Hz" in err
    assert not out.exists()


def test_a_magnet_take_decodes_with_mbd(tmp_path: Path) -> None:
    out = tmp_path / "m.wav"
    assert main(["generate", "--local", "--model", "tiny-magnet", "--prompt", "x", "--bars", "1", "--bpm", "240",
                 "--decoder", "mbd", "--seed", "7", "--out", str(out)]) == 0
    assert sf.info(out).frames == ONE_BAR_240_48K
    assert json.loads(Path(str(out) + ".json").read_text())["decoder"]["weights"] == "tiny-mbd"
