"""Effect chains as data: validation (every bad_fx case), presets, VST3 loading policy."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pedalboard
import pytest

from musicgen_bridge.engine.errors import EngineError
from musicgen_bridge.engine.render import fx as fxmod
from musicgen_bridge.engine.render.fx import BUILTINS, EXTRA_RANGES, NYQUIST, BuiltinFx, FxChain, Vst3Fx, parse_chain
from musicgen_bridge.engine.render.presets import SHIPPED_PRESETS, list_presets, resolve_chain
from musicgen_bridge.engine.render.renderer import Renderer, RenderSpec
from musicgen_bridge.engine.render.vst3 import PluginCache

RNG_SEED = 1234


def bad_fx(call, *args, **kwargs) -> EngineError:
    with pytest.raises(EngineError) as info:
        call(*args, **kwargs)
    assert info.value.code == "bad_fx", info.value
    assert "\n" not in info.value.message
    return info.value


# --- built-ins ---------------------------------------------------------------------------------

def test_valid_chain_round_trips_through_json() -> None:
    data = [
        {"plugin": "HighpassFilter", "cutoff_frequency_hz": 30},
        {"plugin": "Compressor", "threshold_db": -18, "ratio": 4},
        {"plugin": "LadderFilter", "mode": "HPF24", "cutoff_hz": 300},
    ]
    chain = parse_chain(data, sample_rate=48000)
    assert chain.items[1] == BuiltinFx("Compressor", {"threshold_db": -18.0, "ratio": 4.0})
    again = parse_chain(json.loads(json.dumps(chain.to_json())), sample_rate=48000)
    assert again == chain
    made = chain.items[2].make()
    assert made.mode == pedalboard.LadderFilter.Mode.HPF24 and made.cutoff_hz == 300.0


@pytest.mark.parametrize("name", BUILTINS)
def test_every_builtin_with_defaults_parses_and_runs(name: str) -> None:
    chain = parse_chain([{"plugin": name}], sample_rate=48000)
    noise = np.random.default_rng(RNG_SEED).standard_normal((2, 4800)).astype(np.float32) * 0.1
    out = pedalboard.Pedalboard([chain.items[0].make()])(noise, 48000)
    assert out.shape[0] == 2 and np.isfinite(out).all()


@pytest.mark.parametrize(("plugin", "param"), sorted(EXTRA_RANGES))
def test_extra_range_edges_are_accepted_and_safe_beyond_is_refused(plugin: str, param: str) -> None:
    rate = 48000
    low, high = EXTRA_RANGES[(plugin, param)]
    top = rate / 2 * 0.95 if high == NYQUIST else float(high)
    noise = np.random.default_rng(RNG_SEED).standard_normal((2, 4800)).astype(np.float32) * 0.1
    for value in (low, top):
        chain = parse_chain([{"plugin": plugin, param: value}], sample_rate=rate)
        out = pedalboard.Pedalboard([chain.items[0].make()])(noise, rate)
        assert np.isfinite(out).all(), (plugin, param, value)
    beyond = rate / 2 if high == NYQUIST else float(high) + 1.0
    err = bad_fx(parse_chain, [{"plugin": plugin, param: beyond}], sample_rate=rate)
    assert f"{plugin}.{param}" in err.message and "out of range" in err.message
    bad_fx(parse_chain, [{"plugin": plugin, param: low - 1.0}], sample_rate=rate)


@pytest.mark.parametrize(
    ("chain", "needle"),
    [
        ({"plugin": "Gain"}, "JSON list"),
        ("Gain", "JSON list"),
        ([["Gain"]], "must be an object"),
        ([{"gain_db": 3}], "exactly one of"),
        ([{"plugin": "Gain", "vst3": "/x.vst3"}], "exactly one of"),
        ([{"plugin": "SuperVerb"}], "unknown plugin 'SuperVerb'"),
        ([{"plugin": "Convolution"}], "unknown plugin 'Convolution'"),
        ([{"plugin": 7}], "unknown plugin 7"),
        ([{"plugin": "Compressor", "thresh": -10}], "has no parameter 'thresh'"),
        ([{"plugin": "Invert", "gain_db": 1}], "has no parameter 'gain_db'"),
        ([{"plugin": "Compressor", "ratio": "4"}], "must be a number, got str"),
        ([{"plugin": "Compressor", "ratio": True}], "must be a number, got bool"),
        ([{"plugin": "Compressor", "ratio": None}], "must be a number, got NoneType"),
        ([{"plugin": "Gain", "gain_db": math.nan}], "must be finite"),
        ([{"plugin": "Gain", "gain_db": math.inf}], "must be finite"),
        ([{"plugin": "LadderFilter", "mode": 2}], "must be a string"),
        ([{"plugin": "LadderFilter", "mode": "LPF48"}], "'LPF48' is not one of"),
        ([{"plugin": "Resample", "quality": "Best"}], "is not one of"),
        ([{"plugin": "Reverb", "room_size": 1.5}], "Room Size value must be between"),  # pedalboard's range
        ([{"plugin": "Compressor", "ratio": 0.5}], "ratio must be a value >= 1.0"),  # pedalboard's range
        ([{"plugin": "Delay", "delay_seconds": 31}], "between 0.0s and 30s"),  # pedalboard's range
        ([{"plugin": "Gain", "gain_db": 100}], "out of range [-96, 24]"),  # our table
        ([{"plugin": "Gain"}] * (fxmod.MAX_PLUGINS + 1), "at most 32"),
    ],
)
def test_bad_builtin_chains_are_refused_with_a_named_problem(chain, needle: str) -> None:
    err = bad_fx(parse_chain, chain, sample_rate=48000)
    assert needle in err.message


def test_bad_entry_index_is_named() -> None:
    err = bad_fx(parse_chain, [{"plugin": "Gain"}, {"plugin": "Gain", "gain_db": "loud"}])
    assert err.message.startswith("fx[1] Gain.gain_db") and err.details["index"] == 1


def test_cutoff_must_be_below_nyquist_of_the_output_rate() -> None:
    entry = [{"plugin": "LowpassFilter", "cutoff_frequency_hz": 20000}]
    assert len(parse_chain(entry, sample_rate=48000)) == 1
    err = bad_fx(parse_chain, entry, sample_rate=32000)
    assert "[1, 16000) at 32000 Hz" in err.message
    chain = parse_chain(entry)  # no rate yet: checked once the spec names one
    with pytest.raises(EngineError) as info:
        RenderSpec(sample_rate=32000, fx=chain)
    assert info.value.code == "bad_fx"
    with pytest.raises(EngineError) as info:
        RenderSpec.from_dict({"sample_rate": 32000, "fx": entry})
    assert info.value.code == "bad_fx"


# --- presets -----------------------------------------------------------------------------------

def test_shipped_presets_resolve_by_name_and_by_path() -> None:
    assert set(list_presets([SHIPPED_PRESETS])) == {"master-lite", "lofi", "wide-verb"}
    for name in ("master-lite", "lofi", "wide-verb"):
        by_name = resolve_chain(name, sample_rate=32000, preset_dirs=[SHIPPED_PRESETS])
        by_path = resolve_chain(str(SHIPPED_PRESETS / f"{name}.json"), sample_rate=32000)
        assert by_name == by_path and len(by_name) >= 3
    master = resolve_chain("master-lite", preset_dirs=[SHIPPED_PRESETS])
    assert [i.plugin for i in master] == ["HighpassFilter", "Compressor", "Limiter"]


def test_user_preset_folder_wins_and_inline_forms_work(tmp_path: Path) -> None:
    (tmp_path / "master-lite.json").write_text(json.dumps([{"plugin": "Gain", "gain_db": -6}]))
    chain = resolve_chain("master-lite", preset_dirs=[tmp_path, SHIPPED_PRESETS])
    assert chain.to_json() == [{"plugin": "Gain", "gain_db": -6.0}]
    assert resolve_chain({"chain": [{"plugin": "Invert"}]}).to_json() == [{"plugin": "Invert"}]
    assert resolve_chain(None) == FxChain()


def test_preset_and_chain_file_errors(tmp_path: Path) -> None:
    err = bad_fx(resolve_chain, "no-such-preset", preset_dirs=[SHIPPED_PRESETS])
    assert "unknown fx preset 'no-such-preset'" in err.message and "master-lite" in err.message
    err = bad_fx(resolve_chain, str(tmp_path / "missing.json"))
    assert "not found" in err.message
    broken = tmp_path / "broken.json"
    broken.write_text("[{\"plugin\": ")
    assert "not valid JSON" in bad_fx(resolve_chain, str(broken)).message
    no_chain = tmp_path / "nochain.json"
    no_chain.write_text(json.dumps({"description": "x"}))
    assert "needs a \"chain\" list" in bad_fx(resolve_chain, str(no_chain)).message
    bad_entry = tmp_path / "bad.json"
    bad_entry.write_text(json.dumps({"chain": [{"plugin": "Gain", "volume": 1}]}))
    assert "no parameter 'volume'" in bad_fx(resolve_chain, str(bad_entry)).message
    assert "not int" in bad_fx(resolve_chain, 5).message


# --- VST3 --------------------------------------------------------------------------------------

def make_fake_bundle(folder: Path, name: str = "Fake") -> Path:
    """A .vst3 bundle folder whose binary is garbage: exists, but cannot load."""
    bundle = folder / f"{name}.vst3"
    binary = bundle / "Contents" / "x86_64-linux"
    binary.mkdir(parents=True)
    (binary / f"{name}.so").write_bytes(b"not a shared object")
    return bundle


def test_vst3_file_problems(tmp_path: Path) -> None:
    vst_dir = tmp_path / "vst3"
    bundle = make_fake_bundle(vst_dir)
    ok = parse_chain([{"vst3": str(bundle), "params": {"mix": 0.5}}], vst3_dirs=[vst_dir])
    assert ok.items[0] == Vst3Fx(bundle.resolve(), {"mix": 0.5})
    by_name = parse_chain([{"vst3": "Fake.vst3"}], vst3_dirs=[vst_dir])  # relative: looked up in the folders
    assert by_name.items[0].path == bundle.resolve()
    cases = [
        ([{"vst3": str(vst_dir / "Missing.vst3")}], "is not available"),
        ([{"vst3": ""}], "non-empty path"),
        ([{"vst3": str(bundle), "param": {}}], "unknown key 'param'"),
        ([{"vst3": str(bundle), "params": [1, 2]}], "params must be an object"),
        ([{"vst3": str(bundle), "params": {"mix": [1]}}], "unusable value"),
        ([{"vst3": str(bundle), "params": {"mix": math.nan}}], "unusable value"),
        ([{"vst3": str(bundle), "preset": "nope.vstpreset"}], "is not available"),
        ([{"vst3": str(bundle), "plugin_name": 3}], "plugin_name must be a string"),
    ]
    for chain, needle in cases:
        assert needle in bad_fx(parse_chain, chain, vst3_dirs=[vst_dir]).message, needle
    not_vst = vst_dir / "thing.dll"
    not_vst.write_bytes(b"x")
    assert "is not a .vst3 plugin" in bad_fx(parse_chain, [{"vst3": str(not_vst)}], vst3_dirs=[vst_dir]).message


def test_vst3_outside_the_plugin_folders_is_refused_even_through_a_symlink(tmp_path: Path) -> None:
    vst_dir, elsewhere = tmp_path / "vst3", tmp_path / "downloads"
    vst_dir.mkdir()
    outside = make_fake_bundle(elsewhere, "Evil")
    err = bad_fx(parse_chain, [{"vst3": str(outside)}], vst3_dirs=[vst_dir])
    assert "is not available: it must be in the allowed folders" in err.message
    (vst_dir / "Evil.vst3").symlink_to(outside, target_is_directory=True)
    err = bad_fx(parse_chain, [{"vst3": str(vst_dir / "Evil.vst3")}], vst3_dirs=[vst_dir])
    assert "is not available: it must be in the allowed folders" in err.message


def test_unloadable_vst3_is_bad_fx_before_any_audio_work(tmp_path: Path) -> None:
    vst_dir = tmp_path / "vst3"
    bundle = make_fake_bundle(vst_dir)
    chain = parse_chain([{"plugin": "Gain"}, {"vst3": str(bundle)}], vst3_dirs=[vst_dir])
    polled: list[int] = []
    renderer = Renderer(RenderSpec(fx=chain))
    audio = np.zeros((2, 32000), np.float32)
    err = bad_fx(renderer.render, audio, 32000, cancelled=lambda: polled.append(1) or False)
    assert err.message.startswith("fx[1] Fake.vst3 could not be loaded")
    assert polled == []  # the chain never started


class FakeParameter:
    def __init__(self, low: float, high: float) -> None:
        self.low, self.high = low, high


class FakePlugin:
    """Stands in for pedalboard's VST3Plugin: parameters with ranges, raw_state, reset()."""

    def __init__(self) -> None:
        object.__setattr__(self, "values", {"mix": 0.5, "size": 1.0})
        object.__setattr__(self, "parameters", {"mix": FakeParameter(0, 1), "size": FakeParameter(0, 10)})
        object.__setattr__(self, "resets", 0)
        object.__setattr__(self, "presets", [])

    def __setattr__(self, name: str, value) -> None:
        if name == "raw_state":
            self.values.update(json.loads(value))
            return
        p = self.parameters[name]
        if not p.low <= value <= p.high:
            raise ValueError(f"Value received for parameter '{name}' ({value}) is out of range [{p.low}, {p.high}]")
        self.values[name] = value

    @property
    def raw_state(self) -> bytes:
        return json.dumps(self.values).encode()

    def reset(self) -> None:
        object.__setattr__(self, "resets", self.resets + 1)

    def load_preset(self, path: str) -> None:
        self.presets.append(path)
        self.values["size"] = 7.0


