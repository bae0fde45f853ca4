"""MAGNeT's request fields, CLI flags and window policy: parsed, validated with stable codes, round-tripped."""

from __future__ import annotations

from fractions import Fraction

import pytest

from musicgen_bridge.bridge.cli.args import request_content
from musicgen_bridge.bridge.cli.commands import build_parser
from musicgen_bridge.engine.errors import EngineError
from musicgen_bridge.engine.generation.magnet import MagnetParams
from musicgen_bridge.engine.generation.magnet_options import check_for_model
from musicgen_bridge.engine.produce.fixed_window import check_fits, max_bars, usable_seconds
from musicgen_bridge.engine.request import GenerateRequest
from musicgen_bridge.engine.timing.timeline import TimeSignature

BASE = {"prompt": "x", "bars": 2, "bpm": 120, "model": "tiny-magnet"}


def magnet(**fields) -> MagnetParams:
    params = GenerateRequest.from_dict({**BASE, **fields}).sampling.magnet
    assert params is not None
    return params


def test_absent_fields_keep_audiocrafts_magnet_defaults_not_musicgens() -> None:
    assert magnet() == MagnetParams()
    assert (magnet().temperature, magnet().top_p, magnet().top_k, magnet().max_cfg_coef) == (3.0, 0.9, 0, 10.0)
    req = GenerateRequest.from_dict(BASE)
    assert (req.sampling.temperature, req.sampling.top_k) == (1.0, 250)  # MusicGen's, for MusicGen


def test_every_setting_is_settable_per_request() -> None:
    p = magnet(decoding_steps=[8, 4, 2, 1], span_arrangement="stride1", span_scoring="prod", max_cfg=6,
               min_cfg=2, anneal_temperature=False, temperature=1.5, top_p=0.5, greedy=True)
    assert p == MagnetParams(decoding_steps=(8, 4, 2, 1), span_arrangement="stride1", span_scoring="prod",
                             temperature=1.5, anneal_temp=False, top_k=0, top_p=0.5, max_cfg_coef=6.0,
                             min_cfg_coef=2.0, use_sampling=False)
    assert p.passes == 15
    assert magnet(decoding_steps="5,3,3,3").decoding_steps == (5, 3, 3, 3)  # the CLI's and OSC's form
    assert magnet(decoding_steps=[5.0, 3, 3, 3]).decoding_steps == (5, 3, 3, 3)


def test_shared_fields_mean_the_same_for_magnet() -> None:
    assert (magnet(top_k=50).top_k, magnet(top_k=50).top_p) == (50, 0.0)  # top-k asked: top-k used
    assert (magnet(top_k=50, top_p=0.8).top_p, magnet(cfg=4).max_cfg_coef, magnet(cfg=4).min_cfg_coef) == \
        (0.8, 4.0, 4.0)


@pytest.mark.parametrize(("fields", "field"), [
    ({"span_arrangement": "overlap"}, "span_arrangement"),
    ({"span_scoring": "min"}, "span_scoring"),
    ({"decoding_steps": "fast"}, "decoding_steps"),
    ({"decoding_steps": [0, 1, 1, 1]}, "decoding_steps"),
    ({"decoding_steps": [1.5, 1, 1, 1]}, "decoding_steps"),
    ({"decoding_steps": []}, "decoding_steps"),
    ({"decoding_steps": [True, 1, 1, 1]}, "decoding_steps"),
    ({"decoding_steps": [10**400, 1, 1, 1]}, "decoding_steps"),
    ({"decoding_steps": "1,inf,1,1"}, "decoding_steps"),
    ({"decoding_steps": list(range(1, 100))}, "decoding_steps"),
    ({"max_cfg": 10**400}, "max_cfg"),
    ({"max_cfg": 101}, "max_cfg"),
    ({"min_cfg": -1}, "min_cfg"),
    ({"max_cfg": "high"}, "max_cfg"),
    ({"cfg": 3, "max_cfg": 5}, "cfg"),
    ({"anneal_temperature": "yes"}, "anneal_temperature"),
])
def test_bad_values_are_invalid_field_naming_the_field(fields, field) -> None:
    with pytest.raises(EngineError) as err:
        GenerateRequest.from_dict({**BASE, **fields})
    assert err.value.code == "invalid_field" and err.value.details["field"] == field, err.value


