"""MusicGen-Style in the product (issue 17): tiny-style through the CLI, the engine's jobs
(generate, continue, long-form, live), ZeroMQ and OSC; what is refused and with which code."""

from __future__ import annotations

import json
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
import torch

from musicgen_bridge.bridge.cli import main
from musicgen_bridge.engine.engine import Engine, EngineConfig
from musicgen_bridge.engine.errors import EngineError
from musicgen_bridge.engine.generation.reference import Conditioning
from musicgen_bridge.engine.produce.context import choose_generator
from musicgen_bridge.engine.request import GenerateRequest

BARS2_100BPM_48K = 230400  # 2 bars of 4/4 at 100 bpm = 4.8 s at 48 kHz


def drum_loop(path: Path, seconds: float = 4.8, rate: int = 44100) -> Path:
    """Clicks on every beat at 100 bpm with a low thump: a drum-like loop."""
    t = np.arange(int(seconds * rate)) / rate
    beat = (t * 100 / 60) % 1
    wav = 0.8 * np.exp(-beat * 40) * np.sin(2 * np.pi * 60 * t) + 0.3 * (beat < 0.01)
    sf.write(path, np.stack([wav, wav], 1).astype(np.float32), rate)
    return path


def sweep(path: Path, seconds: float, rate: int = 32000) -> Path:
    """A tone gliding from 100 Hz to 2 kHz: every excerpt of it sounds different."""
    t = np.arange(int(seconds * rate)) / rate
    freq = 100 * (20 ** (t / seconds))
    wav = 0.4 * np.sin(2 * np.pi * np.cumsum(freq) / rate)
    sf.write(path, wav.astype(np.float32), rate)
    return path


def pad(path: Path, seconds: float = 4.8, rate: int = 48000) -> Path:
    """A sustained chord: nothing like the loop."""
    t = np.arange(int(seconds * rate)) / rate
    wav = sum(0.2 * np.sin(2 * np.pi * f * t) for f in (440.0, 554.4, 659.3))
    sf.write(path, wav.astype(np.float32), rate)
    return path


@pytest.fixture(scope="module")
def style_engine(tmp_path_factory: pytest.TempPathFactory) -> Any:
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("style")
    eng = Engine(EngineConfig(default_model="tiny-style", output_root=root / "out", allowed_dirs=[root]))
    eng.root = root  # type: ignore[attr-defined] - where the tests put their clips
    yield eng
    eng.close()


def run(engine: Engine, kind: str, content: dict[str, Any]) -> dict[str, Any]:
    job = engine.wait(engine.submit(kind, content).id, timeout=120)
    assert job is not None and job.state == "done", (job.state, job.error) if job else None
    return job.result


# -- the CLI ---------------------------------------------------------------------------------

@pytest.mark.parametrize("prompt", [["--prompt", "dusty lofi drums"], []], ids=["text+style", "style only"])
def test_cli_local_tiny_style_writes_exactly_two_bars(tmp_path: Path, prompt: list[str]) -> None:
    loop = drum_loop(tmp_path / "loop.wav")
    out = tmp_path / "like.wav"
    assert main(["generate", "--local", "--model", "tiny-style", "--style", str(loop), "--bars", "2", "--bpm", "100",
                 "--seed", "3", "--out", str(out), *prompt]) == 0
    info = sf.info(out)
    assert (info.frames, info.samplerate, info.channels) == (BARS2_100BPM_48K, 48000, 2)
    data = sf.read(out)[0]
    assert np.abs(data).max() > 0  # not silence
    side = json.loads(out.with_name(out.name + ".json").read_text())
    assert side["model"] == "tiny-style" and side["request"]["style"] == {"path": str(loop)}
    assert side["request"]["prompt"] == ("dusty lofi drums" if prompt else "")


# -- the engine: tokens follow the style ---------------------------------------------------------

def styled_tokens(engine: Engine, content: dict[str, Any], frames: int = 40) -> torch.Tensor:
    """Tokens of the engine's own token loop for a request (what its jobs run), seed 11."""
    req = GenerateRequest.from_dict({"model": "tiny-style", "bpm": 100, "seed": 11, **content})
    loaded = engine.registry.load("tiny-style")
    generate = choose_generator(engine.context, req, loaded)
    prompt = req.prompt
    return generate(loaded, Conditioning([prompt]), frames, req.sampling, [req.seed]).tokens


