"""Safe loading of Multi-Band Diffusion checkpoints: OmegaConf allowlist, refusals as bad_checkpoint."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from musicgen_bridge.engine.decoders.mbd import MultiBandDiffusion
from musicgen_bridge.engine.errors import EngineError
from musicgen_bridge.engine.models.audiocraft.mbd_checkpoint import load_mbd_checkpoint
from musicgen_bridge.engine.models.audiocraft.tiny_mbd import tiny_package

FIXTURE = Path(__file__).parent / "fixtures" / "audiocraft" / "mbd" / "mbd_checkpoint.th"


def _refused(path: Path) -> EngineError:
    with pytest.raises(EngineError) as info:
        MultiBandDiffusion.from_checkpoint(load_mbd_checkpoint(path))
    assert info.value.code == "bad_checkpoint"
    assert path.name in info.value.message and info.value.details["file"] == str(path)
    return info.value


def test_the_published_layout_loads_with_weights_only_and_resolves_the_cfg():
    ckpt = load_mbd_checkpoint(FIXTURE)
    assert ckpt.sample_rate == 24000 and len(ckpt.bands) == 2
    cfg = ckpt.bands[1].cfg
    assert type(cfg) is dict and type(cfg["schedule"]) is dict and cfg["processor"]["use"] is True
    assert MultiBandDiffusion.from_checkpoint(ckpt).bands[1].processor.use


def test_interpolations_and_list_configs_are_accepted(tmp_path):
    pkg = tiny_package()
    cfg = OmegaConf.to_container(pkg[0]["cfg"])
    cfg["sample_rate"] = 32000
    cfg["processor"]["sample_rate"] = "${sample_rate}"
    cfg["filter"]["cutoffs"] = [100.0, 2000.0]  # pickles a ListConfig
    pkg[0]["cfg"] = OmegaConf.create(cfg)
    torch.save(pkg, tmp_path / "mbd.th")
    band = load_mbd_checkpoint(tmp_path / "mbd.th").bands[0]
    assert band.cfg["processor"]["sample_rate"] == 32000 and band.cfg["filter"]["cutoffs"] == [100.0, 2000.0]


def test_a_pickled_class_outside_the_allowlist_is_refused_and_never_runs(tmp_path, monkeypatch):
    marker = tmp_path / "ran"
    (tmp_path / "mbd_payload_mod.py").write_text(textwrap.dedent(f"""
        from pathlib import Path
        Path({str(marker)!r} + ".import").touch()

        def touch(suffix):
            Path({str(marker)!r} + suffix).touch()

        class Payload:
            def __reduce__(self):          # unpickling would call touch(".call")
                return (touch, (".call",))

        class Settings:                    # a harmless-looking class with state
            def __init__(self):
                self.x = 1
            def __setstate__(self, state):
                touch(".setstate")
    """))
    monkeypatch.syspath_prepend(str(tmp_path))  # importable, so only the allowlist can stop it
    import mbd_payload_mod

    for name, obj in (("reduce.th", mbd_payload_mod.Payload()), ("state.th", mbd_payload_mod.Settings())):
        pkg = tiny_package()
        pkg[1]["cfg"] = obj
        torch.save(pkg, tmp_path / name)
    Path(str(marker) + ".import").unlink()
    del sys.modules["mbd_payload_mod"]

    err = _refused(tmp_path / "reduce.th")
    assert "mbd_payload_mod.touch" in err.message and err.details["refused"] == "mbd_payload_mod.touch"
    err = _refused(tmp_path / "state.th")
    assert "mbd_payload_mod.Settings" in err.message
    assert "mbd_payload_mod" not in sys.modules
    assert not list(tmp_path.glob("ran*")), "the checkpoint's code ran"


def test_missing_and_truncated_files(tmp_path):
    assert "not found" in _refused(tmp_path / "absent.th").message
    data = FIXTURE.read_bytes()
    (tmp_path / "cut.th").write_bytes(data[: len(data) // 2])
    _refused(tmp_path / "cut.th")
    (tmp_path / "text.th").write_text("not a checkpoint")
    _refused(tmp_path / "text.th")


def test_missing_band_and_missing_cfg_key_are_named(tmp_path):
    pkg = tiny_package()
    pkg["n_bands"] = 3
    torch.save(pkg, tmp_path / "bands.th")
    assert _refused(tmp_path / "bands.th").details["key"] == "2"

    pkg = tiny_package()
    cfg = OmegaConf.to_container(pkg[0]["cfg"])
    del cfg["diffusion_unet"]["hidden"]
    pkg[0]["cfg"] = OmegaConf.create(cfg)
    torch.save(pkg, tmp_path / "key.th")
    assert "diffusion_unet.hidden" in _refused(tmp_path / "key.th").details["key"]


def test_weights_that_do_not_fit_the_cfg_are_named(tmp_path):
    pkg = tiny_package()
    state = pkg[1]["model_state"]
    state["conv_codec.weight"] = torch.zeros(3, 3, 1)
    torch.save(pkg, tmp_path / "shape.th")
    err = _refused(tmp_path / "shape.th")
    assert "conv_codec.weight" in err.message and err.details["key"] == "band 1.conv_codec.weight"

    pkg = tiny_package()
    del pkg[0]["model_state"]["embedding.weight"]
    torch.save(pkg, tmp_path / "missing.th")
    assert "embedding.weight" in _refused(tmp_path / "missing.th").message

    pkg = tiny_package()
    del pkg[1]["processor_state"]["sum_x2"]
    torch.save(pkg, tmp_path / "proc.th")
    assert "sum_x2" in _refused(tmp_path / "proc.th").message


def test_unsupported_schedule_is_refused(tmp_path):
    pkg = tiny_package()
    cfg = OmegaConf.to_container(pkg[0]["cfg"])
    cfg["schedule"]["repartition"] = "sigmoid"
    pkg[0]["cfg"] = OmegaConf.create(cfg)
    torch.save(pkg, tmp_path / "sched.th")
    assert "repartition" in _refused(tmp_path / "sched.th").message
