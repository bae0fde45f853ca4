"""Decoding precision: the ``dtype`` names a request or an engine may give, and what each means here.

``fp32`` on an fp32 model is the exact path: the model's own tensors, the reference's shapes
(token-exact with transformers' ``generate`` on CPU). Any other choice decodes from a converted
copy of the decoder's weights (built once per model and precision, then kept), with fused
projections (q/k/v in one product, the codebook heads in one):

==========  =========================  ==================  ===============================
dtype       weights                    activations         where
==========  =========================  ==================  ===============================
``fp32``    fp32 (dense)               fp32                everywhere
``bf16``    bf16 (dense)               bf16                CPU (fast only with native
                                                           AVX-512 BF16/AMX), CUDA
``fp16``    fp16 (dense; on CPU:       fp16 (CPU: fp32)    CUDA, MPS; CPU via fbgemm
            fbgemm-packed)
``int8``    int8 per output channel    fp32, quantized     CPU only (fbgemm)
                                       per call to int8
==========  =========================  ==================  ===============================

>>> normalize("bfloat16"), normalize(None)
('bf16', None)
>>> plan = plan_for("int8", torch.device("cpu"), torch.float32)
>>> plan.kind, plan.activations, plan.exact
('int8', torch.float32, False)
>>> plan_for("fp32", torch.device("cpu"), torch.float32).exact
True
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ...errors import EngineError

PRECISIONS = ("fp32", "bf16", "fp16", "int8")
ALIASES = {"float32": "fp32", "bfloat16": "bf16", "float16": "fp16", "half": "fp16"}
FLOAT_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def normalize(name: str | None, field: str = "dtype") -> str | None:
    """A precision name (or alias) -> its short name; ``None``/``"auto"`` -> ``None`` (the default)."""
    if name is None or name == "auto":
        return None
    if isinstance(name, str) and name in ALIASES:
        return ALIASES[name]
    if name not in PRECISIONS:
        raise EngineError("invalid_field", f"{field} must be one of auto, {', '.join(PRECISIONS)}; got {name!r}",
                          field=field)
    return name


def name_of(dtype: torch.dtype) -> str:
    """torch float dtype -> precision name (``torch.bfloat16`` -> ``"bf16"``)."""
    for name, value in FLOAT_DTYPES.items():
        if value == dtype:
            return name
    raise ValueError(f"no precision name for {dtype}")


def fbgemm_available() -> bool:
    """torch's x86 int8/fp16 linear kernels (fbgemm) are built in (not on ARM, e.g. Apple CPUs)."""
    return any(e in torch.backends.quantized.supported_engines for e in ("fbgemm", "x86"))


@dataclass(frozen=True)
class Plan:
    """How the fast decoder holds and uses the weights for one precision on one device."""

    name: str
    kind: str  # linear.KINDS: dense | int8 | fp16-packed
    activations: torch.dtype  # dtype of hidden states, caches and the non-linear weights
    exact: bool  # the model's own tensors, unfused: the reference's arithmetic


def plan_for(name: str | None, device: torch.device, model_dtype: torch.dtype) -> Plan:
    """The plan for precision ``name`` (None: the model's own dtype) on ``device``.

    Raises ``unsupported`` where the device has no kernel for it (int8 off the CPU).
    """
    name = normalize(name) or name_of(model_dtype)
    if name in FLOAT_DTYPES and FLOAT_DTYPES[name] == model_dtype:
        return Plan(name, "dense", model_dtype, exact=True)
    if name == "int8":
        if device.type != "cpu":
            raise EngineError("unsupported", f"int8 decoding runs on the CPU only (fbgemm); this engine decodes on "
                              f"{device.type}: use bf16 or fp16 there")
        if not fbgemm_available():
            raise EngineError("unsupported", "int8 decoding needs fbgemm (x86 CPUs); this torch build has none: "
                              "use fp32 (or an Apple GPU with --device mps)")
        return Plan(name, "int8", torch.float32, exact=False)
    if name == "fp16" and device.type == "cpu":  # without fbgemm (ARM CPUs): plain fp16 products
        return Plan(name, "fp16-packed", torch.float32, exact=False) if fbgemm_available() \
            else Plan(name, "dense", torch.float16, exact=False)
    if name == "bf16" and device.type == "mps":
        raise EngineError("unsupported", "bf16 is not offered on Apple GPUs here; use fp16 (the MPS default)")
    return Plan(name, "dense", FLOAT_DTYPES[name], exact=False)
