"""MAGNeT against audiocraft's own outputs: the conformance runner on the copied fixtures, and on
copies broken on purpose (so the checks can fail), plus the loader's reading of xp.cfg."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from musicgen_bridge.engine.conformance.runner import run
from musicgen_bridge.engine.errors import EngineError
from musicgen_bridge.engine.models.audiocraft.magnet import MagnetModel, load_magnet, local_attention_mask

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "audiocraft"
MAGNET = FIXTURES / "magnet"


def _results(lines: list[str]) -> dict[str, str]:
    out = {}
    for line in lines:
        parts = line.split()
        if parts and parts[0] == "magnet" and parts[1] != "skipped":
            out[parts[1]] = parts[-1]
    return out


def _required() -> set[str]:
    """Checks the shipped set must produce: one group per stored stage and per stored generation."""
    fwd = torch.load(MAGNET / "lm_forward.pt", weights_only=True)
    stages = [k[len("stage"):-len("_input")] for k in fwd if k.endswith("_input")]
    names = {"conditioning.description_embeds", "lm_forward.seq_len", "lm_forward.subcodes_context"}
    for s in stages:
        names |= {f"lm_forward.stage{s}.{x}" for x in ("attn_mask", "logits_cond", "logits_uncond", "logits_guided")}
    for path in MAGNET.glob("generate_*.pt"):
        run_name = path.stem
        names |= {f"{run_name}.tokens", f"{run_name}.rng_consumed"}
        if "audio" in torch.load(path, weights_only=True):
            names.add(f"{run_name}.audio")
    return names


def test_every_magnet_check_passes_on_the_shipped_fixtures():
    report = run(FIXTURES)
    results = _results(report.lines)
    assert _required() <= set(results), f"missing: {_required() - set(results)}"
    assert all(v == "ok" for v in results.values()), report.lines
    assert {"generate_nonoverlap.tokens", "generate_stride1.tokens"} <= set(results)
    assert not any(line.startswith("magnet") and "skipped" in line for line in report.lines)


def _magnet_copy(tmp_path: Path) -> Path:
    root = tmp_path / "set"
    shutil.copytree(MAGNET, root / "magnet")
    return root


def _edit(path: Path, **changes) -> None:
    data = torch.load(path, weights_only=True)
    for key, change in changes.items():
        data[key] = change(data[key])
    torch.save(data, path)


def test_settings_come_from_the_fixture_files_and_wrong_tokens_fail(tmp_path):
    root = _magnet_copy(tmp_path)

    def flip(tokens):
        tokens = tokens.clone()
        tokens[0, 1, 2] = (tokens[0, 1, 2] + 1) % 40
        return tokens

    _edit(root / "magnet" / "generate_stride1.pt", tokens=flip)
    # a different stored top-p must change what we generate: the setting is read, not assumed
    _edit(root / "magnet" / "generate_nonoverlap.pt", top_p=lambda p: p / 2)
    results = _results(run(root).lines)
    assert results.pop("generate_stride1.tokens") == "FAIL"
    assert results.pop("generate_nonoverlap.tokens") == "FAIL"
    assert results.pop("generate_nonoverlap.audio") == "FAIL"
    assert set(results.values()) == {"ok"}


def test_without_the_local_mask_later_stages_fail(tmp_path, monkeypatch):
    monkeypatch.setattr(MagnetModel, "stage_mask", lambda self, stage, frames: None)
    results = _results(run(_magnet_copy(tmp_path)).lines)
    assert results["lm_forward.stage0.logits_cond"] == "ok"
    assert results["lm_forward.stage1.attn_mask"] == "FAIL"
    assert results["lm_forward.stage1.logits_cond"] == "FAIL"


def test_window_and_spans_come_from_dataset_codec_and_masking_not_the_placeholders():
    model = load_magnet(MAGNET)
    cfg = model.base.cfg
    assert model.frames == int(cfg.get("dataset.segment_duration") * model.base.codec.frame_rate)
    assert model.span_len == cfg.get("masking.span_len") != cfg.get("transformer_lm.span_len")
    assert cfg.get("transformer_lm.segment_duration") != cfg.get("dataset.segment_duration")
    assert model.subcodes_context == cfg.get("transformer_lm.subcodes_context")


def test_local_mask_shape_and_band():
    mask = local_attention_mask(7, 2)
    assert mask[3].tolist() == [float("-inf"), 0, 0, 0, 0, 0, float("-inf")]
    assert torch.equal(mask, mask.T)


def test_a_non_magnet_checkpoint_is_refused():
    with pytest.raises(EngineError) as err:
        load_magnet(FIXTURES / "audiogen")
    assert err.value.code == "bad_checkpoint" and err.value.details["key"] == "lm_model"
    assert "state_dict.bin" in err.value.message
