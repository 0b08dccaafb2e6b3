"""Input activations in the number format of the unit a layer (or kernel group) runs on.

Static per-tensor scheme — the scale is fixed when the network is compiled onto the units,
as a CIM macro's input DAC / a digital unit's input register would hold it, not recomputed
per input or per Monte-Carlo instance:

- **calibration** (:func:`calibrate_inputs`): the clean float network in eval mode on a
  calibration batch; per layer input, ``amax`` = max |x| and ``signed`` = whether any x < 0;
- **INT-b**: unsigned when calibration saw no negative input (after a ReLU, pixel
  intensities): levels 0 … 2^b − 1, scale amax/(2^b − 1); signed otherwise: symmetric
  ±(2^(b−1) − 1), scale amax/(2^(b−1) − 1); round to nearest, values outside the calibrated
  range clip (the same quantizer as :class:`hil.nn.quant.ActQuant` and the bit-width search);
- **FP8** (E4M3): scale amax/448, clipped to ±448 before the cast (E4M3fn has no infinity);
- **FP16**: a cast; **FP32**: unchanged.

:func:`with_input_quant` returns a copy of the network with forward hooks that do this for a
set of :class:`~hil.cim.inject.Placement` s; parameter names are unchanged, so the copy is what
:func:`hil.nn.mc.evaluate` runs while :class:`~hil.cim.inject.InjectErrors` perturbs its
weights.  A layer whose kernel groups sit on units with different formats computes each
group's output channels from its own quantized input.
"""
from __future__ import annotations

import copy
from typing import Iterable, Sequence

import torch
from torch import nn

from hil.cim.formats import format_bits
from hil.errors import ParameterError

_FP8_MAX = 448.0  # largest finite E4M3 value
#: calibration batch size used when no calibration batch is given (first samples of the data)
CALIB_N = 256

Ranges = dict[str, tuple[float, bool]]
#: the scheme in one line, for the provenance of result files
ACT_SCHEME = (f"layer inputs in the unit's format: static per-tensor range (max |x|, signed if "
              f"any x < 0) calibrated on the clean network over {CALIB_N} training inputs; "
              "INT unsigned/symmetric round-to-nearest with clipping, FP8 E4M3 scaled to 448, "
              "FP16 cast")


def quantize_activation(x: torch.Tensor, fmt: str, amax: float, signed: bool) -> torch.Tensor:
    """``x`` in ``fmt`` with the fixed per-tensor range ``amax`` (see the module docstring)."""
    bits = format_bits(fmt)
    if fmt.startswith("int"):
        qmin, qmax = ((-(2 ** (bits - 1) - 1), 2 ** (bits - 1) - 1) if signed
                      else (0, 2 ** bits - 1))
        scale = max(float(amax), 1e-8) / qmax
        return torch.clamp(torch.round(x / scale), qmin, qmax) * scale
    if fmt == "fp8":
        scale = max(float(amax), 1e-12) / _FP8_MAX
        q = torch.clamp(x / scale, -_FP8_MAX, _FP8_MAX).to(torch.float8_e4m3fn)
        return q.to(x.dtype) * scale
    if fmt == "fp16":
        return x.to(torch.float16).to(x.dtype)
    return x


@torch.no_grad()
def calibrate_inputs(model: nn.Module, names: Sequence[str], x: torch.Tensor) -> Ranges:
    """(max |input|, input has negatives) of every layer in ``names`` over ``x`` (eval mode)."""
    modules = dict(model.named_modules())
    bad = [n for n in names if n not in modules]
    if bad:
        raise ParameterError(f"layers {bad} are not modules of the model")
    stats: dict[str, list] = {n: [0.0, False] for n in names}

    def hook(name: str):
        def fn(_m, inputs):
            t = inputs[0].detach()
            stats[name][0] = max(stats[name][0], float(t.abs().max()))
            stats[name][1] = stats[name][1] or bool(t.min() < 0)
        return fn

    handles = [modules[n].register_forward_pre_hook(hook(n)) for n in names]
    was = model.training
    try:
        model.eval()
        model(x)
    finally:
        for h in handles:
            h.remove()
        model.train(was)
    return {n: (v[0], v[1]) for n, v in stats.items()}


