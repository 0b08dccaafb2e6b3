"""Number formats a unit computes in, as weight fake-quantizers (torch, no grad).

INT-b: symmetric, per output channel, scale = max|w|/(2^(b-1) − 1), round to nearest.
FP8: E4M3 (``torch.float8_e4m3fn``) after a per-tensor scale that maps max|w| to 448;
FP16/FP32: a cast.  Input activations are quantized to the same formats by
:mod:`hil.cim.activations` (static per-tensor scale from a calibration batch).
"""
from __future__ import annotations

import torch

from hil.errors import ParameterError

BITS = {"int4": 4, "int8": 8, "fp8": 8, "fp16": 16, "fp32": 32}
_FP8_MAX = 448.0  # largest finite E4M3 value
#: formats from the least to the most precise (E4M3 has 3 mantissa bits: coarser than INT8 on
#: the per-channel-scaled weights and calibrated inputs used here)
PRECISION_ORDER = ("int4", "fp8", "int8", "fp16", "fp32")


def format_bits(fmt: str) -> int:
    """Storage bits per weight of ``fmt``."""
    try:
        return BITS[fmt]
    except KeyError:
        raise ParameterError(f"number format {fmt!r} unknown; allowed: {', '.join(BITS)}") from None


def quantize(w: torch.Tensor, fmt: str) -> torch.Tensor:
    """``w`` rounded to ``fmt`` and back to its dtype."""
    bits = format_bits(fmt)
    with torch.no_grad():
        if fmt.startswith("int"):
            qmax = 2 ** (bits - 1) - 1
            flat = w.reshape(w.shape[0], -1) if w.dim() > 1 else w.reshape(1, -1)
            scale = (flat.abs().amax(1, keepdim=True) / qmax).clamp(min=1e-12)
            return (torch.round(flat / scale).clamp(-qmax, qmax) * scale).reshape(w.shape)
        if fmt == "fp8":
            scale = (w.abs().max() / _FP8_MAX).clamp(min=1e-12)
            return ((w / scale).to(torch.float8_e4m3fn).to(w.dtype) * scale)
        if fmt == "fp16":
            return w.to(torch.float16).to(w.dtype)
        return w.clone()