def test_plugin_cache_loads_once_restores_state_and_resets_each_lease(tmp_path: Path) -> None:
    loaded: list[str] = []

    def loader(path: str, **kw) -> FakePlugin:
        loaded.append(path)
        return FakePlugin()

    preset = tmp_path / "hall.vstpreset"
    preset.write_bytes(b"p")
    cache = PluginCache(loader=loader)
    spec = Vst3Fx(tmp_path / "Verb.vst3", {"mix": 0.9}, preset)
    with cache.lease(spec) as plugin:
        assert plugin.values == {"mix": 0.9, "size": 7.0} and plugin.presets == [str(preset)]
        plugin.size = 3.0  # a render changes state ...
    with cache.lease(Vst3Fx(spec.path, {}, preset)) as again:
        assert again is plugin and again.values == {"mix": 0.5, "size": 7.0}  # ... which never leaks
        assert again.resets == 2
    assert loaded == [str(spec.path)] and cache.loads == 1
    with cache.lease(Vst3Fx(spec.path, {})) as other:  # no preset: another key, another instance
        assert other is not plugin and other.values["size"] == 1.0
    assert cache.loads == 2


def test_plugin_cache_maps_parameter_errors_and_evicts_least_recent(tmp_path: Path) -> None:
    cache = PluginCache(max_plugins=2, loader=lambda path, **kw: FakePlugin())
    path = tmp_path / "Verb.vst3"
    err = bad_fx(lambda: cache.lease(Vst3Fx(path, {"wet": 1}), index=3).__enter__())
    assert "fx[3] Verb.vst3 has no parameter 'wet'" in err.message and "mix, size" in err.message
    err = bad_fx(lambda: cache.lease(Vst3Fx(path, {"mix": 2}), index=0).__enter__())
    assert "mix=2" in err.message and "out of range" in err.message
    for name in ("A", "B", "C"):
        with cache.lease(Vst3Fx(tmp_path / f"{name}.vst3", {})):
            pass
    assert len(cache) == 2