def test_two_style_clips_with_the_same_seed_give_different_tokens(style_engine: Engine) -> None:
    root: Path = style_engine.root  # type: ignore[attr-defined]
    loop, chord = str(drum_loop(root / "a-loop.wav")), str(pad(root / "a-pad.wav"))
    a = styled_tokens(style_engine, {"style": loop})
    b = styled_tokens(style_engine, {"style": chord})
    assert torch.equal(a, styled_tokens(style_engine, {"style": loop}))  # same clip, same seed: same tokens
    assert (a != b).float().mean() > 0.5, "the style clip barely changes the tokens"
    # a style changes what the text alone gives, and the text still counts beside a style
    text = styled_tokens(style_engine, {"prompt": "dusty lofi drums"})
    both = styled_tokens(style_engine, {"prompt": "dusty lofi drums", "style": loop})
    assert (text != both).float().mean() > 0.5 and (a != both).float().mean() > 0.5


def test_fewer_style_codebooks_and_another_excerpt_change_the_tokens(style_engine: Engine) -> None:
    root: Path = style_engine.root  # type: ignore[attr-defined]
    loop = str(sweep(root / "b-sweep.wav", seconds=9.6))
    base = styled_tokens(style_engine, {"style": loop})
    assert not torch.equal(base, styled_tokens(style_engine, {"style": {"path": loop, "eval_q": 1}}))
    assert not torch.equal(base, styled_tokens(style_engine, {"style": {"path": loop, "excerpt_seconds": 1.5}}))
    assert not torch.equal(base, styled_tokens(style_engine, {"style": {"path": loop, "excerpt_start_bars": 0}}))
    # the default excerpt is the middle on a bar line: 9.6 s, 3 s excerpt, bars of 2.4 s -> bar 1 (2.4 s)
    assert torch.equal(base, styled_tokens(style_engine, {"style": {"path": loop, "excerpt_start_bars": 1}}))
    assert torch.equal(base, styled_tokens(style_engine, {"style": {"path": loop, "excerpt_start_seconds": 2.4}}))


def test_a_request_asking_for_more_codebooks_than_the_model_has_is_refused_at_submit(style_engine: Engine) -> None:
    root: Path = style_engine.root  # type: ignore[attr-defined]
    loop = str(drum_loop(root / "c-loop.wav"))
    with pytest.raises(EngineError) as info:
        style_engine.submit("generate", {"style": {"path": loop, "eval_q": 5}, "bars": 1})
    assert (info.value.code, info.value.details["field"]) == ("invalid_field", "style.eval_q")
    assert "1..4" in info.value.message


# -- combinations ------------------------------------------------------------------------------

def test_continue_with_a_style_lands_exact_bars_on_the_items_last_bar_line(style_engine: Engine) -> None:
    root: Path = style_engine.root  # type: ignore[attr-defined]
    item = drum_loop(root / "item.wav", seconds=4.8, rate=48000)  # 2 bars at 100 bpm, placed at bar 3
    result = run(style_engine, "continue", {"audio": {"path": str(item)}, "style": str(pad(root / "d-pad.wav")),
                                            "bars": 2, "bpm": 100, "context_bars": 1, "item_start_bar": 3,
                                            "seed": 5})
    assert result["start_bar"] == 5 and result["frames"] == BARS2_100BPM_48K
    assert sf.info(result["path"]).frames == BARS2_100BPM_48K


@pytest.mark.slow  # 33.6 s of audio: two windows of the 30 s model
def test_long_form_windows_all_carry_the_style(style_engine: Engine) -> None:
    root: Path = style_engine.root  # type: ignore[attr-defined]
    loop = str(drum_loop(root / "e-loop.wav"))
    # 14 bars of 4/4 at 100 bpm = 33.6 s: past the 30 s window, so two windows on one token stream
    content = {"style": loop, "bars": 14, "bpm": 100, "seed": 2, "window_bars": 8, "context_bars": 2}
    result = run(style_engine, "generate", content)
    assert result["frames"] == round(Fraction(14 * 4 * 60, 100) * 48000) == sf.info(result["path"]).frames


def test_a_style_with_a_melody_is_no_style_support(style_engine: Engine) -> None:
    root: Path = style_engine.root  # type: ignore[attr-defined]
    loop = str(drum_loop(root / "f-loop.wav"))
    notes = {"notes": [{"pitch": 60, "start_beats": 0, "duration_beats": 1}], "clip_length_beats": 4}
    for model in ("tiny-style", "tiny-melody"):
        with pytest.raises(EngineError) as info:
            style_engine.submit("generate", {"model": model, "style": loop, "melody": notes, "bars": 1})
        assert info.value.code == "no_style_support", model
    with pytest.raises(EngineError) as info:  # a melody alone on the style model: its own code
        style_engine.submit("generate", {"model": "tiny-style", "melody": notes, "bars": 1})
    assert info.value.code == "no_melody_support"


