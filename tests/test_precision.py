"""Decoding precision (issue 22): dtype selection, int8/bf16/fp16 weights, their logit error on tiny,
and the device choice (CUDA, MPS, CPU) with availability monkeypatched. No timing here: speed is
measured by bench/decode.py."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from musicgen_bridge.bridge.cli.args import request_content
from musicgen_bridge.bridge.cli.commands import build_parser
from musicgen_bridge.engine.engine import Engine, EngineConfig
from musicgen_bridge.engine.errors import EngineError
from musicgen_bridge.engine.generation.fast import precision
from musicgen_bridge.engine.generation.fast.compare import precision_error
from musicgen_bridge.engine.generation.fast.decoder import generate_fast, weights_for
from musicgen_bridge.engine.generation.fast.linear import Dense, Fp16Packed, Int8
from musicgen_bridge.engine.generation.reference import Conditioning
from musicgen_bridge.engine.generation.sampling import SamplingParams
from musicgen_bridge.engine.models import registry as registry_module
from musicgen_bridge.engine.models.registry import ModelRegistry, resolve_device, resolve_precision
from musicgen_bridge.engine.produce.context import EngineContext, choose_generator
from musicgen_bridge.engine.request import GenerateRequest

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def tiny():
    return ModelRegistry(device="cpu").load("tiny")


# -- names and selection ----------------------------------------------------------------------

@pytest.mark.parametrize("given, name", [(None, None), ("auto", None), ("fp32", "fp32"), ("float32", "fp32"),
                                         ("bfloat16", "bf16"), ("half", "fp16"), ("int8", "int8")])
def test_precision_names(given, name):
    assert precision.normalize(given) == name


@pytest.mark.parametrize("bad", ["int4", "FP32", "", 8, True])
def test_bad_dtype_is_invalid_field(bad):
    with pytest.raises(EngineError) as err:
        GenerateRequest.from_dict({"prompt": "x", "dtype": bad})
    assert (err.value.code, err.value.details.get("field")) == ("invalid_field", "dtype")


def test_request_dtype_round_trips():
    req = GenerateRequest.from_dict({"prompt": "x", "dtype": "bfloat16"})
    assert req.dtype == "bf16"
    assert GenerateRequest.from_dict(req.to_dict()).dtype == "bf16"
    assert GenerateRequest.from_dict({"prompt": "x"}).dtype is None


def test_cli_dtype_flags():
    parser = build_parser()
    args = parser.parse_args(["generate", "--prompt", "x", "--dtype", "int8"])
    assert request_content(args)["dtype"] == "int8"
    assert "dtype" not in request_content(parser.parse_args(["generate", "--prompt", "x"]))
    serve = parser.parse_args(["serve", "--dtype", "int8", "--device", "cpu"])
    assert (serve.dtype, serve.device) == ("int8", "cpu")


def test_engine_dtype_is_the_fast_default(tmp_path):
    engine = Engine(EngineConfig(default_model="tiny", output_root=tmp_path, device="cpu", dtype="int8"))
    try:
        assert engine.info()["dtype"] == "int8"
        loaded = engine.registry.load("tiny")
        assert (loaded.decode_dtype, loaded.dtype) == ("int8", torch.float32)  # the reference keeps fp32 weights
        with pytest.raises(EngineError) as err:  # the reference generator cannot decode in bf16
            engine.submit("generate", {"prompt": "x", "bars": 1, "generator": "reference", "dtype": "bf16"})
        assert (err.value.code, err.value.details.get("field")) == ("unsupported", "dtype")
        with pytest.raises(EngineError) as err:
            engine.submit("generate", {"prompt": "x", "bars": 1, "dtype": "int4"})
        assert err.value.code == "invalid_field"
    finally:
        engine.close()


def test_request_dtype_reaches_the_fast_generator():
    calls = []

    def fake_fast(*args, **kwargs):
        calls.append(kwargs)

    ctx = EngineContext(registry=ModelRegistry(device="cpu"), paths=None, default_model="tiny",  # type: ignore[arg-type]
                        generators={"fast": fake_fast})
    choose_generator(ctx, GenerateRequest.from_dict({"prompt": "x", "dtype": "int8"}))()
    choose_generator(ctx, GenerateRequest.from_dict({"prompt": "x"}))()
    assert calls == [{"dtype": "int8"}, {}]


# -- weights ----------------------------------------------------------------------------------

def test_int8_weights_are_int8_per_channel(tiny):
    with tiny.lock:
        w = weights_for(tiny, "int8")
        assert weights_for(tiny, "int8") is w  # converted once, then kept
    decoder = tiny.model.decoder.model.decoder
    hidden, layer = w.hidden, decoder.layers[0]
    lw = w.layers[0]
    assert w.plan.kind == "int8" and not w.plan.exact and w.dtype == torch.float32
    assert lw.q is None and isinstance(lw.qkv, Int8)
    qkv = lw.qkv.weight_int8()
    assert qkv.dtype == torch.int8 and qkv.shape == (3 * hidden, hidden)
    fc1 = lw.fc1.weight_int8()  # type: ignore[union-attr]
    assert fc1.shape == layer.fc1.weight.shape and fc1.dtype == torch.int8
    assert int(fc1.abs().max()) == 127  # symmetric: each row's largest weight maps to +-127
    # one scale per output row: dequantized rows are within half a step of the fp32 weights
    weight = layer.fc1.weight.detach()
    scale = weight.abs().amax(dim=1, keepdim=True) / 127
    assert ((fc1.float() * scale - weight).abs() <= scale / 2 + 1e-7).all()
    heads = w.heads_fused.weight_int8()  # type: ignore[union-attr]
    assert heads.shape == (w.num_codebooks * tiny.model.decoder.config.vocab_size, hidden)


def test_exact_path_references_the_model(tiny):
    with tiny.lock:
        w = weights_for(tiny, "fp32")
    assert w.plan.exact and isinstance(w.layers[0].q, Dense) and w.layers[0].qkv is None
    assert w.layers[0].q.weight.data_ptr() == tiny.model.decoder.model.decoder.layers[0].self_attn.q_proj.weight.data_ptr()


def test_bf16_and_fp16_weights(tiny):
    with tiny.lock:
        bf16, fp16 = weights_for(tiny, "bf16"), weights_for(tiny, "fp16")
    assert bf16.dtype == torch.bfloat16 and isinstance(bf16.layers[0].qkv, Dense)
    assert bf16.layers[0].qkv.weight.dtype == torch.bfloat16
    assert fp16.dtype == torch.float32 and isinstance(fp16.layers[0].fc2, Fp16Packed)  # CPU: fbgemm fp16


# -- decoding ---------------------------------------------------------------------------------

def test_fp32_request_is_the_exact_path(tiny):
    cond, params = Conditioning(["warm pads"]), SamplingParams(top_k=250)
    assert torch.equal(generate_fast(tiny, cond, 12, params, [5], dtype="fp32").tokens,
                       generate_fast(tiny, cond, 12, params, [5]).tokens)


#: measured on tiny (2 takes, 100 frames): int8 0.15, bf16 0.07, fp16 0.001 of the logits' spread
BOUNDS = {"int8": 0.3, "bf16": 0.2, "fp16": 0.01}


@pytest.mark.parametrize("dtype", ["int8", "bf16", "fp16"])
@pytest.mark.parametrize("name", ["tiny", "tiny-melody"])
def test_low_precision_decodes_close_to_fp32(dtype, name):
    loaded = ModelRegistry(device="cpu").load(name)
    cond, params = Conditioning(["warm pads", "drums"]), SamplingParams(top_k=250, cfg=3.0)
    out = generate_fast(loaded, cond, 24, params, [1, 2], dtype=dtype)
    assert tuple(out.tokens.shape) == (2, loaded.num_codebooks, 24)
    assert out.audio.shape == (2, 1, 24 * loaded.sample_rate // loaded.frame_rate)
    report = precision_error(loaded, cond, 24, params, [1, 2], dtype)
    # guided logits (what sampling sees), teacher-forced: the error stays a small share of their spread
    assert 0 < report.relative_error < BOUNDS[dtype]
    assert report.top1_agreement >= 0.9


# -- devices ----------------------------------------------------------------------------------

@pytest.mark.parametrize("cuda, mps, expected", [(True, True, "cuda"), (False, True, "mps"), (False, False, "cpu")])
def test_auto_device_prefers_cuda_then_mps(monkeypatch, cuda, mps, expected):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(registry_module, "mps_available", lambda: mps)
    assert resolve_device("auto").type == expected


def test_mps_needs_an_apple_gpu(monkeypatch):
    monkeypatch.setattr(registry_module, "mps_available", lambda: False)
    with pytest.raises(EngineError) as err:
        resolve_device("mps")
    assert err.value.code == "unsupported"
    monkeypatch.setattr(registry_module, "mps_available", lambda: True)
    assert resolve_device("mps") == torch.device("mps")
    with pytest.raises(EngineError) as err:
        resolve_device("tpu")
    assert (err.value.code, err.value.details.get("field")) == ("invalid_field", "device")


def test_dtype_per_device(monkeypatch):
    mps, cuda = torch.device("mps"), torch.device("cuda")
    assert resolve_precision(None, CPU) == (torch.float32, None)
    assert resolve_precision(None, mps) == (torch.float16, None)  # fp16 on Apple GPUs
    assert resolve_precision("int8", CPU) == (torch.float32, "int8")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)
    assert resolve_precision(None, cuda) == (torch.float16, None)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    assert resolve_precision(None, cuda) == (torch.bfloat16, None)
    for device, dtype in ((cuda, "int8"), (mps, "int8"), (mps, "bf16")):
        with pytest.raises(EngineError) as err:
            resolve_precision(dtype, device)
        assert err.value.code == "unsupported"
    # on MPS the fp16 model decodes with its own tensors; on CPU fp16 means fbgemm-packed weights
    assert precision.plan_for("fp16", mps, torch.float16) == precision.Plan("fp16", "dense", torch.float16, True)
    assert precision.plan_for("fp16", CPU, torch.float32).kind == "fp16-packed"


def test_cpu_without_fbgemm(monkeypatch):
    monkeypatch.setattr(precision, "fbgemm_available", lambda: False)  # an ARM CPU (Apple Silicon)
    with pytest.raises(EngineError) as err:
        precision.plan_for("int8", CPU, torch.float32)
    assert err.value.code == "unsupported"
    assert precision.plan_for("fp16", CPU, torch.float32) == precision.Plan("fp16", "dense", torch.float16, False)


def test_mps_fallback_is_enabled_before_torch_loads_on_macos():
    code = ("import os, sys; os.environ.pop('PYTORCH_ENABLE_MPS_FALLBACK', None); sys.platform = 'darwin'; "
            "import musicgen_bridge; print(os.environ.get('PYTORCH_ENABLE_MPS_FALLBACK'), 'torch' in sys.modules)")
    env = {k: v for k, v in os.environ.items() if k != "PYTORCH_ENABLE_MPS_FALLBACK"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.split() == ["1", "False"]