def test_steps_must_match_the_models_codebooks() -> None:
    check_for_model(magnet(decoding_steps=[1, 1, 1, 1]), "tiny-magnet", 4)
    with pytest.raises(EngineError) as err:
        check_for_model(magnet(decoding_steps=[4, 2]), "tiny-magnet", 4)
    assert err.value.code == "invalid_field" and "has 4" in err.value.message


def test_the_sidecar_form_gives_back_the_same_request() -> None:
    for fields in ({}, {"temperature": 2.0}, {"decoding_steps": "6,3,3,3", "span_arrangement": "stride1"},
                   {"top_k": 10, "cfg": 2.0, "greedy": True}):
        req = GenerateRequest.from_dict({**BASE, **fields})
        again = GenerateRequest.from_dict(req.to_dict())
        assert again.sampling == req.sampling and again.sampling.magnet == req.sampling.magnet
    out = GenerateRequest.from_dict({**BASE, "decoding_steps": "6,3,3,3"}).to_dict()
    assert out["decoding_steps"] == [6, 3, 3, 3] and "temperature" not in out  # unsent: the family's default


def test_cli_flags_become_request_fields() -> None:
    args = build_parser().parse_args(["generate", "--local", "--model", "tiny-magnet", "--decoding-steps", "8,4,4,4",
                                      "--span-arrangement", "stride1", "--span-scoring", "prod", "--max-cfg", "5",
                                      "--min-cfg", "1.5", "--no-anneal-temperature"])
    content = request_content(args)
    assert {k: content[k] for k in ("decoding_steps", "span_arrangement", "span_scoring", "max_cfg", "min_cfg",
                                    "anneal_temperature")} == \
        {"decoding_steps": "8,4,4,4", "span_arrangement": "stride1", "span_scoring": "prod", "max_cfg": 5.0,
         "min_cfg": 1.5, "anneal_temperature": False}
    p = GenerateRequest.from_dict(content).sampling.magnet
    assert p is not None and (p.decoding_steps, p.anneal_temp, p.max_cfg_coef) == ((8, 4, 4, 4), False, 5.0)
    plain = request_content(build_parser().parse_args(["generate", "--model", "tiny"]))
    assert not {"decoding_steps", "span_arrangement", "anneal_temperature"} & set(plain)


def test_window_policy_numbers() -> None:
    four_four, ts34 = TimeSignature(4, 4), TimeSignature(3, 4)
    assert usable_seconds(10, "nonoverlap") == Fraction(496, 50)  # 498 frames of whole spans, less 2
    assert usable_seconds(10, "stride1") == Fraction(498, 50)
    assert usable_seconds(30, "nonoverlap") == Fraction(1498, 50)  # 1500 frames: whole spans already
    assert max_bars(usable_seconds(10, "nonoverlap"), four_four, Fraction(120)) == 4  # 2 s a bar
    assert max_bars(usable_seconds(30, "nonoverlap"), four_four, Fraction(120)) == 14
    assert max_bars(usable_seconds(10, "nonoverlap"), ts34, Fraction(90)) == 4  # 2 s a bar
    check_fits("m", 10, "nonoverlap", Fraction(8), four_four, Fraction(120), bars=4)
    with pytest.raises(EngineError) as err:
        check_fits("m", 10, "nonoverlap", Fraction(10), four_four, Fraction(120), bars=5)
    assert err.value.code == "too_large" and err.value.details == {"field": "bars", "max_bars": 4,
                                                                   "max_seconds": 9.92}
    assert "at most 4 bars fit at this tempo" in err.value.message
    with pytest.raises(EngineError) as err:
        check_fits("m", 10, "stride1", Fraction(997, 100), four_four, Fraction(120), bars=None)
    assert err.value.details["field"] == "seconds" and err.value.details["max_seconds"] == 9.96
    with pytest.raises(EngineError) as err:  # 20 bpm: a bar of 4/4 is 12 s
        check_fits("m", 10, "nonoverlap", Fraction(12), four_four, Fraction(20), bars=1)
    assert "not even one bar fits" in err.value.message and err.value.details["max_bars"] == 0
