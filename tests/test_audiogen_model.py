"""Issue 15 acceptance for AudioGen as a model: tiny-audiogen through the CLI, the windows and the wire."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from musicgen_bridge.bridge.cli import main
from musicgen_bridge.engine.errors import EngineError
from musicgen_bridge.engine.generation.reference import Conditioning
from musicgen_bridge.engine.generation.sampling import SamplingParams
from musicgen_bridge.engine.generation.windows import generate_long
from musicgen_bridge.engine.models.families import FamilyModel
from musicgen_bridge.engine.models.registry import ModelRegistry
from musicgen_bridge.engine.timing.timeline import Grid


@pytest.fixture(scope="module")
def loaded():
    torch.set_num_threads(1)
    return ModelRegistry().load("tiny-audiogen")


def cli(tmp_path: Path, name: str, *extra: str) -> Path:
    out = tmp_path / name
    assert main(["generate", "--local", "--model", "tiny-audiogen", "--prompt", "door slam",
                 "--sample-rate", "48000", "--out", str(out), *extra]) == 0
    return out


def test_three_seconds_is_144000_frames_and_the_prompt_goes_as_written(tmp_path: Path) -> None:
    out = cli(tmp_path, "slam.wav", "--seconds", "3", "--seed", "7")
    info = sf.info(out)
    assert (info.frames, info.samplerate) == (144000, 48000)
    sidecar = json.loads(out.with_suffix(".json").read_text()) if out.with_suffix(".json").exists() else \
        json.loads(next(tmp_path.glob("slam*.json")).read_text())
    assert sidecar["model"] == "tiny-audiogen"
    assert sidecar["prompt_sent"] == "door slam"  # no tempo hint for a sound-effect model
    assert sidecar["conform"] == []  # and no conform


def test_two_bars_at_90_bpm_are_exactly_two_bars(tmp_path: Path) -> None:
    info = sf.info(cli(tmp_path, "bars.wav", "--bars", "2", "--bpm", "90"))
    assert info.frames == 256000  # 2 * 4 beats * 60/90 s * 48 kHz


def test_seed_7_twice_identical_seed_8_differs(tmp_path: Path) -> None:
    a, b, c = (sf.read(cli(tmp_path, f"{n}.wav", "--seconds", "1", "--seed", s), dtype="int32")[0]
               for n, s in (("a", "7"), ("b", "7"), ("c", "8")))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    assert np.abs(a).max() > 0


def test_25_seconds_is_one_file_of_exact_length(tmp_path: Path) -> None:
    info = sf.info(cli(tmp_path, "rain.wav", "--seconds", "25", "--seed", "3"))
    assert (info.frames, info.samplerate) == (25 * 48000, 48000)


def test_long_request_is_one_token_stream_decoded_once(loaded) -> None:
    """The 10 s window is exceeded by bar windows on one token stream: each window continues the
    last bars before it, and the audio is one decode of the whole stream (no seam to hide)."""
    grid = Grid.constant("4/4", 120)  # 2 s bars: 13 bars cover 25 s
    params = SamplingParams()
    stream, plan = generate_long(loaded, ["rain on a tin roof"], grid, 0, 13, params, [3], context_bars=2)
    assert len(plan) >= 3 and all(w.context_frames + w.frames <= loaded.max_frames for w in plan)
    assert all(w.context_frames == 200 for w in plan[1:])  # 2 bars of 2 s at 50 frames/s
    audio = stream.span_audio(13)
    assert audio.shape == (1, 1, 26 * 16000)
    whole = loaded.decode(stream.tokens)[..., :26 * 16000]
    np.testing.assert_array_equal(audio, whole)
    # the second window really continued the first: without its context it comes out otherwise
    w = plan[1]
    alone = loaded.generate(Conditioning(["rain on a tin roof"]), w.frames, params,
                            [int(np.random.SeedSequence([3, 1]).generate_state(1, np.uint64)[0] >> 1)])
    assert not torch.equal(alone.tokens, stream.tokens[:, :, w.first_frame:w.first_frame + w.frames])


def test_prompt_continuation_equals_the_uninterrupted_greedy_run(loaded) -> None:
    greedy = SamplingParams(greedy=True)
    full = loaded.generate(Conditioning(["glass shatters"]), 30, greedy, [0]).tokens
    cont = loaded.generate(Conditioning(["glass shatters"], audio_prompt_codes=full[:, :, :12]), 18, greedy, [0])
    assert torch.equal(cont.tokens, full[:, :, 12:])
    assert cont.audio.shape == (1, 1, 18 * 320)


def test_takes_do_not_depend_on_their_batch(loaded) -> None:
    params = SamplingParams()
    one = loaded.generate(Conditioning(["dog barks"]), 20, params, [5]).tokens
    two = loaded.generate(Conditioning(["a much longer prompt about thunder", "dog barks"]), 20, params, [9, 5]).tokens
    assert torch.equal(two[1:], one)


def test_fast_generator_is_refused_with_a_reason(loaded) -> None:
    from musicgen_bridge.engine.paths import PathPolicy
    from musicgen_bridge.engine.produce.context import EngineContext, choose_generator
    from musicgen_bridge.engine.request import GenerateRequest

    ctx = EngineContext(ModelRegistry(), PathPolicy(), "tiny")
    req = GenerateRequest.from_dict({"model": "tiny-audiogen", "generator": "fast"})
    with pytest.raises(EngineError) as err:
        choose_generator(ctx, req, loaded)
    assert err.value.code == "unsupported" and "MusicGen only" in str(err.value)
    assert isinstance(loaded, FamilyModel)


def test_models_listing_names_the_family(engine) -> None:
    rows = {m["name"]: m for m in engine.models()}
    assert rows["tiny-audiogen"]["family"] == "audiogen" and rows["tiny-audiogen"]["cached"] is True
    assert rows["facebook/audiogen-medium"]["purpose"] == "sound effects"
    assert rows["tiny"]["family"] == "musicgen"


def test_over_zeromq(zmq_peer, engine) -> None:
    reply, _ = zmq_peer.request("generate", {"prompt": "door slam", "model": "tiny-audiogen", "seconds": 1.5,
                                             "output_name": "zmq-sfx.wav", "seed": 7})
    assert reply["content"]["status"] == "ok", reply
    end = zmq_peer.job_end(reply["content"]["job_id"])
    assert end["header"]["msg_type"] == "done", end
    assert end["content"]["model"] == "tiny-audiogen" and end["content"]["frames"] == 72000
    assert sf.info(str(engine.paths.output_root / "zmq-sfx.wav")).frames == 72000


def test_over_osc(osc_udp, engine) -> None:
    osc_udp.send("/mgb/generate", json.dumps({"prompt": "door slam", "model": "tiny-audiogen", "bars": 1,
                                              "bpm": 90, "output_name": "osc-sfx.wav"}))
    addr, args = osc_udp.reply("generate")
    assert addr == "/mgb/reply", args
    job_id = json.loads(args[1])["job_id"]
    addr, args = osc_udp.expect(lambda a, p: a in ("/mgb/done", "/mgb/error") and p[0] == job_id)
    assert addr == "/mgb/done", args
    assert args[3] == 128000  # one bar of 4/4 at 90 bpm at 48 kHz
