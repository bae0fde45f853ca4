"""Issue 15 acceptance for EnCodec on its own: codec encode/decode/bounce, the tokens file, the wire."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from musicgen_bridge.bridge.cli import main
from musicgen_bridge.engine.decoders.encodec import load_codec
from musicgen_bridge.engine.decoders.tokens_file import MAGIC, load_codes
from musicgen_bridge.engine.errors import EngineError


def noise_file(path: Path, seconds: float, rate: int = 48000, channels: int = 2) -> Path:
    data = (np.random.default_rng(0).standard_normal((round(seconds * rate), channels)) * 0.1).astype(np.float32)
    sf.write(path, data, rate, subtype="PCM_24")
    return path


def test_encode_then_decode_round_trips_a_48k_stereo_file(tmp_path: Path) -> None:
    src = noise_file(tmp_path / "in.wav", 1.5)
    tokens, back = tmp_path / "in.mgbcodes", tmp_path / "back.wav"
    assert main(["codec", "encode", str(src), "--model", "tiny-encodec", "--bandwidth", "1.8", "--local",
                 "--out", str(tokens)]) == 0
    assert tokens.read_bytes().startswith(MAGIC)
    assert main(["codec", "decode", str(tokens), "--local", "--out", str(back)]) == 0
    info = sf.info(back)
    assert (info.frames, info.samplerate, info.channels) == (72000, 48000, 2)
    # the file holds exactly what the codec computes for that audio
    codes = load_codes(tokens)
    data, rate = sf.read(src, dtype="float32", always_2d=True)
    direct = load_codec("tiny-encodec").encode(data.T, rate, 1.8)
    assert torch.equal(codes.codes, direct.codes)
    assert (codes.model, codes.bandwidth, codes.source_frames, codes.source_rate) == ("tiny-encodec", 1.8, 72000, 48000)
    assert tuple(codes.codes.shape) == (1, 2, 4, 113)  # ceil(1.5 s * 75 frames/s) per channel, 4 codebooks
    decoded, _ = sf.read(back, dtype="float32", always_2d=True)
    assert np.abs(decoded).max() > 0 and not np.array_equal(decoded[:, 0], decoded[:, 1])


def test_decode_is_bar_exact_when_the_source_was(tmp_path: Path) -> None:
    src = noise_file(tmp_path / "bar.wav", 8 / 3, rate=44100, channels=1)  # 1 bar of 4/4 at 90 bpm: 117600
    tokens, back = tmp_path / "bar.mgbcodes", tmp_path / "bar48.wav"
    assert main(["codec", "encode", str(src), "--model", "tiny-encodec", "--bandwidth", "0.9", "--bars", "1",
                 "--bpm", "90", "--local", "--out", str(tokens)]) == 0
    assert load_codes(tokens).timing == {"bars": 1, "bpm": 90.0, "time_signature": "4/4"}
    assert main(["codec", "decode", str(tokens), "--sample-rate", "48000", "--local", "--out", str(back)]) == 0
    assert (sf.info(back).frames, sf.info(back).channels) == (128000, 1)


def test_tokens_file_that_is_cut_or_not_one_is_bad_tokens(tmp_path: Path) -> None:
    src = noise_file(tmp_path / "in.wav", 0.5)
    tokens = tmp_path / "in.mgbcodes"
    assert main(["codec", "encode", str(src), "--model", "tiny-encodec", "--bandwidth", "1.8", "--local",
                 "--out", str(tokens)]) == 0
    cut = tmp_path / "cut.mgbcodes"
    cut.write_bytes(tokens.read_bytes()[:-3])
    other = tmp_path / "other.mgbcodes"
    other.write_bytes(b"RIFF" + tokens.read_bytes()[4:])
    for path in (cut, other):
        with pytest.raises(EngineError) as err:
            load_codes(path)
        assert err.value.code == "bad_tokens"
    assert main(["codec", "decode", str(cut), "--local", "--out", str(tmp_path / "x.wav")]) == 2


@pytest.fixture(scope="module")
def encodec_24khz_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Hugging Face cache holding facebook/encodec_24khz's architecture with random weights."""
    from transformers import EncodecConfig, EncodecModel

    cache = tmp_path_factory.mktemp("hf-cache")
    repo = cache / "models--facebook--encodec_24khz"
    rev = "0" * 40
    torch.manual_seed(0)
    config = EncodecConfig()  # transformers' defaults are the 24 kHz model's: 1.5/3/6/12/24 kbps, 32 codebooks
    assert (config.sampling_rate, list(config.target_bandwidths)) == (24000, [1.5, 3.0, 6.0, 12.0, 24.0])
    EncodecModel(config).save_pretrained(repo / "snapshots" / rev)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(rev)
    return cache