class _QuantInput:
    """Forward pre-hook: the layer's whole input in one format (picklable)."""

    def __init__(self, fmt: str, amax: float, signed: bool) -> None:
        self.fmt, self.amax, self.signed = fmt, float(amax), bool(signed)

    def __call__(self, _module: nn.Module, inputs: tuple) -> tuple:
        return (quantize_activation(inputs[0], self.fmt, self.amax, self.signed),) + inputs[1:]


def _layer_forward(m: nn.Module, x: torch.Tensor) -> torch.Tensor:
    if isinstance(m, nn.Conv2d):
        return m._conv_forward(x, m.weight, m.bias)
    return nn.functional.linear(x, m.weight, m.bias)


class _QuantInputGroups:
    """Forward hook: output channels ``[a:b]`` computed from the input in their own format.

    ``segments`` cover every output channel in order; the layer's own output (float input) is
    replaced.  Out of place (torch.cat), so it also runs under ``vmap``.
    """

    def __init__(self, segments: Sequence[tuple[int, int, str]], amax: float, signed: bool) -> None:
        self.segments = tuple(segments)
        self.amax, self.signed = float(amax), bool(signed)

    def __call__(self, module: nn.Module, inputs: tuple, _output: torch.Tensor) -> torch.Tensor:
        x = inputs[0]
        dim = 1 if isinstance(module, nn.Conv2d) else -1
        ys = {f: _layer_forward(module, quantize_activation(x, f, self.amax, self.signed))
              for f in {s[2] for s in self.segments}}
        return torch.cat([ys[f].narrow(dim, a, b - a) for a, b, f in self.segments], dim)


def input_formats(model: nn.Module, placements: Iterable) -> dict[str, list[tuple[int, int, str]]]:
    """Per layer: ordered (ch0, ch1, format) segments covering all its output channels
    (channels no placement names keep float32 inputs)."""
    modules = dict(model.named_modules())
    per: dict[str, list[tuple[int, int, str]]] = {}
    for p in placements:
        layer, _, attr = p.param.rpartition(".")
        m = modules.get(layer)
        if attr != "weight" or not isinstance(m, (nn.Conv2d, nn.Linear)):
            raise ParameterError(f"placement {p.param!r}: activation quantization needs the "
                                 "weight of a Conv2d/Linear layer")
        c = m.weight.shape[0]
        per.setdefault(layer, []).append((p.ch0, c if p.ch1 is None else p.ch1, p.fmt))
    out = {}
    for layer, segs in per.items():
        c = modules[layer].weight.shape[0]
        segs.sort()
        full, at = [], 0
        for a, b, f in segs:
            if a < at:
                raise ParameterError(f"layer {layer!r}: placements overlap at channel {a}")
            if a > at:
                full.append((at, a, "fp32"))
            full.append((a, b, f))
            at = b
        if at < c:
            full.append((at, c, "fp32"))
        out[layer] = full
    return out


def with_input_quant(model: nn.Module, placements: Iterable, ranges: Ranges) -> nn.Module:
    """A copy of ``model`` whose placed layers quantize their inputs to the placement's format
    (ranges from :func:`calibrate_inputs`); ``model`` itself is not modified."""
    segs = input_formats(model, placements)
    if all(f == "fp32" for s in segs.values() for _, _, f in s):
        return model
    missing = [n for n in segs if n not in ranges]
    if missing:
        raise ParameterError(f"layers {missing} have no calibrated input range")
    q = copy.deepcopy(model).eval()
    modules = dict(q.named_modules())
    for layer, s in segs.items():
        amax, signed = ranges[layer]
        fmts = {f for _, _, f in s}
        if fmts == {"fp32"}:
            continue
        if len(fmts) == 1:
            modules[layer].register_forward_pre_hook(_QuantInput(s[0][2], amax, signed))
        else:
            modules[layer].register_forward_hook(_QuantInputGroups(s, amax, signed))
    return q
