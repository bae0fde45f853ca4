"""Issue 21, settings: config.toml in the platform's config folder and MUSICGEN_BRIDGE_* variables;
the command line beats the environment beats the file beats the built-in value. ``serve`` without
--model warns when its default model is not cached."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from serve_process import env, free_port, start_serve, stop

from musicgen_bridge.bridge.cli import build_parser, main
from musicgen_bridge.bridge.cli.config import config_path, load_settings


@pytest.fixture
def config_file(tmp_path: Path, monkeypatch) -> Path:
    path = tmp_path / "config.toml"
    monkeypatch.setenv("MUSICGEN_BRIDGE_CONFIG", str(path))
    for name in ("SERVER", "SAMPLE_RATE", "MODEL", "TIMEOUT"):
        monkeypatch.delenv(f"MUSICGEN_BRIDGE_{name}", raising=False)
    return path


def test_the_config_file_lives_in_the_platforms_config_folder(tmp_path: Path) -> None:
    assert config_path({"XDG_CONFIG_HOME": str(tmp_path)}) in (tmp_path / "musicgen-bridge" / "config.toml",
                                                              config_path({}))  # XDG on Linux; elsewhere its own
    assert config_path({"MUSICGEN_BRIDGE_CONFIG": str(tmp_path / "c.toml")}) == tmp_path / "c.toml"


def test_precedence_cli_over_env_over_file_over_builtin(config_file: Path, monkeypatch) -> None:
    assert build_parser(load_settings()).parse_args(["generate"]).sample_rate == 48000  # built-in
    config_file.write_text('sample_rate = 44100\nserver = "tcp://studio:6000"\ntimeout = 30\n')
    args = build_parser(load_settings()).parse_args(["generate"])
    assert (args.sample_rate, args.server, args.timeout) == (44100, "tcp://studio:6000", 30.0)
    monkeypatch.setenv("MUSICGEN_BRIDGE_SAMPLE_RATE", "96000")
    args = build_parser(load_settings()).parse_args(["generate"])
    assert (args.sample_rate, args.server) == (96000, "tcp://studio:6000")
    args = build_parser(load_settings()).parse_args(["generate", "--sample-rate", "88200"])
    assert args.sample_rate == 88200


def test_config_show_and_path(config_file: Path, monkeypatch, capsys) -> None:
    config_file.write_text('model = "tiny"\n')
    monkeypatch.setenv("MUSICGEN_BRIDGE_SERVER", "tcp://127.0.0.1:7000")
    assert main(["config", "path"]) == 0
    assert capsys.readouterr().out.strip() == str(config_file)
    assert main(["config", "show", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["path"] == str(config_file) and shown["exists"] is True
    assert shown["settings"]["model"] == {"value": "tiny", "source": "file"}
    assert shown["settings"]["server"] == {"value": "tcp://127.0.0.1:7000", "source": "env MUSICGEN_BRIDGE_SERVER"}
    assert shown["settings"]["sample_rate"] == {"value": 48000, "source": "built-in"}
    assert main(["config"]) == 0
    assert "model        tiny" in capsys.readouterr().out


@pytest.mark.parametrize("text, says", [("sample_rate = -4\n", "sample_rate = -4 must be a positive"),
                                        ("colour = 3\n", "unknown setting 'colour'"),
                                        ("server = [\n", "cannot read the config file")])
def test_a_bad_config_file_is_one_clear_line(config_file: Path, capsys, text: str, says: str) -> None:
    config_file.write_text(text)
    assert main(["jobs"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("musicgen-bridge: invalid_field: ") and says in err[0]


def test_the_server_address_comes_from_the_config_file(server, engine, config_file: Path, capsys) -> None:
    config_file.write_text(f'server = "{server.addresses["zmq"]}"\n')
    job = engine.submit("generate", {"prompt": "x", "bars": 1, "bpm": 120})
    engine.wait(job.id, timeout=30)
    assert main(["status", job.id, "--json"]) == 0  # no --server typed
    assert json.loads(capsys.readouterr().out)["state"] == "done"


def test_serve_without_model_warns_when_the_default_model_is_not_cached(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("MUSICGEN_BRIDGE_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.delenv("MUSICGEN_BRIDGE_MODEL", raising=False)
    assert env()["HF_HUB_CACHE"] == str(tmp_path / "empty-cache")
    port = free_port(pair=True)
    proc, info = start_serve(["--zmq", f"tcp://127.0.0.1:{port}", "--osc", f"127.0.0.1:{free_port(socket.SOCK_DGRAM)}",
                              "--journal", "off", "--output-root", str(tmp_path / "root")], tmp_path / "ready.json")
    stop(proc)
    err = proc.stderr.read()
    assert info["default_model"] == "facebook/musicgen-small"
    assert "warning: the default model facebook/musicgen-small is not in the cache at " + str(tmp_path / "empty-cache") \
        in err
    assert "musicgen-bridge models pull facebook/musicgen-small" in err


def test_docs_list_every_setting() -> None:
    from musicgen_bridge.bridge.cli.config import KEYS

    doc = (Path(__file__).resolve().parents[1] / "docs" / "cli.md").read_text()
    for key in KEYS:
        assert f"| `{key}` | `MUSICGEN_BRIDGE_{key.upper()}` |" in doc, key
