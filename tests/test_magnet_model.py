"""Issue 16 acceptance for MAGNeT in the product: tiny-magnet through the CLI, the window policy, the wire."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from musicgen_bridge.bridge.cli import main
from musicgen_bridge.engine.errors import EngineError
from musicgen_bridge.engine.generation.magnet import MagnetParams
from musicgen_bridge.engine.generation.reference import Conditioning
from musicgen_bridge.engine.generation.sampling import SamplingParams
from musicgen_bridge.engine.models.registry import ModelRegistry

QUICK = SamplingParams(magnet=MagnetParams(decoding_steps=(3, 2, 2, 2)))
QUICK_WIRE = {"decoding_steps": [3, 2, 2, 2]}


@pytest.fixture(scope="module")
def loaded():
    torch.set_num_threads(1)
    return ModelRegistry().load("tiny-magnet")


def cli(tmp_path: Path, name: str, *extra: str) -> Path:
    out = tmp_path / name
    assert main(["generate", "--local", "--model", "tiny-magnet", "--prompt", "warm pads", "--bars", "2",
                 "--bpm", "120", "--sample-rate", "44100", "--out", str(out), *extra]) == 0
    return out


def test_two_bars_at_120_are_176400_frames_and_seed_7_twice_is_identical(tmp_path: Path) -> None:
    a, b = cli(tmp_path, "a.wav", "--seed", "7"), cli(tmp_path, "b.wav", "--seed", "7")
    assert [sf.info(p).frames for p in (a, b)] == [176400] * 2 and sf.info(a).samplerate == 44100
    wa, wb = (sf.read(p, dtype="int32")[0] for p in (a, b))
    assert np.array_equal(wa, wb) and np.abs(wa).max() > 0  # another seed differs: test_takes_... below
    side = json.loads(a.with_name(a.name + ".json").read_text())
    assert side["model"] == "tiny-magnet" and side["prompt_sent"] == "warm pads, 120 bpm"  # music: tempo hint
    assert side["magnet"]["decoding_steps"] == [20, 10, 10, 10] and side["magnet"]["temperature"] == 3.0
    assert "temperature" not in side["request"]  # not sent: MAGNeT's own default ran


def test_a_request_beyond_the_window_is_refused_naming_the_most_bars(tmp_path: Path, capsys) -> None:
    out = tmp_path / "long.wav"
    code = main(["generate", "--local", "--model", "tiny-magnet", "--bars", "5", "--bpm", "120", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "too_large" in err and "at most 4 bars fit at this tempo" in err
    assert not out.exists()


def test_the_window_policy_at_submit(engine) -> None:
    def refused(content: dict, kind: str = "generate") -> EngineError:
        with pytest.raises(EngineError) as err:
            engine.submit(kind, {"prompt": "x", "model": "tiny-magnet", **content})
        return err.value

    err = refused({"bars": 4, "bpm": 90})  # 4 bars of 4/4 at 90 bpm: 10.67 s
    assert err.code == "too_large" and err.details == {"field": "bars", "max_bars": 3, "max_seconds": 9.92}
    assert refused({"seconds": 9.95}).details["max_seconds"] == 9.92
    assert refused({"bars": 2, "decoding_steps": [4, 2]}).details["field"] == "decoding_steps"
    item = engine.paths.output_root / "item.wav"
    sf.write(item, np.zeros((32000, 1), dtype=np.float32), 32000)
    assert refused({"bars": 2, "audio": {"path": str(item)}}, kind="continue").code == "unsupported"
    assert refused({"bars": 1, "melody": {"notes": [{"pitch": 60, "start_beats": 0, "duration_beats": 1}]}}).code \
        == "no_melody_support"
    job = engine.submit("generate", {"prompt": "x", "model": "tiny-magnet", "seconds": 9.95, **QUICK_WIRE,
                                     "span_arrangement": "stride1", "sample_rate": 32000, "output_name": "edge.wav"})
    done = engine.wait(job.id, timeout=120)
    assert done is not None and done.state == "done", done.error if done else None
    assert done.result["frames"] == 318400  # 9.95 s at 32 kHz: stride1 keeps the whole 10 s window


def test_generate_returns_the_windows_first_frames_and_counts_passes(loaded) -> None:
    steps: list[tuple[int, int]] = []
    out = loaded.generate(Conditioning(["a", "b"]), 120, QUICK, [1, 2], on_step=lambda d, t: steps.append((d, t)))
    assert tuple(out.tokens.shape) == (2, 4, 120) and out.audio.shape == (2, 1, 120 * 640)
    assert steps == [(i, 18) for i in range(1, 19)]  # 9 decoding passes per take
    assert loaded.window_frames(MagnetParams()) == 498 and loaded.window_frames(MagnetParams(
        span_arrangement="stride1")) == 500
    with pytest.raises(EngineError) as err:
        loaded.generate(Conditioning(["a"]), 499, QUICK, [1])
    assert err.value.code == "too_large"
    with pytest.raises(EngineError) as err:
        loaded.generate(Conditioning(["a"], audio_prompt_codes=out.tokens[:1, :, :10]), 50, QUICK, [1])
    assert err.value.code == "unsupported"


def test_takes_do_not_depend_on_their_batch_and_settings_change_tokens(loaded) -> None:
    one = loaded.generate(Conditioning(["rain"]), 60, QUICK, [5]).tokens
    assert not torch.equal(loaded.generate(Conditioning(["rain"]), 60, QUICK, [6]).tokens, one)
    two = loaded.generate(Conditioning(["a much longer prompt about thunder", "rain"]), 60, QUICK, [9, 5]).tokens
    assert torch.equal(two[1:], one)
    stride = SamplingParams(magnet=MagnetParams(decoding_steps=(3, 2, 2, 2), span_arrangement="stride1"))
    assert not torch.equal(loaded.generate(Conditioning(["rain"]), 60, stride, [5]).tokens, one)


def test_models_listing_has_the_six_published_ids(engine) -> None:
    rows = {m["name"]: m for m in engine.models()}
    published = ["facebook/magnet-small-10secs", "facebook/magnet-medium-10secs", "facebook/magnet-small-30secs",
                 "facebook/magnet-medium-30secs", "facebook/audio-magnet-small", "facebook/audio-magnet-medium"]
    assert all(rows[name]["family"] == "magnet" and not rows[name]["builtin"] for name in published)
    assert rows["facebook/audio-magnet-small"]["purpose"].startswith("sound effects")
    assert rows["tiny-magnet"]["family"] == "magnet" and rows["tiny-magnet"]["cached"] is True


def test_a_published_id_without_weights_is_model_unavailable(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("MGB_OFFLINE", "1")
    with pytest.raises(EngineError) as err:
        ModelRegistry(device="cpu", cache_dir=tmp_path).load("facebook/magnet-small-10secs")
    assert err.value.code == "model_unavailable" and "facebook/magnet-small-10secs" in err.value.message


def test_over_zeromq(zmq_peer, engine) -> None:
    reply, _ = zmq_peer.request("generate", {"prompt": "pads", "model": "tiny-magnet", "bars": 1, "bpm": 120,
                                             "output_name": "zmq-magnet.wav", "seed": 7, **QUICK_WIRE,
                                             "span_arrangement": "stride1", "max_cfg": 4, "min_cfg": 2})
    assert reply["content"]["status"] == "ok", reply
    end = zmq_peer.job_end(reply["content"]["job_id"])
    assert end["header"]["msg_type"] == "done", end
    assert end["content"]["model"] == "tiny-magnet" and end["content"]["frames"] == 96000
    side = json.loads((engine.paths.output_root / "zmq-magnet.wav.json").read_text())
    assert side["magnet"]["span_arrangement"] == "stride1" and side["magnet"]["max_cfg_coef"] == 4.0
    bad, _ = zmq_peer.request("generate", {"prompt": "x", "model": "tiny-magnet", "bars": 8, "bpm": 120})
    assert bad["content"]["code"] == "too_large" and bad["content"]["details"]["max_bars"] == 4
    bad, _ = zmq_peer.request("generate", {"prompt": "x", "model": "tiny-magnet", "span_arrangement": "random"})
    assert bad["content"]["code"] == "invalid_field" and bad["content"]["details"]["field"] == "span_arrangement"


def test_over_osc(osc_udp, engine) -> None:
    osc_udp.send("/mgb/generate", json.dumps({"prompt": "pads", "model": "tiny-magnet", "bars": 1, "bpm": 90,
                                              "decoding_steps": "3,2,2,2", "output_name": "osc-magnet.wav"}))
    addr, args = osc_udp.reply("generate")
    assert addr == "/mgb/reply", args
    job_id = json.loads(args[1])["job_id"]
    addr, args = osc_udp.expect(lambda a, p: a in ("/mgb/done", "/mgb/error") and p[0] == job_id)
    assert addr == "/mgb/done", args
    assert args[3] == 128000  # one bar of 4/4 at 90 bpm at 48 kHz
    osc_udp.send("/mgb/generate", json.dumps({"prompt": "x", "model": "tiny-magnet", "bars": 6, "bpm": 120}))
    addr, args = osc_udp.expect(lambda a, p: a == "/mgb/error")
    assert args[1] == "too_large" and "at most 4 bars" in args[2]


def test_live_start_with_magnet_makes_fresh_windows_that_tile_the_timeline(server, engine, capsys) -> None:
    """``live start --model tiny-magnet``: each window one generation, cut to its bars, seeds per window."""
    assert main(["live", "start", "--server", server.addresses["zmq"], "--model", "tiny-magnet", "--prompt", "x",
                 "--bpm", "120", "--window-bars", "2", "--ahead-bars", "4", "--decoding-steps", "3,2,2,2",
                 "--sample-rate", "48000", "--seed", "11", "--follow", "--windows", "2"]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    windows = [e for e in events if e["event"] == "window"]
    assert [w["start_bar"] for w in windows] == [1, 3]
    assert all(sf.info(w["path"]).frames == 192000 for w in windows)  # 2 bars of 4/4 at 120 bpm, 48 kHz
    sides = [json.loads(Path(w["path"] + ".json").read_text()) for w in windows]
    assert sides[0]["live"]["seed"] == 11 and sides[1]["live"]["seed"] != 11
    assert sides[0]["magnet"]["decoding_steps"] == [3, 2, 2, 2]
    a, b = (sf.read(w["path"], dtype="float32")[0] for w in windows)
    assert not np.array_equal(a, b)


def test_live_start_refuses_a_window_beyond_the_model_and_seed_audio(zmq_peer) -> None:
    bad, _ = zmq_peer.request("live_start", {"prompt": "x", "model": "tiny-magnet", "bpm": 120, "window_bars": 5})
    assert bad["content"]["code"] == "too_large" and bad["content"]["details"]["field"] == "window_bars"
    assert bad["content"]["details"]["max_bars"] == 4
    bad, _ = zmq_peer.request("live_start", {"prompt": "x", "model": "tiny-magnet", "bpm": 120, "window_bars": 2,
                                             "seed_audio": {"path": "/x.wav"}})
    assert bad["content"]["code"] == "unsupported" and bad["content"]["details"]["field"] == "seed_audio"
