"""Which weights run where: the perturbation the Monte-Carlo engine applies to a mapping.

A :class:`Placement` says, for some weight tensors (by parameter name, optionally only a
slice of output channels = a kernel group), which number format they are stored in and
whether they sit on a memristor array (then the device :class:`ErrorModel` is applied after
quantization).  :class:`InjectErrors` is the picklable ``perturb`` for
:func:`hil.nn.mc.evaluate`.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from hil.cim.error_model import ErrorModel
from hil.cim.formats import quantize


@dataclass(frozen=True)
class Placement:
    """Weights ``param[ch0:ch1]`` stored in ``fmt``, with device errors if ``analog``."""

    param: str
    fmt: str = "fp32"
    analog: bool = False
    ch0: int = 0
    ch1: int | None = None  # None: to the last output channel


@dataclass(frozen=True)
class InjectErrors:
    """``perturb(params, index, gen, spec)`` for a list of placements (picklable)."""

    placements: tuple[Placement, ...]
    error_model: ErrorModel | None = None

    def __call__(self, params: dict[str, torch.Tensor], index: int, gen: torch.Generator,
                 spec=None) -> dict[str, torch.Tensor]:
        out = dict(params)
        for p in self.placements:
            w = out[p.param].clone() if out[p.param] is params[p.param] else out[p.param]
            sl = slice(p.ch0, p.ch1)
            part = quantize(w[sl], p.fmt)
            if p.analog and self.error_model is not None:
                part = self.error_model.perturb_weight(part, gen)
            w[sl] = part
            out[p.param] = w
        return out
