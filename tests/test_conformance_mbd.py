"""audiocraft conformance, Multi-Band Diffusion: every mbd check of the copied fixture set passes."""

from __future__ import annotations

from pathlib import Path

from engine.conformance.mbd import run_mbd

FIXTURES = Path(__file__).parent / "fixtures" / "audiocraft"


def test_every_mbd_check_passes_with_injected_noise():
    checks = run_mbd(FIXTURES / "mbd")
    report = "\n".join(c.render() for c in checks)
    ran = [c for c in checks if c.status != "skipped"]
    assert all(c.passed for c in ran), report
    names = {c.name for c in ran}
    assert {"noise_draws", "band_outputs[0]", "band_outputs[1]", "generate_out", "tokens_to_wav"} <= names, report