def test_bounce_at_6_kbps_with_the_24khz_architecture_and_7_refused(tmp_path: Path, encodec_24khz_cache: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    src = noise_file(tmp_path / "loop.wav", 1.0, rate=44100)
    out = tmp_path / "loop-6k.wav"
    base = ["codec", "bounce", str(src), "--model", "facebook/encodec_24khz", "--cache-dir", str(encodec_24khz_cache),
            "--local", "--sample-rate", "44100", "--json"]
    assert main([*base, "--bandwidth", "6", "--out", str(out)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["shape"] == [1, 2, 8, 75]  # 6 kbps = 8 codebooks of 10 bits at 75 frames/s
    assert (sf.info(out).frames, sf.info(out).samplerate, sf.info(out).channels) == (44100, 44100, 2)
    assert main([*base, "--bandwidth", "7", "--out", str(tmp_path / "no.wav")]) == 2
    err = capsys.readouterr().err
    assert "invalid_field" in err and "supports 1.5, 3, 6, 12, 24" in err
    assert not (tmp_path / "no.wav").exists()


def test_codec_encode_over_zeromq_with_a_buffer(zmq_peer, engine, tmp_path: Path) -> None:
    data = noise_file(tmp_path / "buf.wav", 0.5).read_bytes()
    reply, _ = zmq_peer.request("codec_encode", {"audio": {"buffer": 0, "format": "wav"}, "model": "tiny-encodec",
                                                 "bandwidth": 1.8, "output_name": "zmq-codes"}, buffers=[data])
    assert reply["content"]["status"] == "ok", reply
    end = zmq_peer.job_end(reply["content"]["job_id"])
    assert end["header"]["msg_type"] == "done", end
    path = Path(end["content"]["path"])
    assert path.parent == engine.paths.output_root and path.name == "zmq-codes.mgbcodes"
    assert tuple(load_codes(path).codes.shape) == (1, 2, 4, 38)
    reply, _ = zmq_peer.request("codec_bounce", {"audio": {"buffer": 0}, "model": "tiny-encodec", "bandwidth": 3},
                                buffers=[data])
    end = zmq_peer.job_end(reply["content"]["job_id"])  # the codec knows its bandwidths once loaded
    assert end["header"]["msg_type"] == "error" and end["content"]["code"] == "invalid_field", end
    assert "supports 0.9, 1.8" in end["content"]["message"]


def test_codec_decode_and_bounce_over_osc(osc_udp, engine, tmp_path: Path) -> None:
    root = engine.paths.output_root
    src = noise_file(root / "osc-src.wav", 0.5)
    results = {}
    for kind, content in (("codec_bounce", {"audio": str(src), "bandwidth": 0.9, "output_name": "osc-bounce"}),
                          ("codec_encode", {"audio": str(src), "bandwidth": 0.9, "output_name": "osc-codes"})):
        osc_udp.send(f"/mgb/{kind}", json.dumps({"model": "tiny-encodec", **content}))
        addr, args = osc_udp.reply(kind)
        assert addr == "/mgb/reply", args
        job_id = json.loads(args[1])["job_id"]
        addr, args = osc_udp.expect(lambda a, p, j=job_id: a in ("/mgb/done", "/mgb/error") and p[0] == j)
        assert addr == "/mgb/done", args
        results[kind] = args
    assert results["codec_bounce"][3] == 24000 and sf.info(results["codec_bounce"][1]).frames == 24000
    osc_udp.send("/mgb/codec_decode", json.dumps({"tokens": results["codec_encode"][1], "sample_rate": 32000}))
    job_id = json.loads(osc_udp.reply("codec_decode")[1][1])["job_id"]
    addr, args = osc_udp.expect(lambda a, p: a in ("/mgb/done", "/mgb/error") and p[0] == job_id)
    assert addr == "/mgb/done", args
    assert args[3] == 16000 and sf.info(args[1]).samplerate == 32000


def test_codec_bounce_as_the_first_step_of_an_fx_chain(tmp_path: Path) -> None:
    from musicgen_bridge.engine.decoders.encodec import shared_codec
    from musicgen_bridge.engine.render import Renderer, RenderSpec

    audio = (np.random.default_rng(1).standard_normal((2, 24000)) * 0.1).astype(np.float32)
    chain = [{"codec": "tiny-encodec", "bandwidth": 0.9}, {"plugin": "Gain", "gain_db": -6.0}]
    spec = RenderSpec.from_dict({"sample_rate": 48000, "channels": 2, "fx": chain, "true_peak_dbtp": None})
    assert spec.to_dict()["fx"][0] == {"codec": "tiny-encodec", "bandwidth": 0.9}
    out = Renderer(spec).render(audio, 48000)
    expected = shared_codec("tiny-encodec").bounce(audio, 48000, 0.9) * np.float32(10 ** (-6 / 20))
    np.testing.assert_allclose(out, expected, atol=1e-5)
    assert not np.allclose(out, audio * np.float32(10 ** (-6 / 20)), atol=1e-3)  # the codec did change it
    bad = RenderSpec.from_dict({"sample_rate": 48000, "fx": [{"codec": "tiny-encodec", "bandwidth": 7}]})
    with pytest.raises(EngineError) as err:
        Renderer(bad).render(audio, 48000)
    assert err.value.code == "bad_fx" and "supports 0.9, 1.8" in err.value.message
    with pytest.raises(EngineError) as err:
        RenderSpec.from_dict({"sample_rate": 48000, "fx": [{"plugin": "Gain", "gain_db": -1},
                                                             {"codec": "tiny-encodec", "bandwidth": 0.9}]})
    assert err.value.code == "bad_fx" and "put them first" in err.value.message


def test_generate_with_a_codec_step_in_its_chain(tmp_path: Path) -> None:
    chain = tmp_path / "lofi-codec.json"
    chain.write_text(json.dumps([{"codec": "tiny-encodec", "bandwidth": 0.9}]))
    out = tmp_path / "crushed.wav"
    assert main(["generate", "--local", "--model", "tiny-audiogen", "--prompt", "door slam", "--seconds", "1",
                 "--fx", str(chain), "--out", str(out)]) == 0
    assert (sf.info(out).frames, sf.info(out).samplerate) == (48000, 48000)
    side = json.loads(out.with_name(out.name + ".json").read_text())
    assert side["render"]["fx"] == [{"codec": "tiny-encodec", "bandwidth": 0.9}]
