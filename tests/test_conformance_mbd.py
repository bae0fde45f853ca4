"""audiocraft conformance, Multi-Band Diffusion: every mbd check of the copied fixture set passes."""

from __future__ import annotations

import shutil
from fractions import Fraction
from pathlib import Path

import torch

from musicgen_bridge.engine.conformance.mbd import checks
from musicgen_bridge.engine.conformance.runner import run

FIXTURES = Path(__file__).parent / "fixtures" / "audiocraft"


def test_every_mbd_check_passes_with_injected_noise():
    found = list(checks(FIXTURES / "mbd"))
    report = "\n".join(c.line("mbd") for c in found)
    assert all(c.passed for c in found), report
    names = {c.name for c in found}
    expected = {"emb", "wav_encodec", "noise_draws", "generate_out", "tokens_to_wav", "tokens_to_wav(codes)"}
    n_bands = int(torch.load(FIXTURES / "mbd" / "mbd.pt", weights_only=True)["n_bands"])
    expected |= {f"band_outputs[{i}]" for i in range(n_bands)}
    assert expected <= names, report


def _copy_mbd(tmp_path: Path) -> Path:
    root = tmp_path / "set"
    shutil.copytree(FIXTURES / "mbd", root / "mbd")
    return root


def test_a_wrong_band_output_or_a_reordered_noise_fails_its_checks(tmp_path):
    root = _copy_mbd(tmp_path)
    path = root / "mbd" / "mbd.pt"
    data = torch.load(path, weights_only=True)
    data["band_outputs"] = data["band_outputs"].clone()
    data["band_outputs"][1] += 1e-2
    data["noises"] = data["noises"].flip(0)  # the same draws in another order
    torch.save(data, path)
    report = run(root)
    status = {line.split()[1]: line.split()[-1] for line in report.lines if line.startswith("mbd ")}
    assert status["band_outputs[1]"] == "FAIL" and status["tokens_to_wav"] == "FAIL"
    assert status["band_outputs[0]"] == "FAIL"  # noise order matters from the first draw
    assert status["emb"] == "ok" and status["noise_draws"] == "ok" and report.exit_status == 1


def test_an_unsafe_checkpoint_in_the_set_is_a_failed_setup_line(tmp_path):
    root = _copy_mbd(tmp_path)
    (root / "mbd" / "mbd_checkpoint.th").unlink()
    torch.save({"sample_rate": 24000, "n_bands": 1, 0: {"cfg": Fraction(1, 3)}}, root / "mbd" / "mbd_checkpoint.th")
    report = run(root)
    setup = [line for line in report.lines if line.startswith("mbd ") and "setup" in line]
    assert setup and "bad_checkpoint" in setup[0] and "fractions.Fraction" in setup[0] and setup[0].endswith("FAIL")
    assert report.exit_status == 1
