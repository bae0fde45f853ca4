"""Issue 21, progress: a bar with stage and ETA on a terminal, one line per step elsewhere, errors on
their own line, and result lines that say seed, length and (continue) where the clip goes."""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import soundfile as sf

from musicgen_bridge.bridge.cli import main
from musicgen_bridge.bridge.cli.progress import Progress


def test_a_terminal_gets_a_bar_with_stage_and_eta_and_the_next_line_starts_clean() -> None:
    out = io.StringIO()
    with Progress(stream=out, tty=True) as progress:
        progress.event("accepted", {"job_id": "j-1"})
        for i in range(1, 11):
            progress.event("progress", {"job_id": "j-1", "fraction": i / 10})
    print("musicgen-bridge: internal: boom", file=out)
    text = out.getvalue()
    assert text.startswith("musicgen-bridge: job j-1 queued\n")
    assert re.search(r"generating: 100%\|[^|]+\| \d\d:\d\d<\d\d:\d\d", text)  # stage, bar, elapsed<ETA
    assert "\nmusicgen-bridge: internal: boom\n" in text  # the error is a line of its own


def test_without_a_terminal_one_line_per_step_and_errors_apart(server, capsys) -> None:
    args = ["generate", "--server", server.addresses["zmq"], "--model", "tiny", "--bars", "30", "--bpm", "240",
            "--timeout", "2"]
    main(args)
    err = capsys.readouterr().err
    assert "\r" not in err
    lines = err.strip().splitlines()
    assert all(line.startswith("musicgen-bridge: ") for line in lines), lines
    assert re.fullmatch(r"musicgen-bridge: job j-\w+ queued", lines[0])
    steps = [line for line in lines if "generating" in line]
    assert steps == sorted(set(steps), key=steps.index)  # each step once, in order
    assert all(re.fullmatch(r"musicgen-bridge: generating \d+%", line) for line in steps)
    assert lines[-1].startswith("musicgen-bridge: timeout:")
    job_id = lines[0].split()[2]
    server.engine.cancel(job_id)
    server.engine.wait(job_id, timeout=30)


def test_result_lines_give_length_seed_and_the_bar_to_place_a_continuation(server, tmp_path: Path, capsys) -> None:
    out = tmp_path / "a.wav"
    assert main(["generate", "--server", server.addresses["zmq"], "--model", "tiny", "--bars", "1", "--bpm", "120",
                 "--sample-rate", "32000", "--seed", "11", "--out", str(out)]) == 0
    line = capsys.readouterr().out.strip()
    assert line == f"{out.resolve()}  1 bars, 2.000 s, 64000 frames @ 32000 Hz  seed 11"
    item = tmp_path / "item.wav"
    sf.write(item, np.zeros((2 * 64000, 2), dtype="float32") + 0.01, 32000)  # 2 bars at 120 bpm
    nxt = tmp_path / "next.wav"
    assert main(["continue", "--server", server.addresses["zmq"], "--model", "tiny", "--audio", str(item),
                 "--bpm", "120", "--sample-rate", "32000", "--bars", "1", "--seed", "3", "--item-start-bar", "5",
                 "--out", str(nxt)]) == 0
    line = capsys.readouterr().out.strip()
    assert line == f"{nxt.resolve()}  1 bars, 2.000 s, 64000 frames @ 32000 Hz  seed 3  place at bar 7"
