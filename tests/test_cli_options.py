"""Issue 21, options: help and a default on every option, --version, each command with only the
options that apply to it, and argparse errors as one line with a --help hint."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from musicgen_bridge import __version__
from musicgen_bridge.bridge.cli import build_parser, main
from musicgen_bridge.bridge.cli.config import load_settings


def _parsers(parser: argparse.ArgumentParser, path: str = "musicgen-bridge"):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, f"{path} {name}")


def test_every_option_of_every_command_has_help() -> None:
    missing = []
    for path, parser in _parsers(build_parser(load_settings(environ={}))):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction) or action.help == argparse.SUPPRESS:
                continue  # subcommand lists; hidden 1.x aliases of documented options
            if not (action.help or "").strip():
                missing.append(f"{path} {'/'.join(action.option_strings) or action.dest}")
    assert not missing, f"options without help: {missing}"
    assert len(list(_parsers(build_parser(load_settings(environ={}))))) >= 15  # the walk reached the subcommands


def test_help_shows_defaults(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["generate", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for shown in ("session sample rate in Hz (default: 48000)", "(default: tcp://127.0.0.1:5555)",
                  "(default: 600.0)", "random seed", "(default 250)"):
        assert shown in text


def test_version(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"musicgen-bridge {__version__} (protocol 1.0)"


def _options(*path: str) -> set[str]:
    parsers = dict(_parsers(build_parser(load_settings(environ={}))))
    return {o for a in parsers[" ".join(("musicgen-bridge", *path))]._actions if a.help != argparse.SUPPRESS
            for o in a.option_strings}  # hidden 1.x spellings are not listed


def test_continue_and_live_start_list_only_what_applies() -> None:
    assert {"--midi", "--melody", "--seconds", "--start-bar", "--melody-audio"}.isdisjoint(_options("continue"))
    assert {"--audio", "--item-start-bar", "--context-bars", "--bars", "--out"} <= _options("continue")
    assert {"--out", "--bars", "--seconds", "--variations", "--local", "--preview", "--midi", "--timeout"}.isdisjoint(
        _options("live", "start"))
    assert {"--window-bars", "--ahead-bars", "--follow", "--start-bar", "--fx"} <= _options("live", "start")


def test_argparse_errors_are_one_line_with_a_hint(capsys) -> None:
    assert main(["generate", "--bars", "four"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.strip().splitlines() == [
        ("musicgen-bridge: invalid_field: argument --bars: invalid int value: 'four' (see `musicgen-bridge "
         "generate --help`)")]
    assert main(["continue", "--bars", "2", "--json"]) == 2
    err = json.loads(capsys.readouterr().out)
    assert err["code"] == "missing_field" and "--audio" in err["message"]
    assert main(["frobnicate"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_continue_keeps_its_old_start_bar_spelling_hidden() -> None:
    parser = build_parser(load_settings(environ={}))
    args = parser.parse_args(["continue", "--audio", "a.wav", "--start-bar", "5"])
    assert args.item_start_bar == 5
    assert parser.parse_args(["continue", "--audio", "a.wav"]).item_start_bar == 1


def _help_of(parser: argparse.ArgumentParser, option: str) -> str:
    action = next(a for a in parser._actions if option in a.option_strings)
    return parser._get_formatter()._expand_help(action)


def test_decoder_magnet_codec_and_batching_options_have_help_with_defaults() -> None:
    parsers = dict(_parsers(build_parser(load_settings(environ={}))))
    wanted = {("generate",): ["--decoder", "--decoding-steps", "--span-arrangement", "--span-scoring", "--max-cfg",
                              "--min-cfg"],
              ("continue",): ["--decoder"],
              ("live", "start"): ["--decoder", "--decoding-steps", "--max-cfg"],
              ("codec", "decode"): ["--sample-rate", "--format", "--out", "--timeout", "--server"],
              ("codec", "bounce"): ["--bpm", "--start", "--end", "--bars", "--channels", "--device"]}
    for path, options in wanted.items():
        parser = parsers[" ".join(("musicgen-bridge", *path))]
        for option in options:
            assert "default" in _help_of(parser, option), (path, option)
    assert "--decoding-steps" not in _options("continue")  # MAGNeT cannot continue audio
    assert "--no-anneal-temperature" in _options("live", "start")
    assert "--no-batching" in _options("serve") and "--bandwidth" in _options("codec", "encode")
    style = {"--style", "--style-start", "--style-start-bar", "--style-seconds", "--style-bars", "--style-file-start",
             "--style-file-end", "--style-eval-q", "--cfg-beta"}
    for path in (("generate",), ("continue",), ("live", "start")):
        assert style <= _options(*path), path
        parser = parsers[" ".join(("musicgen-bridge", *path))]
        assert all("default" in _help_of(parser, option) for option in style), path


def test_decoder_and_magnet_flags_reach_the_request() -> None:
    from musicgen_bridge.bridge.cli.args import continue_content, live_content, request_content

    parser = build_parser(load_settings(environ={}))
    content = request_content(parser.parse_args(["generate", "--decoder", "mbd", "--decoding-steps", "6,3,3,3",
                                                 "--min-cfg", "2", "--no-anneal-temperature"]))
    assert (content["decoder"], content["decoding_steps"], content["min_cfg"], content["anneal_temperature"]) == \
        ("mbd", "6,3,3,3", 2.0, False)
    live = live_content(parser.parse_args(["live", "start", "--span-scoring", "prod", "--window-bars", "2"]))
    assert (live["span_scoring"], live["window_bars"]) == ("prod", 2) and "decoder" not in live
    cont = continue_content(parser.parse_args(["continue", "--audio", "a.wav", "--decoder", "encodec"]))
    assert cont["decoder"] == "encodec" and "decoding_steps" not in cont
    styled = live_content(parser.parse_args(["live", "start", "--style", "ref.wav", "--style-eval-q", "2"]))
    assert styled["style"] == {"path": str(Path("ref.wav").resolve()), "eval_q": 2}
    cont = continue_content(parser.parse_args(["continue", "--audio", "a.wav", "--style", "ref.wav", "--cfg-beta", "4"]))
    assert cont["style"] == {"path": str(Path("ref.wav").resolve()), "cfg_coef_beta": 4.0}


def test_codec_output_format_follows_the_out_extension(tmp_path) -> None:
    from musicgen_bridge.bridge.cli.codec import codec_content

    parser = build_parser(load_settings(environ={}))
    decode = codec_content(parser.parse_args(["codec", "decode", "k.mgbcodes", "--out", str(tmp_path / "k.flac")]))
    assert (decode["format"], decode["output_name"], decode["tokens"]["path"]) == \
        ("flac", "k.flac", str(Path("k.mgbcodes").resolve()))
    bounce = codec_content(parser.parse_args(["codec", "bounce", "a.wav", "--bandwidth", "1.5", "--out", "b"]))
    assert (bounce["format"], bounce["output_name"], bounce["bandwidth"]) == ("wav24", "b.wav", 1.5)
    encode = codec_content(parser.parse_args(["codec", "encode", "a.wav", "--bandwidth", "3", "--out", "a.mgbcodes"]))
    assert "format" not in encode and encode["output_name"] == "a.mgbcodes"