def test_the_fast_generator_is_refused_for_a_style_request(style_engine: Engine) -> None:
    root: Path = style_engine.root  # type: ignore[attr-defined]
    job = style_engine.wait(style_engine.submit("generate", {"style": str(drum_loop(root / "g-loop.wav")), "bars": 1,
                                                             "generator": "fast"}).id, timeout=60)
    assert job is not None and job.state == "error" and job.error["code"] == "unsupported"


# -- over the wire -------------------------------------------------------------------------------

def test_generate_over_zmq_with_the_style_clip_as_a_buffer(zmq_peer: Any, tmp_path: Path) -> None:
    loop = drum_loop(tmp_path / "loop.wav")
    reply, _ = zmq_peer.request("generate", {"model": "tiny-style", "style": {"buffer": 0, "format": "wav"},
                                             "bars": 2, "bpm": 100, "seed": 1}, buffers=[loop.read_bytes()])
    assert reply["content"]["status"] == "ok", reply
    done = zmq_peer.job_end(reply["content"]["job_id"])
    assert done["header"]["msg_type"] == "done", done
    assert done["content"]["frames"] == BARS2_100BPM_48K == sf.info(done["content"]["path"]).frames
    # refused before any work, as an error reply
    reply, _ = zmq_peer.request("generate", {"model": "tiny", "style": {"buffer": 0, "format": "wav"}, "bars": 1},
                                buffers=[loop.read_bytes()])
    assert (reply["content"]["status"], reply["content"]["code"]) == ("error", "no_style_support")
    reply, _ = zmq_peer.request("generate", {"model": "tiny-style", "style": {"buffer": 3}, "bars": 1})
    assert (reply["content"]["code"], reply["content"]["details"]["field"]) == ("invalid_field", "style")


def test_generate_over_osc_with_a_style_path(osc_udp: Any, engine: Engine) -> None:
    engine.paths.output_root.mkdir(parents=True, exist_ok=True)
    loop = drum_loop(engine.paths.output_root / "osc-style.wav", seconds=3.0, rate=32000)
    osc_udp.send("/mgb/generate", json.dumps({"model": "tiny-style", "style": {"path": str(loop), "eval_q": 2},
                                              "bars": 1, "bpm": 120}))
    addr, args = osc_udp.expect(lambda a, p: a in ("/mgb/done", "/mgb/error"))
    assert addr == "/mgb/done", args
    _job, path, start_bar, frames = args
    assert (start_bar, frames) == (1.0, 96000) and sf.info(path).frames == 96000
    osc_udp.send("/mgb/generate", json.dumps({"model": "tiny", "style": str(loop), "bars": 1}))
    addr, args = osc_udp.expect(lambda a, p: a == "/mgb/error")
    assert args[1] == "no_style_support"


def test_live_session_with_a_style_over_zmq(zmq_peer: Any, engine: Engine) -> None:
    engine.paths.output_root.mkdir(parents=True, exist_ok=True)
    loop = drum_loop(engine.paths.output_root / "live-style.wav")
    reply, _ = zmq_peer.request("live_start", {"model": "tiny-style", "style": str(loop), "bpm": 120,
                                               "window_bars": 1, "context_bars": 1, "ahead_bars": 2, "start_bar": 1})
    assert reply["content"]["status"] == "ok", reply
    sid = reply["content"]["session_id"]
    seen = []
    for i in range(2):
        seen.append(zmq_peer.wait_event(lambda e, i=i: e["header"]["msg_type"] == "window"
                                        and e["content"]["session_id"] == sid and e["content"]["index"] == i,
                                        timeout=60)["content"])
    zmq_peer.request("live_stop", {"session_id": sid})
    assert [w["start_bar"] for w in seen] == [1, 2] and all(w["frames"] == 96000 for w in seen)
    side = json.loads(Path(seen[0]["path"] + ".json").read_text())
    assert side["request"]["style"] == {"path": str(loop)} and side["model"] == "tiny-style"
    time.sleep(0.05)
    reply, _ = zmq_peer.request("live_start", {"model": "tiny", "style": str(loop)})
    assert reply["content"]["code"] == "no_style_support"
