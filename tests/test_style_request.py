"""The request's ``style`` field, its CLI flags and the checks made before any work (issue 17)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from musicgen_bridge.bridge.cli import main
from musicgen_bridge.bridge.cli.args import input_files, request_content
from musicgen_bridge.bridge.cli.commands import build_parser
from musicgen_bridge.engine.conditioning.style_input import check_style_file
from musicgen_bridge.engine.engine import Engine, EngineConfig
from musicgen_bridge.engine.errors import EngineError
from musicgen_bridge.engine.executors.wire import pack_job, unpack_request
from musicgen_bridge.engine.jobs.queue import Job
from musicgen_bridge.engine.models.registry import ModelRegistry
from musicgen_bridge.engine.paths import PathPolicy
from musicgen_bridge.engine.request import GenerateRequest


def loop(path: Path, seconds: float = 4.0, rate: int = 44100, freq: float = 220.0) -> Path:
    t = np.arange(int(seconds * rate)) / rate
    sf.write(path, (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32), rate)
    return path


def refused(content: dict[str, Any]) -> EngineError:
    with pytest.raises(EngineError) as info:
        GenerateRequest.from_dict(content)
    return info.value


def test_style_round_trips_through_the_sidecar_form() -> None:
    req = GenerateRequest.from_dict({"style": {"path": "/loops/a.wav", "start_seconds": 1.5, "end_seconds": 7,
                                               "excerpt_bars": 1, "excerpt_start_bars": 0, "eval_q": 2.0,
                                               "cfg_coef_beta": 4}})
    assert req.style == {"path": "/loops/a.wav", "start_seconds": 1.5, "end_seconds": 7, "excerpt_bars": 1,
                         "excerpt_start_bars": 0, "eval_q": 2, "cfg_coef_beta": 4}
    assert GenerateRequest.from_dict(req.to_dict()).style == req.style
    assert GenerateRequest.from_dict({"style": "/loops/a.wav"}).style == {"path": "/loops/a.wav"}
    assert GenerateRequest.from_dict({}).style is None


@pytest.mark.parametrize(("style", "field"), [
    (5, "style"),
    ({"buffer": 0}, "style.path"),            # a buffer that never arrived (the bridge makes it a path)
    ({"path": ""}, "style.path"),
    ({"path": "/a.wav", "eval_q": 0}, "style.eval_q"),
    ({"path": "/a.wav", "eval_q": 1.5}, "style.eval_q"),
    ({"path": "/a.wav", "eval_q": True}, "style.eval_q"),
    ({"path": "/a.wav", "cfg_coef_beta": 0}, "style.cfg_coef_beta"),
    ({"path": "/a.wav", "cfg_coef_beta": float("nan")}, "style.cfg_coef_beta"),
    ({"path": "/a.wav", "excerpt_seconds": 0.01}, "style.excerpt_seconds"),
    ({"path": "/a.wav", "excerpt_seconds": 31}, "style.excerpt_seconds"),
    ({"path": "/a.wav", "excerpt_bars": 0}, "style.excerpt_bars"),
    ({"path": "/a.wav", "excerpt_bars": 1, "excerpt_seconds": 2}, "style.excerpt_seconds"),
    ({"path": "/a.wav", "excerpt_start_bars": 1, "excerpt_start_seconds": 2}, "style.excerpt_start_seconds"),
    ({"path": "/a.wav", "start_seconds": -1}, "style.start_seconds"),
    ({"path": "/a.wav", "start_seconds": 3, "end_seconds": 2}, "style.end_seconds"),
    ({"path": "/a.wav", "excerpt": 3}, "style.excerpt"),   # a typo is refused, not ignored
])
def test_bad_style_values_are_invalid_field_naming_the_key(style: Any, field: str) -> None:
    err = refused({"style": style})
    assert (err.code, err.details["field"]) == ("invalid_field", field)


def test_a_range_longer_than_the_limit_is_too_large() -> None:
    err = refused({"style": {"path": "/a.wav", "start_seconds": 0, "end_seconds": 601}})
    assert (err.code, err.details["field"]) == ("too_large", "style.end_seconds")


@pytest.fixture
def engine(tmp_path: Path) -> Any:
    eng = Engine(EngineConfig(default_model="tiny", output_root=tmp_path / "out", allowed_dirs=[tmp_path]))
    yield eng
    eng.close()


def test_a_model_without_style_is_refused_at_submit(engine: Engine, tmp_path: Path) -> None:
    clip = loop(tmp_path / "loop.wav")
    for kind, extra in (("generate", {}), ("continue", {"audio": {"path": str(clip)}})):
        with pytest.raises(EngineError) as info:
            engine.submit(kind, {"model": "tiny", "bars": 1, "style": {"path": str(clip)}, **extra})
        assert info.value.code == "no_style_support" and "model tiny has no style conditioning" in info.value.message
    with pytest.raises(EngineError) as info:
        engine.live_start({"model": "tiny", "style": str(clip)})
    assert info.value.code == "no_style_support"
    assert engine.queue.pending == 0  # nothing was queued


def test_cli_maps_style_flags_to_the_style_object(tmp_path: Path) -> None:
    args = build_parser().parse_args(["generate", "--style", "loop.wav", "--style-start", "1.5", "--style-bars", "2",
                                      "--style-file-start", "0.5", "--style-file-end", "9", "--style-eval-q", "2",
                                      "--cfg-beta", "4"])
    content = request_content(args)
    assert content["style"] == {"path": str(Path("loop.wav").resolve()), "excerpt_start_seconds": 1.5,
                                "excerpt_bars": 2.0, "start_seconds": 0.5, "end_seconds": 9.0, "eval_q": 2,
                                "cfg_coef_beta": 4.0}
    assert content["style"] in input_files(content)  # sent as a buffer to a remote engine
    assert "style" not in request_content(build_parser().parse_args(["generate"]))
    GenerateRequest.from_dict(content)  # what the CLI builds is a valid request


def test_cli_style_options_without_a_style_file_fail_as_one_line(tmp_path: Path, capsys: Any) -> None:
    assert main(["generate", "--local", "--model", "tiny", "--style-bars", "2", "--out", str(tmp_path / "a.wav")]) == 2
    assert capsys.readouterr().err.strip() == "musicgen-bridge: missing_field: the --style-* options need --style FILE"


def test_cli_refuses_style_for_tiny_with_no_style_support(tmp_path: Path, capsys: Any) -> None:
    clip = loop(tmp_path / "loop.wav")
    out = tmp_path / "a.wav"
    assert main(["generate", "--local", "--model", "tiny", "--style", str(clip), "--bars", "2", "--bpm", "100",
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("musicgen-bridge: no_style_support: model tiny has no style conditioning")
    assert not out.exists()


def test_a_style_file_outside_the_allowed_folders_or_unreadable_is_refused(engine: Engine, tmp_path: Path) -> None:
    (tmp_path / "noise.wav").write_bytes(b"not audio at all")
    for path, code in (("/etc/hostname", "path_not_allowed"), (str(tmp_path / "noise.wav"), "bad_audio")):
        with pytest.raises(EngineError) as info:
            check_style_file({"path": path}, engine.paths)
        assert info.value.code == code


def test_the_style_clip_travels_inline_to_a_replica(tmp_path: Path) -> None:
    clip = loop(tmp_path / "loop.wav")
    req = GenerateRequest.from_dict({"bars": 1, "style": {"path": str(clip), "eval_q": 2}})
    payload = pack_job(Job(id="j1", kind="generate", request=req), PathPolicy(tmp_path / "out", [tmp_path]))
    assert payload["files"]["style"] == (".wav", clip.read_bytes())
    scratch = tmp_path / "replica"
    scratch.mkdir()
    moved = unpack_request(payload, scratch)
    assert Path(moved.style["path"]).parent == scratch and moved.style["eval_q"] == 2
    assert req.style["path"] == str(clip)  # the front end's request is untouched


def test_the_models_listing_says_which_models_take_a_style() -> None:
    rows = {r["name"]: r for r in ModelRegistry(device="cpu").describe()}
    assert rows["tiny-style"]["style"] and rows["tiny-style"]["builtin"] and rows["tiny-style"]["cached"]
    assert rows["facebook/musicgen-style"]["style"] and not rows["facebook/musicgen-style"]["builtin"]
    assert not rows["tiny"]["style"] and not rows["facebook/musicgen-melody"]["style"]


def test_the_published_style_model_without_its_weights_is_model_unavailable(tmp_path: Path) -> None:
    with pytest.raises(EngineError) as info:
        ModelRegistry(device="cpu", cache_dir=tmp_path).load("facebook/musicgen-style")
    assert info.value.code == "model_unavailable" and "facebook/musicgen-style" in info.value.message