@pytest.mark.skipif(
    not os.environ.get("MGB_TEST_VST3"),
    reason="needs a real VST3 plugin: Debian ships dragonfly-reverb, lsp-plugins and dpf-plugins "
    "only as VST2/LV2 here; set MGB_TEST_VST3=/path/to/Effect.vst3 to run",
)
def test_real_vst3_renders_through_the_cache() -> None:
    bundle = Path(os.environ["MGB_TEST_VST3"]).resolve()
    chain = parse_chain([{"vst3": str(bundle)}], vst3_dirs=[bundle.parent])
    cache = PluginCache()
    noise = np.random.default_rng(RNG_SEED).standard_normal((2, 32000)).astype(np.float32) * 0.1
    spec = RenderSpec(fx=chain, true_peak_dbtp=None)
    first = Renderer(spec, plugin_cache=cache).render(noise, 32000, frames=48000)
    second = Renderer(spec, plugin_cache=cache, chunk_frames=1000).render(noise, 32000, frames=48000)
    assert first.shape == (2, 48000) and np.isfinite(first).all()
    assert cache.loads == 1
    np.testing.assert_allclose(first, second, atol=1e-6)


def test_rate_limited_builtins_are_refused_at_other_rates() -> None:
    entry = [{"plugin": "MP3Compressor", "vbr_quality": 4}]
    assert len(parse_chain(entry, sample_rate=44100)) == 1
    err = bad_fx(RenderSpec.from_dict, {"sample_rate": 96000, "fx": entry})
    assert "MP3Compressor only runs at 32000, 44100, 48000 Hz, not 96000 Hz" in err.message


def test_a_plugin_failing_mid_render_is_bad_fx() -> None:
    chain = parse_chain([{"plugin": "MP3Compressor"}])  # no rate given: the limit is not checked here
    spec = RenderSpec(sample_rate=48000, fx=chain)
    object.__setattr__(spec, "sample_rate", 96000)  # bypass validation to reach pedalboard's own refusal
    err = bad_fx(Renderer(spec).render, np.zeros((2, 9600), np.float32), 32000)
    assert "failed while processing" in err.message and "MP3 only supports" in err.message
