"""The audiocraft conformance runner on the copied reference fixtures, and on broken copies of them."""

from __future__ import annotations

import io
import re
import shutil
from pathlib import Path

import pytest
import torch

from musicgen_bridge.engine.conformance.runner import FAMILIES, run, run_conformance

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "audiocraft"
#: the checks the issue names; the runner may run more, never fewer
REQUIRED = {"codec.encoder_out", "codec.codes", "codec.latent", "codec.wav_out",
            "conditioning.description_embeds", "conditioning.description_mask",
            "lm_forward.sequence", "lm_forward.logits_cond", "lm_forward.logits_uncond", "lm_forward.logits_cfg",
            "lm_forward.pred_logits", "greedy.step_logits_cfg", "greedy.tokens", "greedy.audio",
            "sampled.tokens", "sampled.audio", "sampled.rng_consumed"}


def _parse(lines: list[str], family: str) -> dict[str, str]:
    """check name -> 'ok' / 'FAIL' for one family's lines."""
    out = {}
    for line in lines:
        parts = line.split()
        if parts and parts[0] == family and parts[1] != "skipped":
            out[parts[1]] = parts[-1]
    return out


@pytest.fixture(scope="module")
def shipped_report():
    return run(FIXTURES)


def test_every_audiogen_check_passes_and_the_rest_are_skipped(shipped_report):
    results = _parse(shipped_report.lines, "audiogen")
    assert REQUIRED <= set(results), f"missing checks: {REQUIRED - set(results)}"
    assert all(v == "ok" for v in results.values()), shipped_report.lines
    unimplemented = sorted(f for f, mod in FAMILIES.items() if mod is None and (FIXTURES / f).is_dir())
    skipped = sorted(line.split()[0] for line in shipped_report.lines if "skipped (not implemented)" in line)
    assert skipped == unimplemented
    # families other helpers implement later must pass too; skipped ones are counted apart
    check_lines = [x for x in shipped_report.lines[:-1] if x.split()[1] != "skipped"]
    assert check_lines and all(x.endswith("  ok") for x in check_lines), shipped_report.lines
    assert (shipped_report.passed, shipped_report.failed, shipped_report.skipped) == \
        (len(check_lines), 0, len(unimplemented))
    assert shipped_report.lines[-1] == \
        f"conformance: {len(check_lines)} passed, 0 failed, {len(unimplemented)} skipped"
    assert shipped_report.exit_status == 0


def test_float_lines_show_error_and_tolerance(shipped_report):
    line = next(x for x in shipped_report.lines if "greedy.step_logits_cfg" in x)
    err, tol = map(float, re.search(r"max\|Δ\| (\S+) <= tol (\S+)", line).groups())
    assert 0 <= err <= tol


def _copy_audiogen(tmp_path: Path) -> Path:
    root = tmp_path / "set"
    shutil.copytree(FIXTURES / "audiogen", root / "audiogen")
    return root


def _edit(path: Path, key: str, change) -> None:
    data = torch.load(path, weights_only=True)
    data[key] = change(data[key].clone())
    torch.save(data, path)


def test_one_flipped_token_fails_that_check_and_the_exit_status(tmp_path):
    root = _copy_audiogen(tmp_path)

    def flip(tokens):
        tokens[1, 2, 3] = (tokens[1, 2, 3] + 1) % 8
        return tokens

    _edit(root / "audiogen" / "sampled.pt", "tokens", flip)
    stream = io.StringIO()
    assert run_conformance(root, stream) == 1
    results = _parse(stream.getvalue().splitlines(), "audiogen")
    assert results.pop("sampled.tokens") == "FAIL"
    assert "mismatches 1/" in next(x for x in stream.getvalue().splitlines() if "sampled.tokens" in x)
    assert set(results.values()) == {"ok"}
    assert stream.getvalue().splitlines()[-1].endswith(", 1 failed, 0 skipped")


def test_a_float_off_by_more_than_the_tolerance_fails(tmp_path):
    root = _copy_audiogen(tmp_path)
    _edit(root / "audiogen" / "codec.pt", "wav_out", lambda w: w + 1e-3)
    report = run(root)
    assert _parse(report.lines, "audiogen")["codec.wav_out"] == "FAIL" and report.exit_status == 1


def test_a_missing_fixture_file_is_a_failed_line_not_a_crash(tmp_path):
    root = _copy_audiogen(tmp_path)
    (root / "audiogen" / "greedy.pt").unlink()
    report = run(root)
    assert report.exit_status == 1
    assert any("setup" in x and "greedy.pt" in x and x.endswith("FAIL") for x in report.lines)


def test_only_unimplemented_families_is_not_a_pass(tmp_path):
    (tmp_path / "not_a_family").mkdir()  # skipped like an unimplemented one, whatever lands later
    report = run(tmp_path)
    assert (report.passed, report.failed, report.skipped) == (0, 0, 1)
    assert report.exit_status == 1


def test_cli_entry(capsys, tmp_path):
    from musicgen_bridge.bridge.cli import main as cli_main

    root = _copy_audiogen(tmp_path)
    assert cli_main(["conformance", "audiocraft", str(root)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1].startswith("conformance: ") and ", 0 failed, 0 skipped" in out[-1]
    assert cli_main(["conformance", "audiocraft", str(tmp_path / "nope")]) == 2
