"""Issue 21, "wrong or broken": the CLI's formats, errors, exit statuses, timeouts, input-file names and
live window names, against a running tiny engine (the ``server`` fixture) or the real ``serve``."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from serve_process import cli, free_port

from musicgen_bridge.bridge.cli import main
from musicgen_bridge.bridge.cli.exits import EXIT_CANCELLED, EXIT_TIMEOUT, EXIT_UNREACHABLE, exit_table
from musicgen_bridge.bridge.cli.outputs import EXTENSIONS


def gen(server, out: Path | None, *extra: str) -> list[str]:
    args = ["generate", "--server", server.addresses["zmq"], "--model", "tiny", "--prompt", "x", "--bars", "1",
            "--bpm", "120", "--sample-rate", "32000", *extra]
    return args + (["--out", str(out)] if out is not None else [])


def test_the_cli_format_table_is_the_renderers() -> None:
    from musicgen_bridge.engine.render.output import FORMATS

    assert {key: fmt.ext for key, fmt in FORMATS.items()} == EXTENSIONS


def test_out_extension_picks_the_format_and_a_clash_is_one_line(server, tmp_path: Path, capsys) -> None:
    assert main(gen(server, tmp_path / "y.flac")) == 0
    assert sf.info(str(tmp_path / "y.flac")).format == "FLAC"
    assert main(gen(server, tmp_path / "z", "--format", "aiff")) == 0  # no extension: the format's is added
    assert sf.info(str(tmp_path / "z.aiff")).format == "AIFF"
    assert not (tmp_path / "z").exists()
    capsys.readouterr()
    assert main(gen(server, tmp_path / "x.wav", "--format", "flac")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("musicgen-bridge: invalid_field: --format flac writes .flac")
    assert not (tmp_path / "x.wav").exists()


def test_variations_keep_the_format_extension(server, tmp_path: Path) -> None:
    assert main(gen(server, tmp_path / "v.flac", "--variations", "2")) == 0
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".json")) == \
        ["v-take1.flac", "v-take2.flac"]
    assert all(sf.info(str(p)).format == "FLAC" for p in tmp_path.glob("*.flac"))


def test_json_errors_are_one_object_on_stdout(server, tmp_path: Path, capsys) -> None:
    assert main(gen(server, tmp_path / "a.wav", "--bpm", "1000", "--json")) == 2
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    err = json.loads(out[0])
    assert err["status"] == "error" and err["code"] == "invalid_field" and err["exit_code"] == 2
    port = free_port(pair=True)
    assert main(["generate", "--server", f"tcp://127.0.0.1:{port}", "--bars", "1", "--json"]) == EXIT_UNREACHABLE
    only = capsys.readouterr().out.strip().splitlines()
    assert len(only) == 1 and json.loads(only[0])["code"] == "unreachable"


def test_status_json_and_exit_statuses(server, engine, tmp_path: Path, capsys) -> None:
    addr = server.addresses["zmq"]
    done = engine.submit("generate", {"prompt": "x", "bars": 1, "bpm": 120, "sample_rate": 32000})
    assert main(["status", done.id, "--wait", "20", "--json", "--server", addr]) == 0
    assert json.loads(capsys.readouterr().out)["state"] == "done"
    # a job that fails in the engine: a silent continuation item (its header is fine, so submit takes
    # it; the job finds no audio to continue from)
    silent = Path(engine.paths.output_root) / "silent.wav"
    sf.write(silent, np.zeros((96000, 2), dtype="float32"), 48000)
    failed = engine.submit("continue", {"audio": {"path": str(silent)}, "bars": 1, "bpm": 120})
    engine.wait(failed.id, timeout=20)
    assert main(["status", failed.id, "--json", "--server", addr]) == 2  # bad_audio: a bad request
    assert json.loads(capsys.readouterr().out)["error"]["code"] == "bad_audio"
    long = engine.submit("generate", {"prompt": "x", "bars": 40, "bpm": 120})
    engine.cancel(long.id)
    engine.wait(long.id, timeout=20)
    assert main(["status", long.id, "--server", addr]) == EXIT_CANCELLED
    assert f"{long.id}  cancelled" in capsys.readouterr().out


def test_every_error_code_has_an_exit_status_and_docs_say_which() -> None:
    doc = (Path(__file__).resolve().parents[1] / "docs" / "cli.md").read_text()
    for code, status in exit_table().items():
        assert f"| `{code}` | {status} |" in doc, f"docs/cli.md lacks the row for {code}"


def test_timeout_is_not_unreachable_and_the_job_goes_on(server, engine, capsys) -> None:
    args = ["generate", "--server", server.addresses["zmq"], "--model", "tiny", "--bars", "60", "--bpm", "120",
            "--timeout", "1"]
    assert main(args) == EXIT_TIMEOUT
    err = capsys.readouterr().err.strip().splitlines()[-1]  # the error line, after the progress lines
    assert err.startswith("musicgen-bridge: timeout: stopped waiting for job ") and "unreachable" not in err
    job_id = err.split("job ")[1].split()[0]
    assert f"musicgen-bridge status {job_id} --wait 30 --server {server.addresses['zmq']}" in err
    assert engine.status(job_id)["state"] in ("queued", "running")  # the engine goes on
    engine.cancel(job_id)
    engine.wait(job_id, timeout=30)


@pytest.mark.parametrize("where", ["remote", "local"])
def test_a_missing_midi_file_is_not_found_and_named(server, tmp_path: Path, capsys, where: str) -> None:
    missing = tmp_path / "hook.mid"
    place = ["--local"] if where == "local" else ["--server", server.addresses["zmq"]]
    assert main(["generate", *place, "--model", "tiny-melody", "--midi", str(missing), "--bars", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"musicgen-bridge: not_found: the MIDI file {missing} does not exist"]


def test_a_bad_continue_item_names_the_users_file(server, tmp_path: Path, capsys) -> None:
    verse = tmp_path / "verse.wav"
    verse.write_bytes(b"RIFF garbage, not a wave file" * 20)
    assert main(["continue", "--server", server.addresses["zmq"], "--model", "tiny", "--audio", str(verse),
                 "--bpm", "120", "--bars", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("musicgen-bridge: bad_audio:") and str(verse) in err and "mgb-scratch" not in err


def test_live_simulate_has_no_underrun_before_the_first_window_and_names_windows_by_bar(server, capsys) -> None:
    assert main(["live", "start", "--server", server.addresses["zmq"], "--model", "tiny", "--prompt", "x",
                 "--bpm", "120", "--sample-rate", "32000", "--window-bars", "1", "--ahead-bars", "2",
                 "--context-bars", "1", "--follow", "--simulate", "--windows", "2"]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    kinds = [e["event"] for e in events]
    assert "window" in kinds and "underrun" not in kinds[:kinds.index("window")]
    names = [Path(e["path"]).name for e in events if e["event"] == "window"]
    assert names == ["live_x_bar0001.wav", "live_x_bar0002.wav"]


def test_serve_on_a_taken_port_is_one_line_with_a_code(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = cli("serve", "--model", "tiny", "--zmq", f"tcp://127.0.0.1:{port}", "--zmq-events",
                     f"tcp://127.0.0.1:{free_port()}", "--osc", "off", "--journal", "off",
                     "--output-root", str(tmp_path), timeout=120)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines == [lines[0]] and lines[0].startswith(f"musicgen-bridge: address_in_use: cannot listen on "
                                                       f"tcp://127.0.0.1:{port}"), result.stderr
    assert "Traceback" not in result.stderr and "serving" not in result.stderr
