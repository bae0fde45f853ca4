"""The fast decoder's projections, one class per weight format; all are called as ``lin(x)``.

* :class:`Dense`: ``F.linear`` on a float weight (the model's own tensor for the exact fp32 path,
  a converted copy for bf16/fp16);
* :class:`Int8`: int8 weights with one scale per output channel, activations quantized per call
  (fbgemm's dynamic quantized linear: what ``torch.ao.quantization.quantize_dynamic`` installs,
  without copying modules); CPU only;
* :class:`Fp16Packed`: fp16 weights in fbgemm's packed layout, fp32 activations and accumulation;
  CPU only (half the bytes of fp32, the same rounding of the activations).

:func:`fused` concatenates projections that read the same input (q, k, v; the codebook heads)
into one, so a step makes one call where it made three or four.

>>> lin = Int8(torch.eye(4) * 0.5)
>>> lin.weight_int8().dtype, lin.out_features
(torch.int8, 4)
>>> [round(v, 2) for v in lin(torch.ones(1, 4))[0].tolist()]
[0.5, 0.5, 0.5, 0.5]
"""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F


class Dense:
    """``F.linear(x, weight)``; ``weight`` is used as given (no copy)."""

    def __init__(self, weight: torch.Tensor) -> None:
        self.weight = weight

    @property
    def out_features(self) -> int:
        return int(self.weight.shape[0])

    @property
    def in_features(self) -> int:
        return int(self.weight.shape[1])

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight)


def _quantize_per_channel(weight: torch.Tensor) -> torch.Tensor:
    """Symmetric int8, one scale per output row: ``q = round(w / s)``, ``s = max|w_row| / 127``."""
    weight = weight.detach().float()
    scales = (weight.abs().amax(dim=1) / 127).clamp_min(1e-12).double()
    zeros = torch.zeros(weight.shape[0], dtype=torch.long)
    with warnings.catch_warnings():  # quantized tensors are deprecated in favour of torchao (not installed here)
        warnings.simplefilter("ignore", UserWarning)
        return torch.quantize_per_channel(weight.cpu(), scales, zeros, 0, torch.qint8)


class Int8:
    """Per-channel int8 weights packed for fbgemm; ``x`` (any leading dims, fp32) -> fp32.

    Activations are quantized to 7 bits per call (``reduce_range``), as torch's default dynamic
    quantization does on x86: without VNNI the int8 kernel sums pairs in int16, which 8-bit
    activations could overflow. One scale covers the whole input, so rows decoded together share it.
    """

    def __init__(self, weight: torch.Tensor) -> None:
        self.out_features, self.in_features = int(weight.shape[0]), int(weight.shape[1])
        self.packed = torch.ops.quantized.linear_prepack(_quantize_per_channel(weight), None)

    def weight_int8(self) -> torch.Tensor:
        """The stored weights as a plain int8 tensor (out, in) (a copy, for inspection)."""
        qweight, _ = torch.ops.quantized.linear_unpack(self.packed)
        return qweight.int_repr()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.quantized.linear_dynamic(x, self.packed, True)


class Fp16Packed:
    """fp16 weights packed for fbgemm; fp32 in, fp32 out (CPU)."""

    def __init__(self, weight: torch.Tensor) -> None:
        self.out_features, self.in_features = int(weight.shape[0]), int(weight.shape[1])
        self.packed = torch.ops.quantized.linear_prepack_fp16(weight.detach().float().cpu(), None)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.quantized.linear_dynamic_fp16(x, self.packed)


Linear = Dense | Int8 | Fp16Packed

#: weight format name -> how to build it from a float weight (converted to the activation dtype first for dense)
KINDS = ("dense", "int8", "fp16-packed")


def make(kind: str, weight: torch.Tensor, dtype: torch.dtype) -> Linear:
    """A projection of ``kind`` from ``weight`` (out, in); dense weights are converted to ``dtype``."""
    if kind == "dense":
        return Dense(weight.detach().to(dtype))
    if kind == "int8":
        return Int8(weight)
    if kind == "fp16-packed":
        return Fp16Packed(weight)
    raise ValueError(f"weight kind must be one of {KINDS}, got {kind!r}")


def fused(kind: str, weights: list[torch.Tensor], dtype: torch.dtype) -> Linear:
    """One projection computing every weight's output side by side (concatenated along outputs)."""
    return make(kind, torch.cat([w.detach() for w in weights], dim=0), dtype)
