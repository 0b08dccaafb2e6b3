"""Per-layer (and per kernel group) sensitivity to measured device errors and to formats.

For every layer (or group of its output channels = kernel granularity), the device error
model is injected into that layer alone and the accuracy drop vs the clean float model is
measured over Monte-Carlo instances (:func:`hil.nn.mc.evaluate`): mean ± σ.  Number-format
error (INT4/INT8/FP8/FP16) is deterministic: one evaluation per layer and format.  The item's
weights *and* its layer's input activations are in the format
(:mod:`hil.cim.activations`: static per-tensor ranges calibrated on the clean network;
``quantize_inputs=False`` gives the weights-only error).  Layers are
ranked by mean drop; :func:`rank_correlation` compares two rankings (Spearman ρ).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from scipy.stats import spearmanr
from torch import nn

from hil.cim.activations import CALIB_N, Ranges, calibrate_inputs, with_input_quant
from hil.cim.error_model import ErrorModel
from hil.cim.inject import InjectErrors, Placement
from hil.errors import ParameterError
from hil.nn.mc import InstanceSpec, evaluate


@dataclass(frozen=True)
class Item:
    """A unit of assignment: a layer's weight, or one group of its output channels."""

    layer: str
    param: str
    ch0: int
    ch1: int
    fraction: float  # share of the layer's weights (and MACs) in this item

    @property
    def name(self) -> str:
        return self.layer if self.fraction == 1.0 else f"{self.layer}[{self.ch0}:{self.ch1}]"


@dataclass(frozen=True)
class Sensitivity:
    item: Item
    mean_drop: float   # accuracy drop (fraction, 0..1) vs clean, mean over instances
    std_drop: float
    n: int

    def as_dict(self) -> dict:
        d = asdict(self)
        d["name"] = self.item.name
        return d


def weight_layers(model: nn.Module) -> list[str]:
    """Names of the Conv2d/Linear modules (execution-independent definition order)."""
    return [n for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def items(model: nn.Module, groups: int = 1) -> list[Item]:
    """Assignment items: each layer split into ``groups`` output-channel groups."""
    if groups < 1:
        raise ParameterError(f"groups={groups} must be >= 1")
    out = []
    for name in weight_layers(model):
        c = dict(model.named_modules())[name].weight.shape[0]
        g = min(groups, c)
        edges = np.linspace(0, c, g + 1).round().astype(int)
        for a, b in zip(edges[:-1], edges[1:]):
            out.append(Item(name, f"{name}.weight", int(a), int(b), (b - a) / c))
    return out


def clean_accuracy(model: nn.Module, data: tuple[torch.Tensor, torch.Tensor]) -> float:
    """Accuracy of the unperturbed float model (one deterministic instance of the engine)."""
    ident = InjectErrors(())
    return float(evaluate(model, data, InstanceSpec(1), ident, progress=False)[0])


def input_ranges(model: nn.Module, data, act_ranges: Ranges | None = None,
                 quantize_inputs: bool = True) -> Ranges | None:
    """Calibrated input ranges of every weight layer: ``act_ranges`` if given, else from the
    first :data:`~hil.cim.activations.CALIB_N` inputs of ``data``; None = weights only."""
    if not quantize_inputs:
        return None
    if act_ranges is not None:
        return act_ranges
    return calibrate_inputs(model, weight_layers(model), data[0][:CALIB_N])


def placed_model(model: nn.Module, placements, ranges: Ranges | None) -> nn.Module:
    """``model`` with the placed layers' inputs in their formats (itself when ``ranges`` is None)."""
    return model if ranges is None else with_input_quant(model, placements, ranges)


def layer_sensitivity(model: nn.Module, data, error_model: ErrorModel, *, n: int = 20,
                      root_seed: int = 0, groups: int = 1, fmt: str = "fp32",
                      backend: str = "local", progress: bool = True,
                      baseline: float | None = None, act_ranges: Ranges | None = None,
                      quantize_inputs: bool = True) -> list[Sensitivity]:
    """Accuracy drop with ``error_model`` injected into one item at a time (MC over ``n``);
    the item's weights and its layer's inputs in ``fmt`` (inputs: see :func:`input_ranges`)."""
    base = clean_accuracy(model, data) if baseline is None else baseline
    ranges = input_ranges(model, data, act_ranges, quantize_inputs)
    out = []
    its = items(model, groups)
    bar = _bar(len(its), "sensitivity", progress)
    for it in its:
        place = (Placement(it.param, fmt, True, it.ch0, it.ch1),)
        pert = InjectErrors(place, error_model)
        acc = evaluate(placed_model(model, place, ranges), data,
                       InstanceSpec(n, root_seed=root_seed), pert, backend=backend,
                       progress=False)
        drop = base - acc
        out.append(Sensitivity(it, float(drop.mean()), float(drop.std(ddof=1)) if n > 1 else 0.0, n))
        bar.update(1)
    bar.close()
    return out


def format_sensitivity(model: nn.Module, data, formats=("int4", "int8", "fp8", "fp16"), *,
                       groups: int = 1, baseline: float | None = None,
                       progress: bool = True, act_ranges: Ranges | None = None,
                       quantize_inputs: bool = True) -> dict[str, list[float]]:
    """Accuracy drop of each item alone in each format (deterministic): its weights and its
    layer's input activations (for those output channels) quantized, see :func:`input_ranges`."""
    base = clean_accuracy(model, data) if baseline is None else baseline
    ranges = input_ranges(model, data, act_ranges, quantize_inputs)
    its = items(model, groups)
    out: dict[str, list[float]] = {}
    bar = _bar(len(its) * len(formats), "formats", progress)
    for fmt in formats:
        drops = []
        for it in its:
            place = (Placement(it.param, fmt, False, it.ch0, it.ch1),)
            drops.append(base - float(evaluate(placed_model(model, place, ranges), data,
                                               InstanceSpec(1), InjectErrors(place),
                                               progress=False)[0]))
            bar.update(1)
        out[fmt] = drops
    bar.close()
    return out


def ranking(sens: list[Sensitivity]) -> list[str]:
    """Item names, most sensitive first."""
    return [s.item.name for s in sorted(sens, key=lambda s: -s.mean_drop)]


def rank_correlation(a: list[Sensitivity], b: list[Sensitivity]) -> float:
    """Spearman rank correlation of the mean drops of the same items in two runs."""
    if [s.item for s in a] != [s.item for s in b]:
        raise ParameterError("rank_correlation needs the same items in the same order")
    rho = spearmanr([s.mean_drop for s in a], [s.mean_drop for s in b]).statistic
    return float(rho)


def _bar(total: int, desc: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, disable=not enabled, leave=False)
