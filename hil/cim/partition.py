"""Heterogeneous partitioning: each item (layer or kernel group) to memristor-CIM, SRAM-CIM
or digital, in a number format, minimising energy (or latency) under an accuracy budget.

Predicted drop of an assignment = Σ per-item drops (sensitivity of that item alone: MC mean,
clamped at 0, plus one standard error, with the device error model for memristor options;
format-only error otherwise).  An item's option quantizes its weights and its layer's
input activations to the option's format (:mod:`hil.cim.activations`, static per-tensor
ranges calibrated on the clean network), in the sensitivities and in the measured network.
Solvers: :func:`solve_exact` (``scipy.optimize.milp``: one binary per item × option, one
option per item, budget and unit capacities as linear constraints), :func:`solve_exhaustive`
(small problems, cross-checks the ILP) and :func:`solve_greedy` (start at every item's most
accurate option, repeatedly take the move with the largest cost saving per unit of added
drop that still fits).  :func:`measure` evaluates the partitioned network with *all* errors
injected at once through the MC engine; :func:`partition` re-solves with a tighter predicted
budget until the measured drop's upper confidence bound (mean + z·σ/√n, default one-sided
95 %; :func:`hil.cim.budget.within_budget`, the rule the bit-width search uses too) respects
the budget (drops are not exactly additive).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp

from hil.cim.activations import CALIB_N, Ranges, calibrate_inputs
from hil.cim.budget import Z_ONE_SIDED_95, check_z, upper_bound, within_budget
from hil.cim.cost import layer_cost
from hil.cim.error_model import ErrorModel
from hil.cim.formats import PRECISION_ORDER
from hil.cim.inject import InjectErrors, Placement
from hil.cim.layers import LayerShape
from hil.cim.sensitivity import (Item, clean_accuracy, format_sensitivity, items,
                                 layer_sensitivity, placed_model, weight_layers)
from hil.cim.units import Unit
from hil.errors import ParameterError
from hil.nn.mc import InstanceSpec, evaluate

#: options offered by default: (unit kind, format)
DEFAULT_OPTIONS = (("memristor-cim", "int4"), ("memristor-cim", "int8"),
                   ("sram-cim", "int4"), ("sram-cim", "int8"), ("sram-cim", "fp8"),
                   ("sram-cim", "fp16"), ("digital", "int8"), ("digital", "fp16"),
                   ("digital", "fp32"))


@dataclass
class Problem:
    """Items × options with cost, storage and predicted drop per cell of the table."""

    items: list[Item]
    options: list[tuple[str, str]]
    cost: np.ndarray      # (items, options), energy J (or latency s) per inference
    energy_J: np.ndarray
    latency_s: np.ndarray
    area_mm2: np.ndarray
    storage_bits: np.ndarray
    drop: np.ndarray      # predicted accuracy drop (fraction), >= 0
    drop_std: np.ndarray
    capacity_bits: dict[str, float] = field(default_factory=dict)
    baseline: float = float("nan")
    objective: str = "energy"
    act_ranges: Ranges | None = None  # calibrated layer input ranges; None = weights-only formats

    def totals(self, choice: np.ndarray) -> dict[str, float]:
        r = np.arange(len(self.items))
        return {"energy_J": float(self.energy_J[r, choice].sum()),
                "latency_s": float(self.latency_s[r, choice].sum()),
                "area_mm2": float(self.area_mm2[r, choice].sum()),
                "predicted_drop": float(self.drop[r, choice].sum()),
                "cost": float(self.cost[r, choice].sum())}

    def feasible(self, choice: np.ndarray, budget: float) -> bool:
        r = np.arange(len(self.items))
        if self.drop[r, choice].sum() > budget + 1e-12:
            return False
        for kind, cap in self.capacity_bits.items():
            used = sum(self.storage_bits[i, c] for i, c in enumerate(choice)
                       if self.options[c][0] == kind)
            if used > cap:
                return False
        return True


def build_problem(model, data, layers: list[LayerShape], units: dict[str, Unit],
                  error_model: ErrorModel, *, options=DEFAULT_OPTIONS, groups: int = 1,
                  n: int = 20, root_seed: int = 0, objective: str = "energy",
                  inferences_per_load: float = 1.0, capacity_bits: dict[str, float] | None = None,
                  progress: bool = True, calib_x=None, quantize_inputs: bool = True) -> Problem:
    """Measure every item's drop under every option and cost every option.

    Input activations are quantized to each option's format with ranges calibrated on
    ``calib_x`` (default: the first :data:`~hil.cim.activations.CALIB_N` inputs of ``data``);
    ``quantize_inputs=False``: weights only.
    """
    if objective not in ("energy", "latency"):
        raise ParameterError(f"objective {objective!r}; allowed: 'energy', 'latency'")
    opts = [o for o in options if o[0] in units and o[1] in units[o[0]].formats]
    if not opts:
        raise ParameterError(f"no option of {options} is run by the units {sorted(units)}")
    its = items(model, groups)
    shape_of = {s.name: s for s in layers}
    missing = [it.layer for it in its if it.layer not in shape_of]
    if missing:
        raise ParameterError(f"layers {missing} have no shape; give the model's input shape")
    base = clean_accuracy(model, data)
    ranges = None
    if quantize_inputs:
        ranges = calibrate_inputs(model, weight_layers(model),
                                  data[0][:CALIB_N] if calib_x is None else calib_x)
    ni, no = len(its), len(opts)
    arr = {k: np.zeros((ni, no)) for k in ("energy", "latency", "area", "bits", "drop", "std")}
    digital_fmts = sorted({f for k, f in opts if k != "memristor-cim"})
    fdrop = format_sensitivity(model, data, digital_fmts + ["fp32"] if "fp32" not in digital_fmts
                               else digital_fmts, groups=groups, baseline=base, progress=progress,
                               act_ranges=ranges, quantize_inputs=quantize_inputs)
    analog = {}
    for k, f in opts:
        if k == "memristor-cim" and f not in analog:
            analog[f] = layer_sensitivity(model, data, error_model, n=n, root_seed=root_seed,
                                          groups=groups, fmt=f, baseline=base, progress=progress,
                                          act_ranges=ranges, quantize_inputs=quantize_inputs)
    for i, it in enumerate(its):
        for j, (k, f) in enumerate(opts):
            c = layer_cost(shape_of[it.layer], units[k], f, inferences_per_load=inferences_per_load)
            arr["energy"][i, j] = c.energy_J * it.fraction
            arr["latency"][i, j] = c.latency_s * it.fraction
            arr["area"][i, j] = c.area_mm2 * it.fraction
            arr["bits"][i, j] = c.storage_bits * it.fraction
            if k == "memristor-cim":
                s = analog[f][i]
                arr["drop"][i, j], arr["std"][i, j] = s.mean_drop, s.std_drop
            else:
                arr["drop"][i, j] = fdrop[f][i]
    # conservative per-item prediction: the MC mean (>= 0) plus one standard error, so an
    # item whose mean is ~0 only by noise still costs budget
    drop = np.clip(arr["drop"], 0.0, None) + arr["std"] / np.sqrt(max(n, 1))
    cost = arr["energy"] if objective == "energy" else arr["latency"]
    return Problem(its, opts, cost, arr["energy"], arr["latency"], arr["area"], arr["bits"], drop,
                   arr["std"], dict(capacity_bits or {}), base, objective, ranges)


def solve_exact(p: Problem, budget: float) -> np.ndarray | None:
    """Optimal choice (option index per item) by ILP, or None if infeasible."""
    ni, no = p.cost.shape
    c = p.cost.ravel()
    rows, lo, hi = [], [], []
    for i in range(ni):  # exactly one option per item
        a = np.zeros(ni * no)
        a[i * no:(i + 1) * no] = 1
        rows.append(a); lo.append(1); hi.append(1)
    rows.append(p.drop.ravel()); lo.append(-np.inf); hi.append(budget)
    for kind, cap in p.capacity_bits.items():
        mask = np.array([o[0] == kind for o in p.options], dtype=float)
        rows.append((p.storage_bits * mask).ravel()); lo.append(-np.inf); hi.append(cap)
    # scale the objective to O(1) for the solver's tolerances
    scale = max(float(np.abs(c).max()), 1e-300)
    res = milp(c / scale, integrality=np.ones_like(c), bounds=Bounds(0, 1),
               constraints=LinearConstraint(np.array(rows), lo, hi))
    if res.x is None:
        return None
    return np.round(res.x).reshape(ni, no).argmax(1)


def solve_exhaustive(p: Problem, budget: float, limit: int = 200_000) -> np.ndarray | None:
    """Optimal choice by enumeration (refuses more than ``limit`` combinations)."""
    ni, no = p.cost.shape
    if no ** ni > limit:
        raise ParameterError(f"{no}^{ni} = {no ** ni} combinations > limit {limit}; use solve_exact")
    best, best_cost = None, np.inf
    for combo in itertools.product(range(no), repeat=ni):
        ch = np.array(combo)
        if p.feasible(ch, budget):
            cost = p.cost[np.arange(ni), ch].sum()
            if cost < best_cost:
                best, best_cost = ch, cost
    return best


def solve_greedy(p: Problem, budget: float) -> np.ndarray | None:
    """Greedy: from the most accurate option per item, take the best saving per added drop."""
    ni = len(p.items)
    r = np.arange(ni)
    # start: most accurate option; ties go to units without a capacity limit, then cheapest
    limited = np.array([o[0] in p.capacity_bits for o in p.options], dtype=float)
    choice = np.array([int(np.lexsort((p.cost[i], limited, p.drop[i]))[0]) for i in r])
    if not p.feasible(choice, budget):
        return None
    while True:
        cur = p.cost[r, choice]
        best, best_score = None, 0.0
        for i in r:
            for j in range(len(p.options)):
                saving = cur[i] - p.cost[i, j]
                if saving <= 0:
                    continue
                trial = choice.copy()
                trial[i] = j
                if not p.feasible(trial, budget):
                    continue
                score = saving / max(p.drop[i, j] - p.drop[i, choice[i]], 1e-9)
                if score > best_score:
                    best, best_score = (i, j), score
        if best is None:
            return choice
        choice[best[0]] = best[1]


SOLVERS = {"exact": solve_exact, "greedy": solve_greedy, "exhaustive": solve_exhaustive}


def most_precise(p: Problem) -> np.ndarray | None:
    """Every item on its most precise format (then: off the memristor unit, lowest predicted
    drop, cheapest), or None if that breaks a unit capacity.  The last resort of
    :func:`partition`: at a predicted budget of 0 the solvers still pick among the options whose
    single-item drop measured 0, which can add up to more than the budget."""
    rank = {f: k for k, f in enumerate(PRECISION_ORDER)}
    choice = np.array([min(range(len(p.options)), key=lambda j: (
        -rank.get(p.options[j][1], -1), p.options[j][0] == "memristor-cim", p.drop[i, j],
        p.cost[i, j])) for i in range(len(p.items))])
    return choice if p.feasible(choice, np.inf) else None


def placements(p: Problem, choice: np.ndarray) -> tuple[Placement, ...]:
    """The weight placements of a choice (what :func:`measure` injects)."""
    return tuple(Placement(it.param, p.options[c][1], p.options[c][0] == "memristor-cim",
                           it.ch0, it.ch1) for it, c in zip(p.items, choice))


def measure(model, data, p: Problem, choice: np.ndarray, error_model: ErrorModel, *,
            n: int = 20, root_seed: int = 1000, backend: str = "local") -> np.ndarray:
    """Accuracy drop of every MC instance of the whole partitioned network (weights with their
    device errors, layer inputs in their units' formats when ``p.act_ranges`` is set)."""
    place = placements(p, choice)
    pert = InjectErrors(place, error_model)
    acc = evaluate(placed_model(model, place, p.act_ranges), data,
                   InstanceSpec(n, root_seed=root_seed), pert, backend=backend, progress=False)
    return p.baseline - acc


@dataclass
class Partition:
    """A solved and measured partition."""

    choice: np.ndarray
    solver: str
    budget: float
    predicted_budget: float
    totals: dict[str, float]
    measured_drop: np.ndarray
    rounds: int
    z: float = Z_ONE_SIDED_95

    @property
    def measured_mean(self) -> float:
        return float(self.measured_drop.mean())

    @property
    def measured_ucb(self) -> float:
        """Upper confidence bound of the measured mean drop: mean + z·σ/√n (what the budget checks)."""
        return upper_bound(self.measured_drop, self.z)


def partition(model, data, p: Problem, budget: float, error_model: ErrorModel, *,
              solver: str = "exact", n: int = 20, root_seed: int = 1000, shrink: float = 0.7,
              max_rounds: int = 8, z: float = Z_ONE_SIDED_95) -> Partition:
    """Solve, measure, and tighten the predicted budget until the measured drop fits.

    The budget is checked on the upper confidence bound mean + z·σ/√n of the ``n``
    Monte-Carlo drops (default z: one-sided 95 %), so a partition whose mean fits only by
    Monte-Carlo luck is rejected; ``z = 0`` checks the mean alone.  When even a predicted
    budget of 0 fails, :func:`most_precise` is measured last (solver ``"most-precise"``).
    """
    z = check_z(z)
    if solver not in SOLVERS:
        raise ParameterError(f"solver {solver!r}; allowed: {', '.join(SOLVERS)}")
    if not budget >= 0:
        raise ParameterError(f"budget={budget!r} must be >= 0 (accuracy-drop fraction)")
    # predicted budgets tried in turn: budget, budget·shrink, ..., and finally 0
    schedule = [budget * shrink ** k for k in range(max_rounds - 1)] + [0.0]
    pb, rnd = budget, 0
    for rnd, pb in enumerate(schedule, 1):
        choice = SOLVERS[solver](p, pb)
        if choice is None:
            break
        drop = measure(model, data, p, choice, error_model, n=n, root_seed=root_seed)
        if within_budget(drop, budget, z):
            return Partition(choice, solver, budget, pb, p.totals(choice), drop, rnd, z)
    choice = most_precise(p)
    if choice is not None:
        drop = measure(model, data, p, choice, error_model, n=n, root_seed=root_seed)
        if within_budget(drop, budget, z):
            return Partition(choice, "most-precise", budget, 0.0, p.totals(choice), drop,
                             rnd + 1, z)
    raise ParameterError(f"no partition meets the accuracy budget {budget:.4%} on the measured "
                         f"accuracy's upper bound (z={z:g}; predicted budget down to {pb:.4%}); raise the budget or "
                         "add exact options (digital fp32)")


def restrict(p: Problem, kind: str) -> Problem:
    """The same problem with only ``kind``'s options (all-SRAM, all-digital baselines)."""
    js = [j for j, o in enumerate(p.options) if o[0] == kind]
    if not js:
        raise ParameterError(f"no option on unit kind {kind!r}; options: {p.options}")
    return Problem(p.items, [p.options[j] for j in js], p.cost[:, js], p.energy_J[:, js],
                   p.latency_s[:, js], p.area_mm2[:, js], p.storage_bits[:, js], p.drop[:, js],
                   p.drop_std[:, js], p.capacity_bits, p.baseline, p.objective, p.act_ranges)
